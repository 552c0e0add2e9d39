"""Check `load_reference_weights` numerically against torchvision and timm (the oracle environment).

Run with archzoo on the path, in an environment that has torchvision / timm (never archzoo's own):

    PYTHONPATH=. /tmp/oracle/bin/python benchmarks/check_reference_weights.py [--source timm] [GLOB ...]

For each architecture both provide: random-init the reference model, perturb every tensor (so that
zero-initialized biases, unit batch-norm statistics and tiny layer scales cannot hide a mis-mapped
tensor), load it into archzoo's model, and compare the eval-mode logits on the same random input
at the card's input size and, for convolutional nets, at a second, non-square size. Prints one line
per model and exits 1 if any max |difference| exceeds 1e-4.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
import time

import torch

import archzoo
from archzoo.models._reference import PROVIDED, load_reference_weights

TOL = 1e-4
FIXED_SIZE = ("vit_", "deit_", "swin_")  # position embeddings / windows fix the input size


def reference_model(source: str, name: str) -> torch.nn.Module:
    if source == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    import torchvision.models as tvm

    return getattr(tvm, name)(weights=None)


@torch.no_grad()
def perturb(model: torch.nn.Module, gen: torch.Generator) -> None:
    for key, t in model.state_dict().items():
        if not t.is_floating_point():
            continue
        if key.endswith("running_var"):
            t.copy_(torch.rand(t.shape, generator=gen) + 1.0)  # >= 1: deep nets stay finite
        else:
            t.add_(0.02 * torch.randn(t.shape, generator=gen))


def check(source: str, ours_name: str, ref_name: str) -> tuple[bool, str]:
    gen = torch.Generator().manual_seed(0)
    ref = reference_model(source, ref_name).eval()
    perturb(ref, gen)
    ours = archzoo.create_model(ours_name).eval()
    load_reference_weights(ours, ref.state_dict(), source=source)
    c, h, w = ours.card.input_size
    sizes = [(h, w)] if ours_name.startswith(FIXED_SIZE) else [(h, w), (h + 32, w - 32)]
    worst, scale = 0.0, 0.0
    with torch.no_grad():
        for hw in sizes:
            x = torch.randn(2, c, *hw, generator=gen)
            a, b = ours(x), ref(x)
            worst = max(worst, (a - b).abs().max().item())
            scale = max(scale, b.abs().max().item())
    sz = ", ".join(f"{a}x{b}" for a, b in sizes)
    ok = worst <= TOL
    return ok, f"{'ok  ' if ok else 'FAIL'} {source:<11} {ours_name:<22} <- {ref_name:<30} {sz:<17} " \
               f"max|diff| {worst:.2e}  max|logit| {scale:.2f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("patterns", nargs="*", default=["*"], help="archzoo model globs")
    p.add_argument("--source", choices=[*PROVIDED, "all"], default="all")
    args = p.parse_args()
    torch.manual_seed(0)
    failed = total = 0
    for source in PROVIDED if args.source == "all" else [args.source]:
        for ours, ref in sorted(PROVIDED[source].items()):
            if not any(fnmatch.fnmatchcase(ours, g) for g in args.patterns):
                continue
            t0 = time.perf_counter()
            try:
                ok, line = check(source, ours, ref)
            except Exception as e:  # report every model, then fail
                ok, line = False, f"FAIL {source:<11} {ours:<22} <- {ref:<30} {type(e).__name__}: {e}"
            total, failed = total + 1, failed + (not ok)
            print(f"{line}  ({time.perf_counter() - t0:.1f}s)", flush=True)
    print(f"{total - failed}/{total} architectures match within {TOL:g}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
