"""The analyzer's counts against hand formulas, seed 003's AlexNet table, and bad input."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from archzoo.analysis import LayerError, analyze, measure_training_peak
from archzoo.models import create_model

# seed 003's AlexNet table (no groups, 224 input), MACs with the bias counted as a MAC
SEED_003_ALEXNET = {"tail.conv": 105_705_600, "body.0.conv": 448_084_224, "body.1.conv": 149_585_280,
                    "body.2.conv": 224_345_472, "body.3.conv": 149_563_648, "head.hidden.0": 37_752_832,
                    "head.hidden.3": 16_781_312, "head.fc": 4_097_000}


def test_alexnet_lecture_convention_reproduces_seed_003_table():
    report = analyze(create_model("alexnet", groups=1), input_size=(3, 224, 224), convention="lecture")
    got = {name: report.row(name).macs for name in SEED_003_ALEXNET}
    assert got == SEED_003_ALEXNET
    # the table's ReLU rows count one comparison per output, its pool rows k*k per output
    assert report.row("tail.act").ops["cmps"] == 290_400
    assert report.row("tail.pool").ops["cmps"] == 629_856
    assert report.row("body.3.pool").ops["cmps"] == 82_944


def test_default_convention_counts_no_bias():
    report = analyze(create_model("alexnet", groups=1), input_size=(3, 224, 224))
    assert report.row("tail.conv").macs == 105_705_600 - 290_400  # one bias term per output less
    assert report.row("tail.conv").ops["adds"] == 290_400


@pytest.mark.parametrize("conv, size", [
    (nn.Conv2d(8, 16, 3, padding=1), (8, 12, 12)),
    (nn.Conv2d(8, 16, 3, groups=4, padding=1), (8, 12, 12)),  # grouped
    (nn.Conv2d(8, 8, 3, groups=8, padding=1), (8, 12, 12)),  # depthwise
    (nn.Conv2d(8, 16, 3, dilation=2, padding=2), (8, 12, 12)),  # dilated
    (nn.Conv1d(4, 6, 5, stride=2), (4, 40)),
])
def test_convolution_macs_match_the_formula(conv, size):
    out = conv(torch.zeros(1, *size))
    per_output = conv.in_channels // conv.groups * torch.tensor(conv.kernel_size).prod().item()
    assert analyze(conv, input_size=size).totals["macs"] == out.numel() * per_output


def test_transposed_convolution_macs():
    conv = nn.ConvTranspose2d(8, 4, 4, stride=2, padding=1)
    # every input position scatters into a k*k window of every output channel
    assert analyze(conv, input_size=(8, 6, 6)).totals["macs"] == 8 * 6 * 6 * 4 * 4 * 4


class ViTBlock(nn.Module):
    """A pre-norm encoder block as in ViT (Dosovitskiy et al. 2020), with either attention path."""

    def __init__(self, dim: int = 64, heads: int = 4, *, fused: bool) -> None:
        super().__init__()
        self.heads, self.fused = heads, fused
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        if fused:
            self.attn = nn.MultiheadAttention(dim, heads, batch_first=True)
        else:
            self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.norm1(x)
        if self.fused:
            h = self.attn(h, h, h, need_weights=False)[0]
        else:
            B, T, D = h.shape
            q, k, v = self.qkv(h).view(B, T, 3, self.heads, D // self.heads).permute(2, 0, 3, 1, 4)
            h = F.scaled_dot_product_attention(q, k, v)  # (B, nh, T, hs)
            h = self.proj(h.transpose(1, 2).reshape(B, T, D))
        x = x + h
        return x + self.mlp(self.norm2(x))


def _vit_block_macs(t: int, d: int) -> int:
    return 3 * t * d * d + 2 * t * t * d + t * d * d + 2 * t * d * 4 * d  # qkv, QK^T + AV, proj, MLP


@pytest.mark.parametrize("fused", [False, True])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_attention_matmuls_are_counted(fused, device):
    block = ViTBlock(fused=fused).eval()
    report = analyze(block, input_size=(17, 64), batch=2, device=device, training_memory=False)
    assert report.totals["macs"] == 2 * _vit_block_macs(17, 64)
    assert report.uncounted == {}
    assert report.totals["ops"]["exps"] > 0  # the softmax and GELU are counted too


def test_multihead_attention_fast_path_is_taken_and_counted():
    block = ViTBlock(fused=True).eval()
    seen = []
    from torch.utils._python_dispatch import TorchDispatchMode

    class Spy(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            seen.append(func.__name__)
            return func(*args, **(kwargs or {}))

    with torch.no_grad(), Spy():
        block(torch.zeros(2, 17, 64))
    assert any("_native_multi_head_attention" in name for name in seen)
    report = analyze(block, input_size=(17, 64), batch=2, device="cpu", training_memory=False)
    assert report.row("attn").macs == 2 * (4 * 17 * 64 * 64 + 2 * 17 * 17 * 64)


@pytest.mark.parametrize("kind, gates", [(nn.LSTM, 4), (nn.GRU, 3), (nn.RNN, 1)])
@pytest.mark.parametrize("device", ["meta", "cpu"])
def test_recurrent_layers_are_counted(kind, gates, device):
    rnn = kind(16, 32, num_layers=2, batch_first=True)

    class Seq(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnn

        def forward(self, x):
            return self.rnn(x)[0]

    report = analyze(Seq(), input_size=(10, 16), batch=3, device=device, training_memory=False)
    per_step = gates * 32 * (16 + 32) + gates * 32 * (32 + 32)  # both layers, input and hidden
    assert report.totals["macs"] == 3 * 10 * per_step
    assert report.uncounted == {}
    assert report.receptive_field.is_global


def test_module_called_twice_counts_macs_twice_params_once():
    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(8, 8)

        def forward(self, x):
            return self.fc(self.fc(x))

    report = analyze(Twice(), input_size=(8,))
    row = report.row("fc")
    assert (row.calls, row.macs, row.params) == (2, 2 * 64, 72)
    assert report.totals["params"] == 72


def test_functional_ops_in_a_block_get_their_own_row():
    report = analyze("resnet18", input_size=(3, 64, 64), training_memory=False)
    add = report.row("body.0.0")
    assert add.type == "BasicBlock (own ops)" and add.ops["adds"] == 64 * 16 * 16
    assert report.totals["params"] == sum(p.numel() for p in create_model("resnet18").parameters())


def test_an_op_without_formula_is_listed_not_zero():
    class Odd(nn.Module):
        def forward(self, x):
            return torch.cumprod(x, dim=1)

    report = analyze(Odd(), input_size=(5,), training_memory=False)
    assert report.uncounted == {"cumprod": 1}
    assert "uncounted ops: cumprod x1" in report.to_table()


def test_unknown_model_names_the_closest():
    with pytest.raises(KeyError, match="resnet18"):
        analyze("resnet1")


def test_input_too_small_gives_the_minimum():
    with pytest.raises(ValueError, match=r"at least 32x32.*got 3x16x16"):
        analyze("vgg16", input_size="3x16x16")


def test_a_forward_that_raises_names_the_layer_and_its_input():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.Flatten(), nn.Linear(100, 10))
    with pytest.raises(LayerError, match=r"layer '2' \(Linear\) given input 1x288"):
        analyze(model, input_size=(3, 8, 8))


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 16 * 16, 10))


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 1024), nn.ReLU(), nn.Linear(1024, 1024),
                         nn.ReLU(), nn.Linear(1024, 10))


@pytest.mark.parametrize("make, size, batch, optimizer", [
    (_cnn, (3, 32, 32), 32, "sgd"), (_mlp, (1, 28, 28), 128, "sgd"),
    (lambda: create_model("resnet20"), (3, 32, 32), 32, "adam"),
])
def test_training_memory_estimate_is_close_to_the_measured_peak(make, size, batch, optimizer):
    estimate = analyze(make(), input_size=size, batch=batch, optimizer=optimizer).totals["training_memory"]
    measured = measure_training_peak(make, (torch.randn(batch, *size),), optimizer=optimizer)
    assert 0.8 < estimate["total"] / measured < 1.25, (estimate, measured)
