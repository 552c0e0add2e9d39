"""Heads as options for any classifier (seed 003), multi-scale features, the FPN neck, multi-head."""
from __future__ import annotations

import math

import pytest
import torch

import archzoo
from archzoo.blocks.fpn import FeaturePyramid
from archzoo.blocks.heads import (HEAD_KINDS, ClassifierHead, MultiHead, PositionwiseHead,
                                  SpatialWeightHead, make_head)
from archzoo.models._base import with_head
from archzoo.models._features import create_features, forward_intermediates

MODELS = [("resnet20", 32), ("mobilenet_v2", 64)]


@pytest.fixture(scope="module")
def built():
    torch.manual_seed(0)
    return {name: archzoo.create_model(name, num_classes=7) for name, _ in MODELS}


@pytest.mark.parametrize("name,side", MODELS)
@pytest.mark.parametrize("kind", HEAD_KINDS)
def test_with_head_trains_every_head_parameter(built, name, side, kind):
    model = with_head(built[name], kind, num_classes=7)
    x = torch.randn(2, 3, side, side)
    y = model(x)
    assert y.shape == (2, 7)
    y.square().sum().backward()
    assert all(p.grad is not None for p in model.head.parameters())
    assert model.forward_head(model.forward_features(x), pre_logits=True).ndim == 2
    model.reset_head(4, kind=kind)  # the method form; the head is fresh
    assert model(x).shape == (2, 4) and model.num_classes == 4
    model.zero_grad(set_to_none=True)


def test_unknown_head_kind():
    with pytest.raises(ValueError, match="unknown head 'mean'.*gap, vectorize, vote, spatial"):
        make_head("mean", in_features=4, num_classes=2)


def test_spatial_head_starts_as_global_average_pool():
    spatial, gap = SpatialWeightHead(8, 5, grid=3), ClassifierHead(8, 5)
    gap.fc.load_state_dict(spatial.fc.state_dict())
    x = torch.randn(2, 8, 5, 6)  # a map of another size than the grid: the weights are resized
    torch.testing.assert_close(spatial(x), gap(x))
    with torch.no_grad():
        spatial.weight[..., 0, :] = 0  # on a map of the grid's size, the top row stops counting
    x = torch.randn(2, 8, 3, 3)
    torch.testing.assert_close(spatial(x), gap.fc(x[:, :, 1:].sum((2, 3)) / 9))


def test_vote_head_softmax_is_log_of_mean_probability():
    head = PositionwiseHead(8, 5, drop_rate=0.0, vote="softmax").eval()
    x = torch.randn(2, 8, 3, 4)
    probs = head.fc(x.permute(0, 2, 3, 1)).softmax(-1).mean((1, 2))  # (B, K)
    torch.testing.assert_close(head(x).exp(), probs)
    torch.testing.assert_close(head(x).logsumexp(1), torch.zeros(2))  # already normalized
    assert math.isclose(head.votes(x).sum(-1).mean().item(), 1.0, rel_tol=1e-5)


def test_multi_head_shares_one_body(built):
    model = built["resnet20"]
    model.head = MultiHead({"kind": ClassifierHead(64, 10), "colour": make_head("vote", in_features=64,
                                                                               num_classes=3)})
    out = model(torch.randn(2, 3, 32, 32))
    assert out["kind"].shape == (2, 10) and out["colour"].shape == (2, 3)
    (out["kind"].sum() + out["colour"].sum()).backward()
    assert all(p.grad is not None for p in model.parameters())
    model.head.reset({"colour": 4})
    assert model(torch.randn(1, 3, 32, 32))["colour"].shape == (1, 4)
    with_head(model, "gap")


@pytest.mark.parametrize("name,side", MODELS)
def test_intermediates_follow_feature_info(built, name, side):
    model = built[name].eval()
    x = torch.randn(1, 3, side, side)
    maps = forward_intermediates(model, x)
    assert len(maps) == len(model.feature_info)
    for m, info in zip(maps, model.feature_info):
        assert m.shape == (1, info.channels, math.ceil(side / info.reduction),
                           math.ceil(side / info.reduction)), info
    with torch.no_grad():
        last = forward_intermediates(model, x, indices=[-1, 0])
        torch.testing.assert_close(last[0], model.forward_features(x))
        torch.testing.assert_close(last[1], maps[0])
    with pytest.raises(IndexError, match="out of range"):
        forward_intermediates(model, x, indices=[len(model.feature_info)])


def test_fpn_over_features_only_body():
    torch.manual_seed(0)
    body = create_features("resnet20", out_indices=(0, 1, 2))
    assert body.channels == [16, 32, 64] and body.reductions == [1, 2, 4]
    fpn = FeaturePyramid(body.channels, out_chs=24, extra_levels=1)
    x = torch.randn(2, 3, 28, 28)
    levels = fpn(body(x))
    assert [tuple(p.shape) for p in levels] == [(2, 24, 28, 28), (2, 24, 14, 14), (2, 24, 7, 7),
                                                (2, 24, 4, 4)]
    sum(p.sum() for p in levels).backward()
    assert all(p.grad is not None for p in [*body.parameters(), *fpn.parameters()])


def test_fpn_top_down_reaches_the_finest_level():
    fpn = FeaturePyramid([4, 8], out_chs=6)
    fine, coarse = torch.zeros(1, 4, 7, 7), torch.randn(1, 8, 4, 4, requires_grad=True)
    fpn([fine, coarse])[0].sum().backward()  # odd sizes merge: 4x4 resized to 7x7
    assert coarse.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="built for 2 levels"):
        fpn([fine])


def test_head_override_travels_through_a_run_directory(tmp_path):
    """`--model-args head=spatial` is recorded in the run and rebuilt by load_checkpoint."""
    cfg = archzoo.TrainConfig(model="resnet20", data="digits", resize=16, epochs=1,
                              max_steps_per_epoch=2, batch_size=16, progress=False, threads=1,
                              model_args={"head": "spatial"}, out=str(tmp_path / "run"))
    result = archzoo.train(cfg)
    model, _ = archzoo.load_checkpoint(result.run_dir)
    assert type(model.head).__name__ == type(archzoo.create_model("resnet20", head="spatial").head).__name__
    x = torch.randn(2, 1, 16, 16)
    model.eval()
    with torch.no_grad():
        assert model(x).shape == (2, 10)
