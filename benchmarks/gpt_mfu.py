"""Char-GPT training throughput and model-FLOPs utilization (MFU): fused vs written-out attention.

The model is `gpt_char_cpu`, nanoGPT's laptop configuration (4 layers, 4 heads, D 128, block 64,
no biases), trained with AdamW at batch 12. MFU follows the PaLM paper (Chowdhery et al. 2022,
arXiv:2204.02311, appendix B): model FLOPs per token 6N + 12 L H Q T (N parameters without the
position table, as nanoGPT's `estimate_mfu` counts them; L layers, H heads, Q head size, T
sequence length), times tokens per second, over the peak FLOP/s of this process: the best of a few
large fp32 matmuls (2 n^3 FLOPs each) on the same threads. The batches are random token ids (the
work per step does not depend on the text). Both attention paths run in rounds, interleaved, and
the best round of each is kept, so a noisy neighbour hurts both alike; on a shared machine the
absolute numbers still move from run to run, the ratio less.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/gpt_mfu.py --threads 1
"""
from __future__ import annotations

import argparse
import time

import torch
import torch.nn.functional as F

from archzoo.models import create_model


def peak_flops(n: int, repeats: int) -> float:
    """FLOP/s of the fastest of `repeats` n x n fp32 matmuls."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * n ** 3 / best


def flops_per_token(model: torch.nn.Module) -> int:
    cfg = model.cfg
    n = sum(p.numel() for p in model.parameters()) - model.wpe.weight.numel()
    return 6 * n + 12 * cfg.num_layers * cfg.num_heads * (cfg.dim // cfg.num_heads) * cfg.seq_len


def train_round(model: torch.nn.Module, opt: torch.optim.Optimizer, batches: list[torch.Tensor]) -> float:
    """Seconds for one optimizer step per batch (B, T + 1): next-token cross-entropy."""
    start = time.perf_counter()
    for ids in batches:
        x, y = ids[:, :-1], ids[:, 1:]  # (B T)
        logits = model(x)  # (B T V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.perf_counter() - start


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gpt_char_cpu")
    p.add_argument("--batch-size", type=int, default=12)
    p.add_argument("--steps", type=int, default=10, help="optimizer steps per timed round")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--matmul", type=int, default=2048, help="side of the peak-measuring matmul")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)

    peak = peak_flops(args.matmul, 5)
    impls = ("sdpa", "math")
    models, opts = {}, {}
    for impl in impls:
        torch.manual_seed(0)
        models[impl] = create_model(args.model, attn_impl=impl).train()
        opts[impl] = torch.optim.AdamW(models[impl].parameters(), lr=1e-3)
    cfg = models["sdpa"].cfg
    g = torch.Generator().manual_seed(0)
    batches = [torch.randint(0, cfg.vocab_size, (args.batch_size, cfg.seq_len + 1), generator=g)
               for _ in range(args.steps)]
    for impl in impls:  # warm-up: the first steps allocate optimizer state and kernel workspaces
        train_round(models[impl], opts[impl], batches[:2])
    best = dict.fromkeys(impls, float("inf"))
    for _ in range(args.rounds):
        for impl in impls:
            best[impl] = min(best[impl], train_round(models[impl], opts[impl], batches))
    peak = max(peak, peak_flops(args.matmul, 5))  # the better of before and after

    fpt = flops_per_token(models["sdpa"])
    tokens = args.steps * args.batch_size * cfg.seq_len
    print(f"{args.model}: {cfg.num_layers} layers, {cfg.num_heads} heads, D {cfg.dim}, block {cfg.seq_len}, "
          f"batch {args.batch_size}; {fpt:,} model FLOPs per token (6N + 12LHQT); {args.threads} thread(s)")
    print(f"peak: {peak / 1e9:.1f} GFLOP/s (best {args.matmul}x{args.matmul} fp32 matmul in this process)")
    print(f"{'attention':<28} {'tokens/s':>10} {'GFLOP/s':>9} {'MFU':>7}")
    rate = {}
    for impl, label in (("sdpa", "fused (sdpa)"), ("math", "written out (math)")):
        rate[impl] = tokens / best[impl]
        achieved = rate[impl] * fpt
        print(f"{label:<28} {rate[impl]:>10,.0f} {achieved / 1e9:>9.2f} {achieved / peak:>7.1%}")
    print(f"fused / written-out throughput: {rate['sdpa'] / rate['math']:.2f}x "
          f"(best of {args.rounds} rounds of {args.steps} steps each)")


if __name__ == "__main__":
    main()
