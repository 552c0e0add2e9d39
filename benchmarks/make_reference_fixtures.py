"""Write tests/fixtures/reference_keys/*.json: the reference state-dict keys and shapes.

Run once in the oracle environment (torchvision / timm installed; not archzoo's environment):

    PYTHONPATH=. /tmp/oracle/bin/python benchmarks/make_reference_fixtures.py

One file per (source, architecture) in `archzoo.models._reference.PROVIDED`, so CI checks the name
and shape mapping on the meta device without torchvision or timm. Models are built on the meta
device: nothing is allocated or downloaded. torchvision's googlenet / inception_v3 are built with
their auxiliary heads, as their published checkpoints hold them.
"""
from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path

import torch

from archzoo.models._reference import PROVIDED

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "fixtures" / "reference_keys"
ORDER = ROOT / "archzoo" / "models" / "_reference_maps" / "key_order.json.gz"


def reference_model(source: str, name: str) -> torch.nn.Module:
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
