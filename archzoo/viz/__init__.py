"""Plots: training curves and confusion matrices (matplotlib's Agg backend, no display needed)."""
from .confusion import plot_confusion
from .curves import plot_curves

__all__ = ["plot_confusion", "plot_curves"]
