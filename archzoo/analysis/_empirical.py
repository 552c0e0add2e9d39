"""Receptive fields: seed 003's theoretical size at any layer, and the empirical one that checks it.

Seed 003 computes the receptive field by hand and notes it is "the maximum theoretical size". The
empirical field is the set of input positions with a non-zero gradient of one output position (the
centre one, so the field is not clipped by the border). Two changes make it match the theory the
seed states, which assumes every tap of every filter contributes: max pooling passes gradient to one
position only, so it is swapped for average pooling of the same window; and weights are made
positive with a positive input, so no ReLU is off and no gradient cancels out by chance.
"""
from __future__ import annotations

import copy
import difflib
from typing import Any

import torch
import torch.nn as nn

from ._analyze import analyze, parse_input_size
from ._rf import ReceptiveField


def receptive_field(model: nn.Module | str, input_size: Any = None, *, layer: str | None = None) -> ReceptiveField | None:
    """Theoretical receptive field (seed 003's procedure) at the output of `layer` (a module path)
    or of the model; None where the model has no spatial axes."""
    report = analyze(model, input_size=input_size, training_memory=False)
    if layer is None:
        return report.receptive_field
    for row in report.rows:
        if row.name == layer:
            return row.rf
    raise ValueError(_no_layer(layer, [r.name for r in report.rows], report.model))


def _no_layer(layer: str, names: list[str], model: str) -> str:
    close = difflib.get_close_matches(layer, names, n=3, cutoff=0.5)
    return f"{model} has no layer {layer!r}" + (f"; closest: {', '.join(close)}" if close else "")


_AVG = {nn.MaxPool1d: nn.AvgPool1d, nn.MaxPool2d: nn.AvgPool2d, nn.MaxPool3d: nn.AvgPool3d}


def _swap_max_pools(model: nn.Module) -> None:
    for name, child in list(model.named_children()):
        if type(child) in _AVG:
            dil = child.dilation if isinstance(child.dilation, int) else max(child.dilation)
            if dil != 1:
                raise ValueError(f"{name}: a dilated max pool has no average-pool twin")
            setattr(model, name, _AVG[type(child)](child.kernel_size, child.stride, child.padding,
                                                   ceil_mode=child.ceil_mode))
        else:
            _swap_max_pools(child)


@torch.no_grad()
def _make_positive(model: nn.Module) -> None:
    for p in model.parameters():
        p.copy_(p.abs() + 0.01)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
            m.running_mean.zero_()
            m.running_var.fill_(1.0)


def empirical_receptive_field(model: nn.Module, input_size: Any, *, layer: str | None = None) -> ReceptiveField:
    """Bounding box of the input positions whose gradient from the centre output position of
    `layer` (or of the model) is non-zero, per spatial axis. The model is copied, not changed."""
    size = parse_input_size(input_size)
    net = copy.deepcopy(model).to(torch.float64).eval()
    _swap_max_pools(net)
    _make_positive(net)
    captured: list[torch.Tensor] = []
    target = net
    if layer is not None:
        names = [n for n, _ in net.named_modules()]
        if layer not in names:
            raise ValueError(_no_layer(layer, names, type(model).__name__))
        target = net.get_submodule(layer)
    handle = target.register_forward_hook(lambda m, a, out: captured.append(out))
    x = (torch.rand(1, *size, dtype=torch.float64) + 0.1).requires_grad_(True)
    try:
        with torch.enable_grad():
            net(x)
            out = captured[0]
            spatial = out.shape[2:]
            centre = tuple(s // 2 for s in spatial)
            out[(0, slice(None), *centre)].sum().backward()
    finally:
        handle.remove()
    nonzero = x.grad[0].abs().sum(0) > 0  # (H, W): positions that reach the centre output
    sizes, starts = [], []
    for axis in range(nonzero.ndim):
        others = tuple(d for d in range(nonzero.ndim) if d != axis)
        hit = nonzero.any(dim=others) if others else nonzero
        idx = hit.nonzero().flatten()
        sizes.append(int(idx[-1] - idx[0] + 1) if len(idx) else 0)
        starts.append(float(idx[0]) if len(idx) else 0.0)
    return ReceptiveField(tuple(sizes), (), tuple(starts))
