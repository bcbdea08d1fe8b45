"""The chapter's report: networks over seeds beside the book, baselines, pictures, unfinished labs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import load_script
from PIL import Image

report = load_script("report")


def logged_run(folder: Path, metric: str, final: float) -> str:
    """A metrics.csv of three epochs, as Lightning writes it (training and validation on separate rows)."""
    folder.mkdir(parents=True)
    rows = []
    for epoch in range(3):
        value = final * (1 + 0.1 * (2 - epoch))
        rows.append({"epoch": epoch, "step": epoch, "valid_loss": 2.0 - epoch, f"valid_{metric}": value})
        rows.append({"epoch": epoch, "step": epoch, "train_loss_epoch": 2.5 - epoch, f"train_{metric}_epoch": value * 0.9})
    pd.DataFrame(rows).to_csv(folder / "metrics.csv", index=False)
    return str(folder)


@pytest.fixture
def labs(tmp_path):
    hitters_seeds = [
        {"seed": seed, "test_mae": mae, "fit_seconds": 1.0, "log_dir": logged_run(tmp_path / f"hitters/mlp/seed_{seed}", "mae", mae)}
        for seed, mae in enumerate([208.0, 230.0, 263.0])
    ]
    hitters = {
        "lab": "hitters", "synthetic": False,
        "models": {
            "linear_regression": {"test_mae": 259.72, "book_test_mae": 259.72},
            "mlp": {"test_mae": 233.7, "book_test_mae": 221.8, "fit_seconds": 3.0, "accelerator": "cpu", "seeds": hitters_seeds},
        },
    }
    nyse = {  # one seed, book outside any range
        "lab": "nyse", "synthetic": False,
        "models": {"nonlinear_ar": {"test_r2": 0.448, "book_test_r2": 0.4649, "fit_seconds": 1.2, "accelerator": "cpu",
                                    "log_dir": logged_run(tmp_path / "nyse/nonlinear_ar/seed_0", "r2", 0.448)}},
    }
    mnist = {
        "lab": "mnist", "synthetic": True,
        "models": {"mlp": {"test_accuracy": 0.5, "book_test_accuracy": 0.9648, "fit_seconds": 2.0, "accelerator": "cpu",
                           "seeds": [{"seed": 0, "test_accuracy": 0.5, "fit_seconds": 2.0}, {"seed": 1, "test_accuracy": 0.6, "fit_seconds": 2.0}]}},
    }
    return [
        report.LabReport("hitters", "done", 12.0, results=hitters),
        report.LabReport("mnist", "synthetic", 5.0, results=mnist),
        report.LabReport("imdb", "skipped", 1.0, message="no IMDB reviews in data/\n  put aclImdb/ there"),
        report.LabReport("nyse", "done", 20.0, results=nyse),
    ]


def test_report_gives_each_networks_spread_beside_the_book(labs, tmp_path):
    text = report.write_report(labs, tmp_path, quick=False).read_text()
    assert "| hitters | mlp | test MAE | 3 | 233.7 | 27.68 | 208 | 263 | 221.8 | yes | 1 | cpu | real |" in text
    assert "hitters/mlp: test MAE: book 221.8 inside our range 208–263 over 3 seeds (mean 233.7, sd 27.68)" in text
    assert "nyse/nonlinear_ar: test R²: book 0.4649, ours 0.448 from one seed (--seeds 5 gives a range)" in text
    assert "mnist/mlp: test accuracy: book 0.9648 above our range 0.5–0.6 over 2 seeds" in text
    assert "| mnist | mlp | test accuracy | 2 | 0.55 |" in text and "SYNTHETIC (figures mean nothing)" in text
    assert "| hitters | linear_regression | test MAE | 259.7 | 259.7 | 0 | real |" in text  # a baseline: one fit
    assert "- **imdb** (skipped): no IMDB reviews in data/\n    put aclImdb/ there" in text
    assert "| imdb | skipped | 1 |" in text and "| mnist | synthetic | 5 |" in text


def test_a_book_figure_outside_our_range_points_to_the_side_by_side_measurement():
    outside = report.Spread("nyse", "nonlinear_ar", "test_r2", [0.443, 0.456], 0.4649, 5.0, "cpu", synthetic=False)
    inside = report.Spread("nyse", "rnn", "test_r2", [0.412, 0.415], 0.4136, 60.0, "cpu", synthetic=False)
    fake = report.Spread("nyse", "nonlinear_ar", "test_r2", [0.1, 0.2], 0.4649, 5.0, "cpu", synthetic=True)
    assert outside.sentence().endswith(
        "side by side: `python scripts/benchmark.py --book-sections --labs nyse_ar`")
    assert "benchmark.py" not in inside.sentence() and "benchmark.py" not in fake.sentence()
    assert report.book_section_of("mnist", "mlr") == "mnist_mlr" and report.book_section_of("nyse", "lstm") is None

def test_report_embeds_the_spread_figure_and_each_labs_figures(labs, tmp_path):
    curves = tmp_path / "hitters" / "mlp_curves.png"
    from lightning_modules.curves import plot_seed_runs
    plot_seed_runs([run["log_dir"] for run in labs[0].results["models"]["mlp"]["seeds"]], curves, metric="mae")
    labs[0].figures = [curves]
    text = report.write_report(labs, tmp_path, quick=True).read_text()
    assert "Quick mode" in text
    assert "![Each network's test figure over seeds beside the book's](chapter_spread.png)" in text
    assert Image.open(tmp_path / "chapter_spread.png").size[0] > 600
    assert "![hitters mlp_curves](hitters/mlp_curves.png)" in text
    assert text.count("![") == 2  # the spread figure and the one figure a lab wrote: no broken links


def test_an_interrupted_chapter_says_so_and_lists_what_did_not_run(tmp_path):
    labs = [report.LabReport("hitters", "interrupted", 3.0, "interrupted by SIGINT: ... --resume"),
            report.LabReport("nyse", "not run", 0.0, "the chapter run was interrupted first")]
    text = report.write_report(labs, tmp_path, quick=False).read_text()
    assert "**Interrupted**" in text and "- **nyse** (not run): the chapter run was interrupted first" in text
    assert "| hitters | interrupted | 3 |" in text and "| nyse | not run | 0 |" in text
    assert not (tmp_path / "chapter_spread.png").exists()
