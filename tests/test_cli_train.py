"""`archzoo train / eval / predict` end to end on a tiny IDX set the test writes, and every bad
input the issue lists: exit status 2, one line on stderr, no traceback, nothing overwritten."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archzoo.cli import main
from archzoo.train import TrainConfig, train

CLASSES = 3
SIDE = 12
QUICK = ["--epochs", "1", "--batch-size", "16", "--no-progress", "--threads", "1"]


def write_idx(path: Path, array: np.ndarray) -> None:
    """IDX: two zero bytes, dtype code 0x08 (ubyte), the rank, big-endian dims, then the data."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def make_images(n: int, *, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Class k is a bright bar in band k of the image, plus noise: learnable in a few steps."""
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % classes
    images = rng.integers(0, 60, size=(n, SIDE, SIDE))
    band = SIDE // classes
    for i, k in enumerate(labels):
        images[i, k * band:(k + 1) * band, 2:-2] = 230
    return images.astype(np.uint8), labels.astype(np.uint8)


def write_idx_set(directory: Path, *, classes: int = CLASSES, train_n: int = 96, test_n: int = 30) -> Path:
    directory.mkdir(parents=True)
    for split, n, seed in (("train", train_n, 0), ("t10k", test_n, 1)):
        images, labels = make_images(n, classes=classes, seed=seed)
        write_idx(directory / f"{split}-images-idx3-ubyte", images)
        write_idx(directory / f"{split}-labels-idx1-ubyte", labels)
    return directory


@pytest.fixture(scope="module")
def idx(tmp_path_factory) -> Path:
    return write_idx_set(tmp_path_factory.mktemp("data") / "bars")


@pytest.fixture(scope="module")
def run_dir(idx, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "trained"
    assert main(["train", "resnet20", "--data", str(idx), "--out", str(out), *QUICK]) == 0
    return out


def run_cli(argv: list[str], capsys) -> tuple[int, str, str]:
    try:
        code = main(argv)
    except SystemExit as e:  # argparse's own errors exit from parse_args
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def test_train_eval_predict_resume_end_to_end(idx, run_dir, tmp_path, capsys):
    config = json.loads((run_dir / "config.json").read_text())
    assert config["config"]["model"] == "resnet20" and config["config"]["lr"] == 0.05  # resolved
    assert config["data"]["classes"] == ["0", "1", "2"] and config["archzoo_version"]
    for name in ("metrics.csv", "curves.png", "last.safetensors", "last.json", "best.safetensors",
                 "last.state.safetensors", "last.state.json"):
        assert (run_dir / name).is_file(), name

    code, out, err = run_cli(["eval", str(run_dir)], capsys)
    assert code == 0, err
    assert "accuracy: " in out and "  2  " in out
    png = Path(out.strip().splitlines()[-1].split(": ", 1)[1])
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"

    images, labels = make_images(2, classes=CLASSES, seed=5)
    files = [tmp_path / "a.png", tmp_path / "b.jpg"]
    for f, image in zip(files, images):  # an RGB image at another size: converted to 1x12x12
        Image.fromarray(image).convert("RGB").resize((24, 24)).save(f)
    code, out, err = run_cli(["predict", str(run_dir), *map(str, files), "--topk", "2"], capsys)
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{files[0]}: ") and lines[0].count(",") == 1

    # Resume: a run stopped mid-epoch is finished by the CLI.
    split = tmp_path / "split"
    train(TrainConfig(model="resnet20", data=str(idx), out=str(split), epochs=2, batch_size=16,
                      progress=False, threads=1), stop_after_steps=3)
    code, out, err = run_cli(["train", "--resume", str(split), "--no-progress"], capsys)
    assert code == 0, err
    assert f"run: {split}" in out and "test accuracy: " in out
    assert json.loads((split / "last.json").read_text())["finished"] is True


def test_printed_config_matches_the_saved_one(idx, tmp_path, capsys):
    out_dir = tmp_path / "cfg"
    code, out, err = run_cli(["train", "mlp2", "--data", str(idx), "--out", str(out_dir), "--optimizer",
                              "adam", "--model-args", "hidden=[32]", *QUICK], capsys)
    assert code == 0, err
    printed = json.loads(out.splitlines()[0].removeprefix("config: "))
    saved = json.loads((out_dir / "config.json").read_text())
    assert printed == saved["config"] and printed["lr"] == 1e-3 and printed["model_args"] == {"hidden": [32]}


def bad_inputs(idx: Path, run_dir: Path, tmp: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (argv, text the one-line error must contain)."""
    missing = write_idx_set(tmp / "missing")
    (missing / "t10k-labels-idx1-ubyte").unlink()
    truncated = write_idx_set(tmp / "truncated")
    path = truncated / "train-images-idx3-ubyte"
    path.write_bytes(path.read_bytes()[:500])
    four = write_idx_set(tmp / "four", classes=4)
    corrupt = tmp / "corrupt"
    corrupt.mkdir()
    for name in ("best.json", "best.safetensors"):
        (corrupt / name).write_bytes((run_dir / name).read_bytes())
    (corrupt / "best.safetensors").write_bytes(b"garbage" * 9)
    foreign = tmp / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a run")
    not_image = tmp / "notes.png"
    not_image.write_text("not an image")
    d = str(idx)
    return {
        "unknown model": (["train", "resnet21", "--data", d, *QUICK], "resnet20"),
        "unknown dataset": (["train", "resnet20", "--data", "fashion-mnits", *QUICK], "fashion-mnist"),
        "unknown option": (["train", "resnet20", "--data", d, "--learning-rate", "1"], "unrecognized"),
        "bad choice": (["train", "resnet20", "--optimizer", "lbfgs"], "invalid choice"),
        "no model": (["train", "--data", d], "expected a model name"),
        "bad number": (["train", "resnet20", "--epochs", "0"], "--epochs: expected >= 1, got 0"),
        "too small for model": (["train", "lenet5", "--data", d, *QUICK], "minimum is 16"),
        "unknown model arg": (["train", "resnet20", "--data", d, "--model-args", "depthh=3", *QUICK], "depthh"),
        "missing idx file": (["train", "resnet20", "--data", str(missing), *QUICK], "IDX"),
        "truncated idx file": (["train", "resnet20", "--data", str(truncated), *QUICK], "train-images"),
        "other class count": (["eval", str(run_dir), "--data", str(four)], "expected 3 classes"),
        "corrupt checkpoint": (["eval", str(corrupt)], "corrupt or truncated"),
        "resume finished": (["train", "--resume", str(run_dir)], "already finished"),
        "resume foreign": (["train", "--resume", str(foreign)], "not an archzoo run"),
        "resume with options": (["train", "--resume", str(run_dir), "--lr", "1"], "drop --lr"),
        "occupied out": (["train", "resnet20", "--data", d, "--out", str(run_dir), *QUICK], "--overwrite"),
        "missing image": (["predict", str(run_dir), str(tmp / "nope.png")], "no such file"),
        "not an image": (["predict", str(run_dir), str(not_image)], "expected a PNG or JPEG"),
        "topk too large": (["predict", str(run_dir), str(not_image), "--topk", "9"], "--topk: expected 1..3"),
    }


CASES = ["unknown model", "unknown dataset", "unknown option", "bad choice", "no model", "bad number",
         "too small for model", "unknown model arg", "missing idx file", "truncated idx file",
         "other class count", "corrupt checkpoint", "resume finished", "resume foreign",
         "resume with options", "occupied out", "missing image", "not an image", "topk too large"]


@pytest.fixture(scope="module")
def cases(idx, run_dir, tmp_path_factory) -> dict[str, tuple[list[str], str]]:
    return bad_inputs(idx, run_dir, tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_line_on_stderr_and_exit_2(case, cases, run_dir, capsys):
    argv, expected = cases[case]
    before = {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()}
    code, out, err = run_cli(argv, capsys)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("archzoo: error: ") and expected in err, err
    assert {p.name: p.stat().st_mtime_ns for p in run_dir.iterdir()} == before  # nothing touched


def test_a_refused_run_creates_no_directory(idx, tmp_path, capsys):
    out_dir = tmp_path / "never"
    code, _, _ = run_cli(["train", "lenet5", "--data", str(idx), "--out", str(out_dir), *QUICK], capsys)
    assert code == 2 and not out_dir.exists()
