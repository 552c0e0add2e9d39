"""Headless figures saved atomically.

The Agg backend renders without a display (servers, CI, torchrun workers); figures are made with
the object API, not pyplot, so no global figure state leaks between runs in one process.
"""
from __future__ import annotations

import functools
from pathlib import Path
from typing import Iterable

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def new_figure(*, width: float, height: float, ncols: int = 1, layout: str | None = "constrained") -> tuple[Figure, list]:
    """A figure and its axes; `layout=None` skips constrained layout, which costs most of the
    drawing time of a simple plot redrawn every epoch."""
    fig = Figure(figsize=(width, height), layout=layout)
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, ncols, squeeze=False)[0]
    return fig, list(axes)


def save_png(fig: Figure, path: str | Path, *, dpi: int = 110) -> Path:
    """Write `fig` to `path` atomically (temporary file in the same directory, then a rename)."""
    from ..train._io import write_with  # imported late: archzoo.train imports viz

    write_with(path, lambda tmp: fig.savefig(tmp, dpi=dpi, format="png"))
    return Path(path)


@functools.lru_cache(maxsize=None)
def _font_files() -> tuple[tuple[str, str, frozenset[int]], ...]:
    """(path, family, code points) of matplotlib's own fonts and the system's, read once; not
    matplotlib's last-resort font, whose every glyph is a box."""
    from matplotlib import font_manager, ft2font

    paths = [f.fname for f in font_manager.fontManager.ttflist] + sorted(font_manager.findSystemFonts())
    out, seen = [], set()
    for path in paths:
        if path in seen or not path.lower().endswith((".ttf", ".otf")) or "LastResort" in path:
            continue
        seen.add(path)
        try:
            font = ft2font.FT2Font(path)
            out.append((path, font.family_name, frozenset(font.get_charmap())))
        except (OSError, RuntimeError, ValueError):
            continue
    return tuple(out)


def font_family(texts: Iterable[str]) -> list[str]:
    """Font families for labels holding `texts`: DejaVu Sans first, then installed families that
    cover the characters it lacks (Thai: apt-get install fonts-thai-tlwg), which matplotlib falls
    back to glyph by glyph. Characters no installed font covers still draw as boxes."""
    from matplotlib import font_manager

    families = ["DejaVu Sans"]
    files = _font_files()
    covered = next((cmap for _, family, cmap in files if family == "DejaVu Sans"), frozenset())
    missing = {ord(c) for text in texts for c in text if not c.isspace()} - covered
    for path, family, cmap in files:
        if missing & cmap and family not in families:
            for other, same, _ in files:  # every style, so the regular weight is found
                if same == family:  # a font installed after matplotlib's cache was built
                    font_manager.fontManager.addfont(other)
            families.append(family)
            missing -= cmap
    return families
