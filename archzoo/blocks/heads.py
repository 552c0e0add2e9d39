"""Classification heads (seed 003, "head design"): the part that turns features into class scores.

`ClassifierHead` is global average pooling + linear (Lin et al. 2013, "Network in Network",
arXiv:1312.4400; ResNet's head). `VectorizeHead` flattens the map and runs fully connected layers
with dropout, as AlexNet and VGG do. Both take `pre_logits=True` to return the features the last
linear layer sees, and `reset(num_classes)` to swap that layer for transfer learning.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn as nn


def _linear_or_identity(in_features: int, num_classes: int) -> nn.Module:
    # num_classes == 0 gives a feature extractor, as timm's convention does
    return nn.Linear(in_features, num_classes) if num_classes > 0 else nn.Identity()


class ClassifierHead(nn.Module):
    def __init__(self, in_features: int, num_classes: int, *, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate)
        self.fc = _linear_or_identity(in_features, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)  # (B, C)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = _linear_or_identity(self.in_features, num_classes)


class VectorizeHead(nn.Module):
    """[adaptive pool to `pool_size`] -> flatten -> (linear -> act -> dropout) per hidden -> linear.

    `pool_size` fixes the flattened length whatever the input size (torchvision's AlexNet and VGG
    do this); None flattens the map as it comes, so the input size is fixed (LeNet).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        *,
        hidden: Sequence[int] = (),
        pool_size: int | None = None,
        drop_rate: float = 0.5,
        act_layer: type[nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(pool_size) if pool_size else nn.Identity()
        layers: list[nn.Module] = []
        width = in_features
        for h in hidden:
            layers += [nn.Linear(width, h), act_layer()]
            if drop_rate > 0:
                layers.append(nn.Dropout(drop_rate))
            width = h
        self.hidden = nn.Sequential(*layers)
        self.in_features = width
        self.fc = _linear_or_identity(width, num_classes)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = self.pool(x).flatten(1)  # (B, C*H*W)
        x = self.hidden(x)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = _linear_or_identity(self.in_features, num_classes)
