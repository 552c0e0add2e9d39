"""archzoo's analyzer against torchinfo on the largest registered image models, one machine, one run.

Both get the same CPU model and a 1x3x224x224 input; each is timed (best of `--repeat`) on the
call that produces its per-layer summary: `archzoo.analysis.analyze(...).to_table()` (which runs on
the meta device and counts attention, RNN and element-wise ops too) and
`torchinfo.summary(..., verbose=0)` (a real forward). It prints each time and the ratio
archzoo / torchinfo (<= 1.0: archzoo no slower), and both MAC totals, which differ where torchinfo
misses the attention matmuls.

torchinfo is not an archzoo dependency; install it in the benchmark's own environment:

    python -m venv /tmp/bench-venv && /tmp/bench-venv/bin/pip install torch==2.13.0 torchinfo numpy
    PYTHONPATH=. /tmp/bench-venv/bin/python benchmarks/analyzer_vs_torchinfo.py
"""
from __future__ import annotations

import argparse
import time

import torch

from archzoo.analysis import analyze
from archzoo.models import create_model, list_models, model_card


def _best(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def largest_image_models(count: int) -> list[str]:
    names = [n for n in list_models() if model_card(n).input_size[1:] == (224, 224) and model_card(n).params]
    return sorted(names, key=lambda n: -model_card(n).params)[:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="*", help="default: the --count largest 224x224 models")
    parser.add_argument("--count", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    import torchinfo  # only in the benchmark's environment

    torch.set_grad_enabled(False)
    print(f"{'model':<22} {'archzoo s':>10} {'torchinfo s':>12} {'ratio':>7} {'archzoo MACs':>16} {'torchinfo MACs':>16}")
    ratios = []
    for name in args.models or largest_image_models(args.count):
        model = create_model(name).eval()
        size = (1, *model_card(name).input_size)
        ours, report = _best(lambda: analyze(model, input_size=size[1:], training_memory=False), args.repeat)
        ours_table, _ = _best(lambda: report.to_table(), 1)
        theirs, stats = _best(lambda: torchinfo.summary(model, input_size=size, verbose=0,
                                                        device="cpu"), args.repeat)
        ratio = (ours + ours_table) / theirs
        ratios.append(ratio)
        print(f"{name:<22} {ours + ours_table:>10.3f} {theirs:>12.3f} {ratio:>7.2f} "
              f"{report.totals['macs']:>16,} {stats.total_mult_adds:>16,}")
    geo = 1.0
    for r in ratios:
        geo *= r
    print(f"geometric mean ratio archzoo / torchinfo: {geo ** (1 / len(ratios)):.2f}")


if __name__ == "__main__":
    main()
