"""Check `load_reference_weights` numerically against torchvision, timm and Hugging Face transformers.

Run with archzoo on the path, in an environment that has torchvision / timm / transformers (never
archzoo's own):

    PYTHONPATH=. /tmp/oracle/bin/python benchmarks/check_reference_weights.py [--source timm] [GLOB ...]

For each architecture a source provides: random-init the reference model, perturb every tensor (so
that zero-initialized biases, unit batch-norm statistics and tiny layer scales cannot hide a
mis-mapped tensor), load it into archzoo's model, and compare the eval-mode outputs on the same
random input: image classifiers at the card's input size and, for convolutional nets, at a second,
non-square size; language models on random token ids (BERT: both pre-training heads, with a padded
row; T5: encoder and decoder). Models over --max-params parameters (vit_h_14: 632M, two copies
would take some 6 GB) are checked on the meta device only: every tensor pairs with one of the same
shape. Prints one line per model and exits 1 if any max |difference| exceeds 1e-4.
"""
from __future__ import annotations

import argparse
import fnmatch
import sys
import time

import torch

import archzoo
from archzoo.models._reference import (BUILD_ARGS, DEPARTS, PROVIDED, ReferenceWeightsError,
                                       load_reference_weights, plan)
from make_reference_fixtures import huggingface_model

TOL = 1e-4
FIXED_SIZE = ("vit_", "deit_", "swin_")  # position embeddings / windows fix the input size


def reference_model(source: str, name: str) -> torch.nn.Module:
    if source == "huggingface":
        return huggingface_model(name)
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


def outputs(ours: torch.nn.Module, ref: torch.nn.Module, name: str, gen: torch.Generator,
            sizes: list) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(archzoo's, the reference's) output pairs on the same random input."""
    if name.startswith(("gpt", "bert", "t5")):
        v = ours.num_classes
        ids = torch.randint(0, v, (2, 48), generator=gen)
        if name.startswith("gpt"):
            return [(ours(ids), ref(input_ids=ids).logits)]
        if name.startswith("bert"):
            types = (torch.arange(48) >= 20).long().expand(2, -1)
            keep = torch.ones(2, 48, dtype=torch.long)
            keep[1, 40:] = 0  # the second row ends in padding
            mlm, nsp = ours.pretraining_logits(ids, token_type_ids=types, padding_mask=keep == 0)
            out = ref(input_ids=ids, token_type_ids=types, attention_mask=keep)
            return [(mlm, out.prediction_logits), (nsp, out.seq_relationship_logits)]
        tgt = torch.randint(0, v, (2, 17), generator=gen)
        return [(ours(ids, torch.tensor([48, 48]), tgt), ref(input_ids=ids, decoder_input_ids=tgt).logits)]
    pairs = []
    for hw in sizes:
        x = torch.randn(2, ours.card.input_size[0], *hw, generator=gen)
        b = ref(x)
        pairs.append((ours(x), b if torch.is_tensor(b) else b.logits))
    return pairs


def check(source: str, ours_name: str, ref_name: str, max_params: float) -> tuple[bool, str]:
    gen = torch.Generator().manual_seed(0)
    args = BUILD_ARGS.get((source, ours_name), {})
    with torch.device("meta"):
        big = sum(p.numel() for p in archzoo.create_model(ours_name, **args).parameters()) > max_params
    head = f"{source:<11} {ours_name:<22} <- {ref_name:<30}"
    if big:
        with torch.device("meta"):
            ref, ours = reference_model(source, ref_name), archzoo.create_model(ours_name, **args)
        _, problems = plan(ours, [(k, tuple(v.shape)) for k, v in ref.state_dict().items()],
                           source=source, name=ours_name)
        ok = not problems
        return ok, f"{'ok  ' if ok else 'FAIL'} {head} {'meta':<17} {len(ref.state_dict())} tensors " \
                   f"map by name and shape ({'; '.join(problems[:2]) or 'no logits: too big'})"
    ref = reference_model(source, ref_name).eval()
    perturb(ref, gen)
    ours = archzoo.create_model(ours_name, **args).eval()
    load_reference_weights(ours, ref.state_dict(), source=source)
    size = ours.card.input_size
    hw = tuple(size[1:]) if len(size) == 3 else ()
    sizes = [hw] if not hw or ours_name.startswith(FIXED_SIZE) else [hw, (hw[0] + 32, hw[1] - 32)]
    worst, scale = 0.0, 0.0
    with torch.no_grad():
        for a, b in outputs(ours, ref, ours_name, gen, sizes):
            worst = max(worst, (a - b).abs().max().item())
            scale = max(scale, b.abs().max().item())
    sz = ", ".join(f"{a}x{b}" for a, b in sizes) if hw else "tokens"
    ok = worst <= TOL
    return ok, f"{'ok  ' if ok else 'FAIL'} {head} {sz:<17} max|diff| {worst:.2e}  max|logit| {scale:.2f}"


def refusal(source: str, ours_name: str) -> tuple[bool, str]:
    """An architecture the source computes differently: loading its same-named model must refuse."""
    ref = reference_model(source, ours_name)
    try:
        load_reference_weights(archzoo.create_model(ours_name), ref.state_dict(), source=source)
    except ReferenceWeightsError as e:
        return True, f"ok   {source:<11} {ours_name:<22} refused: {e}"
    return False, f"FAIL {source:<11} {ours_name:<22} loaded although {source} departs from archzoo"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("patterns", nargs="*", default=["*"], help="archzoo model globs")
    p.add_argument("--source", choices=[*PROVIDED, "all"], default="all")
    p.add_argument("--max-params", type=float, default=400e6,
                   help="bigger models are checked on the meta device only (default 400e6)")
    args = p.parse_args()
    torch.manual_seed(0)
    failed = total = meta = 0
    for source in PROVIDED if args.source == "all" else [args.source]:
        for ours, ref in sorted(PROVIDED[source].items()):
            if not any(fnmatch.fnmatchcase(ours, g) for g in args.patterns):
                continue
            t0 = time.perf_counter()
            try:
                ok, line = check(source, ours, ref, args.max_params)
            except Exception as e:  # report every model, then fail
                ok, line = False, f"FAIL {source:<11} {ours:<22} <- {ref:<30} {type(e).__name__}: {e}"
            total, failed, meta = total + 1, failed + (not ok), meta + (" meta " in line)
            print(f"{line}  ({time.perf_counter() - t0:.1f}s)", flush=True)
    refused = 0
    for (source, ours), why in sorted(DEPARTS.items()):
        if args.source in ("all", source) and any(fnmatch.fnmatchcase(ours, g) for g in args.patterns):
            ok, line = refusal(source, ours)
            refused, failed = refused + 1, failed + (not ok)
            print(line, flush=True)
    print(f"{total - failed}/{total} architectures match within {TOL:g} "
          f"({meta} of them, too big for a logits check, by key and shape on the meta device); "
          f"{refused} departing architecture(s) refused")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
