"""Reusable building blocks, one concept per file. Blocks never import models."""
from .activations import ACTIVATIONS, Maxout, get_act_layer
from .conv_norm_act import ConvNormAct
from .heads import ClassifierHead, VectorizeHead
from .norm import LocalResponseNorm
from .residual import BasicBlock, Bottleneck, ZeroPadShortcut, make_shortcut

__all__ = [
    "ACTIVATIONS", "BasicBlock", "Bottleneck", "ClassifierHead", "ConvNormAct",
    "LocalResponseNorm", "Maxout", "VectorizeHead", "ZeroPadShortcut", "get_act_layer",
    "make_shortcut",
]
