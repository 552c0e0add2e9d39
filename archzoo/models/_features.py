"""Multi-scale feature output, `features_only` style (timm's `features_only=True`).

`forward_intermediates(model, x, indices=...)` returns the maps of chosen body stages, named by
the model's `feature_info`; `create_features(name, out_indices=...)` builds a registered model as a
`FeatureExtractor`, a module returning those maps, which is what a neck such as
`blocks.fpn.FeaturePyramid` takes. The stages are caught with forward hooks removed after each
call, so any family whose `feature_info` names its modules works without code of its own; the body
stops at the deepest chosen stage, so asking for early maps costs only the early stages.
"""
from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.nn as nn

from ._base import FeatureInfo, ImageClassifier


class _Enough(Exception):
    """Raised by the hook on the deepest chosen stage: the rest of the body is not needed."""


def _resolve(feature_info: list[FeatureInfo], indices: Sequence[int] | None) -> list[int]:
    n = len(feature_info)
    if n == 0:
        raise ValueError("model has no feature_info: it does not describe any body stage")
    if indices is None:
        return list(range(n))
    out = []
    for i in indices:
        if not -n <= i < n:
            raise IndexError(f"feature index {i} out of range: the model has {n} stages "
                             f"({', '.join(f.module for f in feature_info)})")
        out.append(i % n)
    return out


def forward_intermediates(model: ImageClassifier, x: torch.Tensor, *,
                          indices: Sequence[int] | None = None) -> list[torch.Tensor]:
    """The outputs of the body stages `indices` (into `model.feature_info`; all by default), in the
    order asked, each (B, C_i, H/r_i, W/r_i) with C_i and r_i as feature_info states."""
    chosen = _resolve(model.feature_info, indices)
    caught: dict[int, torch.Tensor] = {}
    deepest = max(chosen)

    def hook_for(i: int):
        def hook(module: nn.Module, args: Any, output: torch.Tensor) -> None:
            caught[i] = output
            if i == deepest:
                raise _Enough
        return hook

    handles = [model.get_submodule(model.feature_info[i].module).register_forward_hook(hook_for(i))
               for i in sorted(set(chosen))]
    try:
        model.forward_features(x)
    except _Enough:
        pass
    finally:
        for h in handles:
            h.remove()
    return [caught[i] for i in chosen]


class FeatureExtractor(nn.Module):
    """tail and body of a classifier, returning the maps of `out_indices` (the head is dropped)."""

    def __init__(self, model: ImageClassifier, *, out_indices: Sequence[int] | None = None) -> None:
        super().__init__()
        self.out_indices = _resolve(model.feature_info, out_indices)
        model.head = nn.Identity()  # unused: its parameters would otherwise get no gradient
        self.model = model
        self.feature_info = [model.feature_info[i] for i in self.out_indices]

    @property
    def channels(self) -> list[int]:
        return [f.channels for f in self.feature_info]

    @property
    def reductions(self) -> list[int]:
        return [f.reduction for f in self.feature_info]

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        return forward_intermediates(self.model, x, indices=self.out_indices)


def create_features(name: str, *, out_indices: Sequence[int] | None = None,
                    **overrides: Any) -> FeatureExtractor:
    """A registered model as a multi-scale feature extractor (timm's `features_only=True`)."""
    from ._registry import create_model

    model = create_model(name, **overrides)
    if not isinstance(model, ImageClassifier) or not model.feature_info:
        raise ValueError(f"{name} has no feature_info to take features from")
    return FeatureExtractor(model, out_indices=out_indices)
