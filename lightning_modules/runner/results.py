"""A lab's results: ``results.json`` and the figures, written whole and under the lab's lock.

Each run keeps its own record in its version folder
(``<lab>/<model>[/seed_<s>]/version_N/results.json``: no other run writes there);
the lab's ``results.json`` and figures are those of the latest run to finish,
replaced under the lab's lock (:func:`results_lock`), so two runs of a lab into
one log folder never mix one's results with the other's figures. Results are
written before figures: a figure that cannot be saved loses no result. Every
file is written without following a symbolic link (:mod:`foundations.files`):
a link at a file's name is refused in one line naming it.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from foundations.errors import DiskFullError, LabError, WriteError
from foundations.files import is_disk_full, open_no_follow, write_atomically
from lightning_modules.curves import plot_seed_runs, read_metrics, summary_plot
from lightning_modules.runner.runs import run_folders

try:
    import fcntl
except ImportError:  # Windows: results.json is still replaced atomically, only not under a lock
    fcntl = None


def save_curves(run_dir: str | Path, metric: str, ylabel: str, output: str | Path) -> Path:
    """The book's figure for one run: loss and ``metric`` by epoch, side by side.

    It is saved in the run's own version folder (``run_dir/<name of output>``),
    and copied to ``output`` (the lab's folder) when the lab's ``results.json``
    is this run's, so a run that finished earlier or at the same time never
    overwrites the figure of the latest. Returns where the lab's copy is, or
    the run's own when another run's results are the latest.
    """
    import matplotlib.pyplot as plt

    results = read_metrics(run_dir)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    summary_plot(results, axes[0], col="loss", ylabel="Loss", fontsize=14)
    summary_plot(results, axes[1], col=metric, ylabel=ylabel, fontsize=14)
    own = Path(run_dir) / Path(output).name
    with figure_errors(own):
        fig.tight_layout()
        png = io.BytesIO()
        fig.savefig(png, format="png", dpi=100)
        plt.close(fig)
        write_atomically(own, png.getbuffer())
    return publish(own, output)


def save_model_curves(figures: dict[str, Any], metric: str, ylabel: str, output: str | Path) -> Path:
    """A model's curves: the book's figure of its run (:func:`save_curves`), or, trained with several
    seeds, every seed's training and validation ``metric`` overlaid with their mean in bold."""
    folders = run_folders(figures)
    if "seeds" not in figures:
        return save_curves(folders[0], metric, ylabel, output)
    own = Path(folders[0]) / Path(output).name
    with figure_errors(own):
        plot_seed_runs(folders, own, metric=metric, title=f"{Path(output).stem}: {len(folders)} seeds")
    return publish(own, output)


@contextlib.contextmanager
def figure_errors(figure: str | Path) -> Iterator[None]:
    """Turn a figure (or another file of a run) that can't be saved (a full disk, a folder that is not
    writable) into one line. Figures are written after ``results.json``, so the line says the results are kept.
    """
    try:
        yield
    except (OSError, DiskFullError, WriteError) as error:
        cause = error if isinstance(error, OSError) else error.__cause__
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(error)
        if isinstance(error, DiskFullError) or is_disk_full(error):
            reason = "the disk is full"
        lab_folder = _lab_folder(Path(figure))
        kept = f"; the results are kept in {lab_folder / 'results.json'}" if (lab_folder / "results.json").is_file() else ""
        what = "the figure " if Path(figure).suffix == ".png" else ""
        raise LabError(f"could not save {what}{figure}: {reason}{kept}") from error


def _lab_folder(path: Path) -> Path:
    """``<log-dir>/<lab>`` of a file in it or in one of its runs (``<lab>/<model>[/seed_<s>]/version_N/...``)."""
    folder = path.parent
    if not folder.name.startswith("version_"):
        return folder
    model = folder.parent.parent if folder.parent.name.startswith("seed_") else folder.parent
    return model.parent


def publish(own: str | Path, output: str | Path) -> Path:
    """Copy a run's file (``<run>/<name>``) to the lab's folder as ``output``, if the lab's ``results.json`` is that run's.

    Under the lab's lock, so the lab's figures and its ``results.json`` always come from one
    run: two runs that finish together can't leave one's results beside the other's curves.
    """
    own, output = Path(own), Path(output)
    with results_lock(output.parent):
        if not _is_latest_run(own.parent, output.parent / "results.json"):
            return own
        with figure_errors(output):
            write_atomically(output, own.read_bytes())
    return output


def save_run_file(run_dir: str | Path, name: str, data: bytes, lab_folder: str | Path) -> Path:
    """Write a file a run produced (a table, say) into its version folder, then :func:`publish` it to the lab's."""
    own = Path(run_dir) / name
    write_atomically(own, data, kept=f"the previous {name} is kept" if own.is_file() else "")
    return publish(own, Path(lab_folder) / name)


def _is_latest_run(run_dir: Path, results: Path) -> bool:
    """Is ``run_dir`` one of the log versions the lab's ``results.json`` came from (or is there none yet)?"""
    try:
        models = json.loads(results.read_text()).get("models", {})
    except FileNotFoundError:
        return True
    except (OSError, ValueError):
        return False
    run_dir = run_dir.resolve()
    return any(Path(folder).resolve() == run_dir for row in models.values() for folder in run_folders(row))


@contextlib.contextmanager
def results_lock(lab_folder: str | Path) -> Iterator[None]:
    """An exclusive lock on ``<lab_folder>/.results.lock`` (fcntl; none where it does not exist) while the lab's
    ``results.json`` and figures are replaced, so concurrent runs of a lab take turns."""
    lab_folder = Path(lab_folder)
    lab_folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    descriptor = open_no_follow(lab_folder / ".results.lock", os.O_RDONLY | os.O_CREAT)  # never through a link
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)  # lets the lock go


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write JSON beside ``path``, fsync it and rename it over ``path``: readers never see half a file, and a
    full disk leaves the old file and ends with one line (:class:`~lightning_modules.machinery.checkpoints.DiskFullError`)."""
    path = Path(path)
    kept = f"the previous {path.name} is kept" if path.is_file() else ""
    return write_atomically(path, (json.dumps(payload, indent=2) + "\n").encode(), kept=kept)


def write_results(
    log_dir: str | Path,
    lab: str,
    models: dict[str, dict[str, Any]],
    book: dict[str, float] | None = None,
    figure: str | None = None,
    **extra: Any,
) -> Path:
    """Write this run's results: its own record, then ``<log_dir>/<lab>/results.json``, both atomically.

    ``book`` gives the book's value of ``figure`` (e.g. ``test_mae``) per model;
    it is stored beside ours as ``book_<figure>`` for the chapter's report. Each
    trained model's row names the log version it came from (``log_dir``,
    ``version``). The run's own record goes into each of its version folders
    (``<lab>/<model>/version_N/results.json``: no other run writes there); the
    lab's ``results.json`` holds the latest finished run, replaced under the
    lab's lock (:func:`results_lock`), so two runs of a lab into one folder
    keep both records and never mix one's results with the other's figures.
    Call it before drawing figures: a figure that fails then loses no result.
    """
    models = {
        name: {**figures, **({f"book_{figure}": book[name]} if book and figure and name in book else {})}
        for name, figures in models.items()
    }
    for figures in models.values():
        for run in figures.get("seeds") or [figures]:
            if run.get("log_dir") and run.get("version") is None:
                run["version"] = _version_of(run["log_dir"])
    finished = datetime.now(UTC).isoformat(timespec="seconds")
    payload = {"lab": lab, **extra, "finished": finished, "models": models}
    for run_dir in dict.fromkeys(folder for figures in models.values() for folder in run_folders(figures)):
        write_json(Path(run_dir) / "results.json", payload)
    lab_folder = Path(log_dir) / lab
    with results_lock(lab_folder):
        return write_json(lab_folder / "results.json", payload)


def _version_of(run_dir: str | Path) -> int | str:
    name = Path(run_dir).name.removeprefix("version_")
    return int(name) if name.isdigit() else name


def results_table(rows: Sequence[tuple[str, str, float, float | None]]) -> str:
    """A plain-text table of ``(model, figure, ours, book)`` with the difference."""
    lines = [f"{'model':<20} {'figure':<14} {'ours':>10} {'book':>10} {'diff':>10}"]
    for model, figure, ours, book in rows:
        book_text = f"{book:>10.4g}" if book is not None else f"{'-':>10}"
        diff_text = f"{ours - book:>+10.3g}" if book is not None else ""
        lines.append(f"{model:<20} {figure:<14} {ours:>10.4g} {book_text} {diff_text}")
    return "\n".join(lines)
