"""The book's code on ISLP's helpers and on ours (``lightning_modules.chapter.book_code``), and the side-by-side
report of its figures (``scripts/benchmark.py --book-sections``)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from helpers import ROOT, load_script
from torch.utils.data import TensorDataset

from lightning_modules.chapter.book_code import book_datasets, helpers, lab_datamodule, run_book_code
from lightning_modules.chapter.labs import NETWORKS

benchmark = load_script("benchmark")
MNIST_ROOT = ROOT.parent / "shared" / "data"


@pytest.fixture
def book_seeding():
    """The book's code switches on deterministic algorithms, as the lab does: switched back afterwards."""
    enabled, warn_only = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    yield
    torch.use_deterministic_algorithms(enabled, warn_only=warn_only)


def test_our_networks_have_the_parameters_of_the_books_own_classes():
    """The book defines its own nn.Module for each network; the harness uses ours: the same layers, so the
    same parameter counts (torchinfo's totals in the book's notebook; 217 = 3·12 + 12·12 + 2·12 + 13, 705 = 20·32 + 32 + 33)."""
    book = {"hitters": 1_051, "mnist_mlp": 235_146, "mnist_mlr": 7_850, "nyse_rnn": 217, "nyse_ar": 705}
    for key, count in book.items():
        assert sum(p.numel() for p in NETWORKS[key].build_network().parameters()) == count, key


def test_the_book_gets_its_data_as_tensor_datasets_with_the_labs_validation():
    hitters = NETWORKS["hitters"]
    train, test, validation = book_datasets(hitters, lab_datamodule(hitters))
    assert (len(train), len(test)) == (175, 88) and validation is test  # the test set doubles as validation
    X, y = train.tensors
    assert isinstance(train, TensorDataset) and X.shape == (175, 19) and X.dtype == y.dtype == torch.float32
    nyse_ar = NETWORKS["nyse_ar"]
    train, test, validation = book_datasets(nyse_ar, lab_datamodule(nyse_ar))
    assert train.tensors[0].shape[1] == 20 and validation is test  # 15 lags and 5 day-of-week indicators


def test_without_its_files_mnist_is_the_synthetic_stand_in_and_says_so(tmp_path):
    settings = NETWORKS["mnist_mlp"]
    datamodule = lab_datamodule(settings, str(tmp_path / "empty"), limit=300)
    train, test, validation = book_datasets(settings, datamodule, str(tmp_path / "empty"), limit=300)
    assert datamodule.synthetic and isinstance(train, TensorDataset) and len(train) == len(test) == 300
    assert train.tensors[0].dtype == torch.float32 and float(train.tensors[0].max()) <= 1  # ToTensor's scale
    assert validation == 0.2 and not (tmp_path / "empty").exists()


def test_the_books_hitters_code_runs_on_islp_and_on_ours(tmp_path, book_seeding):
    runs = {name: run_book_code(helpers(name), NETWORKS["hitters"], epochs=2, log_dir=tmp_path, curve=True)
            for name in ("islp", "ours")}
    for name, run in runs.items():
        assert math.isfinite(run.figure) and 0 < run.figure < 1000, name  # a test MAE, in thousands of dollars
        assert run.fit_seconds > 0 and not run.synthetic
        log_dir = Path(run.log_dir)
        assert (log_dir / "metrics.csv").is_file() and (log_dir / "mae.png").is_file()  # the lab's summary_plot
    assert Path(runs["islp"].log_dir).parent == tmp_path / "ISLP.torch" / "hitters_mlp"
    assert Path(runs["ours"].log_dir).parent == tmp_path / "lightning_modules" / "hitters_mlp"


@pytest.mark.skipif(not (MNIST_ROOT / "MNIST" / "raw").is_dir(), reason="no MNIST under ../shared/data")
def test_the_books_mnist_code_learns_real_digits_on_both_helpers(tmp_path, book_seeding):
    for name in ("islp", "ours"):
        run = run_book_code(helpers(name), NETWORKS["mnist_mlr"], epochs=1, log_dir=tmp_path,
                            data_dir=str(MNIST_ROOT), limit=3000)
        assert not run.synthetic and run.figure > 0.5, (name, run)


def table_rows(stdout: str) -> dict[str, dict[str, str]]:
    """The Markdown table's rows by network key (``hitters``, ``nyse_ar``...), cells by header."""
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        cells = dict(zip(header, (cell.strip() for cell in line.strip("|").split("|"))))
        rows[cells["network"].split(":")[0]] = cells
    return rows


def test_a_row_sets_both_helpers_beside_the_books_figure_and_says_what_failed():
    figures = {"epochs": 3, "limit": 500,
               "islp": {"fit_seconds": 3.0, "figure": 0.91234, "synthetic": True},
               "book": {"error": "RuntimeError: boom"}}
    (row,) = table_rows("| " + " | ".join(benchmark.SECTION_COLUMNS) + " |\n|---|\n"
                        + benchmark.format_section_row("mnist_mlr", figures)).values()
    assert row["book (its epochs)"] == f"{NETWORKS['mnist_mlr'].book} ({NETWORKS['mnist_mlr'].epochs})"
    assert (row["ISLP helpers"], row["ours"], row["ISLP fit s"], row["ours fit s"]) == ("0.9123", "failed", "3.0", "—")
    assert row["data"] == "synthetic, first 500 rows" and row["epochs"] == "3"


def test_book_sections_runs_the_books_epochs_on_both_helpers(monkeypatch, tmp_path, capsys):
    jobs = []

    def plan(lab, implementation, options, threads):
        jobs.append((lab, implementation, options.epochs, options.curves))
        return {"fit_seconds": 1.0, "figure": 0.5, "threads": 2, "synthetic": False}

    monkeypatch.setattr(benchmark, "measure", plan)
    assert benchmark.main(["--book-sections", "--log-dir", str(tmp_path)]) == 0
    networks = ["hitters", "nyse_rnn", "nyse_ar", "mnist_mlp", "mnist_mlr"]
    assert jobs == [(key, name, NETWORKS[key].epochs, True) for key in networks for name in ("islp", "book")]
    assert list(table_rows(capsys.readouterr().out)) == networks
    with pytest.raises(SystemExit):
        benchmark.main(["--book-sections", "--implementations", "ours"])


def test_book_sections_command_prints_finite_figures_and_leaves_the_cwd_alone(tmp_path, monkeypatch, capsys):
    logs = tmp_path / "logs"
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # main in this process; it runs each helper's section in a process of its own, as the command does
    status = benchmark.main(["--book-sections", "--labs", "hitters", "--epochs", "2", "--islp-threads", "1",
                             "--log-dir", str(logs)])
    out, err = capsys.readouterr()
    assert status == 0, err[-2000:]
    rows = table_rows(out)
    (row,) = rows.values()
    assert list(rows) == ["hitters"] and row["epochs"] == "2" and row["data"] == "real"
    for column in ("ISLP helpers", "ours", "ISLP fit s", "ours fit s"):
        assert math.isfinite(float(row[column])), (column, row)
    assert 0 < float(row["ours"]) < 1000 and row["ISLP s / ours s"].endswith("×")
    assert len(list(logs.glob("*/hitters_mlp/version_0/mae.png"))) == 2  # each run's curve, on both helpers
    assert list(work.iterdir()) == []
