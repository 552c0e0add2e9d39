"""The classifier contract of seed 003: tail (stem) -> body (stages) -> head.

Every image classifier in archzoo is an `ImageClassifier`: `forward_features` runs tail and body,
`forward_head(x, pre_logits=False)` runs the head, `reset_head(num_classes)` swaps the last layer
for transfer learning, and `feature_info` describes each body stage (channels, stride). Inputs are
checked before they reach a layer, so a wrong channel count or a map too small fails with the
expected and the received shape instead of a shape error deep inside a convolution.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn as nn


@dataclass(frozen=True)
class FeatureInfo:
    module: str  # name of the body stage, e.g. "body.stage2"
    channels: int
    reduction: int  # stride of the stage's output relative to the input


class InputShapeError(ValueError):
    """The input does not fit the model (channels, rank or spatial size)."""


def check_tokens(idx: torch.Tensor, vocab_size: int, name: str) -> None:
    """Token ids (B, T) of dtype int64 inside [0, V), or an error naming what came."""
    if idx.ndim != 2 or idx.dtype != torch.long:
        raise InputShapeError(f"{name} expects token ids (B, T) as int64; got {idx.dtype} {tuple(idx.shape)}")
    if idx.device.type != "meta" and idx.numel() and (idx.min() < 0 or idx.max() >= vocab_size):
        raise ValueError(f"{name}: token ids must lie in [0, {vocab_size}); got ids from "
                         f"{int(idx.min())} to {int(idx.max())}")


@torch.no_grad()
def init_normal_(model: nn.Module, *, std: float = 0.02) -> None:
    """GPT's and BERT's reference initialization: N(0, std) for every linear and embedding weight,
    zero linear biases (LayerNorm keeps its ones and zeros)."""
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, std=std)
        if isinstance(m, nn.Linear) and m.bias is not None:
            nn.init.zeros_(m.bias)


class ImageClassifier(nn.Module):
    """tail -> body -> head, with the checks and hooks every classifier shares.

    `fixed_input` is set for models whose head flattens a map of one size (LeNet's FC layers);
    `min_input_size` for the others is found by `probe_min_input_size` the first time it is asked
    for (or when a forward fails), so building a deep model costs nothing extra.
    """

    def __init__(
        self,
        *,
        tail: nn.Module,
        body: nn.Sequential,
        head: nn.Module,
        feature_info: list[FeatureInfo],
        in_chans: int,
        num_classes: int,
        num_features: int,
        fixed_input: tuple[int, int] | None = None,
    ) -> None:
        super().__init__()
        self.tail = tail
        self.body = body
        self.head = head
        self.feature_info = feature_info
        self.in_chans = in_chans
        self.num_classes = num_classes
        self.num_features = num_features
        self.fixed_input = fixed_input
        self._min_input_size: int | None = 1
        self._min_size_probe: Callable[[], ImageClassifier] | None = None

    @property
    def min_input_size(self) -> int:
        if self._min_input_size is None:
            assert self._min_size_probe is not None
            self._min_input_size = probe_min_input_size(self._min_size_probe)
        return self._min_input_size

    @min_input_size.setter
    def min_input_size(self, side: int) -> None:
        self._min_input_size = side

    def check_input(self, x: torch.Tensor) -> None:
        name = getattr(self, "model_name", type(self).__name__)
        if x.ndim != 4 or x.shape[1] != self.in_chans:
            raise InputShapeError(
                f"{name} expects input (B, {self.in_chans}, H, W); got {tuple(x.shape)}"
            )
        h, w = x.shape[-2:]
        if self.fixed_input is not None and (h, w) != self.fixed_input:
            fh, fw = self.fixed_input
            raise InputShapeError(
                f"{name} expects input (B, {self.in_chans}, {fh}, {fw}) (its head flattens a "
                f"fixed map; build it with img_size={h} for this input); got {tuple(x.shape)}"
            )
        if self._min_input_size is not None and min(h, w) < self._min_input_size:
            self._too_small(x)

    def _too_small(self, x: torch.Tensor) -> None:
        name = getattr(self, "model_name", type(self).__name__)
        raise InputShapeError(
            f"{name} needs inputs of at least {self.min_input_size}x{self.min_input_size} "
            f"(smaller maps shrink to nothing); got {tuple(x.shape)}"
        )

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        self.check_input(x)
        try:
            return self.body(self.tail(x))
        except RuntimeError:
            # the minimum is found only now, when a map has shrunk to nothing
            if self._min_input_size is None and min(x.shape[-2:]) < self.min_input_size:
                self._too_small(x)
            raise

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        return self.head(x, pre_logits=pre_logits)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def reset_head(self, num_classes: int, *, kind: str | None = None, **head_args: Any) -> None:
        """Replace the last layer with a fresh one for `num_classes` (transfer learning); with
        `kind` ("gap", "vectorize", "vote", "spatial"), replace the whole head by that kind."""
        if kind is None:
            self.head.reset(num_classes)
        else:
            from ..blocks.heads import make_head  # blocks never import models; models import late

            in_features = self.feature_info[-1].channels if self.feature_info else self.num_features
            self.head = make_head(kind, in_features=in_features, num_classes=num_classes,
                                  **head_args)
        self.num_classes = num_classes


def probe_min_input_size(build: Callable[[], ImageClassifier], *, limit: int = 1024) -> int:
    """Smallest square side the model takes, found by shape propagation on the meta device.

    Building on the meta device allocates nothing, and meta kernels raise the same "output size
    is too small" errors as the real ones, so a binary search costs a few milliseconds.
    """
    with torch.device("meta"):
        model = build()
    model.eval()
    in_chans = model.in_chans

    def fits(side: int) -> bool:
        try:
            with torch.no_grad():
                model.forward_head(model.body(model.tail(torch.empty(1, in_chans, side, side, device="meta"))))
            return True
        except (RuntimeError, ValueError):
            return False

    if fits(1):
        return 1
    lo, hi = 1, limit  # fits(lo) is False; find the smallest hi with fits(hi)
    if not fits(hi):
        raise ValueError(f"model does not take any input up to {limit}x{limit}")
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def build_classifier(make: Callable[[], ImageClassifier]) -> ImageClassifier:
    """Build with `make()`; the smallest input it takes is probed lazily with `make`."""
    model = make()
    if model.fixed_input is None:
        model._min_input_size = None
        model._min_size_probe = make
    return model


def with_head(model: ImageClassifier, kind: str, *, num_classes: int | None = None,
              **head_args: Any) -> ImageClassifier:
    """`model` with its head replaced by a fresh head of `kind` (see `blocks.heads.make_head`),
    for any classifier whose body ends in a (B, num_features, H, W) map; returns the model.

    The new head sits on the device and dtype of the body's last parameter. A head of another
    kind changes the parameter names, so a checkpoint saved with it loads only into a model given
    the same head (`load_checkpoint(..., model=with_head(create_model(...), kind))`).
    """
    from ..blocks.heads import make_head

    ref = next(model.body.parameters(), None)
    num_classes = model.num_classes if num_classes is None else num_classes
    # the map's channels: num_features is the flattened length for heads that flatten (VGG)
    in_features = model.feature_info[-1].channels if model.feature_info else model.num_features
    # set here, not through reset_head, which some families override (auxiliary heads)
    model.head = make_head(kind, in_features=in_features, num_classes=num_classes, **head_args)
    model.num_classes = num_classes
    if ref is not None:
        model.head.to(device=ref.device, dtype=ref.dtype)
    return model
