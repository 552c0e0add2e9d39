"""archzoo: the deep-learning architecture canon as one verified, trainable PyTorch library."""
from .models import ModelCard, create_model, list_models, model_card

__version__ = "0.1.0"
__all__ = ["ModelCard", "create_model", "list_models", "model_card", "__version__"]
