"""ViT and Swin beyond the registry-wide contract: compute against the cards, the paper's
mechanisms (class token, position interpolation, shifted-window masks), and bad input."""
from __future__ import annotations

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import archzoo
from archzoo.blocks.patch_embed import PatchSizeError
from archzoo.models import InputShapeError
from archzoo.models.swin import VARIANTS as SWIN, SwinBlock, swin_params
from archzoo.models.vit import VARIANTS as VIT, vit_attention_macs, vit_params


def _meta_macs(name: str) -> int:
    card = archzoo.model_card(name)
    with torch.device("meta"):
        model = archzoo.create_model(name)
        with FlopCounterMode(display=False) as counter:
            model(torch.empty(1, *card.input_size))
    return counter.get_total_flops() // 2


@pytest.mark.parametrize("name", ["vit_b_16", "vit_b_32", "vit_l_16", "deit_tiny_patch16_224"])
def test_vit_macs_equal_card_without_attention_matmuls(name):
    """The reference figures leave out Q K^T and A V (flop_counter misses PyTorch's fused CPU
    attention kernel); on the meta device they are counted, and removing them gives the card."""
    assert _meta_macs(name) - vit_attention_macs(VIT[name]) == archzoo.model_card(name).macs


@pytest.mark.parametrize("name", ["swin_t", "swin_s", "swin_b"])
def test_swin_macs_equal_card(name):
    assert _meta_macs(name) == archzoo.model_card(name).macs


@pytest.mark.parametrize("name", sorted(VIT))
def test_vit_closed_form_params(name):
    assert vit_params(VIT[name]) == archzoo.model_card(name).params


@pytest.mark.parametrize("name", sorted(SWIN))
def test_swin_closed_form_params(name):
    assert swin_params(SWIN[name]) == archzoo.model_card(name).params


def test_vit_math_path_equals_fused_path():
    torch.manual_seed(0)
    fused = archzoo.create_model("vit_mini_p4_28").eval()
    written = archzoo.create_model("vit_mini_p4_28", attn_impl="math").eval()
    written.load_state_dict(fused.state_dict())
    x = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        torch.testing.assert_close(written(x), fused(x), atol=1e-5, rtol=0)


def test_vit_tokens_and_position_interpolation():
    torch.manual_seed(0)
    model = archzoo.create_model("vit_mini_p4_32").eval()
    x = torch.randn(2, 3, 32, 32)
    assert model.forward_features(x).shape == (2, 1 + 64, 64)  # class token + 8x8 patches
    tail = model.tail
    assert tail.position_embedding(8, 8) is tail.pos_embed
    assert model(torch.randn(1, 3, 16, 24)).shape == (1, 10)  # 4x6 grid, interpolated
    # interpolating to the same grid through the resampling path changes nothing
    same = torch.nn.functional.interpolate(
        tail.pos_embed[:, 1:].reshape(1, 8, 8, -1).permute(0, 3, 1, 2), size=(8, 8),
        mode="bicubic", align_corners=False)
    torch.testing.assert_close(same.permute(0, 2, 3, 1).reshape(1, 64, -1), tail.pos_embed[:, 1:])


def test_vit_class_token_is_what_the_head_reads():
    model = archzoo.create_model("vit_mini_p4_28").eval()
    feats = torch.randn(2, 50, 64)
    changed = feats.clone()
    changed[:, 1:] = 0  # patch tokens do not reach the head directly
    torch.testing.assert_close(model.forward_head(feats), model.forward_head(changed))


def test_vit_bad_sizes_name_the_valid_ones():
    model = archzoo.create_model("vit_mini_p4_28")
    with pytest.raises(InputShapeError, match=r"30x30 is not divisible by the patch size 4.*28 or 32"):
        model(torch.randn(1, 1, 30, 30))
    with pytest.raises(PatchSizeError, match=r"img_size 28 .* patch size 16.*16 or 32"):
        archzoo.create_model("vit_b_16", img_size=28)
    with pytest.raises(InputShapeError, match=r"expects input \(B, 3, H, W\)"):
        archzoo.create_model("vit_mini_p4_32")(torch.randn(1, 1, 32, 32))


def _block(shift: bool, window: int = 7, dim: int = 12) -> SwinBlock:
    torch.manual_seed(0)
    block = SwinBlock(dim, 3, window_size=window, shift=shift).eval()
    torch.nn.init.normal_(block.relative_bias_table)
    return block


def test_shifted_window_mask_keeps_regions_apart():
    """On a 14x14 map with 7x7 windows shifted by 3, token (0, 0) wraps round to the bottom-right
    window, where the mask lets it mix only with its own region: rows 0-2, columns 0-2."""
    block = _block(shift=True)
    x = torch.randn(1, 14, 14, 12)
    y = x.clone()
    y[0, 0, 0] += 1.0
    with torch.no_grad():
        changed = (block.window_attention(x) - block.window_attention(y)).abs().sum(-1)[0] > 1e-6
    expect = torch.zeros(14, 14, dtype=torch.bool)
    expect[:3, :3] = True
    assert torch.equal(changed, expect)
    # without the shift, the change stays in its 7x7 window
    block = _block(shift=False)
    with torch.no_grad():
        changed = (block.window_attention(x) - block.window_attention(y)).abs().sum(-1)[0] > 1e-6
    expect = torch.zeros(14, 14, dtype=torch.bool)
    expect[:7, :7] = True
    assert torch.equal(changed, expect)


def test_small_map_is_one_window_of_global_attention():
    block = _block(shift=True)
    x = torch.randn(2, 5, 5, 12)
    with torch.no_grad():
        out = block.window_attention(x)
        expect = block.attn(x.reshape(2, 25, 12), attn_bias=block.relative_bias(5, 5))
    torch.testing.assert_close(out, expect.reshape(2, 5, 5, 12))


def test_padding_is_masked_out():
    """A 10x10 map pads to 14x14; the real 7x3 part of window (0, 1) attends only to itself."""
    block = _block(shift=False)
    x = torch.randn(1, 10, 10, 12)
    sel = torch.tensor([r * 7 + c for r in range(7) for c in range(3)])
    bias = block.relative_bias(7, 7)[:, :, sel][:, :, :, sel]
    with torch.no_grad():
        out = block.window_attention(x)[:, :7, 7:10]
        expect = block.attn(x[:, :7, 7:10].reshape(1, 21, 12), attn_bias=bias)
    torch.testing.assert_close(out, expect.reshape(1, 7, 3, 12))


def test_swin_runs_odd_and_grayscale_sizes():
    model = archzoo.create_model("swin_mini_p2_28").eval()
    assert model(torch.randn(1, 1, 28, 28)).shape == (1, 10)
    assert model(torch.randn(1, 1, 18, 30)).shape == (1, 10)  # 9x15 map: padded windows
    assert [f.reduction for f in model.feature_info] == [2, 4, 8]
    with pytest.raises(InputShapeError, match="not divisible by the patch size 2"):
        model(torch.randn(1, 1, 27, 27))
