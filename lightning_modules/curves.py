"""Reading logged curves back: tidy tables, the book's ``summary_plot``, and ``islp-curves``."""

from __future__ import annotations

import argparse
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import pandas as pd
from matplotlib.backend_bases import FigureCanvasBase

from datamodules.errors import CurvesArgumentError, CurvesError
from datamodules.files import write_atomically


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
    labels = list(labels) if labels else [_run_label(path) for path, _ in runs]
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
    from lightning_modules.run_logs import versions

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

    Written whole (:func:`~datamodules.files.write_atomically`): a full disk or a
    folder that is not writable ends with one line
    (:class:`~datamodules.errors.DiskFullError`, :class:`~datamodules.errors.WriteError`)
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


def _run_label(path: Path) -> str:
    """``hitters/mlp/version_0`` from any path inside a log version folder."""
    folder = path if path.is_dir() else path.parent
    return "/".join(folder.parts[-3:])


def output_path(output: str | Path | None, first_run: str | Path, metric: str) -> Path:
    """Where ``islp-curves`` writes its PNG.

    No ``-o``: ``<metric>_curves.png`` beside the first run's metrics.csv. An
    existing folder, or a path ending in a slash: ``<metric>_curves.png`` in
    it. A name without a suffix gets ``.png`` (the file matplotlib would
    write). Any other suffix must be a format matplotlib writes (.png, .pdf,
    .svg...), else :class:`CurvesArgumentError`.
    """
    name = f"{metric}_curves.png"
    if output is None:
        return metrics_csv(first_run).parent / name
    text = str(output)
    output = Path(output)
    if output.is_dir() or text.endswith(("/", os.sep)):
        return output / name
    if not output.suffix:
        return output.with_name(output.name + ".png")
    formats = FigureCanvasBase.get_supported_filetypes()
    if output.suffix[1:].lower() not in formats:
        raise CurvesArgumentError(
            f"-o {text}: matplotlib cannot write {output.suffix} files; end the name in one of "
            f"{', '.join('.' + kind for kind in sorted(formats))}"
        )
    return output


def main(argv: Sequence[str] | None = None) -> int:
    """``islp-curves``: 0 when the PNG was written (its path printed), 2 for a bad argument (a run path that is
    not there, a metric not logged, an output format matplotlib lacks), 1 for a file that cannot be read or written."""
    matplotlib.use("Agg")  # a command that writes a file: no window
    parser = argparse.ArgumentParser(
        prog="islp-curves", description="Plot training and validation curves from Lightning CSV logs."
    )
    parser.add_argument(
        "runs", nargs="+",
        help="metrics.csv files or log version folders (logs/<lab>/<model>/version_N); a network's folder trained "
        "with --seeds (logs/<lab>/<model>, holding seed_<s>/) stands for the latest run of each seed, drawn with --mean",
    )
    parser.add_argument("--mean", action="store_true",
                        help="runs of one network (seeds): each drawn thin, their mean bold, training solid, validation dashed")
    parser.add_argument("--metric", default="loss", help="metric to plot: loss (default), mae, r2, accuracy...")
    parser.add_argument(
        "--output", "-o", default=None,
        help="file to write (.png, or another format by its suffix; no suffix: .png); an existing folder or a path "
        "ending in / gets <metric>_curves.png inside (default: <metric>_curves.png beside the first run)",
    )
    parser.add_argument("--label", action="append", help="a legend label per run, in order (default: the run's folder)")
    args = parser.parse_args(argv)
    if args.label and (args.mean or len(args.label) != len(args.runs)):
        parser.error("--label names each run, --mean draws the runs as one network's seeds: give one or the other"
                     if args.mean else f"{len(args.label)} labels given for {len(args.runs)} runs")
    output: Path | None = None
    runs: list[str | Path] = []
    for run in args.runs:  # a network's folder of seeds stands for its seeds' runs
        seeds = seed_runs(run) if Path(run).is_dir() and not (Path(run) / "metrics.csv").is_file() else []
        runs += seeds or [run]
    mean = args.mean or len(runs) > len(args.runs)
    try:
        for run in runs:  # every path, before any work
            metrics_csv(run)
        if mean:
            default = Path(args.runs[0]) / f"{args.metric}_curves.png" if len(runs) > len(args.runs) else None
            output = output_path(args.output or default, runs[0], args.metric)
            written = plot_seed_runs(runs, output, metric=args.metric, title=_run_label(Path(runs[0])).rsplit("/", 1)[0])
        else:
            output = output_path(args.output, runs[0], args.metric)
            written = plot_runs(runs, output, metric=args.metric, labels=args.label)
    except CurvesError as error:
        print(f"islp-curves: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, CurvesArgumentError) else 1
    except OSError as error:  # a log that cannot be read; a figure that cannot be written (read-only, full disk)
        print(f"islp-curves: error: {error.filename or output}: {error.strerror or error}; nothing written",
              file=sys.stderr)
        plt.close("all")
        return 1
    print(written)
    return 0


if __name__ == "__main__":
    sys.exit(main())
