"""`analyze`: one model, one input -> the design report of seed 003, for any `nn.Module`.

The pass runs on the meta device wherever the model allows (shapes without data: ResNet-152 at
224 costs what a small CNN costs), and on the model's own device where it does not (a forward that
reads its data). Registered models are built directly on the meta device; other modules have their
parameters swapped for meta copies with `torch.func.functional_call`, so nothing is copied.
"""
from __future__ import annotations

import contextlib
from typing import Any, Sequence

import torch
import torch.nn as nn
from torch.func import functional_call

from ..models._registry import create_model, model_card
from ._memory import saved_activation_bytes, training_estimate
from ._ops import KINDS
from ._trace import LayerError, Tracer, run_traced
from ._rows import card_dict, layer_rows
from .report import Report

def parse_input_size(value: str | int | Sequence[int]) -> tuple[int, ...]:
    """'3x224x224' -> (3, 224, 224); 64 -> (64,)."""
    if isinstance(value, int):
        return (value,)
    if isinstance(value, str):
        try:
            size = tuple(int(v) for v in value.lower().replace(",", "x").split("x") if v.strip())
        except ValueError:
            raise ValueError(f"bad input size {value!r}; expected e.g. 3x224x224 or 128") from None
    else:
        size = tuple(int(v) for v in value)
    if not size or any(v <= 0 for v in size):
        raise ValueError(f"bad input size {value!r}; expected positive sizes such as 3x224x224")
    return size


def _resolve(model_or_name: nn.Module | str, input_size: Any) -> tuple[nn.Module, str, Any, tuple]:
    if isinstance(model_or_name, str):
        card = model_card(model_or_name)  # an unknown name raises with the closest names
        with torch.device("meta"):
            model = create_model(model_or_name)
        name = model_or_name
    elif isinstance(model_or_name, nn.Module):
        model, card = model_or_name, getattr(model_or_name, "card", None)
        name = getattr(model, "model_name", type(model).__name__)
    else:
        raise TypeError(f"expected a model name or an nn.Module; got {type(model_or_name).__name__}")
    if input_size is None:
        if card is None:
            raise ValueError(f"{name} has no model card: pass input_size, e.g. input_size=(3, 224, 224)")
        input_size = card.input_size
    return model, name, card, parse_input_size(input_size)


def _check_size(model: nn.Module, name: str, size: tuple) -> None:
    """Fail before the forward, with the minimum, when the input is too small for the model."""
    smallest = getattr(model, "min_input_size", None)
    fixed = getattr(model, "fixed_input", None)
    spatial = size[1:]
    if fixed is not None and len(spatial) == 2 and tuple(spatial) != tuple(fixed):
        raise ValueError(f"{name} takes only {size[0]}x{fixed[0]}x{fixed[1]} inputs (its head flattens a "
                         f"fixed map); got {'x'.join(map(str, size))}")
    if smallest and spatial and min(spatial) < smallest:
        raise ValueError(f"{name} needs inputs of at least {smallest}x{smallest} (smaller maps shrink to "
                         f"nothing); got {'x'.join(map(str, size))}")


def _spatial_dims(x: torch.Tensor) -> list[int] | None:
    """Token ids (B, T): T; images and maps (B, C, *S): S; anything else has no positions."""
    if not x.is_floating_point():
        return [1] if x.ndim == 2 else None
    return list(range(2, x.ndim)) if x.ndim >= 3 else None


def _inputs(model: nn.Module, size: tuple, batch: int, dtype: torch.dtype, device: torch.device,
            card: Any):
    if hasattr(model, "example_inputs"):  # models with several inputs (seq2seq: src, lengths, tgt)
        if card is None or tuple(size) != tuple(card.input_size):
            raise ValueError(f"{getattr(model, 'model_name', type(model).__name__)} takes several inputs"
                             f" and is analyzed at its card's input size; pass inputs=(...) for others")
        with torch.device(device):
            xs = tuple(model.example_inputs(batch_size=batch))
        xs = tuple((x.to(dtype) if x.is_floating_point() else x).to(device) for x in xs)
        return xs, [_spatial_dims(x) for x in xs]
    tokens = len(size) == 1 and any(isinstance(m, nn.Embedding) for m in model.modules())
    if tokens:  # a token sequence: index 0 exists in every vocabulary
        return (torch.zeros(batch, *size, dtype=torch.long, device=device),), [[1]]
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch, *size, generator=gen, dtype=dtype) if device.type != "meta" else \
        torch.empty(batch, *size, dtype=dtype, device=device)
    return (x.to(device),), [list(range(2, 1 + len(size))) if len(size) >= 2 else None]


def _meta_problem(err: BaseException) -> bool:
    text = str(err).lower()
    return isinstance(err, NotImplementedError) or any(
        s in text for s in ("meta", "data-dependent", "item()", "cannot copy out", "is_nonzero"))


@contextlib.contextmanager
def _mode(model: nn.Module, train: bool):
    was = model.training
    model.train(train)
    try:
        yield
    finally:
        model.train(was)


def analyze(model_or_name: nn.Module | str, *, input_size: Any = None, batch: int = 1,
            dtype: torch.dtype = torch.float32, convention: str = "default", optimizer: str = "adam",
            device: str | None = None, training_memory: bool = True,
            inputs: tuple[torch.Tensor, ...] | None = None) -> Report:
    """Seed 003's design table for a model (or a registered name) at one input.

    `convention="lecture"` counts a bias as one MAC per output, as seed 003's AlexNet table does;
    "default" counts matmul-class MACs without bias, as `torch.utils.flop_counter` and the cards do.
    `device=None` runs on the meta device where the model allows it, else on the model's device.
    `inputs` replaces the generated input for models whose forward takes several tensors.
    """
    if convention not in ("default", "lecture"):
        raise ValueError(f"unknown convention {convention!r}; expected 'default' or 'lecture'")
    if batch < 1:
        raise ValueError(f"batch must be at least 1; got {batch}")
    if inputs is not None:
        inputs = tuple(inputs)
        input_size = input_size or tuple(inputs[0].shape[1:])
    model, name, card, size = _resolve(model_or_name, input_size)
    _check_size(model, name, size)
    first = next(iter(model.parameters()), None)
    home = first.device if first is not None else torch.device("cpu")
    first_try = torch.device(device) if device else torch.device("meta")
    run = lambda m, dev: _analyze_on(  # noqa: E731
        m, name, card, size, batch=batch, dtype=dtype, device=dev, lecture=convention == "lecture",
        optimizer=optimizer, training_memory=training_memory, user_inputs=inputs)
    try:
        return run(model, first_try)
    except LayerError as e:
        if not (device is None and _meta_problem(e.__cause__ or e)):
            raise
    # the forward reads its data (e.g. routing by nonzero): run it for real
    if home.type == "meta":
        model = create_model(model_or_name) if isinstance(model_or_name, str) else _materialize(model)
        home = torch.device("cpu")
    return run(model, home)


def _materialize(model: nn.Module) -> nn.Module:
    """A meta model on CPU with each layer's default initialization (routing needs real values)."""
    model = model.to_empty(device="cpu")
    with torch.no_grad():
        for m in model.modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    return model


def _analyze_on(model: nn.Module, name: str, card: Any, size: tuple, *, batch: int, dtype: torch.dtype,
                device: torch.device, lecture: bool, optimizer: str, training_memory: bool,
                user_inputs: tuple | None) -> Report:
    if user_inputs is not None:
        inputs = tuple(x.to(device) for x in user_inputs)
        spatial = [_spatial_dims(x) for x in inputs]
    else:
        inputs, spatial = _inputs(model, size, batch, dtype, device, card)
    swap = device.type == "meta" and any(t.device.type != "meta" for t in
                                         [*model.parameters(), *model.buffers()])
    state = {k: torch.empty_like(v, device="meta").requires_grad_(v.requires_grad)
             for k, v in [*model.named_parameters(remove_duplicate=False),
                          *model.named_buffers(remove_duplicate=False)]} if swap else None
    runner = (lambda *xs: functional_call(model, state, xs, tie_weights=True)) if swap else model
    tracer: Tracer | None = None
    try:
        with _mode(model, False), (torch.device("meta") if device.type == "meta" else contextlib.nullcontext()):
            tracer = run_traced(_Wrapper(model, runner), inputs, lecture=lecture, spatial=spatial)
    except LayerError:
        raise
    except Exception as e:  # name the layer and the input it got
        raise _layer_error(name, model, e) from e
    rows = layer_rows(model, tracer)
    params = list({id(p): p for p in model.parameters()}.values())
    param_bytes = sum(p.numel() * p.element_size() for p in params)
    trainable = [p for p in params if p.requires_grad]
    totals: dict[str, Any] = {
        "params": sum(p.numel() for p in params),
        "trainable_params": sum(p.numel() for p in trainable),
        "frozen_params": sum(p.numel() for p in params if not p.requires_grad),
        "macs": sum(r.macs for r in rows),
        "ops": {k: sum(r.ops.get(k, 0) for r in rows) for k in KINDS},
        "param_bytes": param_bytes,
        "activation_bytes": sum(r.output_bytes for r in rows if r.type != "(model)"),
        "inference_peak_bytes": tracer.peak + param_bytes,
    }
    if training_memory:
        totals["training_memory"] = _training_memory(
            model, runner, inputs, tracer, device=device, dtype=dtype, optimizer=optimizer,
            params=list(state.values()) if state else params, param_bytes=param_bytes,
            trainable_bytes=sum(p.numel() * p.element_size() for p in trainable))
    root = tracer.frames.get("")
    return Report(
        model=name, input_size=size, batch=batch, dtype=str(dtype).replace("torch.", ""),
        convention="lecture" if lecture else "default", optimizer=optimizer, device=device.type,
        rows=rows, totals=totals, receptive_field=root.field if root else None,
        module_types={n: type(m).__name__ for n, m in model.named_modules()},
        card=card_dict(card), edges=[e for e in tracer.edges if e[0] != e[1]])


def _training_memory(model: nn.Module, runner: Any, inputs: tuple, tracer: Tracer, *, device: torch.device,
                     dtype: torch.dtype, optimizer: str, params: list, param_bytes: int,
                     trainable_bytes: int) -> dict[str, Any]:
    """The training-peak estimate; a model that cannot train on this input says why instead."""
    try:
        with _mode(model, True), (torch.device("meta") if device.type == "meta" else contextlib.nullcontext()):
            saved, out_bytes = saved_activation_bytes(lambda: runner(*inputs), params)
    except (RuntimeError, ValueError) as e:  # e.g. batch norm on one value per channel
        return {"error": str(e).splitlines()[0] if str(e) else type(e).__name__}
    esize = torch.empty((), dtype=dtype).element_size()
    grad = max((sum(_numel(s) for s in f.output_shapes) * esize
                for f in tracer.frames.values() if not list(f.module.children())), default=0)
    return training_estimate(saved=saved, output=out_bytes, param_bytes=param_bytes,
                             trainable_bytes=trainable_bytes, optimizer=optimizer, largest_grad=grad)


class _Wrapper(nn.Module):
    """Calls the model (or its functional_call) while the tracer's hooks sit on the model."""

    def __init__(self, model: nn.Module, runner: Any) -> None:
        super().__init__()
        self.inner, self.runner = model, runner

    def named_modules(self, *args, **kwargs):  # the tracer hooks the wrapped model's modules
        return self.inner.named_modules(*args, **kwargs)

    def get_submodule(self, target: str) -> nn.Module:
        return self.inner.get_submodule(target)

    def forward(self, *xs: torch.Tensor) -> Any:
        return self.runner(*xs)


def _numel(shape: list[int]) -> int:
    n = 1
    for s in shape:
        n *= s
    return n


def _layer_error(name: str, model: nn.Module, err: BaseException) -> LayerError:
    tracer = getattr(err, "_archzoo_tracer", None)
    where = tracer.failing_layer() if tracer is not None else None
    msg = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
    if where is None or where[0] == "":
        return LayerError(f"{name}: {msg}")
    layer, shapes = where
    kind = type(model.get_submodule(layer)).__name__
    got = ", ".join("x".join(map(str, s)) for s in shapes) or "no tensors"
    return LayerError(f"{name}: forward failed in layer {layer!r} ({kind}) given input {got}: {msg}")
