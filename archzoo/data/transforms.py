"""Batched image transforms with explicit random generators.

They act on a whole float batch [B, C, H, W] at once, so augmentation costs a few tensor ops per
batch instead of Python per image, and every random draw comes from the `torch.Generator` passed
in, so a batch's augmentation is reproducible from its seed alone (what exact resume needs).
Random numbers are drawn on the generator's device (the CPU) and then moved, so a batch augments
the same on CPU and GPU.

The augmentation is the standard CIFAR recipe of "Deep Residual Learning for Image Recognition"
(He et al., arXiv:1512.03385, section 4.2): zero-pad, random crop back to size, random horizontal
flip. Departures: the padding is size // 8 (4 pixels at 32, as in the paper; 3 at 28), and
`build_transforms` applies flips to every dataset, including digits, where a flip changes meaning.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

if TYPE_CHECKING:
    from .datasets import DataBundle


class Transform(Protocol):
    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor: ...


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    return (size, size) if isinstance(size, int) else (int(size[0]), int(size[1]))


@dataclass(frozen=True)
class Normalize:
    """(x - mean) / std per channel, with the train set's statistics."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        if x.shape[1] != len(self.mean):
            raise ValueError(f"Normalize: expected {len(self.mean)} channels, got {x.shape[1]}")
        mean = torch.tensor(self.mean, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, dtype=x.dtype, device=x.device).view(1, -1, 1, 1)
        return (x - mean) / std


@dataclass(frozen=True)
class RandomCrop:
    """Zero-pad by `padding` on every side, then crop `size` at an offset drawn per sample."""

    size: int | tuple[int, int]
    padding: int = 0

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        h, w = _pair(self.size)
        p = self.padding
        padded = F.pad(x, (p, p, p, p)) if p else x
        B, C, Hp, Wp = padded.shape
        if h > Hp or w > Wp:
            raise ValueError(f"RandomCrop: expected a crop within {Hp}x{Wp} (padded), got {h}x{w}")
        top = torch.randint(0, Hp - h + 1, (B,), generator=generator).to(x.device)
        left = torch.randint(0, Wp - w + 1, (B,), generator=generator).to(x.device)
        rows = top[:, None] + torch.arange(h, device=x.device)  # B h
        cols = left[:, None] + torch.arange(w, device=x.device)  # B w
        out = padded.gather(2, rows[:, None, :, None].expand(B, C, h, Wp))  # B C h Wp
        return out.gather(3, cols[:, None, None, :].expand(B, C, h, w))  # B C h w


@dataclass(frozen=True)
class RandomHorizontalFlip:
    """Mirror each sample left-right with probability `p`, drawn per sample."""

    p: float = 0.5

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        flip = (torch.rand(x.shape[0], generator=generator) < self.p).to(x.device)
        return torch.where(flip[:, None, None, None], x.flip(-1), x)


@dataclass(frozen=True)
class Resize:
    """Bilinear resize to `size` (int: square), antialiased when shrinking so small digits keep
    their strokes instead of aliasing away."""

    size: int | tuple[int, int]

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        h, w = _pair(self.size)
        if (h, w) == tuple(x.shape[-2:]):
            return x
        shrink = h < x.shape[-2] or w < x.shape[-1]
        return F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False, antialias=shrink)


@dataclass(frozen=True)
class Compose:
    """Apply transforms in order, all drawing from the one generator."""

    transforms: Sequence[Transform]

    def __call__(self, x: Tensor, *, generator: torch.Generator | None = None) -> Tensor:
        for t in self.transforms:
            x = t(x, generator=generator)
        return x


def build_transforms(bundle: DataBundle, *, train: bool, augment: bool, resize: int | None) -> Compose:
    """Resize (when asked), augment (train and augment only: pad-crop and flip), then normalize.

    Augmentation precedes Normalize so the crop's zero padding is black, as in the reference
    recipe, rather than the mean colour.
    """
    size = (resize, resize) if resize else bundle.image_size
    steps: list[Transform] = []
    if size != tuple(bundle.image_size):
        steps.append(Resize(size))
    if train and augment:
        steps += [RandomCrop(size, padding=min(size) // 8), RandomHorizontalFlip(p=0.5)]
    steps.append(Normalize(bundle.mean, bundle.std))
    return Compose(tuple(steps))
