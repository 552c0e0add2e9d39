"""Renderers (table, CSV, JSON, Markdown, HTML in headless Chromium) and the CLI."""
from __future__ import annotations

import csv
import io
import json
import re
import shutil
import subprocess

import pytest
import torch.nn as nn

from archzoo.analysis import analyze
from archzoo.cli import main


@pytest.fixture(scope="module")
def report():
    return analyze("resnet18", input_size=(3, 64, 64))


def test_table_groups_and_folds(report):
    full, folded = report.to_table(), report.to_table(depth=1)
    for group in ("[tail]", "[body.0]", "[body.3]", "[head]"):
        assert group in full
    assert "body.0.0.conv1.conv" in full and "conv1" not in folded
    assert "params: 11,689,512" in folded and "receptive field" in folded


def test_fold_keeps_the_totals(report):
    for depth in (1, 2, 3):
        rows = report.fold(depth)
        assert sum(r.macs for r in rows) == report.totals["macs"]
        assert sum(r.params for r in rows) == report.totals["params"]


def test_csv_has_every_layer_and_every_kind(report):
    rows = list(csv.DictReader(io.StringIO(report.to_csv())))
    assert len(rows) == len(report.rows)
    assert {"macs", "adds", "cmps", "divs", "exps", "rf_size", "kernel", "stride"} <= set(rows[0])
    assert sum(int(r["macs"]) for r in rows) == report.totals["macs"]


def test_json_round_trips(report):
    data = json.loads(report.to_json())
    assert data["totals"]["params"] == report.totals["params"]
    assert len(data["rows"]) == len(report.rows)
    assert data["rows"][0]["rf"]["size"] == [7, 7]


class Evil(nn.Module):
    """A module whose name would break markup if it were not escaped."""

    def __init__(self) -> None:
        super().__init__()
        self.add_module("<script>alert(1)</script>|x", nn.Linear(4, 4))

    def forward(self, x):
        return getattr(self, "<script>alert(1)</script>|x")(x)


def test_markdown_and_html_escape_names():
    r = analyze(Evil(), input_size=(4,))
    md = r.to_markdown()
    assert "<script>" not in md and "\\|x" in md
    page = r.to_html()
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;|x" in page


def test_html_is_self_contained(report):
    page = report.to_html()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
    assert page.count('<tr class="layer">') == len(report.rows)


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install chromium)")
@pytest.mark.parametrize("model", ["resnet18", "evil"])
def test_html_renders_in_headless_chromium(tmp_path, model):
    r = analyze("resnet18", input_size=(3, 64, 64)) if model == "resnet18" else analyze(Evil(), input_size=(4,))
    path = tmp_path / "report.html"
    path.write_text(r.to_html())
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0",
         f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", path.as_uri()],
        capture_output=True, text=True, timeout=120)
    dom = proc.stdout
    assert 'data-ready="1"' in dom, proc.stderr[-2000:]  # the script ran to its end
    assert 'data-js-errors="0"' in dom
    assert not re.search(r"CONSOLE.*(Uncaught|Error)", proc.stderr)
    assert dom.count('<tr class="layer">') == len(r.rows)
    assert dom.count('class="barrow"') > 0  # the bar charts were drawn


def test_cli_summary_formats(tmp_path, capsys):
    assert main(["summary", "resnet20", "--format", "csv", "--depth", "2"]) == 0
    assert capsys.readouterr().out.startswith("name,type,group")
    out = tmp_path / "r.json"
    assert main(["summary", "alexnet", "--convention", "lecture", "--format", "json", "--out", str(out)]) == 0
    rows = {r["name"]: r for r in json.loads(out.read_text())["rows"]}
    assert rows["tail.conv"]["macs"] == 105_705_600
    assert main(["summary", "lenet5", "--format", "html", "--out", str(tmp_path / "r.html")]) == 0
    assert main(["summary", "lenet5", "--format", "md"]) == 0
    assert "| name |" in capsys.readouterr().out


def test_cli_compare_and_plot(tmp_path, capsys):
    plot = tmp_path / "acc.png"
    assert main(["compare", "resnet18", "resnet34", "alexnet_owt", "--plot", str(plot)]) == 0
    out = capsys.readouterr().out
    assert "resnet34" in out and "69.76" in out and "435" in out
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert main(["compare", "resnet18", "vgg11", "--format", "json"]) == 0
    assert len(json.loads(capsys.readouterr().out)) == 2


@pytest.mark.parametrize("argv, message", [
    (["summary", "resnet1"], "unknown model 'resnet1'"),
    (["summary", "vgg16", "--input", "3x16x16"], "at least 32x32"),
    (["summary", "resnet18", "--input", "3xabc"], "invalid parse_input_size value"),
    (["compare", "resnet18", "nosuch"], "unknown model 'nosuch'"),
])
def test_cli_bad_input_is_one_line_and_exit_2(argv, message, capsys):
    try:
        code = main(argv)
    except SystemExit as e:  # argparse errors exit by themselves
        code = e.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and len(err.strip().splitlines()) == 1


def test_cli_out_is_not_left_half_written(tmp_path, capsys):
    out = tmp_path / "keep.txt"
    out.write_text("old")
    assert main(["summary", "vgg16", "--input", "3x16x16", "--out", str(out)]) == 2
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]
