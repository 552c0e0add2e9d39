"""Generating with the KV cache vs re-encoding the whole prefix at every step.

One char-GPT (`gpt_char_cpu`'s shape, 4 layers, 4 heads, D 128, with a context of 1,024 so 512
new tokens fit without sliding the window) continues the same prompts greedily, 512 new tokens,
twice: with the cache (`use_cache=True`, each step runs one new token through the layers against
the cached keys and values) and without (`use_cache=False`, each step re-encodes the prompt and
every token so far). The two must produce the same tokens; the script prints both wall times and
their ratio (goal >= 5x). The weights are random (seeded): the cost does not depend on them. Each
variant runs `--repeats` times, interleaved, and the fastest run counts; on a shared machine the
absolute times are noisy.

    PYTHONPATH=. OMP_NUM_THREADS=1 .venv/bin/python benchmarks/kv_cache.py --threads 1
"""
from __future__ import annotations

import argparse
import time

import torch

from archzoo.generate import generate
from archzoo.models import create_model


def timed(model: torch.nn.Module, prompts: list[list[int]], new: int, use_cache: bool) -> tuple[float, list]:
    start = time.perf_counter()
    out = generate(model, prompts, max_new_tokens=new, temperature=0, use_cache=use_cache)
    return time.perf_counter() - start, out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="gpt_char_cpu")
    p.add_argument("--context", type=int, default=1024, help="the model's seq_len")
    p.add_argument("--new-tokens", type=int, default=512)
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--batch", type=int, default=1, help="prompts decoded together")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    if args.prompt_len + args.new_tokens > args.context:
        raise SystemExit(f"--prompt-len + --new-tokens must fit the context {args.context}; "
                         f"got {args.prompt_len + args.new_tokens}")
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    model = create_model(args.model, seq_len=args.context).eval()
    g = torch.Generator().manual_seed(0)
    prompts = torch.randint(0, model.cfg.vocab_size, (args.batch, args.prompt_len), generator=g).tolist()
    timed(model, prompts, 8, True)  # warm-up
    best = {True: float("inf"), False: float("inf")}
    outputs = {}
    for _ in range(args.repeats):
        for use_cache in (True, False):
            wall, outputs[use_cache] = timed(model, prompts, args.new_tokens, use_cache)
            best[use_cache] = min(best[use_cache], wall)
    same = outputs[True] == outputs[False]
    cfg = model.cfg
    print(f"{args.model} with seq_len {cfg.seq_len}: {cfg.num_layers} layers, {cfg.num_heads} heads, D {cfg.dim}; "
          f"{args.batch} prompt(s) of {args.prompt_len} tokens, {args.new_tokens} new tokens, greedy; "
          f"{args.threads} thread(s); fastest of {args.repeats}")
    print(f"with KV cache:       {best[True]:8.2f} s  {args.batch * args.new_tokens / best[True]:8.1f} tokens/s")
    print(f"recomputing prefix:  {best[False]:8.2f} s  {args.batch * args.new_tokens / best[False]:8.1f} tokens/s")
    ratio = best[False] / best[True]
    print(f"speed-up: {ratio:.1f}x (goal >= 5x: {'met' if ratio >= 5 else 'NOT met'}); "
          f"same tokens: {'yes' if same else 'NO'}")
    if not same:
        first = next(i for i, (a, b) in enumerate(zip(outputs[True][0], outputs[False][0])) if a != b)
        raise SystemExit(f"the cached and recomputed outputs differ from new token {first} on")


if __name__ == "__main__":
    main()
