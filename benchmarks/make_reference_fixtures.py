"""Write tests/fixtures/reference_keys/*.json: the reference state-dict keys and shapes.

Run once in the oracle environment (torchvision / timm / transformers installed; not archzoo's):

    PYTHONPATH=. /tmp/oracle/bin/python benchmarks/make_reference_fixtures.py

One file per (source, architecture) in `archzoo.models._reference.PROVIDED`, so CI checks the name
and shape mapping on the meta device without torchvision or timm. Models are built on the meta
device: nothing is allocated or downloaded. torchvision's googlenet / inception_v3 are built with
their auxiliary heads, as their published checkpoints hold them. Hugging Face models are built
from the config of the checkpoint each name stands for (written out below, nothing is fetched).
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import torch

from archzoo.models._reference import BUILD_ARGS, PROVIDED

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "reference_keys"
ORDER = ROOT / "archzoo" / "models" / "_reference_maps" / "key_order.json.gz"


def huggingface_model(name: str) -> torch.nn.Module:
    """The transformers model of hub checkpoint `name`, from its config, with random weights."""
    import transformers as hf

    if name == "gpt2":
        return hf.GPT2LMHeadModel(hf.GPT2Config())
    if name == "bert-base-uncased":
        return hf.BertForPreTraining(hf.BertConfig())
    if name == "t5-small":
        return hf.T5ForConditionalGeneration(hf.T5Config(
            vocab_size=32128, d_model=512, d_kv=64, d_ff=2048, num_layers=6, num_heads=8,
            relative_attention_num_buckets=32, relative_attention_max_distance=128,
            feed_forward_proj="relu", tie_word_embeddings=True))
    if name == "vit-base-patch16-224":
        return hf.ViTForImageClassification(hf.ViTConfig(num_labels=1000))
    raise ValueError(f"huggingface reference {name!r}: expected one of gpt2, bert-base-uncased, "
                     f"t5-small, vit-base-patch16-224")


def reference_model(source: str, name: str) -> torch.nn.Module:
    if source == "huggingface":
        return huggingface_model(name)
    if source == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    import torchvision.models as tvm

    extra = {"aux_logits": True, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
    return getattr(tvm, name)(weights=None, **extra)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    for source, table in PROVIDED.items():
        for ours, ref in sorted(table.items()):
            with torch.device("meta"):
                model = reference_model(source, ref)
            keys = [[k, list(v.shape)] for k, v in model.state_dict().items()]
            doc = {"source": source, "reference": ref, "archzoo": ours, "keys": keys}
            if (source, ours) in BUILD_ARGS:
                doc["archzoo_args"] = BUILD_ARGS[source, ours]
            path = OUT / f"{source}__{ref}.json"
            # one key per line: small diffs when a reference implementation changes
            body = ",\n".join(json.dumps(k) for k in keys)
            path.write_text(json.dumps({k: v for k, v in doc.items() if k != "keys"})[:-1]
                            + ', "keys": [\n' + body + "\n]}\n")
            print(f"{path.name}: {len(keys)} tensors")
    write_key_order()


def write_key_order() -> None:
    """The package's copy of each reference key order (names only): safetensors files come back
    sorted by name, and archzoo pairs tensors in module order."""
    orders = {}
    for path in sorted(OUT.glob("*.json")):
        doc = json.loads(path.read_text())
        orders[f"{doc['source']}/{doc['reference']}"] = [k for k, _ in doc["keys"]]
    ORDER.parent.mkdir(parents=True, exist_ok=True)
    ORDER.write_bytes(gzip.compress(json.dumps(orders, separators=(",", ":")).encode(), mtime=0))


if __name__ == "__main__":
    main() if "--order-only" not in sys.argv else write_key_order()
