"""Registry-wide training check: every image classifier learns a tiny fixed batch.

Each model is built for 1-channel input at its card's small input size, trained a few Adam steps
on 8 examples of 4 classes (a smooth random pattern per class plus noise), and must (a) lower its
training loss by at least 10% and (b) move every parameter, which fails as soon as gradients stop
short of any layer of the tail or body (a detached branch, a frozen stage, a dead shortcut).

Cost: the big models run at reduced width (`_LIGHT`: the same depth, blocks and wiring, fewer
channels), which cuts a step 10-100x while keeping what this test is about; models whose family
config has no width to shrink and whose steps are slow are marked `slow` (`make test-slow`).
Dropout and stochastic depth are switched off so that a few steps on one batch are a clean signal.
"""
from __future__ import annotations

import dataclasses

import pytest
import torch
import torch.nn.functional as F

import archzoo
from archzoo.models._registry import create_model_for_data, model_config

CLASSES, BATCH, STEPS, LR = 4, 8, 8, 1e-3
# Nets without any normalization layer (AlexNet, VGG, SqueezeNet, LeNet, ...) start slowly: their
# logits begin near zero and take more steps to move.
PLAIN_STEPS = 20
# Simonyan and Zisserman 2015 (sec. 3.1): deep plain VGGs stall from a random start ("bad
# initialisation can stall learning"), which is why the paper initialised D and E from net A.
# For these the loss is not asserted; every parameter must still receive an update.
STALLS = {"vgg16", "vgg19"}
LIGHT_ABOVE = 5_000_000  # reference parameter count above which a model runs at reduced width
# no width option and several seconds per step at the small input: the slow suite's
SLOW = {"inception_v4", "inception_resnet_v2"}
# A side where the last stage is more than 1x1: a 1-token attention window has no gradient to
# its relative-position bias (softmax over one logit is constant), and BatchNorm over 8 values
# (8 images of 1x1) makes the deep EfficientNets' steps too noisy to show a trend in 8 steps.
SIDE = {**{n: 64 for n in ("swin_t", "swin_s", "swin_b")},
        **{f"efficientnet_{v}": 64 for v in ("b4", "b5", "b6", "b7", "v2_s", "v2_m", "v2_l")}}
_NORMS = (torch.nn.modules.batchnorm._NormBase, torch.nn.LayerNorm, torch.nn.GroupNorm)
_REGULARIZERS = ("drop_rate", "drop_path_rate", "drop_path", "dropout", "attn_dropout",
                 "head_drop_rate")


def _resnet_like(cfg) -> dict:
    light = {"widths": (16, 32, 64, 128), "stem_width": 16}
    if getattr(cfg, "groups", 1) > 1:  # keep grouped 3x3s, with groups that divide 16 x w/64
        light["groups"] = 4
    return light


# family -> overrides of its config that thin every layer (depths and block types untouched)
_LIGHT = {
    "alexnet": lambda cfg: {"widths": (16, 32, 48, 48, 32), "hidden": (64, 64)},
    "vgg": lambda cfg: {"widths": (8, 16, 32, 32, 32), "hidden": (64, 64)},
    "convnext": lambda cfg: {"dims": (16, 32, 64, 128)},
    "vit": lambda cfg: {"dim": 32, "num_heads": 2, "mlp_dim": 64},
    "swin": lambda cfg: {"embed_dim": 16, "num_heads": tuple(2**i for i in range(len(cfg.depths)))},
    "densenet": lambda cfg: {"growth_rate": 8, "stem_width": 16},
    "dpn": lambda cfg: {"stem_width": 16, "k_r": 16, "groups": 4, "incs": (4, 8, 8, 16),
                        "res_chs": (32, 64, 128, 256)},
    "efficientnet": lambda cfg: {"width": 0.25},
    "resnet": _resnet_like,
    "senet": _resnet_like,
    "sknet": _resnet_like,
    "resnetv2": lambda cfg: {"widths": (16, 32, 64, 128), "stem_width": 16},
    "xception": lambda cfg: {"entry_chs": (8, 16), "block_chs": (16, 32, 64),
                             "exit_chs": (64, 96, 128)},
    "shiftnet": lambda cfg: {"stem_width": 8,
                             "groups": tuple((c // 4, *rest) for c, *rest in cfg.groups)},
}

CLASSIFIERS = [n for n in archzoo.list_models() if archzoo.model_card(n).task == "classification"]
PARAMS = [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in CLASSIFIERS]


def _overrides(name: str) -> dict:
    card, cfg = archzoo.model_card(name), model_config(name)
    if cfg is None:
        return {}
    fields = {f.name for f in dataclasses.fields(cfg)}
    out = {k: 0.0 for k in _REGULARIZERS if k in fields}
    if (card.params or 0) > LIGHT_ABOVE and card.family in _LIGHT:
        out.update(_LIGHT[card.family](cfg))
    return out


def _side(name: str) -> int:
    if name in SIDE:
        return SIDE[name]
    card = archzoo.model_card(name)
    size = card.small_input_size or card.input_size
    return size[-1]


def _batch(side: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1234)
    # smooth class patterns (4x4 noise, upsampled): a signal every net can see, whatever its pooling
    coarse = torch.randn(CLASSES, 1, 4, 4, generator=g)
    patterns = F.interpolate(coarse, size=(side, side), mode="bilinear", align_corners=False)  # (classes, 1, H, W)
    y = torch.arange(BATCH) % CLASSES
    x = patterns[y] + 0.5 * torch.randn(BATCH, 1, side, side, generator=g)  # (B, 1, H, W)
    return x, y


def train_tiny(name: str, *, seed: int = 0) -> tuple[list[float], list[str]]:
    """The per-step losses of the Adam steps, and the parameters that did not move."""
    side = _side(name)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the same arithmetic on every machine: kernels split by thread count differ
    try:
        return _train_tiny(name, side=side, seed=seed)
    finally:
        torch.set_num_threads(threads)


def _train_tiny(name: str, *, side: int, seed: int) -> tuple[list[float], list[str]]:
    torch.manual_seed(seed)
    model = create_model_for_data(name, in_chans=1, num_classes=CLASSES, image_size=(side, side),
                                  **_overrides(name))
    model.train()  # BatchNorm on the batch's statistics: 8 examples are enough
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    x, y = _batch(side)
    losses = []
    plain = not any(isinstance(m, _NORMS) for m in model.modules())
    for _ in range(PLAIN_STEPS if plain else STEPS):
        opt.zero_grad(set_to_none=True)
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    still = [n for n, p in model.named_parameters() if torch.equal(p.detach(), before[n])]
    return losses, still


@pytest.mark.parametrize("name", PARAMS)
def test_loss_falls_and_every_layer_learns(name):
    losses, still = train_tiny(name)
    assert all(torch.isfinite(torch.tensor(losses))), f"{name}: non-finite loss {losses}"
    if name not in STALLS:
        # the best of the later steps: one step on 8 examples with BatchNorm can bounce back up
        assert min(losses[len(losses) // 2:]) < 0.9 * losses[0], f"{name}: loss did not fall by 10%: {losses}"
    assert not still, f"{name}: no update reached {len(still)} parameter(s), e.g. {still[:4]}"


def test_detached_body_is_caught(monkeypatch):
    """The check fails when the body gets no gradient: a tail whose output is detached."""
    import archzoo.models._base as base

    forward = base.ImageClassifier.forward_features

    def detached(self, x):
        return forward(self, x).detach()

    monkeypatch.setattr(base.ImageClassifier, "forward_features", detached)
    losses, still = train_tiny("resnet20")
    assert any(n.startswith("tail.") for n in still) and any(n.startswith("body.") for n in still)
