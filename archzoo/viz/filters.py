"""First-layer filters as an image grid, and seed 002's Sobel filter as a fixed-kernel demo.

The first convolution of a trained net looks at pixels directly, so its kernels read as images
(oriented edges, colour blobs); deeper kernels do not, so only the first layer is drawn. Each
kernel is scaled to [0, 1] on its own, since their magnitudes differ by orders.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ._figure import new_figure, save_png

SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
SOBEL_Y = SOBEL_X.T.contiguous()  # [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]


def first_conv(model: nn.Module) -> nn.Conv2d:
    """The first nn.Conv2d in registration order (the stem's)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            return m
    raise ValueError(f"{type(model).__name__} has no Conv2d layer to draw filters from")


def _unit(a: np.ndarray) -> np.ndarray:
    lo, hi = a.min(), a.max()
    return (a - lo) / (hi - lo) if hi > lo else np.zeros_like(a)


def plot_filters(weight: torch.Tensor, path: str | Path, *, title: str = "",
                 max_filters: int = 64) -> Path:
    """Grid of kernels (O, I, kh, kw): RGB when I == 3, else the mean over input channels, grey."""
    w = weight.detach().float().cpu()[:max_filters]
    n = w.shape[0]
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, _ = new_figure(width=1.0 * cols + 0.4, height=1.0 * rows + 0.6, layout=None)
    fig.clear()
    axes = fig.subplots(rows, cols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if i >= n:
            continue
        k = w[i]
        if k.shape[0] == 3:
            ax.imshow(_unit(k.permute(1, 2, 0).numpy()), interpolation="nearest")
        else:
            ax.imshow(_unit(k.mean(0).numpy()), cmap="gray", interpolation="nearest")
    fig.suptitle(title or f"first-layer filters ({tuple(weight.shape)})", fontsize=10)
    return save_png(fig, path)


def sobel(gray: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(G_x, G_y, G = sqrt(G_x^2 + G_y^2)) of a (H, W) image, each (H-2, W-2) (no padding)."""
    kernels = torch.stack([SOBEL_X, SOBEL_Y])[:, None]  # (2, 1, 3, 3)
    g = F.conv2d(gray[None, None].float(), kernels)[0]  # (2, H-2, W-2)
    # conv2d is cross-correlation: G_x responds positively where intensity rises to the right
    return g[0], g[1], g.square().sum(0).sqrt()


def plot_sobel(gray: torch.Tensor, path: str | Path) -> Path:
    """Seed 002's convolution example: an image, its Sobel responses G_x, G_y and magnitude G."""
    gx, gy, g = sobel(gray)
    fig, axes = new_figure(width=13, height=3.6, ncols=4)
    panels = [(gray, "input", "gray"), (gx, "G_x (horizontal change)", "RdBu_r"),
              (gy, "G_y (vertical change)", "RdBu_r"), (g, "G = sqrt(G_x^2 + G_y^2)", "magma")]
    for ax, (img, label, cmap) in zip(axes, panels):
        a = img.numpy()
        if cmap == "RdBu_r":
            m = float(np.percentile(np.abs(a), 99.5)) or 1.0  # a few strong edges would wash out the rest
            ax.imshow(a, cmap=cmap, vmin=-m, vmax=m)
        else:
            ax.imshow(a, cmap=cmap)
        ax.set_title(label, fontsize=10)
        ax.set_axis_off()
    fig.suptitle("Sobel filter: G_x = [[-1,0,1],[-2,0,2],[-1,0,1]], G_y = G_x transposed", fontsize=10)
    return save_png(fig, path)
