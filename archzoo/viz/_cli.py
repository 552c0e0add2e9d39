"""`archzoo viz` (filters, feature maps, Sobel demo, saliency) and `archzoo gradcheck BLOCK`.

A target is a run directory or checkpoint (trained weights, its preprocessing) or a registered
model name (fresh weights, the image resized to the card's input size). An IMAGE is a PNG or JPEG
file, or the name of one of scikit-learn's bundled photos (china.jpg, flower.jpg), which works
offline.
"""
from __future__ import annotations

import argparse
import re
from pathlib import Path

import numpy as np
import torch

SAMPLE_IMAGES = ("china.jpg", "flower.jpg")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("viz", help="draw filters, feature maps or saliency maps as PNGs",
                       description=__doc__.splitlines()[0])
    p.add_argument("target", metavar="RUN_DIR_OR_MODEL")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--filters", action="store_true", help="the first convolution's kernels")
    what.add_argument("--features", metavar="IMAGE", help="feature maps of --layers for IMAGE")
    what.add_argument("--saliency", metavar="IMAGE", help="class saliency (Simonyan et al. 2014)")
    what.add_argument("--sobel", metavar="IMAGE", help="seed 002's fixed-kernel Sobel demo")
    what.add_argument("--tokens", metavar="TEXT", help="a text classifier's attention over TEXT's tokens (RUN_DIR)")
    p.add_argument("--out", help="output directory (default: RUN_DIR/viz or viz-MODEL)")
    p.add_argument("--layers", nargs="+", help="module names for --features (default: body stages)")
    p.add_argument("--target-class", type=int, help="class for --saliency (default: predicted)")
    p.add_argument("--tag", default="best", choices=("best", "last"), help="checkpoint of a run directory")
    p.set_defaults(func=_viz)

    g = sub.add_parser("gradcheck", help="check a block's gradients by finite differences (float64)")
    g.add_argument("blocks", metavar="BLOCK", nargs="+", help="block names, or 'all'")
    g.set_defaults(func=_gradcheck)


def load_image(spec: str, *, in_chans: int) -> torch.Tensor:
    """An image file or a bundled sample photo as float (1, C, H, W) in [0, 1]."""
    from PIL import Image, UnidentifiedImageError

    if in_chans not in (1, 3):
        raise ValueError(f"{spec}: the model takes {in_chans} channels; viz reads 1 (gray) or 3 (RGB)")
    if Path(spec).is_file():
        try:
            with Image.open(spec) as im:
                array = np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (UnidentifiedImageError, OSError, SyntaxError) as e:
            raise ValueError(f"{spec}: expected a PNG or JPEG image ({e})") from None
    elif spec in SAMPLE_IMAGES:
        from sklearn.datasets import load_sample_image

        array = load_sample_image(spec)
    else:
        raise FileNotFoundError(f"{spec}: no such image file (or a bundled photo: "
                                f"{', '.join(SAMPLE_IMAGES)})")
    x = torch.from_numpy(array.copy()).permute(2, 0, 1)[None].float() / 255  # (1, 3, H, W)
    return x.mean(1, keepdim=True) if in_chans == 1 else x


def _load_target(args: argparse.Namespace):  # noqa: ANN202 - (model, preprocess, out dir, label)
    from ..data import Compose, Normalize, Resize

    if Path(args.target).exists():
        from ..train.checkpoint import load_checkpoint, resolve

        model, meta = load_checkpoint(args.target, tag=args.tag)
        size = tuple(meta["image_size"])
        norm = Normalize(tuple(meta["mean"]), tuple(meta["std"]))
        out = resolve(args.target, tag=args.tag)[0] / "viz"
        model.classes = meta.get("classes")  # for the saliency title
        return model, Resize(size), norm, out, f"{meta['model']} ({args.tag})"
    from ..models import create_model, model_card

    model = create_model(args.target).eval()
    card = model_card(args.target)
    size = tuple((card.small_input_size or card.input_size)[1:])
    print(f"{args.target}: untrained weights (give a run directory for trained ones)")
    return model, Resize(size), Compose(()), Path(f"viz-{args.target}"), f"{args.target} (untrained)"


def _viz(args: argparse.Namespace) -> int:
    from .features import capture, default_layers, plot_feature_maps
    from .filters import first_conv, plot_filters, plot_sobel
    from .saliency import plot_saliency, saliency_map

    if args.tokens is not None:
        from .tokens import viz_tokens

        print(viz_tokens(args.target, args.tokens, out=args.out, tag=args.tag))
        return 0
    if args.sobel:  # needs no model, but the target names where a default --out goes
        gray = load_image(args.sobel, in_chans=1)[0, 0]
        out = Path(args.out or "viz")
        print(plot_sobel(gray * 255, _mkdir(out) / "sobel.png"))
        return 0
    model, resize, norm, out, label = _load_target(args)
    out = _mkdir(Path(args.out) if args.out else out)
    model.eval()
    if args.filters:
        conv = first_conv(model)
        print(plot_filters(conv.weight, out / "filters.png", title=f"{label}: first-layer filters "
                           f"{tuple(conv.weight.shape)}"))
        return 0
    spec = args.features or args.saliency
    image = resize(load_image(spec, in_chans=model.in_chans))  # (1, C, H, W) at the model's size
    x = norm(image)
    if args.features:
        layers = args.layers or default_layers(model)
        for name, maps in capture(model, x, layers).items():
            if maps.ndim != 4:
                print(f"{name}: not a (B, C, H, W) map ({tuple(maps.shape)}); skipped")
                continue
            safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name)
            print(plot_feature_maps(maps, out / f"features-{safe}.png", title=f"{label}: {name}"))
        return 0
    sal, c = saliency_map(model, x, target=args.target_class)
    classes = getattr(model, "classes", None)
    print(plot_saliency(image[0], sal, out / f"saliency-class{c}.png",
                        title=f"{label}: class {c}{f' ({classes[c]})' if classes else ''}"))
    return 0


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _gradcheck(args: argparse.Namespace) -> int:
    from ..analysis.gradcheck import BLOCK_NAMES, check_block

    names = list(BLOCK_NAMES) if args.blocks == ["all"] else args.blocks
    unknown = [n for n in names if n not in BLOCK_NAMES]
    if unknown:
        raise ValueError(f"unknown block {unknown[0]!r}; expected one of: all, {', '.join(BLOCK_NAMES)}")
    failed = 0
    for name in names:
        result = check_block(name)
        print(result.line(), flush=True)
        failed += not result.ok
    return 1 if failed else 0
