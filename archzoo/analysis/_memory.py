"""Training memory: an estimate from one forward, and a measured peak to check it against.

Seed 003 tracks feature-map memory and filter-weight memory per layer; training needs more: the
activations autograd keeps for backward, parameters, their gradients and the optimizer's state.
The estimate records exactly what autograd saves (through `saved_tensors_hooks`, deduplicated by
storage, parameters excluded) and adds parameters, optimizer state and gradients; gradients are
built while saved activations are freed, so the two count as the larger, not the sum (which
overstates a ResNet-18 step by half on CPU).

The measured peak runs real training steps: on CUDA from the allocator's own peak counter, on CPU
by following every tensor the step creates until it is freed (what that counter does on CUDA).
"""
from __future__ import annotations

import gc
import weakref
from typing import Any, Callable

import torch
import torch.nn as nn
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

# Tensors of optimizer state per parameter tensor, as torch.optim keeps them.
OPTIMIZER_STATE = {"adam": 2, "adamw": 2, "nadam": 2, "radam": 2, "sgd": 0, "sgd_momentum": 1,
                   "rmsprop": 1, "adagrad": 1, "lion": 1, "none": 0}


def optimizer_state_factor(optimizer: str) -> int:
    try:
        return OPTIMIZER_STATE[optimizer.lower()]
    except KeyError:
        raise ValueError(f"unknown optimizer {optimizer!r}; expected one of: "
                         f"{', '.join(OPTIMIZER_STATE)}") from None


def saved_activation_bytes(run: Callable[[], Any], params: list[torch.Tensor]) -> tuple[int, int]:
    """Bytes autograd saves for backward in `run()` (parameters excluded), and its output's bytes."""
    param_keys = {p.untyped_storage()._cdata for p in params}
    saved: dict[int, int] = {}

    def pack(t: torch.Tensor) -> torch.Tensor:
        storage = t.untyped_storage()
        if storage._cdata not in param_keys:
            saved[storage._cdata] = storage.nbytes()
        return t

    with torch.enable_grad(), torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        out = run()
    outs = [o for o in torch.utils._pytree.tree_flatten(out)[0] if isinstance(o, torch.Tensor)]
    return sum(saved.values()), sum(o.numel() * o.element_size() for o in outs)


def training_estimate(*, saved: int, output: int, param_bytes: int, trainable_bytes: int,
                      optimizer: str, largest_grad: int) -> dict[str, int]:
    """Parameters and optimizer state stay all step; on top of them, backward starts with every
    saved activation (plus the output and one activation gradient) and ends with every parameter
    gradient, built while the activations are freed: the peak is the larger of the two."""
    state = optimizer_state_factor(optimizer) * trainable_bytes
    parts = {"params": param_bytes, "optimizer_state": state, "saved_activations": saved + output,
             "activation_grad": largest_grad, "grads": trainable_bytes}
    parts["total"] = param_bytes + state + max(saved + output + largest_grad, trainable_bytes)
    return parts


class _LiveTensors(TorchDispatchMode):
    """Bytes of the tensors alive on CPU, op by op: every new (non-view, non-in-place) output is
    added and subtracted again when its tensor is freed; the most at any point is the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if not getattr(func, "is_view", False):
            seen = {id(a) for a in tree_flatten((args, kwargs))[0]}
            for t in tree_flatten(out)[0]:
                if isinstance(t, torch.Tensor) and id(t) not in seen:
                    nbytes = t.untyped_storage().nbytes()
                    self.live += nbytes
                    self.peak = max(self.peak, self.live)
                    weakref.finalize(t, self._free, nbytes)
        return out

    def _free(self, nbytes: int) -> None:
        self.live -= nbytes


def measure_training_peak(make_model: Callable[[], nn.Module], inputs: tuple, *,
                          optimizer: str = "adam", device: str = "cpu") -> int:
    """Peak bytes of a training step after a first one: parameters, buffers, optimizer state and
    input (resident, counted exactly) plus the most the step allocated on top of them (measured).
    """
    dev = torch.device(device)
    model = make_model().to(dev).train()
    xs = tuple(x.to(dev) for x in inputs)
    trainable = [p for p in model.parameters() if p.requires_grad]
    name = optimizer.lower()
    opt = (torch.optim.Adam(trainable) if name in ("adam", "adamw") else
           torch.optim.SGD(trainable, lr=0.1, momentum=0.9 if name == "sgd_momentum" else 0.0))

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        out = model(*xs)
        out = out[0] if isinstance(out, (tuple, list)) else out
        out.float().sum().backward()
        opt.step()

    step()  # the first step creates the optimizer state and the libraries' own caches
    gc.collect()
    # What stays between steps is known exactly; the step's own growth is what is measured.
    state = [t for s in opt.state.values() for t in s.values() if isinstance(t, torch.Tensor)]
    resident = sum(t.numel() * t.element_size() for t in [*model.parameters(), *model.buffers(), *state, *xs])
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        base = torch.cuda.memory_allocated(dev)
        torch.cuda.reset_peak_memory_stats(dev)
        step()
        torch.cuda.synchronize(dev)
        return torch.cuda.max_memory_allocated(dev) - base + resident
    tracker = _LiveTensors()
    with tracker:
        step()
    return tracker.peak + resident
