"""Attention maps: per layer and head (seed 000's multi-head figure), and attention rollout for ViT.

Rollout: Abnar & Zuidema 2020, "Quantifying Attention Flow in Transformers" (arXiv:2005.00928):
average the heads of each layer, add the identity for the residual connection (0.5 A + 0.5 I),
renormalize the rows and multiply the layers' matrices; the class token's row, reshaped to the
patch grid, shows which patches reached the prediction.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..blocks.attention import MultiHeadAttention
from ._figure import save_png


@torch.no_grad()
def collect_attention(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    """Run `model(x)` in eval mode and return each attention layer's weights (B nh Tq Tk), in
    module order. The layers run the written-out path while recording; flags are restored."""
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    if not layers:
        raise ValueError(f"{type(model).__name__} has no MultiHeadAttention layers to record")
    was_training, flags = model.training, [m.keep_weights for m in layers]
    try:
        model.eval()
        for m in layers:
            m.keep_weights = True
        model(x)
        return [m.attn_weights for m in layers]
    finally:
        for m, flag in zip(layers, flags):
            m.keep_weights, m.attn_weights = flag, None
        model.train(was_training)


def attention_rollout(maps: list[torch.Tensor], *, residual: float = 0.5) -> torch.Tensor:
    """(B T T): how much each input token reaches each output token through all layers."""
    rollout = None
    for a in maps:  # (B nh T T)
        a = a.mean(dim=1)
        eye = torch.eye(a.shape[-1], dtype=a.dtype, device=a.device)
        a = residual * eye + (1 - residual) * a
        a = a / a.sum(dim=-1, keepdim=True)
        rollout = a if rollout is None else a @ rollout
    return rollout


def _figure(rows: int, cols: int, cell: float) -> tuple[Figure, list[list]]:
    fig = Figure(figsize=(cell * cols, cell * rows), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.subplots(rows, cols, squeeze=False).tolist()


def plot_attention_heads(maps: list[torch.Tensor], path: str | Path, *, sample: int = 0,
                         layers: list[int] | None = None, tokens: list[str] | None = None,
                         title: str = "") -> Path:
    """One token x token heat map per (layer, head) of batch row `sample`: rows are layers,
    columns heads; `tokens` label the axes of small maps (text)."""
    layers = list(range(len(maps))) if layers is None else layers
    heads = max(maps[i].shape[1] for i in layers)
    fig, axes = _figure(len(layers), heads, 1.8)
    for r, li in enumerate(layers):
        for h in range(heads):
            ax = axes[r][h]
            ax.set_xticks([]), ax.set_yticks([])
            if h >= maps[li].shape[1]:
                ax.axis("off")
                continue
            ax.imshow(maps[li][sample, h].float().cpu().numpy(), cmap="viridis", vmin=0)
            if r == 0:
                ax.set_title(f"head {h}", fontsize=8)
            if h == 0:
                ax.set_ylabel(f"layer {li}", fontsize=8)
            if tokens is not None and len(tokens) <= 24:
                ax.set_xticks(range(len(tokens)), tokens, rotation=90, fontsize=5)
                ax.set_yticks(range(len(tokens)), tokens, fontsize=5)
    if title:
        fig.suptitle(title)
    return save_png(fig, path)


def rollout_map(model: nn.Module, image: torch.Tensor) -> torch.Tensor:
    """(H W) in [0, 1]: the class token's rollout over the patches, upsampled to the image."""
    x = image[None] if image.ndim == 3 else image[:1]
    roll = attention_rollout(collect_attention(model, x))[0, 0, 1:]  # class token row, patches
    gh, gw = (s // model.patch_size for s in x.shape[-2:])
    if roll.numel() != gh * gw:
        raise ValueError(f"rollout needs a class token plus {gh}x{gw} patch tokens; got "
                         f"{roll.numel() + 1} tokens")
    grid = roll.reshape(1, 1, gh, gw)
    heat = F.interpolate(grid, size=x.shape[-2:], mode="bilinear", align_corners=False)[0, 0]
    return (heat - heat.min()) / (heat.max() - heat.min()).clamp(min=1e-12)


def plot_vit_rollout(model: nn.Module, image: torch.Tensor, path: str | Path, *,
                     title: str = "attention rollout") -> Path:
    """The image and its rollout heat map side by side, and the overlay."""
    heat = rollout_map(model, image).cpu().numpy()
    img = image if image.ndim == 3 else image[0]
    img = img.float().cpu()
    img = (img - img.min()) / (img.max() - img.min()).clamp(min=1e-12)
    shown = img[0].numpy() if img.shape[0] == 1 else img[:3].permute(1, 2, 0).numpy()
    cmap = "gray" if img.shape[0] == 1 else None
    fig, axes = _figure(1, 3, 2.6)
    for ax, (name, data) in zip(axes[0], [("image", shown), ("rollout", heat), ("overlay", shown)]):
        ax.imshow(data, cmap=cmap if name != "rollout" else "inferno")
        if name == "overlay":
            ax.imshow(heat, cmap="inferno", alpha=0.5)
        ax.set_title(name, fontsize=9)
        ax.axis("off")
    fig.suptitle(title)
    return save_png(fig, path)

