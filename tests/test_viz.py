"""`archzoo viz` (filters, feature maps, Sobel, saliency) and `archzoo gradcheck`."""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn as nn
from PIL import Image

from archzoo.analysis.gradcheck import check_block
from archzoo.cli import main
from archzoo.viz.filters import SOBEL_X, SOBEL_Y, sobel
from archzoo.viz.saliency import saliency_map


def _run(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def _png_ok(path: Path) -> None:
    with Image.open(path) as im:
        assert im.format == "PNG" and min(im.size) > 100


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """resnet20 trained one short epoch on 12x12 grey images: class k is a bright bar in band k."""
    data = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    for split, n in (("train", 64), ("t10k", 12)):
        labels = np.arange(n) % 3
        images = rng.integers(0, 60, size=(n, 12, 12))
        for i, k in enumerate(labels):
            images[i, 4 * k:4 * k + 4, 2:-2] = 230
        for kind, a in (("images-idx3", images), ("labels-idx1", labels)):
            header = bytes([0, 0, 8, a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
            (data / f"{split}-{kind}-ubyte").write_bytes(header + a.astype(np.uint8).tobytes())
    out = tmp_path_factory.mktemp("runs") / "r"
    assert main(["train", "resnet20", "--data", str(data), "--out", str(out), "--epochs", "1",
                 "--batch-size", "16", "--no-progress", "--threads", "1"]) == 0
    return out


def test_viz_of_a_run_directory(run_dir, tmp_path, capsys):
    code, out, _ = _run(["viz", str(run_dir), "--filters"], capsys)
    assert code == 0 and (run_dir / "viz" / "filters.png").is_file()  # default: RUN_DIR/viz
    _png_ok(run_dir / "viz" / "filters.png")
    code, out, _ = _run(["viz", str(run_dir), "--features", "china.jpg", "--out", str(tmp_path),
                         "--layers", "tail", "body.2"], capsys)
    assert code == 0, out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["features-body.2.png", "features-tail.png"]
    code, out, _ = _run(["viz", str(run_dir), "--saliency", "flower.jpg", "--out", str(tmp_path),
                         "--target-class", "1"], capsys)
    assert code == 0 and (tmp_path / "saliency-class1.png").is_file()


def test_viz_of_a_model_name_and_sobel(tmp_path, capsys):
    img = tmp_path / "step.png"
    Image.fromarray(np.tile(np.repeat([0, 255], 16).astype(np.uint8), (32, 1))).save(img)
    code, out, _ = _run(["viz", "resnet20", "--saliency", str(img), "--out", str(tmp_path)], capsys)
    assert code == 0 and "untrained" in out
    code, out, _ = _run(["viz", "resnet20", "--sobel", "china.jpg", "--out", str(tmp_path)], capsys)
    assert code == 0
    _png_ok(tmp_path / "sobel.png")


@pytest.mark.parametrize("argv,message", [
    (["viz", "resnet20", "--features", "missing.png"], "missing.png: no such image file"),
    (["viz", "resnet20", "--features", "china.jpg", "--layers", "body.9"], "unknown layer(s) body.9"),
    (["viz", "no_such_model", "--filters"], "unknown model 'no_such_model'"),
    (["viz", "resnet20"], "one of the arguments --filters --features --saliency --sobel"),
    (["gradcheck", "lstm_cell_x"], "unknown block 'lstm_cell_x'"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, tmp_path, capsys):
    code, _, err = _run(argv + ["--out", str(tmp_path)] if argv[0] == "viz" else argv, capsys)
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_gradcheck_cli_one_line_per_block(capsys):
    code, out, _ = _run(["gradcheck", "maxout", "spatial_head"], capsys)
    lines = out.strip().splitlines()
    assert code == 0 and len(lines) == 2 and all(" ok: " in line for line in lines)


def test_gradcheck_catches_a_wrong_backward():
    class BadSquare(torch.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * x  # should be 2x

    x = torch.randn(4, dtype=torch.double, requires_grad=True)
    with pytest.raises(RuntimeError, match="Jacobian mismatch"):
        torch.autograd.gradcheck(BadSquare.apply, (x,))
    assert check_block("layernorm2d").ok


def test_sobel_matches_seed_kernels_on_a_ramp():
    assert SOBEL_X.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert SOBEL_Y.tolist() == [[-1, -2, -1], [0, 0, 0], [1, 2, 1]]
    ramp = torch.arange(6.0).repeat(5, 1)  # intensity rises by 1 per column
    gx, gy, g = sobel(ramp)
    assert torch.all(gx == 8) and torch.all(gy == 0) and torch.all(g == 8)  # 1*(1+2+1)*2


def test_saliency_of_a_linear_model_is_its_weights():
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 3 * 3, 4))
    x = torch.randn(1, 2, 3, 3)
    sal, c = saliency_map(model, x, target=2)
    w = model[1].weight[2].view(2, 3, 3)
    assert c == 2
    torch.testing.assert_close(sal, w.abs().amax(0))


def test_labels_in_scripts_dejavu_lacks_fall_back_to_an_installed_font():
    """Thai labels (seed 000's English-Thai figure): .ci/run installs Debian's fonts-tlwg-garuda-ttf."""
    from matplotlib import ft2font, font_manager

    from archzoo.viz._figure import font_family

    assert font_family(["abc", "2024-01-31"]) == ["DejaVu Sans"]
    families = font_family(["หนึ่งพัน", "1000"])
    assert families[0] == "DejaVu Sans" and len(families) == 2
    path = font_manager.findfont(font_manager.FontProperties(family=families[1]), fallback_to_default=False)
    assert ord("ห") in ft2font.FT2Font(path).get_charmap()
