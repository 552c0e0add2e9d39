"""The per-op rules of the receptive-field tracker (seed 003's procedure, carried forward).

A filter of F taps (dilation d, stride S) adds (F - 1) * d * jump to the field and multiplies the
jump by S, seed 003's "add F - 1 ... multiply by the down sampling factor" at each layer; pooling
is a filter; a reshape or permute moves the axes; a matmul whose contraction runs over positions
(flatten + linear, attention scores) makes the field global.
"""
from __future__ import annotations

import math
from typing import Any

import torch

from ._rf import GLOBAL, AxisRF, FieldTracker, _merge_dim, _union


def _filter(rf: AxisRF, *, k: int, s: int, p: int, d: int = 1, transposed: bool = False) -> AxisRF:
    span = d * (k - 1)  # the (F - 1) of seed 003, dilated
    if transposed:  # each output sees ceil(span / s) + 1 inputs; the jump shrinks by the stride
        return AxisRF(rf.axis, rf.size + math.ceil(span / s) * rf.jump, rf.jump / s,
                      rf.start - (span - p) / s * rf.jump)
    return AxisRF(rf.axis, rf.size + span * rf.jump, rf.jump * s, rf.start - p * rf.jump)


def _tup(v: Any, n: int, default: int) -> list[int]:
    if v is None or (isinstance(v, (list, tuple)) and len(v) == 0):
        return [default] * n
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return v * n if len(v) == 1 else v


def apply_rule(tr: FieldTracker, name: str, func: Any, args: tuple, outs: list) -> Any:
    x, out = args[0], outs[0]
    if name in ("convolution", "_convolution"):
        n = args[1].ndim - 2
        s, p, d = _tup(args[3], n, 1), _tup(args[4], n, 0), _tup(args[5], n, 1)
        return _spatial(tr, x, out, [dict(k=args[1].shape[2 + i], s=s[i], p=p[i], d=d[i],
                                           transposed=bool(args[6])) for i in range(n)], mix=1)
    if "pool" in name and "adaptive" not in name:
        n = int(name.split("pool")[1][0])
        k = _tup(args[1], n, 1)
        s = _tup(args[2] if len(args) > 2 else None, n, 0)
        s = [si or ki for si, ki in zip(s, k)]
        p = _tup(args[3] if len(args) > 3 else None, n, 0)
        d = _tup(args[4] if len(args) > 4 and name.startswith("max") else None, n, 1)
        return _spatial(tr, x, out, [dict(k=k[i], s=s[i], p=p[i], d=d[i]) for i in range(n)])
    if "adaptive" in name:
        n = int(name.split("pool")[1][0])
        specs = []
        for i in range(n):
            size_in, size_out = x.shape[-n + i], out.shape[-n + i]
            stride = max(1, size_in // max(1, size_out))
            specs.append(dict(k=size_in - (size_out - 1) * stride, s=stride, p=0))
        return _spatial(tr, x, out, specs)
    if name.startswith("upsample"):
        n = out.ndim - 2
        specs = [dict(k=2 if "linear" in name else 1, s=1, p=0) for _ in range(n)]
        meta = _spatial(tr, x, out, specs)
        return meta if meta == GLOBAL else _rescale(tr, meta, x, out, n)
    if name in ("mm", "addmm", "bmm", "baddbmm"):
        a, b = (args[1], args[2]) if name.startswith(("addmm", "baddbmm")) else (args[0], args[1])
        da, db = tr._dims(a), tr._dims(b)
        if any(rf is not None for _, rf in da[-1]) or any(rf is not None for _, rf in db[-2]):
            return GLOBAL  # the contraction runs over positions
        batch = [] if a.ndim == 2 else [_merge_dim(da[0], db[0])]
        dims = (*batch, da[-2], db[-1])
        if name in ("addmm", "baddbmm"):
            bias = tr._broadcast([args[0]], out.shape)
            return GLOBAL if GLOBAL in (bias, *dims) else tuple(_merge_dim(p, q) for p, q in zip(dims, bias))
        return GLOBAL if GLOBAL in dims else dims
    if name == "embedding":
        return (*tr._dims(args[1]), ((out.shape[-1], None),))
    if name in ("_softmax", "_safe_softmax", "_log_softmax", "native_layer_norm", "mean", "sum",
                "amax", "amin", "max", "min", "var", "std", "norm", "logsumexp", "cumsum"):
        return _reduction(tr, name, args, x, out)
    if name in ("permute", "transpose", "t"):
        dims = tr._dims(x)
        order = (list(args[1]) if name == "permute" else
                 _swap(x.ndim, *(args[1:3] if name == "transpose" else (0, 1))))
        return tuple(dims[i % x.ndim] for i in order) if x.ndim else dims
    if name in ("slice", "narrow", "select"):
        return _slice(tr, name, args, x)
    if name in ("unbind", "split", "split_with_sizes", "unsafe_split", "chunk",
                "unsafe_split_with_sizes"):
        dim = (args[1] if name == "unbind" else args[2] if len(args) > 2 else 0) if len(args) > 1 else 0
        dims = tr._dims(x)
        dim %= x.ndim
        if name == "unbind":
            return [tuple(c for i, c in enumerate(dims) if i != dim)] * len(outs)
        if any(rf is not None for _, rf in dims[dim]):
            return GLOBAL
        return [tuple(((o.shape[dim], None),) if i == dim else c for i, c in enumerate(dims))
                for o in outs]
    if name in ("cat", "stack"):
        return _cat(tr, name, args, out)
    if name in ("constant_pad_nd", "reflection_pad1d", "reflection_pad2d", "replication_pad1d",
                "replication_pad2d", "reflection_pad3d", "replication_pad3d"):
        return _pad(tr, args[1], x, out)
    if func.is_view or x.shape != out.shape:
        if x.numel() == out.numel() and name not in ("expand",):
            return _regroup(tr._dims(x), out.shape)
        if name == "expand" or x.shape == out.shape:
            return tr._broadcast([x], out.shape)
    if out.shape == x.shape or any(isinstance(a, torch.Tensor) and a.shape == out.shape
                                   for a in args):
        return tr._broadcast(list(args), out.shape)  # element-wise
    return GLOBAL

def _spatial(tr: FieldTracker, x: torch.Tensor, out: torch.Tensor, specs: list[dict], mix: int | None = None) -> Any:
    dims, n = list(tr._dims(x)), len(specs)
    if mix is not None and any(rf is not None for _, rf in dims[mix]):
        return GLOBAL  # a convolution mixes channels: positions packed there are mixed too
    new = [dims[i] if out.shape[i] == x.shape[i] else ((out.shape[i], None),) for i in range(x.ndim - n)]
    for i, spec in enumerate(specs):
        comps = dims[x.ndim - n + i]
        if len(comps) != 1:
            return GLOBAL
        rf = comps[0][1]
        new.append(((out.shape[x.ndim - n + i], None if rf is None else _filter(rf, **spec)),))
    return tuple(new)

def _rescale(tr: FieldTracker, meta: tuple, x: torch.Tensor, out: torch.Tensor, n: int) -> tuple:
    new = list(meta)
    for i in range(out.ndim - n, out.ndim):
        (size, rf), = new[i]
        if rf is not None:
            new[i] = ((size, AxisRF(rf.axis, rf.size, rf.jump * x.shape[i] / out.shape[i], rf.start)),)
    return tuple(new)

def _reduction(tr: FieldTracker, name: str, args: tuple, x: torch.Tensor, out: torch.Tensor) -> Any:
    dims = tr._dims(x)
    if len(args) > 1 and isinstance(args[1], torch.Tensor):  # max(a, b): element-wise
        return tr._broadcast(list(args[:2]), out.shape)
    if name == "native_layer_norm":
        reduced = list(range(x.ndim - len(args[1]), x.ndim))
    elif len(args) > 1 and isinstance(args[1], (int, list, tuple)) and not isinstance(args[1], bool):
        reduced = [d % x.ndim for d in ([args[1]] if isinstance(args[1], int) else args[1])] or list(range(x.ndim))
    else:
        reduced = list(range(x.ndim))
    if any(rf is not None for d in reduced for _, rf in dims[d]):
        return GLOBAL
    if out.shape == x.shape:
        return dims
    return _regroup(tuple(c for i, c in enumerate(dims) if i not in reduced), out.shape)

def _slice(tr: FieldTracker, name: str, args: tuple, x: torch.Tensor) -> Any:
    dims = list(tr._dims(x))
    dim = (args[1] if len(args) > 1 else 0) % x.ndim
    if name == "select":
        return tuple(c for i, c in enumerate(dims) if i != dim)
    start = args[2] if len(args) > 2 and args[2] is not None else 0
    if name == "narrow":
        length, step = args[3], 1
    else:
        end = args[3] if len(args) > 3 and args[3] is not None else x.shape[dim]
        step = args[4] if len(args) > 4 else 1
        start, end, _ = slice(start, end).indices(x.shape[dim])
        length = max(0, (end - start + step - 1) // step)
    comps = dims[dim]
    rf = comps[0][1] if len(comps) == 1 else None
    if len(comps) == 1 and rf is not None:
        rf = AxisRF(rf.axis, rf.size, rf.jump * step, rf.start + start * rf.jump)
    elif any(r is not None for _, r in comps):
        return GLOBAL
    dims[dim] = ((length, rf),)
    return tuple(dims)

def _cat(tr: FieldTracker, name: str, args: tuple, out: torch.Tensor) -> Any:
    tensors = [t for t in args[0] if isinstance(t, torch.Tensor) and t.numel()]
    dim = (args[1] if len(args) > 1 else 0) % out.ndim
    if name == "stack":
        merged = tr._broadcast(tensors, tensors[0].shape)
        return GLOBAL if merged == GLOBAL else (*merged[:dim], ((len(tensors), None),), *merged[dim:])
    rfs = [rf for t in tensors for _, rf in tr._dims(t)[dim] if rf is not None]
    along = rfs[0] if rfs else None
    for rf in rfs[1:]:
        if rf.axis != along.axis:  # positions of several axes packed in one dim: not one field
            return GLOBAL
        along = _union(along, rf)
    shape = list(out.shape)
    rest = [tr._broadcast([t], torch.Size([*shape[:dim], t.shape[dim], *shape[dim + 1:]]))
            for t in tensors]
    if GLOBAL in rest:
        return GLOBAL
    dims = list(rest[0])
    for other in rest[1:]:
        for i in range(out.ndim):
            if i != dim:
                dims[i] = _merge_dim(dims[i], other[i])
    if GLOBAL in dims:
        return GLOBAL
    dims[dim] = ((out.shape[dim], along),)
    return tuple(dims)

def _pad(tr: FieldTracker, pad: list[int], x: torch.Tensor, out: torch.Tensor) -> Any:
    dims = list(tr._dims(x))
    for i in range(len(pad) // 2):
        d = x.ndim - 1 - i
        comps = dims[d]
        rf = comps[0][1] if len(comps) == 1 else None
        if rf is not None:
            rf = AxisRF(rf.axis, rf.size, rf.jump, rf.start - pad[2 * i] * rf.jump)
        elif any(r is not None for _, r in comps):
            return GLOBAL
        dims[d] = ((out.shape[d], rf),)
    return tuple(dims)

def _swap(n: int, a: int, b: int) -> list[int]:
    order = list(range(n))
    order[a % n], order[b % n] = order[b % n], order[a % n]
    return order


def _regroup(dims: tuple, shape: torch.Size) -> Any:
    """Reassign components to the dims of a reshaped tensor (element order is unchanged)."""
    queue = [c for comps in dims for c in comps if not (c[0] == 1 and c[1] is None)]
    new = []
    for size in shape:
        comps, left = [], size
        while left > 1:
            if not queue:
                return GLOBAL
            n, rf = queue[0]
            if left % n == 0:
                comps.append(queue.pop(0))
                left //= n
            elif n % left == 0:  # one axis split in two (a window partition): both keep the field
                comps.append((left, rf))
                queue[0] = (n // left, rf)
                left = 1
            else:
                return GLOBAL
        new.append(tuple(comps) or ((1, None),))
    if any(n != 1 for n, _ in queue):
        return GLOBAL
    return tuple(new)
