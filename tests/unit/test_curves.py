"""Reading logged curves: tidy rows, the book's summary_plot, islp-curves and its errors."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from foundations.errors import CurvesArgumentError  # noqa: E402
from lightning_modules.curves import CurvesError, read_metrics, summary_plot  # noqa: E402
from lightning_modules.runner import curves_cli  # noqa: E402
from lightning_modules.runner.curves_cli import main  # noqa: E402

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


# -- what summary_plot and islp-curves refuse ------------------------------------------------------------------------
def test_summary_plot_names_what_the_frame_lacks(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    with pytest.raises(CurvesArgumentError, match=r"no 'epoch' column \(columns there: train_loss_epoch\)"):
        summary_plot(pd.DataFrame({"train_loss_epoch": [1.0]}), ax)
    with pytest.raises(CurvesArgumentError, match=r"neither 'train_mae_epoch' nor 'valid_mae'.*columns there: epoch, train_loss_epoch"):
        summary_plot(pd.DataFrame({"epoch": [0], "train_loss_epoch": [1.0]}), ax, col="mae")
    with pytest.raises(CurvesArgumentError, match="give the run's metrics as a DataFrame"):
        summary_plot([1, 2], ax)
    with pytest.raises(CurvesArgumentError, match="give a matplotlib Axes"):
        summary_plot(pd.DataFrame({"epoch": [0], "train_loss_epoch": [1.0]}), None)
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_epoch,valid_loss\n0,1,0.5,\n0,1,,0.6\n")
    assert summary_plot(str(csv), ax) is ax  # a path to the file is read as read_metrics reads it
    plt.close(fig)


GOOD_CSV = "epoch,step,train_loss_epoch,valid_loss,valid_mae\n0,1,0.5,0.6,0.7\n1,3,0.4,0.3,0.5\n"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("epoch,step,valid_loss\n", "holds no epochs"),
        ("epoch,step,valid_loss\n0,1,0.5\n1,2,0.4,0.3,9\n", "is not a readable metrics CSV (Error tokenizing data"),
        ("epoch,step,valid_loss\nzero,1,0.5\n", "holds values that are not numbers in epoch"),
        ("loss;accuracy\n0.5;0.7\n", "has no 'epoch' column (its header: loss;accuracy)"),
    ],
    ids=["header-only", "ragged-rows", "not-numbers", "not-a-lightning-log"],
)
def test_islp_curves_garbled_csv_exits_1(content, expected, tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text(content)
    assert curves_cli.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"islp-curves: error: {tmp_path / 'metrics.csv'} ") and expected in err
    assert err.count("\n") == 1 and not list(tmp_path.glob("*.png"))


def test_islp_curves_arguments(tmp_path, capsys):
    run = tmp_path / "version_0"
    run.mkdir()
    (run / "metrics.csv").write_text(GOOD_CSV)
    # -o an existing folder: the figure goes inside it, and that path is printed
    (tmp_path / "figures").mkdir()
    assert curves_cli.main([str(run), "-o", str(tmp_path / "figures")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'figures' / 'loss_curves.png'}\n"
    assert (tmp_path / "figures" / "loss_curves.png").stat().st_size > 1000
    # a name without a suffix: .png added, and the path printed is the file written
    assert curves_cli.main([str(run), "--metric", "mae", "-o", str(tmp_path / "mae")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'mae.png'}\n" and (tmp_path / "mae.png").is_file()
    # bad arguments: exit 2, one line naming them, nothing written
    for argv, expected in (
        ([str(tmp_path / "nowhere")], f"{tmp_path / 'nowhere'} does not exist"),
        ([str(run), str(tmp_path / "figures")], f"{tmp_path / 'figures'} holds no metrics.csv"),
        ([str(run), "--metric", "r2"], "metric 'r2' is not in"),
        ([str(run), "-o", str(tmp_path / "curves.txt")], "matplotlib cannot write .txt files"),
    ):
        assert curves_cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("islp-curves: error: ") and expected in err and err.count("\n") == 1
    assert curves_cli.main([str(run), "--metric", "r2"]) == 2 and "metrics present: loss, mae" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["loss_curves.png", "mae.png"]
