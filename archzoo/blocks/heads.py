"""Classification heads (seed 003, "head design"): the part that turns features into class scores.

`ClassifierHead` is global average pooling + linear (Lin et al. 2013, "Network in Network",
arXiv:1312.4400; ResNet's head). `VectorizeHead` flattens the map and runs fully connected layers
with dropout, as AlexNet and VGG do. The seed's two head ideas sit between those two:

- `PositionwiseHead` ("vote"): the same linear classifier at every position of the map, the
  positions' votes averaged (SqueezeNet's conv10, Iandola et al. 2016, arXiv:1602.07360). Averaging
  raw logits would equal global average pooling + linear (the mean commutes with a linear map), so a
  vote passes through a nonlinearity first: ReLU as SqueezeNet does, or `vote="softmax"`, where each
  position votes a class distribution and the head returns the log of their mean.
- `SpatialWeightHead` ("spatial"): a learned weight per position multiplies the map before global
  average pooling, so the centre may count more than the edges. Departure from a fixed-size weight
  map: the weights are a small `grid` resized bilinearly to the map, so any input size works; they
  start at one, which is plain global average pooling.

Every head takes `pre_logits=True` to return the features the last linear layer sees, and
`reset(num_classes)` to swap that layer for transfer learning. `make_head(kind, ...)` builds one by
name (`HEAD_KINDS`), and `MultiHead` runs several named heads on one map (multi-task).
"""
from __future__ import annotations

import math

from typing import Any, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F


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


class PositionwiseHead(nn.Module):
    """dropout -> the same linear classifier at every position -> vote -> average over positions."""

    def __init__(self, in_features: int, num_classes: int, *, drop_rate: float = 0.5,
                 vote: str = "relu") -> None:
        super().__init__()
        if vote not in ("relu", "softmax"):
            raise ValueError(f"vote: expected 'relu' or 'softmax', got {vote!r}")
        self.in_features = in_features
        self.vote = vote
        self.drop = nn.Dropout(drop_rate)
        self.fc = nn.Linear(in_features, num_classes)
        self.act = nn.ReLU()

    def votes(self, x: torch.Tensor) -> torch.Tensor:
        """Each position's vote (B, H, W, num_classes): ReLU'd scores or class probabilities."""
        z = self.fc(self.drop(x).permute(0, 2, 3, 1))  # (B, H, W, num_classes)
        return self.act(z) if self.vote == "relu" else z.softmax(-1)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        if pre_logits:
            return x.mean((2, 3))  # (B, C)
        if self.vote == "relu":
            return self.votes(x).mean((1, 2))  # (B, num_classes): the positions' votes averaged
        # log of the mean probability, computed stably: logsumexp over positions of log-softmax
        z = self.fc(self.drop(x).permute(0, 2, 3, 1)).log_softmax(-1).flatten(1, 2)  # (B, H*W, K)
        return z.logsumexp(1) - math.log(z.shape[1])  # (B, num_classes)

    def reset(self, num_classes: int) -> None:
        self.fc = nn.Linear(self.in_features, num_classes)


class SpatialWeightHead(nn.Module):
    """map * learned spatial weights -> global average pool -> dropout -> linear."""

    def __init__(self, in_features: int, num_classes: int, *, grid: int = 7,
                 drop_rate: float = 0.0) -> None:
        super().__init__()
        self.in_features = in_features
        self.weight = nn.Parameter(torch.ones(1, 1, grid, grid))  # ones: starts as plain GAP
        self.drop = nn.Dropout(drop_rate)
        self.fc = _linear_or_identity(in_features, num_classes)

    def spatial_weights(self, size: tuple[int, int]) -> torch.Tensor:
        """The weights at a map of `size` (1, 1, H, W)."""
        if tuple(self.weight.shape[-2:]) == tuple(size):
            return self.weight
        return F.interpolate(self.weight, size=size, mode="bilinear", align_corners=True)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        x = (x * self.spatial_weights(x.shape[-2:])).mean((2, 3))  # (B, C)
        x = self.drop(x)
        return x if pre_logits else self.fc(x)

    def reset(self, num_classes: int) -> None:
        self.fc = _linear_or_identity(self.in_features, num_classes)


HEAD_KINDS = ("gap", "vectorize", "vote", "spatial")


def make_head(kind: str, *, in_features: int, num_classes: int, **kwargs: Any) -> nn.Module:
    """A head by name: "gap" (ClassifierHead), "vectorize" (pooled to 4x4 unless `pool_size` is
    given, so any input size works), "vote" (PositionwiseHead, softmax votes unless `vote` is
    given) or "spatial" (SpatialWeightHead). `kwargs` go to the head's constructor."""
    if kind == "gap":
        return ClassifierHead(in_features, num_classes, **kwargs)
    if kind == "vectorize":
        pool = kwargs.pop("pool_size", 4)
        kwargs.setdefault("drop_rate", 0.0)
        # VectorizeHead takes the flattened length: channels times the pooled positions
        return VectorizeHead(in_features * pool * pool, num_classes, pool_size=pool, **kwargs)
    if kind == "vote":
        kwargs.setdefault("vote", "softmax")
        kwargs.setdefault("drop_rate", 0.0)
        return PositionwiseHead(in_features, num_classes, **kwargs)
    if kind == "spatial":
        return SpatialWeightHead(in_features, num_classes, **kwargs)
    raise ValueError(f"unknown head {kind!r}; expected one of: {', '.join(HEAD_KINDS)}")


class MultiHead(nn.ModuleDict):
    """Several named heads on one map (seed 003: one tail and body, more than one task).

    `forward` returns {name: output}; `reset(num_classes)` resets the heads that have `reset`
    (pass a dict to give each its own count).
    """

    def __init__(self, heads: dict[str, nn.Module]) -> None:
        if not heads:
            raise ValueError("MultiHead: expected at least one head")
        super().__init__(heads)

    def forward(self, x: torch.Tensor, pre_logits: bool = False) -> dict[str, Any]:
        return {name: _call_head(head, x, pre_logits) for name, head in self.items()}

    def reset(self, num_classes: int | dict[str, int]) -> None:
        for name, head in self.items():
            n = num_classes.get(name) if isinstance(num_classes, dict) else num_classes
            if n is not None and hasattr(head, "reset"):
                head.reset(n)


def _call_head(head: nn.Module, x: torch.Tensor, pre_logits: bool) -> Any:
    # heads from outside archzoo (a segmentation decoder, say) need not take pre_logits
    return head(x, pre_logits=pre_logits) if pre_logits else head(x)
