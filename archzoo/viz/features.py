"""Feature maps of chosen layers for one input (what each channel of a stage responds to)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Sequence

import torch
import torch.nn as nn

from ._figure import new_figure, save_png


def capture(model: nn.Module, x: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """Outputs of the named submodules for input `x` (hooks removed afterwards)."""
    names = {n for n, _ in model.named_modules()}
    unknown = [n for n in layers if n not in names]
    if unknown:
        raise ValueError(f"unknown layer(s) {', '.join(unknown)}; e.g. "
                         f"{', '.join(n for n, _ in list(model.named_children())[:4])}")
    out: dict[str, torch.Tensor] = {}
    handles = [model.get_submodule(n).register_forward_hook(
        lambda m, a, y, n=n: out.__setitem__(n, y.detach())) for n in layers]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return {n: out[n] for n in layers}


def default_layers(model: nn.Module) -> list[str]:
    """The body stages named by `feature_info`, else the model's top-level children."""
    info = getattr(model, "feature_info", None)
    return [f.module for f in info] if info else [n for n, _ in model.named_children()]


def plot_feature_maps(maps: torch.Tensor, path: str | Path, *, title: str,
                      max_maps: int = 32) -> Path:
    """The first `max_maps` channels of one map (1, C, H, W) or (C, H, W), each on its own scale."""
    m = maps.detach().float().cpu()
    m = m[0] if m.ndim == 4 else m
    if m.ndim != 3:
        raise ValueError(f"{title}: expected a (C, H, W) map; got {tuple(maps.shape)}")
    n = min(m.shape[0], max_maps)
    cols = min(8, n)
    rows = math.ceil(n / cols)
    fig, _ = new_figure(width=1.3 * cols + 0.3, height=1.3 * rows + 0.6, layout=None)
    fig.clear()
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i < n:
            ax.imshow(m[i].numpy(), cmap="viridis")
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"{title}: {n} of {m.shape[0]} channels, {m.shape[1]}x{m.shape[2]}", fontsize=10)
    return save_png(fig, path)
