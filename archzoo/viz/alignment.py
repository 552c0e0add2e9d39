"""Encoder-decoder attention as a source x target heat map: seed 000's English-Thai alignment figure
(after Bahdanau et al. 2015, arXiv:1409.0473, figure 3: each row is one output token, each column one
source token, the cell its attention weight)."""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Sequence

import torch

from ._figure import font_family, new_figure, save_png


def plot_alignment(weights: torch.Tensor, source: Sequence[str], target: Sequence[str], path: str | Path, *,
                   title: str = "") -> Path:
    """`weights` (T, S): row t is how output token `target[t]` attended over `source`."""
    T, S = weights.shape
    if (T, S) != (len(target), len(source)):
        raise ValueError(f"expected weights of shape ({len(target)}, {len(source)}) for the tokens, "
                         f"got {tuple(weights.shape)}")
    cell = 0.28
    fig, (ax,) = new_figure(width=max(3.0, 1.2 + cell * S), height=max(2.5, 1.0 + cell * T))
    im = ax.imshow(weights.float().cpu().numpy(), cmap="Greys_r", vmin=0, vmax=1, aspect="auto")
    family = font_family([*source, *target])
    ax.set_xticks(range(S), ["\u2423" if c == " " else c for c in source], fontsize=7, fontfamily=family)
    ax.set_yticks(range(T), list(target), fontsize=7, fontfamily=family)
    ax.xaxis.tick_top()
    ax.set_xlabel("source")
    ax.set_ylabel("output")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=9, pad=18)
    with warnings.catch_warnings():  # a script no installed font covers draws as boxes, not a warning wall
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        return save_png(fig, path)
