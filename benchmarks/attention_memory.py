"""Peak memory of one attention layer, forward + backward: fused vs written-out, BigBird vs dense.

Two tables, each case measured in a fresh Python process (so no case inherits another's heap):
1. at T = 4,096 (batch 1, D 512, 8 heads), `MultiHeadAttention(impl="sdpa")` (PyTorch's fused
   `F.scaled_dot_product_attention`, no T x T matrix kept) against `impl="math"` (seed 003's
   formula written out: scores, softmax and their gradients are (B nh T T) each). Goal: fused
   <= 1/4 of written-out.
2. BigBird block-sparse attention (block 64, 3 random blocks) against the written-out dense layer
   at T = 1k, 2k, 4k, 8k: linear against quadratic growth.

Peak memory is the process's peak resident set (VmHWM) during one forward + backward, minus its
resident set just before: the peak is reset first by writing 5 to /proc/self/clear_refs (Linux);
where that is not allowed, the peak of ru_maxrss is used, which cannot see below an earlier peak.
A small warm-up pass runs first, so code pages and lazy initialisation are not counted.
Wall times are printed too; on a shared machine they are noisy.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/attention_memory.py [--dim 512 --heads 8 --threads 1]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from _machine import cpu_name as _cpu

LENGTHS = (1024, 2048, 4096, 8192)


def _rss_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def run_case(kind: str, seq_len: int, dim: int, heads: int, threads: int) -> dict:
    """In this process: build one layer, run forward + backward once, return peak bytes and time."""
    import torch

    from archzoo.blocks.attention import MultiHeadAttention
    from archzoo.blocks.sparse_attention import BigBirdAttention

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    if kind == "bigbird":
        layer = BigBirdAttention(dim, heads, block_size=64, num_random_blocks=3)
        layer.pattern(-(-seq_len // 64), torch.device("cpu"))  # the fixed pattern is part of the layer
    else:
        layer = MultiHeadAttention(dim, heads, impl=kind)
    # a small warm-up first: kernels' code pages and lazy initialisation are resident memory too,
    # a fixed cost that is not the layer's
    layer(torch.randn(1, 256, dim, requires_grad=True)).square().mean().backward()
    layer.zero_grad(set_to_none=True)
    x = torch.randn(1, seq_len, dim, requires_grad=True)  # (B T D)
    exact = _reset_peak()
    before = _rss_kib("VmRSS") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    layer(x).square().mean().backward()
    wall = time.perf_counter() - start
    peak = _rss_kib("VmHWM") if exact else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"bytes": (peak - before) * 1024, "wall_s": wall, "exact": exact}


def measure(kind: str, seq_len: int, args: argparse.Namespace) -> dict:
    cmd = [sys.executable, __file__, "--case", kind, str(seq_len), "--dim", str(args.dim),
           "--heads", str(args.heads), "--threads", str(args.threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode:
        raise SystemExit(f"case {kind} T={seq_len} failed:\n{done.stderr.strip()}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _mib(n: int) -> str:
    return f"{n / 2**20:9.1f} MiB"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dim", type=int, default=512)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--lengths", type=int, nargs="+", default=list(LENGTHS))
    p.add_argument("--case", nargs=2, metavar=("KIND", "T"), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case[0], int(args.case[1]), args.dim, args.heads, args.threads)))
        return

    import torch

    print(f"machine: {_cpu()}; torch {torch.__version__}; {args.threads} thread(s); "
          f"batch 1, D {args.dim}, {args.heads} heads, fp32, forward + backward of one layer")
    results: dict[tuple[str, int], dict] = {}
    for kind, t in [("sdpa", 4096), ("math", 4096)] + [(k, t) for t in args.lengths for k in ("math", "bigbird")]:
        if (kind, t) not in results:
            results[(kind, t)] = measure(kind, t, args)
    if not all(r["exact"] for r in results.values()):
        print("note: /proc/self/clear_refs was not writable; peaks are ru_maxrss deltas (lower bounds)")

    fused, written = results[("sdpa", 4096)], results[("math", 4096)]
    print("\n1. fused vs written-out attention at T = 4096")
    print(f"   fused (F.scaled_dot_product_attention): {_mib(fused['bytes'])}  {fused['wall_s']:6.2f} s")
    print(f"   written out (impl='math'):              {_mib(written['bytes'])}  {written['wall_s']:6.2f} s")
    ratio = fused["bytes"] / written["bytes"]
    print(f"   fused / written-out = {ratio:.3f}  (goal <= 0.25: {'met' if ratio <= 0.25 else 'NOT met'})")

    print("\n2. BigBird (block 64, 3 random blocks) vs dense written-out attention")
    print(f"   {'T':>6} {'dense':>13} {'bigbird':>13} {'bigbird/dense':>14} {'dense s':>8} {'bigbird s':>9}")
    for t in args.lengths:
        d, s = results[("math", t)], results[("bigbird", t)]
        print(f"   {t:>6} {_mib(d['bytes'])} {_mib(s['bytes'])} {s['bytes'] / d['bytes']:14.3f} "
              f"{d['wall_s']:8.2f} {s['wall_s']:9.2f}")
    first, last = args.lengths[0], args.lengths[-1]
    grow = last / first
    print(f"   growth from T={first} to T={last} (x{grow:g} longer): dense "
          f"x{results[('math', last)]['bytes'] / results[('math', first)]['bytes']:.1f}, bigbird "
          f"x{results[('bigbird', last)]['bytes'] / results[('bigbird', first)]['bytes']:.1f} "
          f"(linear: x{grow:g}, quadratic: x{grow ** 2:g})")


if __name__ == "__main__":
    main()
