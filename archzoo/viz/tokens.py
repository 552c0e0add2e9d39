"""Attention over the tokens of one text as shaded backgrounds: seed 000's Yelp heat map (Lin et al.
2017, "A Structured Self-attentive Sentence Embedding", arXiv:1703.03130, figure 2), where each word
of a review is shaded by the attention it gets summed over the r hops.

`token_attention` runs a trained classifier that has `attend(ids, lengths) -> (logits, A (B, r, T))`
(`models.self_attentive`) on a text; `plot_token_heatmap` draws the tokens (characters or words) in
reading order, wrapped at `width` columns and at newlines, each on a background whose darkness is its
weight over the text's largest weight, so the most attended token is always the darkest.
Departure: the paper sums A's rows and normalizes the sum; we divide by the largest value instead of
the total, which leaves the picture's contrast the same for short and long texts.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Sequence

import torch
from torch import Tensor

from ._figure import font_family, new_figure, save_png

NEWLINE = "\u23ce"  # drawn where a text breaks its line


@torch.no_grad()
def token_attention(model: Any, ids: Sequence[int]) -> tuple[Tensor, Tensor]:
    """(attention per token (T,) summed over hops, class probabilities (K,)) for one text's ids."""
    if not callable(getattr(model, "attend", None)):
        name = getattr(model, "model_name", type(model).__name__)
        raise ValueError(f"{name}: expected a model with self-attention over tokens (attend(ids, lengths)), "
                         f"got one without")
    if len(ids) == 0:
        raise ValueError("expected a text of at least one token, got an empty one")
    model.eval()
    x = torch.tensor([list(ids)], dtype=torch.long)  # 1 T
    logits, a = model.attend(x, torch.tensor([x.shape[1]]))
    if a is None:
        raise ValueError(f"{getattr(model, 'model_name', 'the model')} pools without attention "
                         f"(pooling={model.cfg.pooling!r}): there is no attention to draw")
    return a[0].sum(0), logits[0].softmax(-1)  # r T -> T; K


def _layout(tokens: Sequence[str], width: int) -> list[tuple[int, int, str]]:
    """(row, column, text) of each token: monospace cells, a new row at "\\n" or past `width`."""
    cells, row, col = [], 0, 0
    for tok in tokens:
        shown = NEWLINE if tok == "\n" else tok.replace("\n", NEWLINE)
        if col > 0 and col + len(shown) > width:
            row, col = row + 1, 0
        cells.append((row, col, shown))
        col += max(len(shown), 1)
        if tok == "\n":
            row, col = row + 1, 0
    return cells


def plot_token_heatmap(tokens: Sequence[str], weights: Tensor, path: str | Path, *, title: str = "",
                       width: int = 60) -> Path:
    """`weights` (T,) >= 0, one per token; the tokens drawn on backgrounds shaded by weight / max."""
    w = torch.as_tensor(weights, dtype=torch.float32).flatten()
    if len(tokens) == 0 or w.numel() != len(tokens):
        raise ValueError(f"expected one weight per token ({len(tokens)} tokens), got {w.numel()} weights")
    if not torch.isfinite(w).all() or (w < 0).any():
        raise ValueError("expected finite, non-negative attention weights")
    if width < 1:
        raise ValueError(f"expected width >= 1 columns, got {width}")
    shade = (w / w.max()).tolist() if float(w.max()) > 0 else [0.0] * len(tokens)
    cells = _layout(tokens, width)
    rows = cells[-1][0] + 1
    cols = max(c + len(t) for _, c, t in cells)
    cw, ch = 0.08, 0.22  # inches per column and per row: a 9-point monospace glyph is 0.075 in wide
    title_width = 0.07 * max((len(line) for line in title.split("\n")), default=0)  # 9-point proportional
    fig, (ax,) = new_figure(width=max(3.0, 0.4 + cw * cols, title_width),
                            height=0.5 + ch * rows + 0.2 * (title.count("\n") + 1 if title else 0))
    ax.set_xlim(0, cols)
    ax.set_ylim(rows, 0)
    ax.axis("off")
    from matplotlib import colormaps
    from matplotlib.patches import Rectangle

    cmap = colormaps["Reds"]
    family = font_family(t for _, _, t in cells)
    for (row, col, text), s in zip(cells, shade):
        ax.add_patch(Rectangle((col, row + 0.05), max(len(text), 1), 0.9, facecolor=cmap(0.85 * s),
                               edgecolor="none"))
        ax.text(col + max(len(text), 1) / 2, row + 0.5, text.replace(" ", "\u00a0"), ha="center", va="center",
                fontsize=9, fontfamily=["DejaVu Sans Mono", *family], color="white" if s > 0.6 else "black")
    if title:
        ax.set_title(title, fontsize=9)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        return save_png(fig, path)


def viz_tokens(target: str, text: str, *, out: str | None = None, tag: str = "best") -> Path:
    """`archzoo viz RUN_DIR --tokens TEXT`: the heat map of a trained text classifier on TEXT, written
    to OUT (default RUN_DIR/viz) as tokens-N.png, N counting up so earlier maps are kept."""
    from ..generate._cli import load_run

    model, doc, vocabs = load_run(target, tag=tag, kind="text-classification")
    vocab = vocabs["vocab"]
    text = text.replace("\\n", "\n")  # a shell argument writes a line break as \n
    weights, probs = token_attention(model, vocab.encode(text))
    classes = doc["data"].get("classes") or [str(k) for k in range(len(probs))]
    best = int(probs.argmax())
    folder = Path(out) if out else Path(target).expanduser() / "viz"
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    while (folder / f"tokens-{n}.png").exists():
        n += 1
    title = f"{doc['model']['name']} ({tag}): {classes[best]} {float(probs[best]):.0%}\nattention summed over hops"
    return plot_token_heatmap(list(text), weights, folder / f"tokens-{n}.png", title=title)
