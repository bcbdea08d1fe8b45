"""``scripts/book_sections.py``: the book's sections under ISLP's helpers and ours, each in its own process."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, load_script

SCRIPT = ROOT / "scripts" / "book_sections.py"
MNIST_ROOT = ROOT.parent / "shared" / "data"


def run_script(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), "--threads", "1", *args]
    return subprocess.run(command, check=False, cwd=cwd, capture_output=True, text=True, timeout=300)


def table_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The Markdown table's rows by network name (``hitters``, ``nyse_rnn``...), cells by header."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[cells["network"].split(":")[0]] = cells
    return rows


def test_hitters_and_nyse_run_under_both_helpers_without_littering_the_cwd(tmp_path):
    result = run_script(tmp_path, "--sections", "hitters,nyse", "--epochs", "2")
    assert result.returncode == 0, result.stderr[-2000:]
    rows = table_rows(result.stdout)
    assert set(rows) == {"hitters", "nyse_rnn", "nyse_ar"}
    for name, row in rows.items():
        assert row["epochs"] == "2"
        for column in ("ISLP helpers", "ours", "ISLP fit s", "ours fit s"):
            assert math.isfinite(float(row[column])), (name, column, row)
        assert row["speed-up (ISLP s / ours s)"].endswith("×")
    assert 0 < float(rows["hitters"]["ours"]) < 1000  # dollars (thousands): the book's is 221.8 after 50 epochs
    for name in ("nyse_rnn", "nyse_ar"):
        assert -1 < float(rows[name]["ours"]) < 1 and -1 < float(rows[name]["ISLP helpers"]) < 1
    assert not (tmp_path / "logs").exists() and not (tmp_path / "lightning_logs").exists()
    assert list(tmp_path.iterdir()) == []  # nothing at all: the logs went to a temporary folder


# The next two call the script's main() in this process (it starts the same child processes),
# which spares the start-up of a second Python with torch and Lightning.
@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason="no MNIST under ../shared/data")
def test_mnist_networks_learn_under_both_helpers(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    status = load_script("book_sections").main([
        "--threads", "1", "--sections", "mnist", "--epochs", "1", "--limit", "5000",
        "--data-dir", str(MNIST_ROOT), "--log-dir", "runs",
    ])
    out, err = capsys.readouterr()
    assert status == 0, err[-2000:]
    rows = table_rows(out)
    assert set(rows) == {"mnist_mlp", "mnist_mlr"}
    for name, row in rows.items():
        assert float(row["ISLP helpers"]) > 0.5 and float(row["ours"]) > 0.5, (name, row)
    # the logs and the plots are where --log-dir says, for both helpers, and nowhere else
    for api in ("islp", "ours"):
        assert len(list((tmp_path / "runs" / api).glob("mnist_*/version_0/accuracy.png"))) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]


def test_missing_mnist_is_a_skip_with_one_line_reason(tmp_path, monkeypatch, capsys):
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.setenv("BOOK_SECTIONS_NO_DOWNLOAD", "1")  # never try the network, whatever this machine has
    status = load_script("book_sections").main(["--sections", "mnist", "--data-dir", str(empty)])
    out, err = capsys.readouterr()
    assert status == 3
    assert err.strip().count("\n") == 0 and "mnist skipped" in err and "MNIST" in err and str(empty) in err
    assert "|" not in out  # no table: nothing ran
