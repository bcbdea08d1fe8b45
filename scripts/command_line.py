"""The command line of every lab script: its flags, the checks before any work, and a truthful exit.

Only what is about the command line lives here (argparse, exit statuses); what
a run does is the library's (:mod:`lightning_modules.runner.runs`,
:mod:`lightning_modules.runner.results`), so a notebook can do the same without this module.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

import matplotlib
import torch
from pytorch_lightning import Trainer, seed_everything
from pytorch_lightning.strategies import StrategyRegistry
from pytorch_lightning.utilities import rank_zero_only
from pytorch_lightning.utilities.exceptions import MisconfigurationException

from foundations.errors import MAX_SEED, BadArgumentError, DiskFullError, exit_status, user_errors
from foundations.files import disk_full, is_disk_full
from lightning_modules.curves import in_notebook
from lightning_modules.machinery.run_logs import end_distributed
from lightning_modules.machinery.signals import (
    INTERRUPTED_EXIT,
    STOP,
    RunInterrupted,
    interrupting_signal,
    signals_stop_runs,
)
from lightning_modules.runner.parallel import parallel_jobs
from lightning_modules.trainer import ACCELERATORS, available_accelerators, check_accelerator


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


def lab_parser(description: str, max_epochs: int, threads: int | None = None, data: type | None = None,
               parallel_seeds: bool = False, jobs: int | None = None, seed: int = 0, log_dir: str = "logs",
               data_dir: str = "data", synthetic: bool = False, limit: int | None = None) -> argparse.ArgumentParser:
    """The flags every lab script takes, their defaults the script's own parameters (``max_epochs``, ``seed``,
    ``log_dir``: the notebook's parameters cell, so a flag overrides that cell as papermill's ``-p`` does);
    ``threads``: the torch threads that run the lab fastest on a CPU (None: torch's default);
    ``data`` (the lab's data module class) adds ``--data-dir``, ``--synthetic`` and ``--limit``, their defaults
    ``data_dir``, ``synthetic`` and ``limit``;
    ``parallel_seeds`` adds ``--jobs`` (a lab that trains its seeds with
    :func:`~lightning_modules.runner.parallel.for_each_seed`), whose default is ``jobs`` (None: as many as the cores hold).

    Values that can never work (a negative seed, zero epochs, an unknown
    strategy...) are refused as they are parsed: one line, exit status 2;
    :func:`prepare` then checks what needs the machine (the log folder, the
    accelerator) before any work starts.
    """
    parser = LabArgumentParser(description=description.strip().splitlines()[0])
    parser.add_argument("--max-epochs", type=whole_number(1), default=max_epochs,
                        help=f"training epochs (default: {max_epochs})")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="where to train (default: auto)")
    parser.add_argument("--devices", type=_devices, default="auto",
                        help="devices to use: a count, a comma-separated list of indices, -1 for all, or auto")
    parser.add_argument("--strategy", type=strategy_name, default="auto",
                        help="Lightning strategy, e.g. ddp for several devices")
    parser.add_argument("--num-nodes", type=whole_number(1), default=1, help="machines taking part (with ddp)")
    parser.add_argument("--log-dir", default=log_dir,
                        help=f"where CSV logs, curves and results.json go (default: {log_dir})")
    parser.add_argument("--seed", type=seed_number, default=seed,
                        help=f"random seed, 0 to {MAX_SEED} (default: {seed}" + (", as in the book)" if seed == 0 else ")"))
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
    if parallel_seeds:
        default = "as many as the cores hold at --threads each" if jobs is None else str(jobs)
        parser.add_argument(
            "--jobs", type=whole_number(1), default=jobs, metavar="N",
            help=f"with --seeds on a CPU: seeds trained at once, in worker processes (default: {default}; 1 trains"
            " them one after another). Each seed's figures are the same either way",
        )
    if data:
        parser.set_defaults(data_module=data)  # prepare() makes sure the data are here before any work
        parser.add_argument("--data-dir", default=data_dir, help="where the data set is (or is downloaded to)")
        parser.add_argument(
            "--synthetic",
            action="store_true",
            default=synthetic,
            help="train on random data of the real shapes (to try the code offline; the figures mean nothing)",
        )
        parser.add_argument("--limit", type=whole_number(1), default=limit,
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


def seeds(args: argparse.Namespace) -> list[int]:
    """The seeds to train each network with: those of ``--seeds`` (a count K from ``--seed`` on, or the
    list), or ``--seed`` alone."""
    if args.seeds is None:
        return [args.seed]
    return list(range(args.seed, args.seed + args.seeds)) if isinstance(args.seeds, int) else list(args.seeds)


def seed_jobs(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`~lightning_modules.runner.parallel.for_each_seed`'s ``jobs`` and ``threads`` from the flags: seeds in
    parallel only on a CPU with one process per run (no DDP), ``--jobs`` or as many as the cores hold."""
    if "jobs" not in args:  # a lab that trains its seeds one after another
        return {"jobs": 1, "threads": args.threads}
    on_cpu = args.accelerator == "cpu" or (args.accelerator == "auto" and available_accelerators() == ["cpu"])
    one_process = args.strategy == "auto" and args.num_nodes == 1
    jobs = parallel_jobs(len(seeds(args)), args.threads, args.jobs, on_cpu=on_cpu and one_process)
    return {"jobs": jobs, "threads": args.threads}


def trainer_options(args: argparse.Namespace) -> dict[str, Any]:
    """:func:`~lightning_modules.trainer.make_trainer`'s arguments from the flags, but the epochs (which a lab
    script passes where a reader sees them). With ``--seeds`` each seed logs under ``<model>/seed_<s>/``."""
    return {
        "accelerator": args.accelerator,
        "devices": _devices(args.devices),
        "strategy": args.strategy,
        "num_nodes": args.num_nodes,
        "log_dir": args.log_dir,
        "resume": args.resume,
        "seed_folder": args.seeds is not None,
        # seeds trained side by side would interleave their progress bars
        **({"enable_progress_bar": False} if seed_jobs(args)["jobs"] > 1 else {}),
    }


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
    check_data(args)


def check_data(args: argparse.Namespace) -> None:
    """A data lab's data set, downloaded if it is missing, before the lab prints or writes anything.

    Data that can't be had ends the run here (:class:`~foundations.errors.DataUnavailableError`,
    status 3: the chapter run reports the lab as skipped), not after the network's summary and
    with an empty ``version_0`` folder left behind. Nothing to check on synthetic data, or when
    the lab only scores reviews (``--predict``: the vocabulary comes with the network).
    """
    data_module = getattr(args, "data_module", None)
    if data_module is None or getattr(args, "synthetic", False) or getattr(args, "predict", None):
        return
    data_module(data_dir=args.data_dir).prepare_data()


def _interrupted_message(signum: int) -> str:
    name = signal.Signals(signum).name
    if STOP.log_dir is None:
        return f"interrupted by {name} before training began: nothing was written; run the same command again"
    return (
        f"interrupted by {name}: the run stopped before finishing; completed epochs and the last checkpoint are in "
        f"{STOP.log_dir}: to continue, run the same command with --resume (and the same --log-dir {STOP.log_dir})"
    )


def _disk_full_error(error: OSError) -> DiskFullError:
    """The one-line error of a full disk: the checkpoint writer's own, if an error while stopping hid it."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, DiskFullError):
            return cause
        cause = cause.__cause__ or cause.__context__
    if STOP.log_dir is not None:
        return disk_full(error.filename or STOP.log_dir, kept="the last checkpoint of the run is kept")
    return disk_full(error.filename or ".", then="then run it again")


def run(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> Any:
    """Run a lab's ``main`` and end with an exit status that tells the truth.

    In a notebook (:func:`~lightning_modules.curves.in_notebook`) ``main`` runs with the parameters cell's values and its result is
    returned: no flags are read, no exit, and an error shows as the notebook shows any other.

    0: every result was written. A user's mistake: one line and its status (2: a
    bad argument; 3: the lab's data or weights are not available, which the
    chapter run reports as skipped; 1: other bad data or environment). SIGTERM
    (``timeout``, Slurm, ``docker stop``), SIGHUP (a closed terminal) or Ctrl-C:
    the run stops at a safe point (the end of the current batch in a Trainer, at
    once elsewhere), the last checkpoint stays usable, one line says how to
    continue (``--resume``), and the status is 128 + the signal's number. Under
    DDP rank zero decides: the others stop with it.
    """
    if in_notebook():
        return main([])
    matplotlib.use("Agg")  # figures go to files; no window, even where there is a display
    try:
        with signals_stop_runs() as stop:
            try:
                try:
                    main(argv)
                except OSError as error:
                    if not is_disk_full(error):
                        raise
                    raise _disk_full_error(error) from error
                stop.raise_if_signalled()  # a signal after the last safe point still ends the run as stopped
            except user_errors() as error:
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
        end_distributed()
