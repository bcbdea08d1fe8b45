"""Reading logged curves: tidy rows, the book's summary_plot, islp-curves and its errors."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from lightning_modules.curves import CurvesError, main, read_metrics, summary_plot  # noqa: E402

# what Lightning's CSVLogger writes: validation and training values of an epoch on separate rows
LOGGED = """epoch,step,test_loss,test_mae,train_loss_epoch,train_mae_epoch,valid_loss,valid_mae
0,5,,,,,200.0,12.0
0,5,,,300.0,15.0,,
1,11,,,,,150.0,10.0
1,11,,,180.0,11.0,,
2,17,,,,,120.0,9.0
2,17,,,140.0,9.5,,
3,18,110.0,8.5,,,,
"""


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "logs" / "lab" / "net" / "version_0"
    folder.mkdir(parents=True)
    (folder / "metrics.csv").write_text(LOGGED)
    return folder


def test_read_metrics_gives_one_row_per_epoch(run_dir):
    tidy = read_metrics(run_dir)
    assert tidy["epoch"].tolist() == [0, 1, 2, 3]
    assert tidy.loc[1, "train_loss_epoch"] == 180.0 and tidy.loc[1, "valid_loss"] == 150.0
    assert tidy.loc[3, "test_mae"] == 8.5 and "step" not in tidy.columns
    assert read_metrics(run_dir / "metrics.csv").equals(tidy)


@pytest.mark.parametrize("col", ["loss", "mae"])
def test_book_summary_plot_works_on_raw_and_tidy_logs(run_dir, col):
    for results in (pd.read_csv(run_dir / "metrics.csv"), read_metrics(run_dir)):
        fig, ax = plt.subplots()
        summary_plot(results, ax, col=col, ylabel=col)
        assert len(ax.get_lines()) == 2  # training and validation
        assert list(ax.get_lines()[1].get_ydata()) == list(read_metrics(run_dir)[f"valid_{col}"].dropna())
        plt.close(fig)


def test_islp_curves_overlays_runs_in_one_png(run_dir, tmp_path, capsys):
    other = run_dir.parent / "version_1"
    other.mkdir()
    (other / "metrics.csv").write_text(LOGGED.replace("200.0", "250.0"))
    output = tmp_path / "both.png"
    assert main([str(run_dir), str(other / "metrics.csv"), "--metric", "mae", "-o", str(output)]) == 0
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(output) in capsys.readouterr().out


def test_islp_curves_default_output_beside_the_run(run_dir):
    assert main([str(run_dir)]) == 0
    assert (run_dir / "loss_curves.png").is_file()


def test_unknown_metric_lists_those_present(run_dir, capsys):
    assert main([str(run_dir), "--metric", "r2"]) == 2
    error = capsys.readouterr().err
    assert "'r2'" in error and "loss, mae" in error
    with pytest.raises(CurvesError, match="metrics present: loss, mae"):
        summary_plot(read_metrics(run_dir), plt.gca(), col="accuracy")


def test_missing_and_empty_files_are_clear_errors(tmp_path, capsys):
    assert main([str(tmp_path / "nowhere")]) == 2
    assert "no metrics file" in capsys.readouterr().err
    (tmp_path / "metrics.csv").write_text("")
    with pytest.raises(CurvesError, match="empty"):
        read_metrics(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,step,valid_loss\n")
    with pytest.raises(CurvesError, match="no epochs"):
        read_metrics(tmp_path / "metrics.csv")
