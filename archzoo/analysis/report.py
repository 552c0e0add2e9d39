"""The design report: seed 003's per-layer table (shape, params, MACs, memory, receptive field).

Seed 003 designs networks by tracking, layer by layer, "feature map memory, filter weight memory,
operations" and receptive field, and prints its AlexNet analysis as one row per layer. A `Report`
holds those rows, grouped the way seed 003 decomposes a classifier (tail / body stages / head), with
the totals, and renders them as a terminal table folded to a depth, CSV, JSON, Markdown or a
self-contained HTML page.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field, replace
from typing import Any

from ._ops import KINDS
from ._rf import ReceptiveField


@dataclass
class LayerRow:
    name: str  # module path ("body.0.1.conv1"); "" is the model itself
    type: str
    group: str  # "tail", "body.2", "head", or the top-level child for other models
    depth: int
    calls: int = 1
    input_shape: list = field(default_factory=list)
    output_shape: list = field(default_factory=list)
    kernel: Any = None
    stride: Any = None
    padding: Any = None
    dilation: Any = None
    groups: Any = None
    params: int = 0
    trainable_params: int = 0
    macs: int = 0
    ops: dict[str, int] = field(default_factory=dict)  # by kind, macs included
    param_bytes: int = 0
    output_bytes: int = 0
    rf: ReceptiveField | None = None
    uncounted: dict[str, int] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.name or "(model)"

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__ if k != "rf"}
        d["rf"] = self.rf.to_dict() if self.rf else None
        d["rf_size"] = str(self.rf) if self.rf else ""
        return d


def human(n: float, *, unit: str = "") -> str:
    """1234567 -> '1.23M': the units seed 003's tables use."""
    for div, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.2f}{suffix}{unit}"
    return f"{int(n)}{unit}"


def human_bytes(n: float) -> str:
    for div, suffix in ((2 ** 30, "GiB"), (2 ** 20, "MiB"), (2 ** 10, "KiB")):
        if abs(n) >= div:
            return f"{n / div:.2f} {suffix}"
    return f"{int(n)} B"


def _shape(shapes: list) -> str:
    return " ".join("x".join(map(str, s)) for s in shapes[:2]) + (" ..." if len(shapes) > 2 else "")


def _geom(v: Any) -> str:
    if v is None:
        return ""
    v = list(v) if isinstance(v, (list, tuple)) else [v]
    return "x".join(map(str, v)) if len(set(map(str, v))) > 1 else str(v[0])


@dataclass
class Report:
    model: str
    input_size: tuple
    batch: int
    dtype: str
    convention: str
    optimizer: str
    device: str
    rows: list[LayerRow]
    totals: dict[str, Any]
    receptive_field: ReceptiveField | None = None
    module_types: dict[str, str] = field(default_factory=dict)
    card: dict[str, Any] = field(default_factory=dict)
    edges: list[tuple[str, str]] = field(default_factory=list)  # (producer, consumer) layers

    @property
    def uncounted(self) -> dict[str, int]:
        merged: dict[str, int] = {}
        for r in self.rows:
            for op, n in r.uncounted.items():
                merged[op] = merged.get(op, 0) + n
        return merged

    def row(self, name: str) -> LayerRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"no layer {name!r} in the report of {self.model}")

    def fold(self, depth: int | None) -> list[LayerRow]:
        """Rows deeper than `depth` merged into their ancestor at `depth` (None: every layer)."""
        if depth is None:
            return list(self.rows)
        folded: list[LayerRow] = []
        for r in self.rows:
            head = ".".join(r.name.split(".")[:depth])
            last = folded[-1] if folded else None
            merged = last is not None and last.name == head and last.type.endswith("*")
            if r.depth <= depth and not (merged and r.name == head):
                folded.append(r)
                continue
            if merged:
                _absorb(last, r)
            else:
                folded.append(replace(r, name=head, depth=depth, kernel=None,
                                      group=r.group if depth >= 2 else head.split(".")[0], stride=None,
                                      padding=None, dilation=None, groups=None, ops=dict(r.ops),
                                      uncounted=dict(r.uncounted),
                                      type=self.module_types.get(head, "?") + "*"))
        return folded

    # -- renderers -----------------------------------------------------------------------
    def to_table(self, *, depth: int | None = None) -> str:
        head = ["Layer", "Type", "Output", "Kernel/S", "Params", "MACs", "Out mem", "RF"]
        lines, group = [], None
        cells = []
        for r in self.fold(depth):
            if r.group != group:
                group = r.group
                cells.append([f"[{group or 'model'}]"] + [""] * 7)
            ks = f"{_geom(r.kernel)}/{_geom(r.stride)}" if r.kernel is not None else ""
            cells.append(["  " * max(0, r.depth - 1) + r.label.split(".")[-1] if depth else r.label,
                          r.type + (f" x{r.calls}" if r.calls > 1 else ""), _shape(r.output_shape),
                          ks, human(r.params) if r.params else "", human(r.macs) if r.macs else "",
                          human_bytes(r.output_bytes), str(r.rf) if r.rf else ""])
        widths = [max(len(c[i]) for c in [head, *cells]) for i in range(len(head))]
        fmt = lambda c: "  ".join(x.ljust(w) if i < 4 else x.rjust(w)  # noqa: E731
                                  for i, (x, w) in enumerate(zip(c, widths)))
        rule = "-" * len(fmt(head))
        lines += [f"{self.model}  input {self.batch}x{'x'.join(map(str, self.input_size))}"
                  f"  {self.dtype}  convention={self.convention}", rule, fmt(head), rule]
        lines += [fmt(c) for c in cells]
        lines += [rule, *self.summary_lines()]
        return "\n".join(lines)

    def summary_lines(self) -> list[str]:
        t = self.totals
        ops = ", ".join(f"{k} {human(t['ops'][k])}" for k in KINDS if t["ops"].get(k))
        tm = t.get("training_memory") or {}
        lines = [
            f"params: {t['params']:,} (trainable {t['trainable_params']:,}, frozen {t['frozen_params']:,})",
            f"MACs: {t['macs']:,} ({human(t['macs'])}); all ops by kind: {ops}",
            f"param memory: {human_bytes(t['param_bytes'])}; activations (sum of layer outputs): "
            f"{human_bytes(t['activation_bytes'])}; inference peak: {human_bytes(t['inference_peak_bytes'])}",
        ]
        if tm.get("error"):
            lines.append(f"training peak estimate: not available ({tm['error']})")
        elif tm:
            lines.append(f"training peak estimate ({self.optimizer}): {human_bytes(tm['total'])} = params "
                         f"{human_bytes(tm['params'])} + optimizer state {human_bytes(tm['optimizer_state'])}"
                         f" + max(saved activations {human_bytes(tm['saved_activations'])} + one activation"
                         f" gradient {human_bytes(tm['activation_grad'])}, grads {human_bytes(tm['grads'])})")
        if self.receptive_field is not None:
            lines.append(f"receptive field at the output: {self.receptive_field}")
        if self.uncounted:
            lines.append("uncounted ops: " + ", ".join(f"{k} x{v}" for k, v in sorted(self.uncounted.items())))
        return lines

    def csv_rows(self, depth: int | None = None) -> list[dict[str, Any]]:
        out = []
        for r in self.fold(depth):
            out.append({
                "name": r.label, "type": r.type, "group": r.group, "depth": r.depth, "calls": r.calls,
                "input_shape": _shape(r.input_shape), "output_shape": _shape(r.output_shape),
                "kernel": _geom(r.kernel), "stride": _geom(r.stride), "padding": _geom(r.padding),
                "dilation": _geom(r.dilation), "groups": "" if r.groups is None else r.groups,
                "params": r.params, "trainable_params": r.trainable_params, "macs": r.macs,
                **{k: r.ops.get(k, 0) for k in KINDS if k != "macs"},
                "param_bytes": r.param_bytes, "output_bytes": r.output_bytes,
                "rf_size": str(r.rf) if r.rf else "",
                "rf_jump": _geom([round(j, 4) for j in r.rf.jump]) if r.rf and r.rf.jump else "",
                "uncounted": " ".join(f"{k}x{v}" for k, v in r.uncounted.items()),
            })
        return out

    def to_csv(self, *, depth: int | None = None) -> str:
        rows = self.csv_rows(depth)
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["name"], lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        return buf.getvalue()

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "input_size": list(self.input_size), "batch": self.batch,
                "dtype": self.dtype, "convention": self.convention, "optimizer": self.optimizer,
                "device": self.device, "totals": self.totals, "uncounted": self.uncounted,
                "receptive_field": self.receptive_field.to_dict() if self.receptive_field else None,
                "card": self.card, "rows": [r.to_dict() for r in self.rows]}

    def to_json(self, *, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_markdown(self, *, depth: int | None = None) -> str:
        cols = ["name", "type", "output_shape", "kernel", "stride", "params", "macs", "output_bytes", "rf_size"]
        esc = lambda v: str(v).replace("|", "\\|").replace("<", "&lt;")  # noqa: E731
        lines = [f"### {esc(self.model)} ({self.batch}x{'x'.join(map(str, self.input_size))}, "
                 f"convention {self.convention})", "",
                 "| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
        for r in self.csv_rows(depth):
            lines.append("| " + " | ".join(esc(f"{r[c]:,}" if isinstance(r[c], int) else r[c]) for c in cols) + " |")
        return "\n".join(lines + [""] + [f"- {esc(s)}" for s in self.summary_lines()]) + "\n"

    def to_html(self, *, depth: int | None = None) -> str:
        from ._html import render_html
        return render_html(self, depth=depth)

    def __str__(self) -> str:
        return self.to_table()


def _absorb(into: LayerRow, r: LayerRow) -> None:
    into.params += r.params
    into.trainable_params += r.trainable_params
    into.macs += r.macs
    into.param_bytes += r.param_bytes
    into.output_bytes += r.output_bytes
    into.output_shape = r.output_shape
    into.rf = r.rf or into.rf
    for k, v in r.ops.items():
        into.ops[k] = into.ops.get(k, 0) + v
    for k, v in r.uncounted.items():
        into.uncounted[k] = into.uncounted.get(k, 0) + v
