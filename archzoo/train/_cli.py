"""`archzoo train`, `archzoo eval` and `archzoo predict`.

Options of `train` come from `TrainConfig` (typed once; `--help` lists them, an unknown one fails).
The resolved config is printed and saved in the run directory before the first step. Output meant
for scripts (the run directory, accuracies, predictions) goes to stdout; progress to stderr.
"""
from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import numpy as np
import torch

from .._config import add_dataclass_arguments, from_namespace, given_fields
from .checkpoint import load_checkpoint, resolve
from .config import TrainConfig

RESUME_MAY_CHANGE = {"progress", "threads"}  # display and speed, not the data or the updates


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("train", help="train a model on a dataset into a run directory",
                       description="Train MODEL on --data; writes config.json, metrics.csv, "
                                   "curves.png and last/best checkpoints to --out.")
    add_dataclass_arguments(p, TrainConfig)
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted run exactly")
    p.set_defaults(func=_train)

    p = sub.add_parser("eval", help="accuracy, per-class accuracy and confusion matrix of a checkpoint")
    p.add_argument("run_dir", metavar="RUN_DIR_OR_CHECKPOINT")
    p.add_argument("--data", help="dataset to evaluate on (default: the run's own); its test split is used")
    p.add_argument("--data-dir", help="where a named dataset's files are")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of a run directory")
    g.add_argument("--checkpoint", metavar="NAME", help="a checkpoint of the run by name (epoch-N, avg-lastN)")
    p.add_argument("--plot", help="confusion-matrix PNG (default: beside the checkpoint)")
    p.set_defaults(func=_eval)

    p = sub.add_parser("predict", help="top-k classes of image files")
    p.add_argument("checkpoint", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGE", nargs="+", help="PNG or JPEG files")
    p.add_argument("--topk", type=int, default=3, help="classes to show per image (default: 3)")
    p.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of a run directory")
    p.set_defaults(func=_predict)


def _is_main() -> bool:
    return int(os.environ.get("RANK", "0")) == 0


def _train(args: argparse.Namespace) -> int:
    from .trainer import resume, train

    if args.resume:
        extra = sorted(set(given_fields(TrainConfig, args)) - RESUME_MAY_CHANGE)
        if extra:
            shown = ", ".join("MODEL" if f == "model" else "--" + f.replace("_", "-") for f in extra)
            raise ValueError(f"--resume continues with the run's saved options; drop {shown}")
        result = resume(args.resume, progress=getattr(args, "progress", None), threads=getattr(args, "threads", None))
    else:
        cfg = from_namespace(TrainConfig, args)
        result = train(cfg, on_start=_print_config)
    if _is_main():
        print(f"run: {result.run_dir}")
        if result.test_acc is not None:
            print(f"test accuracy: {result.test_acc:.4f}")
        final = result.history[-1] if result.history and result.finished else {}
        for key in ("test_bpc", "test_ppl", "test_exact", "test_token_acc"):  # sequence runs
            if isinstance(final.get(key), float):
                print(f"{key.replace('_', ' ', 1)}: {final[key]:.4f}")
    return 0


def _print_config(doc: dict) -> None:
    print("config: " + json.dumps(doc["config"], sort_keys=False))
    m, d = doc["model"], doc["data"]
    from ._setup import card_task

    labels = "unit" not in d or card_task(m["name"]) in ("text-classification", "tagging")
    unit, what = d.get("unit", "images"), "classes" if labels else "tokens in the vocabulary"
    print(f"model: {m['name']} ({m['params']:,} params) on {d['name']}: "
          f"{d['train']} train / {d['val']} val / {d['test']} test {unit}, {len(d['classes'])} {what}", flush=True)


def _checkpoint_transform(meta: dict):  # noqa: ANN202 - a data.Compose
    """The checkpoint's preprocessing: its input size and its training set's statistics."""
    from ..data import Compose, Normalize, Resize

    return Compose((Resize(tuple(meta["image_size"])), Normalize(tuple(meta["mean"]), tuple(meta["std"]))))


def _eval_sequence(directory: Path, tag: str, kind: str) -> int:
    """A sequence run's checkpoint on its own test split, rebuilt from config.json as training built
    it (teacher-forced for seq2seq and captioning: `archzoo translate/caption --eval` decodes)."""
    from . import run_dir as rd
    from ._setup import model_overrides
    from ._setup_text import setup_for
    from .tasks_seq import run_task

    if not rd.is_run(directory):
        raise ValueError(f"{directory}: a {kind} checkpoint is evaluated from its run directory, "
                         f"which has no config.json")
    cfg, _ = rd.read_config(directory)
    model, meta = load_checkpoint(directory / f"{tag}.json")
    *_, test, _, task = setup_for(kind)(cfg, model_overrides(cfg.model_args))
    metrics = run_task(task, model, test)
    print(f"checkpoint: {directory / tag} ({meta['model']}, epoch {meta['epoch']}, step {meta['step']})")
    print(f"data: {cfg.data} test split ({kind})")
    for key, value in metrics.items():
        print(f"{key}: {value:.4f}")
    return 0


def _eval(args: argparse.Namespace) -> int:
    from ..data import BatchLoader, load_dataset
    from ..viz.confusion import plot_confusion
    from . import run_dir as rd
    from ._setup import card_task
    from ._setup_text import TEXT_SETUPS
    from .checkpoint import read_sidecar
    from .evaluate import evaluate

    directory, tag = resolve(args.run_dir, tag=args.checkpoint or args.tag)
    kind = card_task(read_sidecar(directory / f"{tag}.json").get("model", ""))
    if kind in TEXT_SETUPS:
        return _eval_sequence(directory, tag, kind)
    model, meta = load_checkpoint(directory / f"{tag}.json")
    data, data_dir = args.data or meta["data"], args.data_dir
    if args.data is None and data_dir is None and rd.is_run(directory):
        data_dir = rd.read_config(directory)[0].data_dir
    bundle = load_dataset(data, data_dir=data_dir)
    if bundle.num_classes != meta["num_classes"] or bundle.in_chans != meta["in_chans"]:
        raise ValueError(f"--data {data}: expected {meta['num_classes']} classes and {meta['in_chans']} channel(s) "
                         f"like the checkpoint, got {bundle.num_classes} classes and {bundle.in_chans}")
    loader = BatchLoader(bundle.test, batch_size=256, shuffle=False, seed=0, transform=_checkpoint_transform(meta))
    result = evaluate(model, loader, num_classes=meta["num_classes"])
    classes = meta["classes"]
    print(f"checkpoint: {directory / tag} ({meta['model']}, epoch {meta['epoch']}, step {meta['step']})")
    print(f"data: {bundle.name} test split, {result.count} images")
    print(f"accuracy: {result.accuracy:.4f}")
    width = max(len(c) for c in classes)
    for name, acc, row in zip(classes, result.per_class_accuracy, result.confusion.tolist()):
        print(f"  {name:<{width}}  {acc:.4f}  ({row[classes.index(name)]}/{sum(row)})")
    plot = Path(args.plot) if args.plot else directory / (
        f"confusion-{tag}.png" if args.data is None else f"confusion-{tag}-{bundle.name}.png")
    plot_confusion(result.confusion, classes, plot, title=f"{meta['model']} on {bundle.name}: "
                                                        f"accuracy {result.accuracy:.4f}")
    print(f"confusion matrix: {plot}")
    return 0


def _load_image(path: str, *, in_chans: int) -> torch.Tensor:
    """An image file as float [1, C, H, W] in [0, 1], in the model's channels (gray or RGB)."""
    from PIL import Image, UnidentifiedImageError

    if in_chans not in (1, 3):
        raise ValueError(f"{path}: the model takes {in_chans} channels; predict reads 1 (gray) or 3 (RGB)")
    try:
        with Image.open(path) as im:
            array = np.asarray(im.convert("L" if in_chans == 1 else "RGB"), dtype=np.uint8)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: expected an image file, got no such file") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(f"{path}: expected a PNG or JPEG image, got an unreadable file ({e})") from None
    array = array.reshape(array.shape[0], array.shape[1], in_chans)  # H W C
    return torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255  # 1 C H W


def _predict(args: argparse.Namespace) -> int:
    model, meta = load_checkpoint(args.checkpoint, tag=args.tag)
    classes, k = meta["classes"], args.topk
    if not 1 <= k <= len(classes):
        raise ValueError(f"--topk: expected 1..{len(classes)}, got {k}")
    # The training pipeline's own resize and normalization, so a file at the dataset's size is
    # seen exactly as the model saw its training images.
    transform = _checkpoint_transform(meta)
    images = [_load_image(p, in_chans=meta["in_chans"]) for p in args.images]  # all readable, or none run
    with torch.no_grad():
        for path, x in zip(args.images, images):
            probs = model(transform(x)).softmax(dim=1)[0]
            top = probs.topk(k)
            shown = ", ".join(f"{classes[i]} {p:.3f}" for p, i in zip(top.values.tolist(), top.indices.tolist()))
            print(f"{path}: {shown}")
    return 0

