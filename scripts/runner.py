"""What every lab script shares: its flags, fit-then-test, the results table and file, clean errors.

The runner of the scripts in this folder, not part of the library: it parses
flags and exits with a status. (The scripts find it on their own folder's path.)
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import signal
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, NoReturn

import matplotlib
import torch
from pytorch_lightning import LightningDataModule, Trainer, seed_everything
from pytorch_lightning.strategies import StrategyRegistry
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException
from torch import nn

from datamodules.base import BadArgumentError
from lightning_modules.callbacks import ResumableCSVLog
from lightning_modules.checkpoints import DiskFullError, WriteError, disk_full, is_disk_full, write_atomically
from lightning_modules.curves import plot_seed_runs, read_metrics, summary_plot
from lightning_modules.errors import (
    INTERRUPTED_EXIT,
    MAX_SEED,
    STOP,
    USER_ERRORS,
    LabError,
    RunInterrupted,
    StopOnSignal,
    exit_status,
    interrupting_signal,
    signals_stop_runs,
)
from lightning_modules.labs import BookNetwork
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import ACCELERATORS, check_accelerator, end_distributed, make_trainer

try:
    import fcntl
except ImportError:  # Windows: results.json is still replaced atomically, only not under a lock
    fcntl = None


class LabArgumentParser(argparse.ArgumentParser):
    """argparse with a one-line error: ``<script>: error: <what is wrong> (see --help)``, exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def whole_number(minimum: int, maximum: int | None = None, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``minimum`` (to ``maximum``); ``hint`` is said when it is not."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum or (maximum is not None and value > maximum):
            bounds = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
            raise argparse.ArgumentTypeError(f"must be {bounds}, got {value}{hint}")
        return value

    parse.__name__ = "whole number"
    return parse


#: an argparse ``type``: a seed (0 to MAX_SEED)
seed_number = whole_number(0, MAX_SEED)


def strategy_name(text: str) -> str:
    """An argparse ``type``: ``auto`` or a strategy Lightning knows (``ddp``, ``ddp_spawn``, ``fsdp``...)."""
    known = StrategyRegistry.available_strategies()
    if text.lower() == "auto" or text.lower() in known:
        return text.lower()
    common = [name for name in ("ddp", "ddp_spawn", "fsdp", "deepspeed") if name in known]
    raise argparse.ArgumentTypeError(
        f"unknown strategy {text!r}: give auto or one of Lightning's ({', '.join(common)}, ...: {len(known)} in all)"
    )


def check_log_dir(log_dir: str | Path, flag: str = "--log-dir") -> None:
    """Fail at once (:class:`BadArgumentError`) unless ``log_dir`` is a folder this process can write in, or can create."""
    path = Path(log_dir)
    existing = path
    while not existing.exists() and existing != existing.parent:  # the nearest part of the path that exists
        existing = existing.parent
    if not existing.is_dir():
        why = "is a file, not a folder" if existing == path else f"can't be created: {existing} is a file"
        raise BadArgumentError(f"{flag} {log_dir}: {why}; give a folder for the logs")
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as error:
        raise BadArgumentError(
            f"{flag} {log_dir}: can't write there ({error.strerror or error}); give a folder you can write to"
        ) from None


def _check_hardware(args: argparse.Namespace) -> None:
    """Fail at once if Lightning refuses the accelerator, devices, strategy and node count together."""
    check_accelerator(args.accelerator)
    lightning_logs = logging.getLogger("pytorch_lightning")
    level = lightning_logs.level
    lightning_logs.setLevel(logging.WARNING)  # no "GPU available: ..." lines for a trial Trainer
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            Trainer(accelerator=args.accelerator, devices=_devices(args.devices), strategy=args.strategy,
                    num_nodes=args.num_nodes, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                    enable_model_summary=False)
    except (MisconfigurationException, ValueError, TypeError, RuntimeError) as error:
        devices = ",".join(map(str, args.devices)) if isinstance(args.devices, list) else args.devices
        flags = f"--accelerator {args.accelerator} --devices {devices} --strategy {args.strategy} --num-nodes {args.num_nodes}"
        raise BadArgumentError(f"{flags}: {' '.join(str(error).split())}") from None
    finally:
        lightning_logs.setLevel(level)


#: the --log-dir of the run's Trainers, once trainer_for built one (there is then a run to --resume)
_TRAINED_INTO: list[str] = []


def _interrupted_message(signum: int) -> str:
    name = signal.Signals(signum).name
    if not _TRAINED_INTO:
        return f"interrupted by {name} before training began: nothing was written; run the same command again"
    log_dir = _TRAINED_INTO[-1]
    return (
        f"interrupted by {name}: the run stopped before finishing; completed epochs and the last checkpoint are in "
        f"{log_dir}: to continue, run the same command with --resume (and the same --log-dir {log_dir})"
    )


def lab_parser(description: str, settings: BookNetwork, data: bool = False) -> argparse.ArgumentParser:
    """The flags every lab script takes, defaults from the lab's book ``settings``;
    ``data`` adds ``--data-dir``, ``--synthetic`` and ``--limit``.

    Values that can never work (a negative seed, zero epochs, an unknown
    strategy...) are refused as they are parsed: one line, exit status 2;
    :func:`prepare` then checks what needs the machine (the log folder, the
    accelerator) before any work starts.
    """
    epochs, threads = settings.epochs, settings.threads
    parser = LabArgumentParser(description=description)
    parser.add_argument("--max-epochs", type=whole_number(1), default=epochs, help=f"training epochs (book: {epochs})")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="where to train (default: auto)")
    parser.add_argument("--devices", type=_devices, default="auto",
                        help="devices to use: a count, a comma-separated list of indices, -1 for all, or auto")
    parser.add_argument("--strategy", type=strategy_name, default="auto",
                        help="Lightning strategy, e.g. ddp for several devices")
    parser.add_argument("--num-nodes", type=whole_number(1), default=1, help="machines taking part (with ddp)")
    parser.add_argument("--log-dir", default="logs", help="where CSV logs, curves and results.json go (default: logs)")
    parser.add_argument("--seed", type=seed_number, default=0,
                        help=f"random seed, 0 to {MAX_SEED} (default: 0, as in the book)")
    parser.add_argument(
        "--seeds", type=seed_list, default=None, metavar="K or S1,S2,...",
        help="train each network once per seed: K seeds from --seed on (--seeds 5: 0 to 4), or a list (--seeds 0,3,7);"
        " each seed logs under <model>/seed_<s>/ and the results give every seed's figures and their mean"
        " (default: one run with --seed; the linear baselines are fitted once either way)",
    )
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest run from its last completed epoch (same log version)"
    )
    parser.add_argument(
        "--threads",
        type=whole_number(1, hint=" (leave --threads out for the lab's default)"),
        default=threads,
        help="CPU threads for torch, 1 or more (small networks run fastest on one)"
        + (f"; default {threads}" if threads else "; default: torch's"),
    )
    if data:
        parser.add_argument("--data-dir", default="data", help="where the data set is (or is downloaded to)")
        parser.add_argument(
            "--synthetic",
            action="store_true",
            help="train on random data of the real shapes (to try the code offline; the figures mean nothing)",
        )
        parser.add_argument("--limit", type=whole_number(1), default=None,
                            help="use only the first N training and test rows (N at least 1)")
    return parser


def seed_list(text: str) -> list[int] | int:
    """``--seeds``: a count K (at least 1), or a comma-separated list of distinct seeds."""
    if "," not in text:
        return whole_number(1, 1000, hint=" (a count of seeds; give a list such as 0,3,7 for particular seeds)")(text)
    seeds = [seed_number(part.strip()) for part in text.split(",") if part.strip()]
    if not seeds or len(set(seeds)) != len(seeds):
        raise argparse.ArgumentTypeError(f"{text!r}: give distinct seeds, e.g. 0,1,2")
    return seeds


def run_seeds(args: argparse.Namespace) -> list[int] | None:
    """The seeds of ``--seeds`` (a count K from ``--seed`` on, or the list), or None for the single ``--seed`` run."""
    if args.seeds is None:
        return None
    return list(range(args.seed, args.seed + args.seeds)) if isinstance(args.seeds, int) else list(args.seeds)


def _devices(value: str | int | list[int]) -> int | str | list[int]:
    """``--devices``: ``auto``, a count (``-1``: all), or a comma-separated list of device indices."""
    if not isinstance(value, str):  # already parsed
        return value
    text = value.strip()
    try:
        if text.lower() == "auto":
            return "auto"
        if "," in text:
            indices = [int(part) for part in text.split(",") if part.strip()]
            if indices and all(index >= 0 for index in indices):
                return indices
        elif int(text) >= 1 or int(text) == -1:
            return int(text)
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(
        f"{value!r} is not a number of devices (at least 1) or a list of them: give auto, a count such as 2, -1 for all, or indices such as 0,1"
    )


def prepare(args: argparse.Namespace) -> None:
    """Check what the flags ask of this machine, then seed everything (as the book does first) and set the thread count.

    Before any work: every ``--*-epochs`` at least 1, a log folder that can be
    written, an accelerator this machine has, and devices, strategy and nodes
    that Lightning accepts together. A mistake ends the run with one line.
    """
    for name, value in vars(args).items():
        if name.endswith("epochs") and isinstance(value, int) and value < 1:
            raise BadArgumentError(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    check_log_dir(args.log_dir)
    _check_hardware(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed, workers=True, verbose=False)


def trainer_for(
    args: argparse.Namespace, settings: BookNetwork, max_epochs: int | None = None, seed: int | None = None, **kwargs: Any
) -> Trainer:
    """The Trainer of one network of the lab, from the command-line flags (``max_epochs``: other than
    ``--max-epochs``; ``seed``: one of ``--seeds``, logged under ``<model>/seed_<seed>/``).

    It stops at the next safe point when SIGTERM or Ctrl-C arrives (see :func:`run`).
    """
    STOP.raise_if_signalled()  # a signal that came after the previous Trainer's last check
    _TRAINED_INTO.append(str(args.log_dir))
    callbacks = [*(kwargs.pop("callbacks", None) or []), StopOnSignal()]
    return make_trainer(
        settings.lab,
        settings.name if seed is None else f"{settings.name}/seed_{seed}",
        max_epochs=args.max_epochs if max_epochs is None else max_epochs,
        accelerator=args.accelerator,
        devices=_devices(args.devices),
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        log_dir=args.log_dir,
        seed=args.seed if seed is None else seed,
        resume=args.resume,
        callbacks=callbacks,
        **kwargs,
    )


def print_summary(network: nn.Module, input_size: Sequence[int], dtypes: list[torch.dtype] | None = None) -> None:
    """The network's layers and parameter counts (torchinfo), as the book prints them."""
    from torchinfo import summary

    print(summary(network, input_size=list(input_size), dtypes=dtypes, col_names=["input_size", "output_size", "num_params"], verbose=0))


def fit_and_test(module: SimpleModule, datamodule: LightningDataModule, trainer: Trainer) -> dict[str, Any]:
    """Train, then test; the test figures with the epoch count, the seconds spent fitting and the log version.

    A trainer made with ``resume`` logs into an existing version: if that run
    left a ``checkpoints/last.ckpt``, training continues from it (a finished run
    is only tested again, its test row replaced), and ``fit_seconds`` counts every
    attempt the checkpoint covers. A disk that fills up ends the run with one line
    (:class:`~lightning_modules.checkpoints.DiskFullError`); the last checkpoint stays whole.
    """
    log_dir = Path(trainer.logger.log_dir) if trainer.logger else None
    last = log_dir / "checkpoints" / "last.ckpt" if log_dir else None
    start = time.perf_counter()
    try:
        trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if last and last.is_file() else None)
        wall_seconds = time.perf_counter() - start
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
    except OSError as error:
        if not is_disk_full(error):
            raise
        raise _disk_full_error(error, log_dir, last) from error
    timer = next((callback for callback in trainer.callbacks if isinstance(callback, ResumableCSVLog)), None)
    fit_seconds = timer.fit_seconds() if timer is not None and timer.fit_seconds() > 0 else wall_seconds
    return {
        **{name: float(value) for name, value in test.items()},
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 3),
        "log_dir": str(log_dir) if log_dir else None,
        "version": trainer.logger.version if trainer.logger else None,
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
    }


def fit_seeds(
    args: argparse.Namespace,
    settings: BookNetwork,
    build: Callable[[int], tuple[SimpleModule, LightningDataModule]],
    max_epochs: int | None = None,
    summary_input: Sequence[int] | None = None,
    summary_dtypes: list[torch.dtype] | None = None,
) -> dict[str, Any]:
    """Train one network once per seed of ``--seeds`` (or once, with ``--seed``) and test it.

    ``build(seed)`` gives a fresh module and data module; each seed's run is
    seeded first (weights, shuffling, dropout), so it is reproducible alone:
    ``--seeds 0,1,2`` and ``--seeds 1`` give the same seed-1 run. With one run
    the figures are that run's, as ever; with several, the test figures are
    their mean, ``fit_seconds`` their total, and ``seeds`` holds every run's own
    figures (with its seed, log folder and version). The first network built is
    summarized (torchinfo) for an input of ``summary_input``.
    """

    def built(seed: int, first: bool) -> tuple[SimpleModule, LightningDataModule]:
        module, datamodule = build(seed)
        if first and summary_input is not None:
            print_summary(module.model, input_size=summary_input, dtypes=summary_dtypes)
        return module, datamodule

    seeds = run_seeds(args)
    if seeds is None:
        module, datamodule = built(args.seed, first=True)
        return fit_and_test(module, datamodule, trainer_for(args, settings, max_epochs))
    runs = []
    for seed in seeds:
        seed_everything(seed, workers=True, verbose=False)
        module, datamodule = built(seed, first=not runs)
        runs.append({"seed": seed, **fit_and_test(module, datamodule, trainer_for(args, settings, max_epochs, seed=seed))})
    figures = [name for name in runs[0] if name.startswith("test_")]
    return {
        **{name: sum(run[name] for run in runs) / len(runs) for name in figures},
        "epochs": runs[0]["epochs"],
        "fit_seconds": round(sum(run["fit_seconds"] for run in runs), 3),
        "accelerator": runs[0]["accelerator"],
        "seeds": runs,
    }


def is_global_zero() -> bool:
    """Is this the process that writes results (rank zero of a distributed run, or the only one)?"""
    return rank_zero_only.rank == 0


def run_folders(figures: dict[str, Any]) -> list[str]:
    """The log folders of one model's runs: one per seed, or the single run's."""
    runs = figures.get("seeds") or [figures]
    return [run["log_dir"] for run in runs if run.get("log_dir")]


def _disk_full_error(error: OSError, log_dir: Path | None, last: Path | None) -> DiskFullError:
    """The one-line error of a full disk: the checkpoint writer's own, if an error while stopping hid it."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DiskFullError):
            return cause
        cause = cause.__cause__ or cause.__context__
    where = error.filename or log_dir or "."
    if last is not None and last.is_file():
        return disk_full(where, kept=f"the last checkpoint, {last}, is kept")
    return disk_full(where, then="then run it again")


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
def figure_errors(figure: str | Path):
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
def results_lock(lab_folder: str | Path):
    """An exclusive lock on ``<lab_folder>/.results.lock`` (fcntl; none where it does not exist) while the lab's
    ``results.json`` and figures are replaced, so concurrent runs of a lab take turns."""
    lab_folder = Path(lab_folder)
    lab_folder.mkdir(parents=True, exist_ok=True)
    if fcntl is None:
        yield
        return
    with open(lab_folder / ".results.lock", "a") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def synthetic_notice(data_name: str) -> str:
    """The line synthetic runs print, before training and beside their results."""
    return f"*** SYNTHETIC DATA, NOT {data_name}: these losses and accuracies mean nothing (and don't compare with the book's) ***"


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write JSON beside ``path``, fsync it and rename it over ``path``: readers never see half a file, and a
    full disk leaves the old file and ends with one line (:class:`~lightning_modules.checkpoints.DiskFullError`)."""
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
    finished = datetime.now(timezone.utc).isoformat(timespec="seconds")
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


def run(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> None:
    """Run a lab's ``main`` and end with an exit status that tells the truth.

    0: every result was written. A user's mistake: one line and 2 (a bad
    argument), 3 (the lab's data or weights are not available, which the chapter
    run reports as skipped) or 1 (other bad data or environment). SIGTERM
    (``timeout``, Slurm, ``docker stop``) or Ctrl-C: the run stops at a safe point
    (the end of the current batch in a Trainer, at once elsewhere), the last
    checkpoint stays usable, one line says how to continue (``--resume``), and
    the status is 143 or 130. Under DDP rank zero decides: the others stop with it.
    """
    matplotlib.use("Agg")  # figures go to files; no window, even where there is a display
    _TRAINED_INTO.clear()
    try:
        with signals_stop_runs() as stop:
            try:
                main(argv)
                stop.raise_if_signalled()  # a signal after the last safe point still ends the run as stopped
            except USER_ERRORS as error:
                print(f"error: {error}", file=sys.stderr)
                sys.exit(exit_status(error))
            except (RunInterrupted, KeyboardInterrupt, SystemExit) as error:
                # Lightning ends a run on SIGTERM with SIGTERMException (a SystemExit of status 0: that would say
                # success), and on Ctrl-C in fit with sys.exit(1); an argparse error is a SystemExit to let through
                signum = interrupting_signal(error)
                if signum is None:
                    raise
                if rank_zero_only.rank == 0:
                    print(_interrupted_message(signum), file=sys.stderr, flush=True)
                sys.exit(INTERRUPTED_EXIT[signum])
    finally:
        _TRAINED_INTO.clear()
        end_distributed()
