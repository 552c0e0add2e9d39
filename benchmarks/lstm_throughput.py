"""Training throughput of archzoo's LSTM layers against a bare `nn.LSTM` in the same loop.

The loop is a character language model's step (embedding -> 2-level LSTM -> linear -> cross-entropy,
backward, Adam), the same for every contender; only the recurrent part differs:
- `nn.LSTM`: PyTorch's module, called directly (the peer);
- `archzoo fused`: `blocks.recurrent.RecurrentStack` with its default fused kernel (goal >= 0.95x);
- `archzoo cells`: the same stack running seed 003's written-out equations step by step (reported).
Rounds alternate between contenders so machine noise falls on all of them; the median round counts.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/lstm_throughput.py --threads 1
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

from archzoo.blocks.recurrent import RecurrentStack
from _machine import machine


class _Bare(nn.Module):
    def __init__(self, width: int, hidden: int, layers: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(width, hidden, num_layers=layers, batch_first=True)
        self.output_size = hidden

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class _Archzoo(nn.Module):
    def __init__(self, width: int, hidden: int, layers: int, impl: str) -> None:
        super().__init__()
        self.rnn = RecurrentStack(width, hidden, mode="lstm", num_layers=layers, impl=impl)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x)[0]


class CharLM(nn.Module):
    def __init__(self, recurrent: nn.Module, *, vocab: int, width: int, hidden: int) -> None:
        super().__init__()
        self.embed, self.recurrent, self.out = nn.Embedding(vocab, width), recurrent, nn.Linear(hidden, vocab)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.recurrent(self.embed(x)))  # B T V


def tokens_per_second(model: nn.Module, opt: torch.optim.Optimizer, batches: list, steps: int) -> float:
    start = time.perf_counter()
    for i in range(steps):
        x, y = batches[i % len(batches)]
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return steps * batches[0][0].numel() / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--seq", type=int, default=64)
    p.add_argument("--hidden", type=int, default=256)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--steps", type=int, default=10, help="steps per round")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--cells-steps", type=int, default=3, help="steps per round of the slow written-out path")
    p.add_argument("--threads", type=int, default=None)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    vocab, width = 96, 64
    g = torch.Generator().manual_seed(0)
    batches = [(torch.randint(vocab, (args.batch, args.seq), generator=g),
                torch.randint(vocab, (args.batch, args.seq), generator=g)) for _ in range(4)]
    contenders = {
        "nn.LSTM (peer)": _Bare(width, args.hidden, args.layers),
        "archzoo fused": _Archzoo(width, args.hidden, args.layers, "fused"),
        "archzoo cells": _Archzoo(width, args.hidden, args.layers, "cells"),
    }
    runs = {}
    for name, rec in contenders.items():
        torch.manual_seed(0)
        model = CharLM(rec, vocab=vocab, width=width, hidden=args.hidden)
        runs[name] = (model, torch.optim.Adam(model.parameters(), lr=1e-3))
        tokens_per_second(*runs[name], batches, 1)  # warm-up
    rates: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.rounds):
        for name, (model, opt) in runs.items():
            steps = args.cells_steps if "cells" in name else args.steps
            rates[name].append(tokens_per_second(model, opt, batches, steps))
    print(f"machine: {machine()}")
    print(f"char-LM step: batch {args.batch} x {args.seq} tokens, embed {width}, {args.layers} x LSTM "
          f"{args.hidden}, vocab {vocab}; median of {args.rounds} alternating rounds")
    peer = statistics.median(rates["nn.LSTM (peer)"])
    print(f"{'layer':<16} {'tokens/s':>10} {'vs nn.LSTM':>11}")
    for name, r in rates.items():
        med = statistics.median(r)
        print(f"{name:<16} {med:>10,.0f} {med / peer:>10.3f}x")


if __name__ == "__main__":
    main()
