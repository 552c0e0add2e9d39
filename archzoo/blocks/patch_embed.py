"""Patch embedding: cut an image into p x p patches and project each to a D-vector.

Dosovitskiy et al. 2021, "An Image is Worth 16x16 Words: Transformers for Image Recognition at
Scale" (arXiv:2010.11929) section 3.1 flattens each patch and multiplies it by a (P^2 C x D)
matrix; a convolution with kernel = stride = p is the same linear map on every patch, computed at
once. Liu et al. 2021 (Swin, arXiv:2103.14030) adds a LayerNorm after it (`norm_layer`).

An image whose sides are not multiples of p fails with the valid sizes, instead of having its
edge silently cropped as a strided convolution would do.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn as nn


class PatchSizeError(ValueError):
    """The image does not split into whole patches."""


def valid_sides(side: int, patch_size: int) -> str:
    """The multiples of `patch_size` nearest `side`, for error messages."""
    lo = (side // patch_size) * patch_size
    near = [s for s in (lo, lo + patch_size) if s > 0]
    return (f"valid sizes are multiples of {patch_size} ({patch_size}, {2 * patch_size}, "
            f"{3 * patch_size}, ...); nearest: {' or '.join(str(s) for s in near)}")


def check_patchable(h: int, w: int, patch_size: int) -> None:
    if h % patch_size or w % patch_size or h < patch_size or w < patch_size:
        raise PatchSizeError(f"image size {h}x{w} is not divisible by the patch size "
                             f"{patch_size}; {valid_sides(h if h % patch_size else w, patch_size)}")


class PatchEmbed(nn.Module):
    """(B C H W) -> (B T D) tokens, T = (H/p)(W/p) in row-major order; or (B H/p W/p D) with
    `flatten=False` (channels last, as Swin's windows want)."""

    def __init__(self, *, in_chans: int, dim: int, patch_size: int, img_size: int | None = None,
                 norm_layer: Callable[[int], nn.Module] | None = None, flatten: bool = True,
                 bias: bool = True) -> None:
        super().__init__()
        if img_size is not None:
            check_patchable(img_size, img_size, patch_size)
        self.patch_size, self.img_size, self.flatten = patch_size, img_size, flatten
        self.proj = nn.Conv2d(in_chans, dim, kernel_size=patch_size, stride=patch_size, bias=bias)
        self.norm = norm_layer(dim) if norm_layer is not None else nn.Identity()

    @property
    def grid_size(self) -> tuple[int, int] | None:
        if self.img_size is None:
            return None
        return (self.img_size // self.patch_size,) * 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        check_patchable(x.shape[-2], x.shape[-1], self.patch_size)
        x = self.proj(x).permute(0, 2, 3, 1)  # (B H/p W/p D)
        if self.flatten:
            x = x.flatten(1, 2)  # (B T D)
        return self.norm(x)
