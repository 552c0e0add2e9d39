"""Model families, one per file; each registers its variants on import."""
from ._base import FeatureInfo, ImageClassifier, InputShapeError
from ._registry import ModelCard, Paper, create_model, list_models, model_card, register_model

__all__ = ["FeatureInfo", "ImageClassifier", "InputShapeError", "ModelCard", "Paper",
           "create_model", "list_models", "model_card", "register_model"]
