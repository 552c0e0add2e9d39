"""`archzoo caption RUN_DIR`: caption images with a trained captioning model, measure exact match of
its generated captions on a split, and draw where it looked while writing each word.

Images are the first --n canvases of a --split of the run's caption set (rebuilt from config.json,
so they are the same canvases it was trained and tested on), or image files given by path (gray,
resized to the model's input size). Captions are decoded greedily or with beam search (--num-beams).
The heat maps are the decoder's cross-attention weights (Xu et al. 2015, "Show, Attend and Tell",
arXiv:1502.03044, figure 3's per-word maps) for the first image: one panel per generated word, the
weights of the query that wrote it (averaged over the heads of one decoder block, the last by
default) over the memory grid, upsampled to the image and laid over it.
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..data.tokenize import BOS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("caption", help="caption images with a trained captioning model; attention heat maps",
                       description=__doc__.splitlines()[0])
    p.add_argument("run_dir", metavar="RUN_DIR")
    p.add_argument("images", metavar="IMAGE", nargs="*", help="image file(s) to caption instead of a split")
    p.add_argument("--split", default="test", choices=("train", "val", "test"),
                   help="caption set split to take images from (default: test)")
    p.add_argument("--n", type=int, default=8, help="how many images of --split to caption (default: 8)")
    p.add_argument("--eval", action="store_true", help="exact match of generated captions on all of --split")
    p.add_argument("--num-beams", type=int, default=1, help="beam width (default: 1, greedy)")
    p.add_argument("--layer", type=int, default=-1, help="decoder block whose cross-attention is drawn "
                                                        "(default: -1, the last)")
    p.add_argument("--attention-png", metavar="FILE",
                   help="heat maps of the first image (default: RUN_DIR/caption-attention.png)")
    p.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of the run")
    p.set_defaults(func=_caption)


def load_captioner(run_dir: str, *, tag: str) -> tuple[Any, dict[str, Any], Any]:
    """(model in eval mode, config.json, WordVocab) of a captioning run."""
    from ..data.captions import WordVocab
    from ..train.checkpoint import load_task_run

    model, doc = load_task_run(run_dir, task="captioning", vocab="caption_vocab", tag=tag)
    return model, doc, WordVocab.from_json(doc["data"]["vocabs"]["caption_vocab"])


def _read_images(paths: list[str], *, size: int) -> torch.Tensor:
    """Image files -> uint8 (B 1 size size), gray."""
    from PIL import Image, UnidentifiedImageError

    out = []
    for path in paths:
        try:
            with Image.open(path) as im:
                gray = im.convert("L").resize((size, size), Image.BILINEAR)
                out.append(torch.from_numpy(np.asarray(gray, dtype=np.uint8).copy()))
        except FileNotFoundError:
            raise FileNotFoundError(f"{path}: expected an image file, got no such file") from None
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"{path}: expected a PNG or JPEG image ({e})") from None
    return torch.stack(out)[:, None]


def caption_exact_match(model: Any, images: torch.Tensor, captions: list[str], vocab: Any, *, mean: float,
                        std: float, batch_size: int = 256, **options: Any) -> float:
    """Share of uint8 images (N 1 H W) whose generated caption equals the reference exactly."""
    hits = 0
    for i in range(0, len(captions), batch_size):
        x = (images[i: i + batch_size].float() / 255 - mean) / std
        outs = model.generate(x, **options)
        hits += sum(vocab.decode(o) == c for o, c in zip(outs, captions[i: i + batch_size]))
    return hits / max(len(captions), 1)


def plot_caption_attention(image: torch.Tensor, words: list[str], weights: torch.Tensor, grid: tuple[int, int],
                           path: str | Path, *, title: str = "") -> Path:
    """The image, then one panel per word: `weights` (T N) over the (h w) grid laid over it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from ._figure import save_png

    h, w = grid
    if weights.shape[-1] != h * w:
        raise ValueError(f"expected attention over {h}x{w} = {h * w} places, got {weights.shape[-1]}")
    img = image[0].float().cpu().numpy()
    heat = F.interpolate(weights.reshape(-1, 1, h, w).float(), size=img.shape, mode="bilinear",
                         align_corners=False)[:, 0]  # (T H W)
    cols = min(len(words) + 1, 6)
    rows = -(-(len(words) + 1) // cols)
    # fixed spacing: constrained layout costs seconds for a few dozen panels
    fig = Figure(figsize=(1.6 * cols, 1.75 * rows + 0.4))
    FigureCanvasAgg(fig)
    fig.subplots_adjust(left=0.02, right=0.98, bottom=0.02, top=1 - 0.45 / (1.75 * rows + 0.4), wspace=0.08,
                        hspace=0.25)
    panels = list(fig.subplots(rows, cols, squeeze=False).flat)
    panels[0].imshow(img, cmap="gray")
    panels[0].set_title("image", fontsize=9)
    for ax, word, hm in zip(panels[1:], words, heat):
        ax.imshow(img, cmap="gray")
        ax.imshow(hm.numpy(), cmap="inferno", alpha=0.55, vmin=0)
        ax.set_title(word, fontsize=9)
    for ax in panels:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    return save_png(fig, path)


def _caption(args: argparse.Namespace) -> int:
    if args.num_beams < 1:
        raise ValueError(f"--num-beams: expected a beam width >= 1, got {args.num_beams}")
    if args.n < 1:
        raise ValueError(f"--n: expected at least 1 image, got {args.n}")
    if args.eval and args.images:
        raise ValueError("--eval: expected no IMAGE (it measures a --split of the run's caption set)")
    model, doc, vocab = load_captioner(args.run_dir, tag=args.tag)
    if not -len(model.decoder) <= args.layer < len(model.decoder):
        raise ValueError(f"--layer: expected a decoder block in {-len(model.decoder)}..{len(model.decoder) - 1}, "
                         f"got {args.layer}")
    mean, std = doc["data"]["mean"][0], doc["data"]["std"][0]
    options = {"num_beams": args.num_beams}
    how = "greedy" if args.num_beams == 1 else f"beam {args.num_beams}"
    split = None
    if args.images:
        images, truths = _read_images(args.images, size=model.cfg.img_size), [None] * len(args.images)
        labels = args.images
    else:
        from ..train import run_dir as rd
        from ..train._setup_caption import caption_data

        cfg, _ = rd.read_config(Path(args.run_dir).expanduser())
        split = getattr(caption_data(cfg), args.split)
        images, truths = split.images[: args.n], split.captions[: args.n]
        labels = [f"{args.split}[{i}]" for i in range(len(truths))]
    x = (images.float() / 255 - mean) / std
    options["max_new_tokens"] = model.cfg.tgt_len  # the data's longest caption and its end token
    with torch.no_grad():
        outs = model.generate(x, **options)
    for label, out, truth in zip(labels, outs, truths):
        text = vocab.decode(out)
        mark = "" if truth is None else ("  [exact]" if text == truth else f"  [truth: {truth}]")
        print(f"{label}: {text}{mark}")
    tgt_in = torch.tensor([[BOS] + outs[0]])  # teacher-force the caption to replay its attention
    weights = model.cross_attention(x[:1], tgt_in)[args.layer, 0].mean(0)  # (T N): heads averaged
    words = [vocab.itos[i] for i in outs[0]]
    if len(outs[0]) < options["max_new_tokens"]:  # it ended: the last query wrote <eos>
        words.append("<eos>")
    weights = weights[: len(words)]
    png = Path(args.attention_png or Path(args.run_dir).expanduser() / "caption-attention.png")
    plot_caption_attention(images[0], words, weights, model.grid_shape(tuple(x.shape[-2:])), png,
                           title=f"{doc['model']['name']} ({how}): {vocab.decode(outs[0])}")
    print(f"attention: {png}")
    if args.eval:
        exact = caption_exact_match(model, split.images, split.captions, vocab, mean=mean, std=std, **options)
        print(f"{args.split} exact match ({how}, {len(split)} images): {exact:.4f}")
    return 0
