"""Compare classification heads on one body (seed 003's head ideas) on Fashion-MNIST.

Each head trains the same body (same seed, data order and schedule); the table gives test accuracy
and wall time. Each run is what `archzoo train MODEL --model-args head=KIND` does; the script runs
them side by side and prints one table.

    OMP_NUM_THREADS=1 python benchmarks/compare_heads.py --model resnet20 --epochs 2 \
        --max-steps-per-epoch 80 --heads gap vote spatial
"""
from __future__ import annotations

import argparse
import tempfile
import time

from archzoo.data import load_dataset
from archzoo.models._base import with_head
from archzoo.models._registry import create_model_for_data
from archzoo.train.config import TrainConfig
from archzoo.train.trainer import train


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="resnet20")
    p.add_argument("--data", default="fashion-mnist")
    p.add_argument("--heads", nargs="+", default=["gap", "vote", "spatial"])
    p.add_argument("--epochs", type=int, default=2)
    p.add_argument("--max-steps-per-epoch", type=int, default=None)
    p.add_argument("--val-fraction", type=float, default=0.02)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    bundle = load_dataset(args.data)
    rows = []
    for kind in args.heads:
        with tempfile.TemporaryDirectory() as out:
            cfg = TrainConfig(model=args.model, data=args.data, out=out, epochs=args.epochs,
                              max_steps_per_epoch=args.max_steps_per_epoch, optimizer="adamw",
                              val_fraction=args.val_fraction, threads=args.threads, seed=args.seed,
                              progress=False)
            model = create_model_for_data(args.model, in_chans=bundle.in_chans,
                                          num_classes=bundle.num_classes,
                                          image_size=bundle.image_size)
            with_head(model, kind)
            params = sum(p.numel() for p in model.head.parameters())
            start = time.perf_counter()
            result = train(cfg, model=model)
            wall = time.perf_counter() - start
        rows.append((kind, params, result.test_acc, wall))
        print(f"{kind:10s} head params {params:7d}  test acc {result.test_acc:.4f}  wall {wall:6.1f} s",
              flush=True)
    print("\n| head | head params | test accuracy | wall time (s) |\n|---|---|---|---|")
    for kind, params, acc, wall in rows:
        print(f"| {kind} | {params} | {acc:.4f} | {wall:.0f} |")


if __name__ == "__main__":
    main()
