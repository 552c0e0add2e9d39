"""ViT against ResNet on Fashion-MNIST at equal training time (seed 000: a ViT "only wins if data
is VERY large"; Dosovitskiy et al. 2021 find ResNets ahead below ImageNet-21k scale).

Each model gets the same wall-clock budget: a short probe measures its training steps per second,
the step count is set so training fills the budget, and the run is `archzoo train` with one recipe
for both (AdamW, cosine with warm-up, batch 128, no augmentation). The table gives parameters,
MACs at 28x28, the steps it could afford, test accuracy and the measured wall time.

    PYTHONPATH=. .venv/bin/python benchmarks/vit_vs_resnet.py --budget 240 --threads 2
"""
from __future__ import annotations

import argparse
import math
import tempfile
import time

import torch
import torch.nn.functional as F

from archzoo.analysis import analyze
from archzoo.data import load_dataset
from archzoo.models._registry import create_model_for_data
from archzoo.train.config import TrainConfig
from archzoo.train.trainer import train
from _machine import machine

BATCH = 128


def steps_per_second(model: torch.nn.Module, *, in_chans: int, size: int, probe: int = 8) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    x, y = torch.randn(BATCH, in_chans, size, size), torch.randint(10, (BATCH,))

    def step() -> None:
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()  # warm-up
    start = time.perf_counter()
    for _ in range(probe):
        step()
    return probe / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=["resnet20", "vit_mini_p4_28"])
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--budget", type=float, default=240, help="training seconds per model")
    p.add_argument("--lr", type=float, default=2e-3)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    bundle = load_dataset(args.data)
    size = bundle.image_size[0]
    per_epoch = math.ceil(len(bundle.train) / BATCH)
    rows = []
    for name in args.models:
        model = create_model_for_data(name, in_chans=bundle.in_chans, num_classes=bundle.num_classes,
                                      image_size=bundle.image_size)
        params = sum(q.numel() for q in model.parameters())
        macs = analyze(model, input_size=(bundle.in_chans, size, size), training_memory=False).totals["macs"]
        steps = max(1, int(args.budget * steps_per_second(model, in_chans=bundle.in_chans, size=size)))
        epochs = max(1, round(steps / per_epoch))
        cap = None if steps >= per_epoch else steps
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(model=name, data=args.data, out=out, epochs=epochs, batch_size=BATCH,
                              max_steps_per_epoch=cap, optimizer="adamw", lr=args.lr, weight_decay=0.05,
                              schedule="cosine", warmup_epochs=0.1 * epochs, val_fraction=0.0,
                              threads=args.threads, seed=args.seed, progress=False)
            torch.manual_seed(args.seed)
            result = train(cfg)
            trained = sum(r["seconds"] for r in result.history)
        rows.append((name, params, macs, result.step, result.test_acc, trained))
        print(f"{name}: {result.step} steps, test acc {result.test_acc:.4f}, {trained:.0f} s of training",
              flush=True)
    print(f"\nmachine: {machine()}; budget {args.budget:.0f} s of training per model, batch {BATCH}")
    print("| model | params | MACs (28x28) | steps | test accuracy | training s |\n|---|---|---|---|---|---|")
    for name, params, macs, steps, acc, wall in rows:
        print(f"| {name} | {params:,} | {macs:,} | {steps} | {acc:.4f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
