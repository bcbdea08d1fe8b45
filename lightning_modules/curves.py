"""Reading logged curves back: tidy tables, the book's ``summary_plot``, and ``islp-curves``."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd


class CurvesError(ValueError):
    """A metrics file is missing, empty, or lacks the metric asked for."""


def metrics_csv(path: str | Path) -> Path:
    """The ``metrics.csv`` of ``path``: the file itself or a log version folder holding it."""
    path = Path(path)
    candidate = path / "metrics.csv" if path.is_dir() else path
    if not candidate.is_file():
        raise CurvesError(f"no metrics file at {candidate}: pass a metrics.csv or a logs/<lab>/<model>/version_N folder")
    return candidate


def read_metrics(path: str | Path) -> pd.DataFrame:
    """One row per epoch of a run's logged figures.

    Lightning writes training and validation values of an epoch on separate
    rows; this merges them (the last value logged for each column wins), so
    ``train_loss_epoch`` and ``valid_loss`` of epoch ``e`` share a row.
    """
    csv = metrics_csv(path)
    try:
        raw = pd.read_csv(csv, float_precision="round_trip")
    except pd.errors.EmptyDataError:
        raise CurvesError(f"{csv} is empty: the run logged nothing (did it finish an epoch?)") from None
    if raw.empty or "epoch" not in raw.columns:
        raise CurvesError(f"{csv} holds no epochs: the run logged nothing (did it finish an epoch?)")
    values = raw.drop(columns=[c for c in ("step",) if c in raw.columns])
    tidy = values.groupby("epoch", sort=True).last().reset_index()
    tidy["epoch"] = tidy["epoch"].astype(int)
    return tidy


def available_metrics(results: pd.DataFrame) -> list[str]:
    """Metric names that have training or validation curves (``loss``, ``mae``...)."""
    names = set()
    for column in results.columns:
        if column.startswith("train_") and column.endswith("_epoch"):
            names.add(column[len("train_") : -len("_epoch")])
        elif column.startswith("valid_"):
            names.add(column[len("valid_") :])
    return sorted(names)


def _check_metric(results: pd.DataFrame, col: str, source: str = "the results") -> None:
    columns = [f"train_{col}_epoch", f"valid_{col}"]
    if not any(c in results.columns for c in columns):
        raise CurvesError(
            f"metric {col!r} is not in {source}; metrics present: {', '.join(available_metrics(results)) or 'none'}"
        )


def summary_plot(
    results: pd.DataFrame,
    ax: plt.Axes,
    col: str = "loss",
    valid_legend: str = "Validation",
    training_legend: str = "Training",
    ylabel: str = "Loss",
    fontsize: int = 20,
) -> plt.Axes:
    """The book's plot: training and validation values of ``col`` by epoch."""
    _check_metric(results, col)
    for column, color, label in zip(
        [f"train_{col}_epoch", f"valid_{col}"], ["black", "red"], [training_legend, valid_legend]
    ):
        if column in results.columns:
            points = results[["epoch", column]].dropna()
            points.plot(x="epoch", y=column, label=label, marker="o", color=color, ax=ax)
    ax.set_xlabel("Epoch", fontsize=fontsize)
    ax.set_ylabel(ylabel, fontsize=fontsize)
    return ax


def plot_runs(paths: Sequence[str | Path], output: str | Path, metric: str = "loss", labels: Sequence[str] | None = None) -> Path:
    """Training (solid) and validation (dashed) curves of several runs overlaid in one PNG."""
    runs = [(Path(p), read_metrics(p)) for p in paths]
    for path, results in runs:
        _check_metric(results, metric, source=str(metrics_csv(path)))
    labels = list(labels) if labels else [_run_label(path) for path, _ in runs]
    fig, ax = plt.subplots(figsize=(7, 5))
    for (path, results), label, color in zip(runs, labels, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10):
        for column, style, stage in ((f"train_{metric}_epoch", "-", "training"), (f"valid_{metric}", "--", "validation")):
            if column in results.columns:
                points = results[["epoch", column]].dropna()
                ax.plot(points["epoch"], points[column], style, marker="o", markersize=3, color=color, label=f"{label} ({stage})")
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric)
    ax.legend()
    return save_figure(fig, output)


def save_figure(fig: plt.Figure, output: str | Path) -> Path:
    """Lay out ``fig``, write it as a PNG (creating the folder), and close it."""
    fig.tight_layout()
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(output, dpi=100)
    plt.close(fig)
    return output


def _run_label(path: Path) -> str:
    """``hitters/mlp/version_0`` from any path inside a log version folder."""
    folder = path if path.is_dir() else path.parent
    return "/".join(folder.parts[-3:])


def main(argv: Sequence[str] | None = None) -> int:
    matplotlib.use("Agg")  # a command that writes a file: no window
    parser = argparse.ArgumentParser(
        prog="islp-curves", description="Plot training and validation curves from Lightning CSV logs."
    )
    parser.add_argument("runs", nargs="+", help="metrics.csv files or log version folders (logs/<lab>/<model>/version_N)")
    parser.add_argument("--metric", default="loss", help="metric to plot: loss (default), mae, r2, accuracy...")
    parser.add_argument("--output", "-o", default=None, help="PNG to write (default: <metric>_curves.png beside the first run)")
    parser.add_argument("--label", action="append", help="a legend label per run, in order (default: the run's folder)")
    args = parser.parse_args(argv)
    if args.label and len(args.label) != len(args.runs):
        parser.error(f"{len(args.label)} labels given for {len(args.runs)} runs")
    try:
        output = args.output or metrics_csv(args.runs[0]).parent / f"{args.metric}_curves.png"
        written = plot_runs(args.runs, output, metric=args.metric, labels=args.label)
    except CurvesError as error:
        print(f"islp-curves: error: {error}", file=sys.stderr)
        return 2
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
