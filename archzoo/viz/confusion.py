"""Confusion-matrix heat map with class names: rows are true classes, columns predictions."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np

from ._figure import new_figure, save_png


def plot_confusion(confusion: Sequence[Sequence[int]], classes: Sequence[str], path: str | Path, *,
                   title: str = "") -> Path:
    """Counts in each cell, coloured by the share of the true class (row-normalized), so a rare
    class's mistakes show as clearly as a common one's."""
    counts = np.asarray(confusion, dtype=np.int64)
    n = counts.shape[0]
    if counts.shape != (n, n) or len(classes) != n:
        raise ValueError(f"expected a square confusion matrix for {len(classes)} classes, got {counts.shape}")
    share = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    side = min(3 + 0.45 * n, 24)
    fig, (ax,) = new_figure(width=side + 1, height=side)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    fig.colorbar(image, ax=ax, label="share of true class")
    slanted = max(map(len, classes)) > 2  # long names would overlap side by side
    ax.set_xticks(range(n), labels=list(classes), rotation=45 if slanted else 0, ha="right" if slanted else "center")
    ax.set_yticks(range(n), labels=list(classes))
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if n <= 30:  # numbers stay legible up to about 30 classes
        for i in range(n):
            for j in range(n):
                ax.text(j, i, str(counts[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if share[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    return save_png(fig, path)
