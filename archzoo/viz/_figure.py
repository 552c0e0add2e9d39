"""Headless figures saved atomically.

The Agg backend renders without a display (servers, CI, torchrun workers); figures are made with
the object API, not pyplot, so no global figure state leaks between runs in one process.
"""
from __future__ import annotations

from pathlib import Path

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
