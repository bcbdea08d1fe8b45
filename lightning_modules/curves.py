"""Reading logged curves back: tidy tables, the book's ``summary_plot``, the figures of several runs (drawn to a file
by ``islp-curves``, :mod:`lightning_modules.runner.curves_cli`)."""

from __future__ import annotations

import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

from foundations.errors import CurvesArgumentError, CurvesError
from foundations.files import write_atomically


def in_notebook() -> bool:
    """Whether this code runs in a Jupyter kernel (a lab opened as a notebook), not merely beside an imported
    ipykernel (a test process that also drives notebooks has it imported)."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


def show_figure(path: str | Path) -> None:
    """Show a saved figure inline in a Jupyter kernel (a lab opened as a notebook); elsewhere, nothing."""
    if not in_notebook():
        return
    from IPython.display import Image, display

    display(Image(filename=str(path)))


def metrics_csv(path: str | Path) -> Path:
    """The ``metrics.csv`` of ``path``: the file itself or a log version folder holding it."""
    path = Path(path)
    candidate = path / "metrics.csv" if path.is_dir() else path
    if not candidate.is_file():
        reason = "does not exist" if not path.exists() else "holds no metrics.csv" if path.is_dir() else "is not a file"
        raise CurvesArgumentError(
            f"no metrics file at {candidate}: {path} {reason}; pass a metrics.csv or a log version folder "
            "(logs/<lab>/<model>/version_N)"
        )
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
    except (pd.errors.ParserError, UnicodeDecodeError) as error:
        reason = str(error).strip().partition("\n")[0]
        raise CurvesError(f"{csv} is not a readable metrics CSV ({reason}): it is damaged or not a Lightning log") from None
    if "epoch" not in raw.columns:
        header = ", ".join(map(str, raw.columns[:5])) + (", ..." if len(raw.columns) > 5 else "")
        raise CurvesError(f"{csv} has no 'epoch' column (its header: {header}): it is not a Lightning metrics.csv")
    if raw.empty:
        raise CurvesError(f"{csv} holds no epochs: the run logged nothing (did it finish an epoch?)")
    not_numbers = [str(column) for column in raw.columns if not pd.api.types.is_numeric_dtype(raw[column])]
    if not_numbers:
        raise CurvesError(
            f"{csv} holds values that are not numbers in {', '.join(not_numbers[:5])}: it is damaged or not a Lightning log"
        )
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
        raise CurvesArgumentError(
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
    """The book's plot: training and validation values of ``col`` by epoch.

    ``results`` is the frame of a run's ``metrics.csv`` as the book reads it
    (``pd.read_csv``), a tidy one (:func:`read_metrics`), or the path of the file
    or of its log folder. What it lacks (the ``epoch`` column, the columns of
    ``col``) is said in one :class:`CurvesArgumentError` naming the column
    missing and the columns there are.
    """
    if isinstance(results, (str, os.PathLike)):
        results = read_metrics(results)
    if not isinstance(results, pd.DataFrame):
        raise CurvesArgumentError(
            f"summary_plot(results=...): give the run's metrics as a DataFrame, e.g. "
            f"pd.read_csv(logger.experiment.metrics_file_path), or the path of its metrics.csv; got a {type(results).__name__}"
        )
    if not all(hasattr(ax, name) for name in ("plot", "set_xlabel", "set_ylabel")):
        raise CurvesArgumentError(
            f"summary_plot(ax=...): give a matplotlib Axes, e.g. fig, ax = plt.subplots(1, 1, figsize=(6, 6)); "
            f"got {type(ax).__name__}"
        )
    there = ", ".join(map(str, results.columns[:12])) + (", ..." if len(results.columns) > 12 else "") or "none"
    if "epoch" not in results.columns:
        raise CurvesArgumentError(f"summary_plot: results has no 'epoch' column (columns there: {there})")
    wanted = [f"train_{col}_epoch", f"valid_{col}"]
    if not any(c in results.columns for c in wanted):
        raise CurvesArgumentError(
            f"summary_plot(col={col!r}): results has neither {wanted[0]!r} nor {wanted[1]!r}; metrics present: "
            f"{', '.join(available_metrics(results)) or 'none'} (columns there: {there})"
        )
    not_numbers = [c for c in ("epoch", *wanted) if c in results.columns and not pd.api.types.is_numeric_dtype(results[c])]
    if not_numbers:
        raise CurvesArgumentError(f"summary_plot: the column {not_numbers[0]!r} of results holds values that are not numbers")
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
    labels = list(labels) if labels else [run_label(path) for path, _ in runs]
    fig, ax = plt.subplots(figsize=(7, 5))
    for (_, results), label, color in zip(runs, labels, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 10):
        for column, style, stage in ((f"train_{metric}_epoch", "-", "training"), (f"valid_{metric}", "--", "validation")):
            if column in results.columns:
                points = results[["epoch", column]].dropna()
                ax.plot(points["epoch"], points[column], style, marker="o", markersize=3, color=color, label=f"{label} ({stage})")
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric)
    ax.legend()
    return save_figure(fig, output)


def plot_seed_runs(
    paths: Sequence[str | Path], output: str | Path, metric: str = "loss", title: str | None = None
) -> Path:
    """Runs of one network with different seeds in one PNG: each seed thin, their mean bold;
    training solid (black), validation dashed (red)."""
    if not paths:
        raise CurvesError("no runs to plot: give the log folders of the seeds' runs")
    runs = [read_metrics(path) for path in paths]
    for path, results in zip(paths, runs):
        _check_metric(results, metric, source=str(metrics_csv(path)))
    fig, ax = plt.subplots(figsize=(7, 5))
    for column, style, stage, color in (
        (f"train_{metric}_epoch", "-", "training", "black"),
        (f"valid_{metric}", "--", "validation", "red"),
    ):
        curves = [results.set_index("epoch")[column].dropna() for results in runs if column in results.columns]
        if not curves:
            continue
        for curve in curves:
            ax.plot(curve.index, curve.values, style, color=color, alpha=0.3, linewidth=1)
        mean = pd.concat(curves, axis=1).mean(axis=1)
        ax.plot(mean.index, mean.values, style, color=color, linewidth=2.5,
                label=f"{stage}, mean of {len(curves)} seed{'s' * (len(curves) > 1)}")
    ax.set_xlabel("Epoch")
    ax.set_ylabel(metric)
    if title:
        ax.set_title(title)
    ax.legend()
    return save_figure(fig, output)


def seed_runs(folder: str | Path) -> list[Path]:
    """The runs of a network trained with ``--seeds``: the latest ``version_N`` with a ``metrics.csv``
    under each ``seed_<s>/`` of ``folder`` (``logs/<lab>/<model>``), by seed; [] when it has none."""
    from lightning_modules.machinery.run_logs import versions

    runs = []
    seeds = [path for path in Path(folder).glob("seed_*") if path.name.removeprefix("seed_").isdigit()]
    for seed in sorted(seeds, key=lambda path: int(path.name.removeprefix("seed_"))):
        logged = [seed / f"version_{number}" for number in versions(seed.parent, seed.name)]
        logged = [path for path in logged if (path / "metrics.csv").is_file()]
        if logged:
            runs.append(logged[-1])
    return runs


def save_figure(fig: plt.Figure, output: str | Path) -> Path:
    """Lay out ``fig``, write it (a PNG, or the format of ``output``'s suffix), creating the folder, and close it.

    Written whole (:func:`~foundations.files.write_atomically`): a full disk or a
    folder that is not writable ends with one line
    (:class:`~foundations.errors.DiskFullError`, :class:`~foundations.errors.WriteError`)
    and leaves the previous file, never an empty or half-written one.
    """
    output = Path(output)
    image = io.BytesIO()
    try:
        fig.tight_layout()
        fig.savefig(image, format=output.suffix[1:].lower() or "png", dpi=100)
    finally:
        plt.close(fig)
    kept = f"the previous {output.name} is kept" if output.is_file() else ""
    write_atomically(output, image.getbuffer(), kept=kept)
    return output


def run_label(path: Path) -> str:
    """``hitters/mlp/version_0`` from any path inside a log version folder."""
    folder = path if path.is_dir() else path.parent
    return "/".join(folder.parts[-3:])
