"""Loss and accuracy curves of a training run, from its metrics rows."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from ._figure import new_figure, save_png


def _series(rows: list[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    xs, ys = [], []
    for r in rows:
        v = r.get(key)
        if v is not None and v != "" and math.isfinite(float(v)):
            xs.append(float(r["epoch"]))
            ys.append(float(v))
    return xs, ys


def plot_curves(rows: list[dict[str, Any]], path: str | Path, *, title: str = "") -> Path:
    """Two panels (loss; accuracy) with train and validation lines per epoch; columns other than
    train_/val_ loss and acc (a GAN's losses) go on the loss panel."""
    fig, (ax_loss, ax_acc) = new_figure(width=9, height=3.6, ncols=2, layout=None)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.14, top=0.88, wspace=0.25)
    keys = sorted({k for r in rows for k in r} - {"epoch", "step", "lr", "seconds", "samples_per_s"})
    for key in keys:
        xs, ys = _series(rows, key)
        if not xs:
            continue
        ax = ax_acc if key.endswith("_acc") else ax_loss
        ax.plot(xs, ys, marker="o", markersize=3, label=key.replace("_", " "))
    for ax, label in ((ax_loss, "loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend()
    if title:
        fig.suptitle(title)
    return save_png(fig, path)
