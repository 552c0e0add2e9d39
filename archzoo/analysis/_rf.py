"""Receptive fields by seed 003's procedure, carried forward op by op through any graph.

Seed 003 ("Receptive Field Size", Calculation): walk back from a layer, add (F - 1) for each filter,
and at each down-sampling multiply by the stride S. Carried forward, that is: every input axis of a
tensor keeps `size` (the field, in input pixels), `jump` (input pixels between neighbouring outputs,
the product of the strides so far) and `start` (the input coordinate where output 0's field
begins); a filter of F taps with dilation d adds (F - 1) * d * jump and multiplies the jump by its
stride. Doing it forward over every ATen op the model runs, instead of walking a list of layers
backward, handles residual, concatenating and parallel branches without a graph of the model:
where two branches meet (an add, a concat) the fields are united, which is the largest path.

A tensor's field is tracked per dimension as a tuple of components (size, AxisRF or None), so a
spatial axis survives permutes and reshapes such as (B, H, W, C) -> (B*H*W, C) -> back. Ops that
mix every position of an axis (attention, recurrence, flatten + linear, global pooling, softmax over
positions) make the field GLOBAL, as the issue asks for attention layers. Batch and group norms are
treated as per-position affine maps (their statistics as constants), as the theory assumes.
"""
from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils._pytree import tree_flatten

from ._ops import op_name

GLOBAL = "global"


@dataclass(frozen=True)
class AxisRF:
    axis: int  # which spatial axis of the input (0 = H for images, 0 = T for tokens)
    size: float
    jump: float
    start: float


@dataclass(frozen=True)
class ReceptiveField:
    """The field of one output position, per input axis; `is_global` when it spans the input."""
    size: tuple[int, ...] = ()
    jump: tuple[float, ...] = ()
    start: tuple[float, ...] = ()
    is_global: bool = False

    def __str__(self) -> str:
        if self.is_global:
            return "global"
        return "x".join(str(s) for s in dict.fromkeys(self.size)) if self.size else "-"

    def to_dict(self) -> dict[str, Any]:
        if self.is_global:
            return {"global": True}
        return {"size": list(self.size), "jump": [_num(j) for j in self.jump]}


def _num(x: float) -> float | int:
    return int(x) if float(x).is_integer() else round(x, 4)


def _union(a: AxisRF, b: AxisRF) -> AxisRF:
    lo, hi = min(a.start, b.start), max(a.start + a.size, b.start + b.size)
    return AxisRF(a.axis, hi - lo, max(a.jump, b.jump), lo)


def _merge_dim(a: tuple, b: tuple) -> tuple | str:
    if all(rf is None for _, rf in a):
        return b
    if all(rf is None for _, rf in b):
        return a
    if [s for s, _ in a] != [s for s, _ in b]:
        return GLOBAL
    merged = []
    for (s, ra), (_, rb) in zip(a, b):
        if ra is None or rb is None:
            merged.append((s, ra or rb))
        elif ra.axis != rb.axis:
            return GLOBAL
        else:
            merged.append((s, _union(ra, rb)))
    return tuple(merged)


class FieldTracker:
    """Carries each live tensor's per-dimension field through the ops the model runs."""

    def __init__(self) -> None:
        self._meta: dict[int, Any] = {}

    def _set(self, t: torch.Tensor, meta: Any) -> None:
        key = id(t)
        if key not in self._meta:
            weakref.finalize(t, self._meta.pop, key, None)
        self._meta[key] = meta

    def get(self, t: Any) -> Any:
        return self._meta.get(id(t)) if isinstance(t, torch.Tensor) else None

    def seed(self, t: torch.Tensor, spatial: list[int]) -> None:
        """Mark dims `spatial` of an input as axes 0, 1, ... with a field of one pixel."""
        axes = {d: i for i, d in enumerate(spatial)}
        self._set(t, tuple(((n, AxisRF(axes[d], 1, 1, 0) if d in axes else None),)
                           for d, n in enumerate(t.shape)))

    def _dims(self, t: torch.Tensor) -> Any:
        m = self.get(t)
        return m if m is not None else tuple(((n, None),) for n in t.shape)

    def field(self, t: Any) -> ReceptiveField | None:
        m = self.get(t)
        if m is None:
            return None
        if m == GLOBAL:
            return ReceptiveField(is_global=True)
        per_axis: dict[int, AxisRF] = {}
        for comps in m:
            for _, rf in comps:
                if rf is not None and (rf.axis not in per_axis or rf.size > per_axis[rf.axis].size):
                    per_axis[rf.axis] = rf
        if not per_axis:
            return None
        axes = [per_axis[a] for a in sorted(per_axis)]
        return ReceptiveField(tuple(int(round(a.size)) for a in axes),
                              tuple(a.jump for a in axes), tuple(a.start for a in axes))

    # -- propagation ---------------------------------------------------------------------
    def propagate(self, func: Any, args: tuple, kwargs: dict, out: Any) -> None:
        inputs = [a for a in tree_flatten((args, kwargs))[0] if isinstance(a, torch.Tensor)]
        metas = [self.get(t) for t in inputs]
        if all(m is None for m in metas):
            return
        outs = [o for o in tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
        if not outs:
            return
        name = op_name(func)
        if any(m == GLOBAL for m in metas) or name in _MIXING:
            result: Any = GLOBAL
        else:
            try:
                result = apply_rule(self, name, func, args, outs)
            except (IndexError, TypeError, ValueError, ZeroDivisionError):
                result = GLOBAL
        if isinstance(result, list):  # one meta per output (split, unbind)
            for o, m in zip(outs, result):
                self._set(o, m)
        else:  # the first output; the others are indices or statistics
            self._set(outs[0], result)

    def _broadcast(self, tensors: list, shape: torch.Size) -> Any:
        dims: list[Any] = [((n, None),) for n in shape]
        for t in tensors:
            if not isinstance(t, torch.Tensor) or self.get(t) is None:
                continue
            offset = len(shape) - t.ndim
            for i, comps in enumerate(self._dims(t)):
                if t.shape[i] == shape[i + offset] and t.shape[i] != 1:
                    dims[i + offset] = _merge_dim(dims[i + offset], comps)
                    if dims[i + offset] == GLOBAL:
                        return GLOBAL
        return tuple(dims)



# Ops whose every output mixes all positions of their inputs.
_MIXING = frozenset({
    "_scaled_dot_product_flash_attention_for_cpu", "_scaled_dot_product_flash_attention",
    "_scaled_dot_product_efficient_attention", "_scaled_dot_product_cudnn_attention",
    "_native_multi_head_attention", "_transformer_encoder_layer_fwd", "mkldnn_rnn_layer",
    "_cudnn_rnn", "lstm", "gru", "rnn_tanh", "rnn_relu", "sort", "topk", "nonzero", "index",
    "gather", "index_select", "scatter", "_unsafe_index", "masked_select", "flip", "roll",
})

from ._rf_rules import apply_rule  # noqa: E402  (the rules use the types above)
