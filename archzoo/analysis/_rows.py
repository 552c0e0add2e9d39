"""Report rows from a traced pass: one per layer, grouped as seed 003 decomposes a classifier.

Seed 003's table has one row per layer; here a row is a leaf module, or a block whose own `forward`
computes (a residual add, placed after its layers), or a module that owns parameters but never ran
(so the parameter total is always the model's own). Rows are grouped by tail / body stage / head.
"""
from __future__ import annotations

from typing import Any

import torch.nn as nn

from ._trace import Tracer
from .report import LayerRow

_GEOMETRY = ("kernel_size", "stride", "padding", "dilation", "groups")


def _group(name: str, model: nn.Module) -> str:
    parts = name.split(".") if name else []
    if not parts:
        return ""
    if parts[0] == "body" and len(parts) > 1 and isinstance(getattr(model, "body", None), nn.Sequential):
        return f"body.{parts[1]}"
    return parts[0]


def layer_rows(model: nn.Module, tracer: Tracer) -> list[LayerRow]:
    seen: set[int] = set()
    leaves, owns = [], []
    for frame in sorted(tracer.frames.values(), key=lambda f: f.order):
        m = frame.module
        own = [p for p in m.parameters(recurse=False) if id(p) not in seen]
        seen.update(id(p) for p in own)
        is_leaf = not list(m.children())
        if not is_leaf and not (frame.counts or frame.uncounted or own):
            continue
        row = LayerRow(
            name=frame.name, type=type(m).__name__ if is_leaf else
            ("(model)" if frame.name == "" else f"{type(m).__name__} (own ops)"),
            group=_group(frame.name, model), depth=frame.name.count(".") + 1 if frame.name else 0,
            calls=frame.calls, input_shape=frame.input_shapes, output_shape=frame.output_shapes,
            params=sum(p.numel() for p in own), trainable_params=sum(p.numel() for p in own if p.requires_grad),
            macs=frame.counts.get("macs", 0), ops={k: v for k, v in frame.counts.items() if v},
            param_bytes=sum(p.numel() * p.element_size() for p in own),
            output_bytes=frame.output_bytes if is_leaf else 0, rf=frame.field,
            uncounted=dict(frame.uncounted))
        for attr in _GEOMETRY:
            if is_leaf and hasattr(m, attr):
                setattr(row, "kernel" if attr == "kernel_size" else attr, getattr(m, attr))
        (leaves if is_leaf else owns).append(row)
    rows = list(leaves)
    for row in owns:  # a block's own ops (a residual add) come after its layers
        prefix = row.name + "." if row.name else ""
        at = max((i for i, r in enumerate(rows) if r.name.startswith(prefix)), default=len(rows) - 1)
        rows.insert(at + 1, row)
    for name, m in model.named_modules():  # modules that never ran still own parameters
        own = [p for p in m.parameters(recurse=False) if id(p) not in seen]
        if own:
            seen.update(id(p) for p in own)
            rows.append(LayerRow(name=name, type=f"{type(m).__name__} (not run)", group=_group(name, model),
                                 depth=name.count(".") + 1 if name else 0, calls=0,
                                 params=sum(p.numel() for p in own),
                                 trainable_params=sum(p.numel() for p in own if p.requires_grad),
                                 param_bytes=sum(p.numel() * p.element_size() for p in own)))
    return rows


def card_dict(card: Any) -> dict[str, Any]:
    if card is None:
        return {}
    return {"params": card.params, "macs": card.macs, "macs_convention": card.macs_convention,
            "accuracy": dict(card.accuracy), "source": card.source}
