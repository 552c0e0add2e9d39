"""Image-specific class saliency: Simonyan, Vedaldi, Zisserman 2014, "Deep Inside Convolutional
Networks: Visualising Image Classification Models and Saliency Maps" (arXiv:1312.6034), Section 3.

The saliency of pixel (i, j) is |d S_c / d I| at that pixel, the maximum over colour channels,
where S_c is the unnormalized class score (the logit, not the softmax, as the paper argues), for
the predicted class unless a target is given. One backward pass; no training.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

from ._figure import new_figure, save_png


def saliency_map(model: nn.Module, x: torch.Tensor, *, target: int | None = None
                 ) -> tuple[torch.Tensor, int]:
    """(saliency (H, W), class) for one image x (1, C, H, W); the model is put in eval mode."""
    model.eval()
    x = x.detach().clone().requires_grad_()
    scores = model(x)  # (1, num_classes)
    c = int(scores[0].argmax()) if target is None else target
    if not 0 <= c < scores.shape[1]:
        raise ValueError(f"--target {c}: expected a class 0..{scores.shape[1] - 1}")
    (grad,) = torch.autograd.grad(scores[0, c], x)
    return grad[0].abs().amax(0), c  # (H, W): max over channels


def plot_saliency(image: torch.Tensor, saliency: torch.Tensor, path: str | Path, *,
                  title: str) -> Path:
    """The input (C, H, W) in [0, 1] beside its saliency map."""
    fig, axes = new_figure(width=8, height=4.2, ncols=2)
    img = image.detach().cpu()
    axes[0].imshow(img.permute(1, 2, 0).numpy() if img.shape[0] == 3 else img[0].numpy(),
                   cmap=None if img.shape[0] == 3 else "gray")
    axes[0].set_title("input", fontsize=10)
    axes[1].imshow(saliency.detach().cpu().numpy(), cmap="hot")
    axes[1].set_title("saliency |dS_c/dI| (max over channels)", fontsize=10)
    for ax in axes:
        ax.set_axis_off()
    fig.suptitle(title, fontsize=10)
    return save_png(fig, path)
