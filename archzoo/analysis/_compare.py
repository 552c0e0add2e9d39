"""Models side by side: params, MACs, memory, receptive field and published accuracy.

Seeds 000 and 003 compare architectures by accuracy against compute (their "accuracy vs
operations" plots, where the marker size is the parameter count); `compare` gives the same numbers
from the analyzer and the cards, and `scatter_plot` draws that figure for the models compared.
"""
from __future__ import annotations

import io
from typing import Any, Sequence

from .report import Report, human, human_bytes


def feature_field(report: Report) -> str:
    """Receptive field of the last layer that still has positions (what the head looks through)."""
    for row in reversed(report.rows):
        if row.rf is not None and not row.rf.is_global:
            return str(row.rf)
    return str(report.receptive_field) if report.receptive_field else "-"


def accuracy(report: Report) -> tuple[str, float] | None:
    acc = report.card.get("accuracy") or {}
    return next(iter(acc.items()), None)


def compare_rows(reports: Sequence[Report]) -> list[dict[str, Any]]:
    rows = []
    for r in reports:
        acc = accuracy(r)
        rows.append({
            "model": r.model, "input": "x".join(map(str, r.input_size)), "params": r.totals["params"],
            "macs": r.totals["macs"], "param_bytes": r.totals["param_bytes"],
            "activation_bytes": r.totals["activation_bytes"],
            "training_peak_bytes": (r.totals.get("training_memory") or {}).get("total"),
            "receptive_field": feature_field(r),
            "accuracy": acc[1] if acc else None, "accuracy_metric": acc[0] if acc else "",
        })
    return rows


def compare_table(rows: list[dict[str, Any]]) -> str:
    head = ["model", "input", "params", "MACs", "param mem", "act mem", "train peak", "RF", "accuracy"]
    cells = [[r["model"], r["input"], human(r["params"]), human(r["macs"]), human_bytes(r["param_bytes"]),
              human_bytes(r["activation_bytes"]), human_bytes(r["training_peak_bytes"]) if r["training_peak_bytes"] else "-",
              r["receptive_field"],
              f"{r['accuracy']:.2f} ({r['accuracy_metric']})" if r["accuracy"] is not None else "-"]
             for r in rows]
    widths = [max(len(str(c[i])) for c in [head, *cells]) for i in range(len(head))]
    line = lambda c: "  ".join(str(x).ljust(w) if i < 2 else str(x).rjust(w)  # noqa: E731
                               for i, (x, w) in enumerate(zip(c, widths)))
    return "\n".join([line(head), "-" * len(line(head)), *map(line, cells)])


def compare_markdown(rows: list[dict[str, Any]]) -> str:
    keys = list(rows[0]) if rows else []
    esc = lambda v: "-" if v is None else str(v).replace("|", "\\|")  # noqa: E731
    return "\n".join(["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys),
                      *["| " + " | ".join(esc(r[k]) for k in keys) + " |" for r in rows]]) + "\n"


def scatter_plot(rows: list[dict[str, Any]]) -> bytes:
    """PNG of accuracy against MACs, marker area proportional to parameters (seed 003's plot)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    points = [r for r in rows if r["accuracy"] is not None]
    if points:
        biggest = max(r["params"] for r in points) or 1
        ax.scatter([r["macs"] / 1e9 for r in points], [r["accuracy"] for r in points],
                   s=[20 + 1500 * r["params"] / biggest for r in points], alpha=0.5)
        for r in points:
            ax.annotate(r["model"], (r["macs"] / 1e9, r["accuracy"]), fontsize=8)
        ax.set_xscale("log")
        ax.set_ylabel(f"accuracy ({points[0]['accuracy_metric']})")
    else:
        ax.text(0.5, 0.5, "no published accuracy on these models' cards", ha="center",
                transform=ax.transAxes)
    ax.set_xlabel("GMACs (log scale); marker area ~ parameters")
    ax.set_title("accuracy vs compute")
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()
