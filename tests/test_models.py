"""Registry-wide checks: every registered model against its card and the classifier contract."""
from __future__ import annotations


import pytest
import torch
from safetensors.torch import load, save

import archzoo
from archzoo.models import InputShapeError

ALL = archzoo.list_models()
CLASSIFIERS = [n for n in ALL if archzoo.model_card(n).task == "classification"]
# Real forward/backward/round trip of the very largest models is the slow suite's (`make test-slow`);
# their counts and shapes are still checked on the meta device in every run.
HUGE = 250_000_000
CONTRACT = [pytest.param(n, marks=pytest.mark.slow) if (archzoo.model_card(n).params or 0) > HUGE
            else n for n in CLASSIFIERS]


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _small_input(model, card) -> tuple[int, ...]:
    if getattr(model, "fixed_input", None) is not None:
        return (card.input_size[0], *model.fixed_input)
    return card.small_input_size or card.input_size


@pytest.mark.parametrize("name", ALL)
def test_card_params_and_shape_at_card_input(name):
    """Parameters equal the card's reference count; the card's input runs (shapes on meta).

    Sequence models take token ids, so only their count is checked here; their forward, backward
    and round trip are in tests/test_recurrent_models.py."""
    card = archzoo.model_card(name)
    with torch.device("meta"):
        model = archzoo.create_model(name)
        if card.task == "classification":
            out = model(torch.empty(2, *card.input_size))
            assert out.shape == (2, card.num_classes)
    assert _count(model) == card.params, f"{name}: {_count(model):,} != card {card.params:,}"


@pytest.mark.parametrize("name", CONTRACT)
def test_classifier_contract(name, tmp_path):
    card = archzoo.model_card(name)
    torch.manual_seed(0)
    model = archzoo.create_model(name)
    x = torch.randn(2, *_small_input(model, card))
    # forward + backward reach every parameter
    model.train()
    out = model(x)
    assert out.shape == (2, card.num_classes) and torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None]
    assert not missing, f"no gradient reaches {missing[:5]}"
    # the contract's pieces agree with forward
    model.eval()
    with torch.no_grad():
        feats = model.forward_features(x)
        assert torch.allclose(model.forward_head(feats), model(x), atol=1e-5)
        assert model.forward_head(feats, pre_logits=True).shape == (2, model.head.fc.in_features)
    assert model.feature_info and model.num_features > 0
    # save -> load gives identical outputs
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    with torch.device("meta"):  # a fresh model, filled only from the file
        clone = archzoo.create_model(name)
    clone.load_state_dict(load(blob), assign=True)
    clone.eval()
    with torch.no_grad():
        assert torch.equal(clone(x), model(x))
    # transfer learning: a new head with 7 classes
    model.reset_head(7)
    assert model(x).shape == (2, 7) and model.num_classes == 7


@pytest.mark.parametrize("name", CLASSIFIERS)
def test_small_grayscale_input(name):
    """28x28 grayscale works wherever the architecture allows, else fails naming the minimum."""
    cfg = archzoo.models._registry.model_config(name)
    extra = {"img_size": 28} if cfg is not None and hasattr(cfg, "img_size") else {}
    patch = getattr(cfg, "patch_size", None)
    if patch is not None and 28 % patch:
        with pytest.raises(ValueError, match="divisible"):
            archzoo.create_model(name, in_chans=1, num_classes=10, **extra)
        return
    with torch.device("meta"):
        model = archzoo.create_model(name, in_chans=1, num_classes=10, **extra)
    x = torch.empty(2, 1, 28, 28, device="meta")
    if model.min_input_size <= 28:
        assert model(x).shape == (2, 10)
    else:
        with pytest.raises(InputShapeError, match=f"at least {model.min_input_size}x"):
            model(x)
        side = model.min_input_size
        assert model(torch.empty(2, 1, side, side, device="meta")).shape == (2, 10)
        with pytest.raises(Exception):  # one pixel less really fails inside the network
            model.body(model.tail(torch.empty(1, 1, side - 1, side - 1, device="meta")))


def test_wrong_channels_message():
    model = archzoo.create_model("resnet20")
    with pytest.raises(InputShapeError, match=r"expects input \(B, 3, H, W\); got \(2, 1, 32, 32\)"):
        model(torch.randn(2, 1, 32, 32))


def test_fixed_input_message():
    model = archzoo.create_model("lenet5")
    with pytest.raises(InputShapeError, match="img_size=28"):
        model(torch.randn(1, 1, 28, 28))


def test_unknown_model_suggests_closest():
    with pytest.raises(KeyError, match="closest: .*resnet50"):
        archzoo.create_model("resnet5O")


def test_unknown_override_fails():
    with pytest.raises(TypeError, match="unknown option"):
        archzoo.create_model("resnet18", colour="red")


def test_duplicate_registration_raises():
    from archzoo.models._registry import register_model

    with pytest.raises(ValueError, match="already registered"):
        register_model(archzoo.model_card("resnet18"), lambda: None)


def test_list_models_glob():
    assert archzoo.list_models("resnet1*") == ["resnet101", "resnet101_v1_5", "resnet110",
                                               "resnet152", "resnet152_v1_5", "resnet18"]


def test_alexnet_groups_gives_paper_count():
    with torch.device("meta"):
        assert _count(archzoo.create_model("alexnet", groups=2)) == 60_965_224


def test_docs_model_table_is_current():
    """docs/models.md is generated from the cards (`make docs`); it must not fall behind them."""
    from pathlib import Path

    from archzoo.models._cli import models_markdown

    doc = Path(__file__).parent.parent / "docs" / "models.md"
    assert doc.read_text() == models_markdown(ALL), "docs/models.md is stale: run `make docs`"
