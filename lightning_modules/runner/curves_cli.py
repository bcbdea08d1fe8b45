"""``islp-curves``: the curves of logged runs drawn to a file from the command line.

The drawing is the core's (:mod:`lightning_modules.curves`); this module only reads the command's arguments,
chooses the output file and turns errors into one line and an exit status.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureCanvasBase

from foundations.errors import CurvesArgumentError, CurvesError
from lightning_modules.curves import metrics_csv, plot_runs, plot_seed_runs, run_label, seed_runs


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
            written = plot_seed_runs(runs, output, metric=args.metric, title=run_label(Path(runs[0])).rsplit("/", 1)[0])
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
