"""archzoo: the deep-learning architecture canon as one verified, trainable PyTorch library."""
__version__ = "0.1.0"  # before the imports: run directories record it

from .analysis import analyze, receptive_field  # noqa: E402
from .data import load_dataset  # noqa: E402
from .models import ModelCard, create_model, list_models, model_card  # noqa: E402
from .models._reference import load_reference_weights  # noqa: E402
from .train import TrainConfig, evaluate, load_checkpoint, resume, train  # noqa: E402

__all__ = ["ModelCard", "TrainConfig", "analyze", "create_model", "evaluate", "list_models",
           "load_checkpoint", "load_dataset", "load_reference_weights", "model_card", "receptive_field",
           "resume", "train", "__version__"]
