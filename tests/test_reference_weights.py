"""Reference checkpoints: the name and shape mapping against committed torchvision / timm key lists.

The fixtures (tests/fixtures/reference_keys, written by benchmarks/make_reference_fixtures.py in an
oracle environment) hold each reference state dict's keys and shapes, so these tests need neither
torchvision nor timm; benchmarks/check_reference_weights.py checks the logits there.
"""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import archzoo
from archzoo.models._reference import PROVIDED, ReferenceWeightsError, plan

FIXTURES = Path(__file__).parent / "fixtures" / "reference_keys"
FILES = sorted(FIXTURES.glob("*.json"))


def _fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text())


def _meta_state(doc: dict) -> dict[str, torch.Tensor]:
    return {k: torch.empty(s, device="meta") for k, s in doc["keys"]}


def test_every_provided_architecture_has_a_fixture():
    have = {p.name for p in FILES}
    want = {f"{src}__{ref}.json" for src, table in PROVIDED.items() for ref in table.values()}
    assert want <= have, sorted(want - have)


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_fixture_maps_fully(path):
    doc = json.loads(path.read_text())
    with torch.device("meta"):
        model = archzoo.create_model(doc["archzoo"])
    pairs, problems = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source=doc["source"],
                           name=doc["archzoo"])
    assert problems == []
    ours = model.state_dict()
    assert sorted(ok for _, ok, _ in pairs) == sorted(ours)  # every archzoo tensor, once
    shapes = dict((k, tuple(s)) for k, s in doc["keys"])
    for rk, ok, how in pairs:
        assert how in ("copy", "reshape")
        assert shapes[rk] == tuple(ours[ok].shape) or how == "reshape"
        assert torch.Size(shapes[rk]).numel() == ours[ok].numel()


def test_googlenet_aux_heads_map_when_built():
    doc = _fixture("torchvision__googlenet.json")
    with torch.device("meta"):
        model = archzoo.create_model("googlenet_bn", aux_logits=True, aux_adaptive_pool=True)
    pairs, problems = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source="torchvision")
    assert problems == [] and len(pairs) == len(doc["keys"]) == len(model.state_dict())


def _as_reference(model: torch.nn.Module, doc: dict) -> dict[str, torch.Tensor]:
    """archzoo's own weights under the reference names (the mapping is a bijection)."""
    pairs, _ = plan(model, [(k, tuple(s)) for k, s in doc["keys"]], source=doc["source"])
    ours, shapes = model.state_dict(), dict(doc["keys"])
    return {rk: ours[ok].reshape(shapes[rk]).clone() for rk, ok, _ in pairs}


@pytest.mark.parametrize("suffix", [".safetensors", ".pth"])
def test_round_trip_from_file(tmp_path, suffix):
    torch.manual_seed(0)
    src = archzoo.create_model("squeezenet1_1").eval()  # its classifier is a 1x1 conv in torchvision
    sd = _as_reference(src, _fixture("torchvision__squeezenet1_1.json"))
    assert sd["classifier.1.weight"].shape == (1000, 512, 1, 1)
    path = tmp_path / f"w{suffix}"
    if suffix == ".pth":
        torch.save({"state_dict": sd}, path)
    else:
        from safetensors.torch import save_file

        save_file(sd, str(path))
    dst = archzoo.load_reference_weights(archzoo.create_model("squeezenet1_1").eval(), path)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(src(x), dst(x))


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": {"w": torch.zeros(1)}, "obj": Path("x")}, path)  # needs full unpickling
    with pytest.raises(ReferenceWeightsError, match="weights-only"):
        archzoo.load_reference_weights(archzoo.create_model("squeezenet1_1"), path)


def test_wrong_checkpoint_names_the_closest_model():
    sd = _meta_state(_fixture("torchvision__resnet50.json"))
    with torch.device("meta"):
        model = archzoo.create_model("resnet101_v1_5")
    with pytest.raises(ReferenceWeightsError) as e:
        archzoo.load_reference_weights(model, sd, source="torchvision")
    msg = str(e.value)
    assert "\n" not in msg and "resnet101_v1_5" in msg and "closest archzoo model: resnet50_v1_5" in msg


def test_architecture_the_source_lacks():
    with torch.device("meta"):
        model = archzoo.create_model("resnet50")  # v1: stride in the 1x1; torchvision's is v1.5
    with pytest.raises(ReferenceWeightsError, match="torchvision does not provide archzoo's resnet50; "
                                                    "closest it provides: resnet50_v1_5"):
        archzoo.load_reference_weights(model, {}, source="torchvision")
    with pytest.raises(ReferenceWeightsError, match="source 'keras'"):
        archzoo.load_reference_weights(model, {}, source="keras")


def test_transfer_head_and_channels():
    torch.manual_seed(0)
    sd = _as_reference(archzoo.create_model("squeezenet1_1"), _fixture("torchvision__squeezenet1_1.json"))
    model = archzoo.create_model("squeezenet1_1", num_classes=10, in_chans=1)
    with pytest.raises(ReferenceWeightsError):  # a 10-class, 1-channel model needs both options
        archzoo.load_reference_weights(model, sd)
    archzoo.load_reference_weights(model, sd, head=False, adapt_in_chans=True)
    first = next(v for v in model.state_dict().values() if v.ndim == 4)
    assert torch.allclose(first, sd["features.0.weight"].sum(1, keepdim=True))


def test_cli_train_init_freeze_body(tmp_path):
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ref = archzoo.create_model("squeezenet1_1")
    sd = _as_reference(ref, _fixture("torchvision__squeezenet1_1.json"))
    save_file(sd, str(tmp_path / "sq.safetensors"))
    out = tmp_path / "run"
    from archzoo.cli import main

    out = tmp_path / "run"
    argv = ["train", "squeezenet1_1", "--data", "digits", "--resize", "64", "--epochs", "1",
            "--max-steps-per-epoch", "2", "--batch-size", "16", "--val-fraction", "0", "--no-progress",
            "--init", str(tmp_path / "sq.safetensors"), "--source", "torchvision", "--freeze", "body",
            "--out", str(out)]
    assert main(argv) == 0
    assert main(argv[:-1] + [str(tmp_path / "r2"), "--source", "timm"]) == 2  # timm lacks squeezenet
    model, meta = archzoo.load_checkpoint(out, tag="last")
    assert meta["num_classes"] == 10
    trained, start = model.state_dict(), archzoo.create_model("squeezenet1_1", in_chans=1, num_classes=10)
    archzoo.load_reference_weights(start, sd, head=False, adapt_in_chans=True)
    for k, v in start.state_dict().items():  # the body is frozen (batch-norm-free squeezenet)
        if not k.startswith("head."):
            assert torch.equal(v, trained[k]), k


def test_freeze_needs_init():
    with pytest.raises(ValueError, match="--freeze body: needs --init"):
        archzoo.TrainConfig(model="squeezenet1_1", freeze="body").check()
