"""Train a few of the zoo's families on Fashion-MNIST with one fixed recipe each; write the table.

Each model trains through archzoo's own `train` API (what `archzoo train` runs) at 28x28, one
channel, on the full 60,000-image training set (no validation split), and is scored once on the
10,000-image test set. The recipes below are fixed and documented in the output; each aims at
about 4 minutes of training on an idle 2-core CPU (`--threads 2`), so the table measures what a
laptop-class budget buys, next to the published peers and their (much larger, GPU) budgets.

    OMP_NUM_THREADS=2 python benchmarks/fashion_mnist_zoo.py --threads 2            # everything
    python benchmarks/fashion_mnist_zoo.py --models resnet20 mobilenet_v2            # a subset
    python benchmarks/fashion_mnist_zoo.py --max-steps 3 --out /tmp/zoo --doc /tmp/zoo.md  # smoke

Runs go to `--out/NAME`. A finished run there is not trained again (its numbers are read back),
and an interrupted one is resumed exactly, so the script can be stopped and restarted. Keep smoke
runs (`--max-steps`) in another `--out`: their finished runs would otherwise be reused.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from archzoo.analysis import analyze
from archzoo.models._registry import create_model_for_data
from archzoo.train import TrainConfig, resume, train
from archzoo.train.checkpoint import read_sidecar
from archzoo.train.run_dir import read_metrics
from _machine import machine

SIDE = 28  # Fashion-MNIST as it comes: no resize


@dataclass(frozen=True)
class Recipe:
    model: str
    note: str  # how 28x28 is handled, in words, for the table
    model_args: dict[str, Any] = field(default_factory=dict)
    optimizer: str = "sgd"
    lr: float = 0.1
    nesterov: bool = True
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 1
    max_steps_per_epoch: int | None = None  # None: the whole epoch (469 steps at batch 128)
    warmup_epochs: float = 0.0


# One recipe per model: SGD + Nesterov for the BatchNorm CNNs, AdamW for ConvNeXt (as its paper
# trains) and EfficientNet (SGD at lr 0.1 left it at 0.19 after 50 steps); cosine decay to 0 over the run, batch 128, no augmentation (within one epoch the nets
# underfit, and augmentation slows that further). Step counts come from single-thread CPU time per
# step of 128 images measured on a busy 2-core machine (resnet20 0.53 s, convnext_mini 0.63 s,
# shufflenet_v2_x1_0 1.5 s, mobilenet_v2 3.5 s, efficientnet_b0 8.7 s, densenet_bc_100_k12 11.9 s),
# aiming at ~7-8 CPU-minutes each (DenseNet and EfficientNet about twice that, as 35 and 50 steps
# left them far from trained): the budgets are close in time, not in images seen.
RECIPES: dict[str, Recipe] = {
    "resnet20": Recipe("resnet20", "CIFAR net (3x3/1 stem): maps 28, 14, 7", epochs=2),
    "mobilenet_v2": Recipe("mobilenet_v2", "stem=cifar: stem and first down-sampling stage at "
                           "stride 1, maps 28 ... 4", model_args={"stem": "cifar"},
                           max_steps_per_epoch=120),
    "shufflenet_v2_x1_0": Recipe("shufflenet_v2_x1_0", "stem=cifar: 3x3/1 conv, no max-pool, maps "
                                 "28 ... 4", model_args={"stem": "cifar"}, max_steps_per_epoch=270),
    "densenet_bc_100_k12": Recipe("densenet_bc_100_k12", "CIFAR net (3x3/1 stem): maps 28, 14, 7",
                                  max_steps_per_epoch=90),
    "efficientnet_b0": Recipe("efficientnet_b0", "stem=cifar: stem and first stride-2 stage at "
                              "stride 1, maps 28 ... 4; dropout and stochastic depth off",
                              model_args={"stem": "cifar", "drop_rate": 0.0, "drop_path_rate": 0.0},
                              optimizer="adamw", lr=2e-3, nesterov=False, weight_decay=0.05,
                              max_steps_per_epoch=150, warmup_epochs=0.1),
    "convnext_mini": Recipe("convnext_tiny", "ConvNeXt-T's blocks at 1/3 width, depths (2, 2, 6, 2), "
                            "patch_size=2: maps 14, 7, 3, 1; stochastic depth off",
                            model_args={"patch_size": 2, "dims": (32, 64, 128, 256),
                                        "depths": (2, 2, 6, 2), "drop_path_rate": 0.0},
                            optimizer="adamw", lr=2e-3, nesterov=False, weight_decay=0.05,
                            epochs=2, max_steps_per_epoch=350, warmup_epochs=0.1),
}

# The peers of ../shared/reference/fashion_mnist_peers.md (the dataset's benchmark table): unverified
# submissions trained on GPUs; the table gives their preprocessing, not their epochs.
PEERS = (("ResNet18", "-", 0.949, "normalization, flips, translation, rotation"),
         ("MobileNet", "-", 0.950, "horizontal flips"),
         ("DenseNet-BC", "768K", 0.954, "standard preprocessing + random crops / flips"))


def config(name: str, recipe: Recipe, *, out: Path, threads: int, max_steps: int | None) -> TrainConfig:
    return TrainConfig(
        model=recipe.model, data="fashion-mnist", out=str(out / name), epochs=1 if max_steps else recipe.epochs,
        batch_size=recipe.batch_size, optimizer=recipe.optimizer, lr=recipe.lr, nesterov=recipe.nesterov,
        weight_decay=recipe.weight_decay, schedule="cosine", warmup_epochs=recipe.warmup_epochs,
        val_fraction=0.0, model_args=dict(recipe.model_args), threads=threads, seed=0, progress=False,
        max_steps_per_epoch=max_steps or recipe.max_steps_per_epoch)


def run_one(name: str, recipe: Recipe, *, out: Path, threads: int, max_steps: int | None) -> dict[str, Any]:
    """Train (or resume, or read back) one recipe; the row of the table."""
    run_dir = out / name
    facts_path = run_dir / "zoo.json"
    facts = json.loads(facts_path.read_text()) if facts_path.is_file() else {"wall_s": 0.0}
    last = run_dir / "last.json"
    finished = last.is_file() and read_sidecar(last).get("finished")
    if finished:
        print(f"{name}: finished run in {run_dir}; reading it back", file=sys.stderr)
    else:
        start = time.perf_counter()
        if last.is_file():
            print(f"{name}: resuming {run_dir}", file=sys.stderr)
            resume(run_dir, progress=False, threads=threads)
        else:
            cfg = config(name, recipe, out=out, threads=threads, max_steps=max_steps)
            cfg.overwrite = run_dir.exists()  # a run that died before its first checkpoint
            print(f"{name}: training {recipe.model} {recipe.model_args or ''}", file=sys.stderr)
            train(cfg)
        facts["wall_s"] += time.perf_counter() - start
        facts_path.write_text(json.dumps(facts, indent=1))
    meta = read_sidecar(last)
    rows = read_metrics(run_dir)
    train_s = sum(float(r["seconds"]) for r in rows)
    images = sum(float(r["samples_per_s"]) * float(r["seconds"]) for r in rows)
    model = create_model_for_data(recipe.model, in_chans=1, num_classes=10, image_size=(SIDE, SIDE),
                                  **recipe.model_args)
    macs = analyze(model, input_size=(1, SIDE, SIDE), training_memory=False).totals["macs"]
    return {"name": name, "recipe": recipe, "test_acc": meta["metrics"]["test_acc"],
            "params": sum(p.numel() for p in model.parameters()), "macs": macs,
            "steps": meta["step"], "epochs": meta["epoch"], "images": images, "train_s": train_s,
            "wall_s": facts["wall_s"], "samples_per_s": images / train_s if train_s else float("nan")}


def markdown(results: list[dict[str, Any]], *, threads: int, max_steps: int | None) -> str:
    lines = ["# Fashion-MNIST: archzoo's recipes on a 2-core CPU", "",
             f"Machine: {machine(threads)}.", "",
             "Generated by `benchmarks/fashion_mnist_zoo.py`" +
             (f" as a smoke run (--max-steps {max_steps}: not a result)." if max_steps else "."),
             "Each model trains once (seed 0) on the shuffled 60,000-image training set at 28x28, "
             "1 channel, no augmentation, for its recipe's steps (so the nets see different numbers "
             "of images in about the same time), and is scored once on the 10,000 test images. "
             "Training time counts "
             "the optimizer steps only; wall time adds data loading, the test pass and setup. MACs "
             "are per image at 1x28x28 (matmul-class ops, no bias, as the model cards count).", "",
             "| model | 28x28 handling | params | MACs | recipe | images seen | test accuracy | "
             "training time (s) | samples/s | wall time (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        rc: Recipe = r["recipe"]
        args = ", ".join(f"{k}={v}" for k, v in rc.model_args.items())
        model = rc.model + (f" ({args})" if args else "")
        recipe = (f"{rc.optimizer} lr {rc.lr:g}{' nesterov' if rc.nesterov else ''}, wd {rc.weight_decay:g}, "
                  f"batch {rc.batch_size}, cosine, {r['steps']} steps")
        lines.append(f"| {r['name']}: {model} | {rc.note} | {r['params']:,} | {r['macs'] / 1e6:.1f}M | "
                     f"{recipe} | {r['images']:,.0f} ({r['images'] / 60000:.2f} epochs) | "
                     f"{r['test_acc']:.4f} | {r['train_s']:.0f} | {r['samples_per_s']:.0f} | {r['wall_s']:.0f} |")
    lines += ["", "## Peers (Fashion-MNIST benchmark table)", "",
              "Unverified submissions to the dataset's own table, trained on GPUs; the table states "
              "their preprocessing but not their epochs, so their budgets are larger than the "
              "minutes above by an unknown factor. Compare families, not rows.", "",
              "| peer | params | test accuracy | preprocessing / augmentation |", "|---|---|---|---|"]
    lines += [f"| {n} | {p} | {a:.3f} | {pre} |" for n, p, a, pre in PEERS]
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", nargs="+", default=list(RECIPES), choices=list(RECIPES), metavar="NAME",
                   help=f"recipes to run (default: all of {', '.join(RECIPES)})")
    p.add_argument("--max-steps", type=int, default=None,
                   help="smoke run: one epoch of at most this many steps per model")
    p.add_argument("--threads", type=int, default=2, help="torch intra-op threads (default: 2)")
    p.add_argument("--out", default="runs/fashion_mnist_zoo", help="where the run directories go")
    p.add_argument("--doc", default="docs/fashion_mnist.md", help="the Markdown table to write")
    args = p.parse_args()
    if args.max_steps is not None and args.max_steps < 1:
        raise SystemExit(f"--max-steps: expected >= 1, got {args.max_steps}")
    if args.threads < 1:
        raise SystemExit(f"--threads: expected >= 1, got {args.threads}")
    out = Path(args.out)
    results = []
    for name in args.models:
        r = run_one(name, RECIPES[name], out=out, threads=args.threads, max_steps=args.max_steps)
        print(f"{name}: test accuracy {r['test_acc']:.4f}, {r['params']:,} params, "
              f"{r['macs'] / 1e6:.1f}M MACs, {r['train_s']:.0f} s training, {r['samples_per_s']:.0f} samples/s",
              flush=True)
        results.append(r)
    Path(args.doc).parent.mkdir(parents=True, exist_ok=True)
    Path(args.doc).write_text(markdown(results, threads=args.threads, max_steps=args.max_steps))
    print(f"wrote {args.doc}")


if __name__ == "__main__":
    main()
