"""Attention maps and rollout: the recorded weights, the rollout's algebra, and the PNGs."""
from __future__ import annotations

import torch

import archzoo
from archzoo.viz.attention import (attention_rollout, collect_attention, plot_attention_heads,
                                   plot_vit_rollout, rollout_map)


def test_collect_attention_records_every_layer_and_restores():
    torch.manual_seed(0)
    model = archzoo.create_model("vit_mini_p4_28").train()
    x = torch.randn(2, 1, 28, 28)
    maps = collect_attention(model, x)
    assert len(maps) == 6 and maps[0].shape == (2, 4, 50, 50)
    torch.testing.assert_close(maps[3].sum(-1), torch.ones(2, 4, 50))  # one pmf per query
    assert model.training and all(not m.keep_weights for m in model.modules()
                                  if hasattr(m, "keep_weights"))


def test_rollout_is_the_product_of_residual_mixed_layers():
    a1, a2 = (torch.softmax(torch.randn(1, 2, 5, 5), -1) for _ in range(2))
    eye = torch.eye(5)

    def mix(a):
        m = 0.5 * a.mean(1) + 0.5 * eye
        return m / m.sum(-1, keepdim=True)
    torch.testing.assert_close(attention_rollout([a1, a2]), mix(a2) @ mix(a1))
    torch.testing.assert_close(attention_rollout([a1, a2]).sum(-1), torch.ones(1, 5))


def test_pngs_are_written(tmp_path):
    torch.manual_seed(0)
    model = archzoo.create_model("vit_mini_p4_28")
    image = torch.randn(1, 28, 28)
    heat = rollout_map(model, image)
    assert heat.shape == (28, 28) and heat.min() == 0 and heat.max() == 1
    maps = collect_attention(model, image[None])
    for path in (plot_attention_heads(maps, tmp_path / "heads.png", layers=[0, 5]),
                 plot_vit_rollout(model, image, tmp_path / "rollout.png")):
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = [torch.softmax(torch.randn(1, 2, 4, 4), -1)]
    path = plot_attention_heads(text, tmp_path / "text.png", tokens=["a", "b", "c", "d"])
    assert path.stat().st_size > 0
