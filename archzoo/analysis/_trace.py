"""One forward pass that records, per module, what seed 003's design table tracks.

Seed 003 tracks, layer by layer: feature-map size, filter and feature-map memory, operations and
receptive field. Here a `TorchDispatchMode` sees every ATen op the forward runs (so functional
calls, fused attention and RNN kernels are seen too), and module hooks keep a stack of the modules
running, so each op is charged to the innermost module that runs it: a leaf layer, or a block whose
own `forward` does the work (a residual add). A module that runs several times is charged each time
it runs; its parameters are counted once, by the report.
"""
from __future__ import annotations

import weakref
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

from ._ops import count_op, has_formula, op_name
from ._rf import FieldTracker, ReceptiveField


@dataclass
class Frame:
    """What one module did during the pass (all its calls together)."""
    name: str
    module: nn.Module
    order: int
    calls: int = 0
    counts: Counter = field(default_factory=Counter)
    uncounted: Counter = field(default_factory=Counter)
    input_shapes: list[list[int]] = field(default_factory=list)
    output_shapes: list[list[int]] = field(default_factory=list)
    output_bytes: int = 0
    field: ReceptiveField | None = None


class LayerError(ValueError):
    """The model's forward raised; names the layer and the input it got."""


def _tensors(obj: Any) -> list[torch.Tensor]:
    return [t for t in tree_flatten(obj)[0] if isinstance(t, torch.Tensor)]


class Tracer(TorchDispatchMode):
    """Counts ops, carries receptive fields, and tracks live activation memory."""

    def __init__(self, model: nn.Module, *, lecture: bool) -> None:
        super().__init__()
        self.model, self.lecture = model, lecture
        self.fields = FieldTracker()
        self.frames: dict[str, Frame] = {}
        self.stack: list[str] = []
        self.inputs_of: dict[str, list[list[int]]] = {}
        self.live = self.peak = 0
        self.producer: dict[int, str] = {}  # id(tensor) -> the innermost module that returned it
        self.edges: dict[tuple[str, str], None] = {}  # (producer, consumer) module paths, ordered
        self._handles: list[Any] = []

    # -- module hooks --------------------------------------------------------------------
    def attach(self) -> None:
        for name, module in self.model.named_modules():
            self._handles.append(module.register_forward_pre_hook(self._pre(name), with_kwargs=True))
            self._handles.append(module.register_forward_hook(self._post(name), with_kwargs=True))

    def detach(self) -> None:
        for h in self._handles:
            h.remove()
        self._handles.clear()

    def frame(self, name: str) -> Frame:
        if name not in self.frames:
            module = self.model.get_submodule(name)
            self.frames[name] = Frame(name, module, len(self.frames))
        return self.frames[name]

    def _pre(self, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            f = self.frame(name)
            f.calls += 1
            shapes = [list(t.shape) for t in _tensors((args, kwargs))]
            if f.calls == 1:
                f.input_shapes = shapes
            self.inputs_of[name] = shapes
            if not list(module.children()):
                for t in _tensors((args, kwargs)):
                    if id(t) in self.producer:
                        self.edges[(self.producer[id(t)], name)] = None
            self.stack.append(name)
        return hook

    def _post(self, name: str):
        def hook(module: nn.Module, args: tuple, kwargs: dict, output: Any) -> None:
            if self.stack and self.stack[-1] == name:
                self.stack.pop()
            f = self.frames[name]
            outs = _tensors(output)
            for t in outs:
                if id(t) not in self.producer:
                    self.producer[id(t)] = name
                    weakref.finalize(t, self.producer.pop, id(t), None)
            f.output_bytes += sum(t.numel() * t.element_size() for t in outs)
            if f.calls == 1:
                f.output_shapes = [list(t.shape) for t in outs]
                f.field = self.fields.field(outs[0]) if outs else None
        return hook

    def failing_layer(self) -> tuple[str, list[list[int]]] | None:
        """The innermost module that was running when the forward raised."""
        if not self.stack:
            return None
        name = self.stack[-1]
        return name, self.inputs_of.get(name, [])

    # -- ops -----------------------------------------------------------------------------
    def __torch_dispatch__(self, func: Any, types: Any, args: tuple = (), kwargs: dict | None = None):
        kwargs = kwargs or {}
        if not has_formula(func):  # a composite op: count the ops it is made of
            with self:
                decomposed = func.decompose(*args, **kwargs)
            if decomposed is not NotImplemented:
                return decomposed
        out = func(*args, **kwargs)
        frame = self.frame(self.stack[-1] if self.stack else "")
        counts = count_op(func, args, kwargs, out, lecture=self.lecture)
        if counts is None:
            frame.uncounted[op_name(func)] += 1
        else:
            frame.counts.update(counts)
        self.fields.propagate(func, args, kwargs, out)
        self._track_memory(func, args, out)
        return out

    def _track_memory(self, func: Any, args: tuple, out: Any) -> None:
        if getattr(func, "is_view", False):
            return
        seen = {id(a) for a in _tensors(args)}
        for t in _tensors(out):
            if id(t) in seen:  # in-place: no new memory
                continue
            nbytes = t.numel() * t.element_size()
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(t, self._free, nbytes)

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes


def run_traced(model: nn.Module, inputs: tuple, *, lecture: bool, spatial: list[list[int] | None]) -> Tracer:
    """Run `model(*inputs)` once under the tracer; `spatial[i]` names input i's spatial dims."""
    tracer = Tracer(model, lecture=lecture)
    for x, dims in zip(inputs, spatial):
        if dims:
            tracer.fields.seed(x, dims)
        tracer.live += x.numel() * x.element_size()
    tracer.peak = tracer.live
    tracer.frame("")
    tracer.attach()
    try:
        with torch.no_grad(), tracer:
            model(*inputs)
    except Exception as e:  # keep the tracer: its module stack names the failing layer
        e._archzoo_tracer = tracer  # type: ignore[attr-defined]
        raise
    finally:
        tracer.detach()
    return tracer
