"""Receptive fields by seed 003's procedure, checked against known figures and gradients."""
from __future__ import annotations

import pytest
import torch
import torch.nn as nn

from archzoo.analysis import analyze, empirical_receptive_field, receptive_field


def test_vgg16_known_figures():
    # VGG-16: 196 at conv5_3, 212 at pool5 (module paths of archzoo's vgg16)
    assert receptive_field("vgg16", layer="body.4.conv3").size == (196, 196)
    assert receptive_field("vgg16", layer="body.4.pool").size == (212, 212)


def test_alexnet_and_resnet18_known_figures():
    assert receptive_field("alexnet", layer="body.3.pool").size == (195, 195)
    assert receptive_field("resnet18", input_size=(3, 224, 224), layer="body.3.1.act").size == (435, 435)


def test_seed_003_stacked_3x3_filters():
    # "2 stacked 3x3 conv layers have a receptive field size of 5 ... 3 stacked ... 7"
    net = nn.Sequential(*[nn.Conv2d(1, 1, 3) for _ in range(3)])
    assert [receptive_field(net, (1, 16, 16), layer=str(i)).size[0] for i in range(3)] == [3, 5, 7]


class Residual(nn.Module):
    def __init__(self, c: int, *, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, stride=stride, padding=1)
        self.conv2 = nn.Conv2d(c, c, 5, padding=2)
        self.short = nn.Conv2d(c, c, 1, stride=stride)
        self.act = nn.ReLU()

    def forward(self, x):
        return self.act(self.conv2(self.conv1(x)) + self.short(x))


class Inception(nn.Module):
    """Parallel branches of different fields, concatenated (GoogLeNet's module, arXiv:1409.4842)."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.b1 = nn.Conv2d(c, 4, 1)
        self.b3 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.Conv2d(4, 4, 3, padding=1))
        self.b5 = nn.Sequential(nn.Conv2d(c, 4, 1), nn.Conv2d(4, 4, 5, padding=2))
        self.pool = nn.Sequential(nn.MaxPool2d(3, stride=1, padding=1), nn.Conv2d(c, 4, 1))

    def forward(self, x):
        return torch.cat([self.b1(x), self.b3(x), self.b5(x), self.pool(x)], dim=1)


class Dense(nn.Module):
    """Each layer sees the concatenation of all earlier maps (DenseNet, arXiv:1608.06993)."""

    def __init__(self, c: int, growth: int = 4, layers: int = 3) -> None:
        super().__init__()
        self.layers = nn.ModuleList(nn.Conv2d(c + i * growth, growth, 3, padding=1, dilation=1)
                                    for i in range(layers))

    def forward(self, x):
        feats = [x]
        for layer in self.layers:
            feats.append(layer(torch.cat(feats, 1)))
        return torch.cat(feats, 1)


NETS = {
    "chain": lambda: nn.Sequential(nn.Conv2d(3, 8, 5, stride=2, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
                                   nn.Conv2d(8, 8, 3, dilation=2), nn.AvgPool2d(2), nn.Conv2d(8, 4, 3)),
    "residual": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), Residual(8, stride=2), Residual(8)),
    "inception": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), nn.ReLU(), Inception(8),
                                       nn.Conv2d(16, 8, 3)),
    "dense": lambda: nn.Sequential(nn.Conv2d(3, 8, 3, stride=2), Dense(8), nn.MaxPool2d(2), Dense(20)),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_theory_matches_the_gradient_field(name):
    torch.manual_seed(0)
    net = NETS[name]().eval()
    size = (3, 96, 96)
    report = analyze(net, input_size=size, training_memory=False)
    checked = 0
    for row in report.rows:
        if row.rf is None or row.rf.is_global or "own ops" in row.type or row.rf.size[0] > 60:
            continue
        assert empirical_receptive_field(net, size, layer=row.name).size == row.rf.size, row.name
        checked += 1
    assert checked >= 4
    assert empirical_receptive_field(net, size).size == report.receptive_field.size


def test_attention_is_global():
    layer = nn.TransformerEncoderLayer(32, 4, 64, batch_first=True)
    embed = nn.Conv2d(3, 32, 4, stride=4)

    class Tiny(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embed, self.layer = embed, layer

        def forward(self, x):
            return self.layer(self.embed(x).flatten(2).transpose(1, 2))  # (B, T, D)

    report = analyze(Tiny().eval(), input_size=(3, 32, 32), training_memory=False)
    assert report.row("embed").rf.size == (4, 4)
    assert str(report.receptive_field) == "global"


def test_unknown_layer_names_the_closest():
    with pytest.raises(ValueError, match="closest: body.4.conv3"):
        receptive_field("vgg16", layer="body.4.conv33")
