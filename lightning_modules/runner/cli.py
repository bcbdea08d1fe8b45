"""``islp-lab``: the Trainer CLI (LightningCLI) over any lab's network and data module.

    islp-lab fit --config scripts/configs/hitters.yaml
    islp-lab fit --config scripts/configs/hitters.yaml --trainer.max_epochs 3 --trainer.accelerator cpu
    islp-lab test --config scripts/configs/hitters.yaml --ckpt_path logs/hitters/mlp/version_0/checkpoints/last.ckpt
    islp-lab fit --config scripts/configs/hitters.yaml --print_config > my.yaml
    islp-lab fit --config scripts/configs/hitters.yaml --ckpt_path last     # continue an interrupted run

A config names the network (``model.model.class_path``), the task and
optimizer of :class:`~lightning_modules.module.SimpleModule`, the data module
(``data.class_path``), and where the CSV logs go (``trainer.logger``).
"""

from __future__ import annotations

import logging
import signal
import sys
import tempfile
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import yaml
from jsonargparse import set_dumper
from jsonargparse.typing import register_type
from pytorch_lightning.cli import LightningArgumentParser, LightningCLI
from pytorch_lightning.utilities import rank_zero_only

from datamodules.base import InMemoryDataModule
from datamodules.imdb.datamodule import ReviewList, review_list
from foundations.errors import MAX_SEED, BadArgumentError, CheckpointError, CorruptDataError, exit_status, user_errors
from lightning_modules.machinery.checks import network_difference
from lightning_modules.machinery.resuming import check_resume, read_checkpoint_safely
from lightning_modules.machinery.run_logs import end_distributed, latest_version, nothing_to_resume
from lightning_modules.machinery.signals import INTERRUPTED_EXIT, StopOnSignal, interrupting_signal, signals_stop_runs
from lightning_modules.module import SimpleModule
from lightning_modules.predictions import PrintPredictions
from lightning_modules.trainer import DEFAULT_CALLBACKS, DEFAULT_PLUGINS, check_accelerator, quiet_lightning

# IMDB's predict_texts, checked as one list (as list[str], jsonargparse deep-copied the list once per review)
register_type(ReviewList, serializer=list, deserializer=review_list)


def _yaml_dump(data: Any) -> str:
    """jsonargparse's YAML dump (same options, same text) through libyaml where PyYAML has it: LightningCLI dumps
    the whole config several times (config.yaml, the hyperparameters), 10x faster for 10,000 reviews to predict."""
    return yaml.dump(data, Dumper=getattr(yaml, "CSafeDumper", yaml.SafeDumper), default_flow_style=False,
                     allow_unicode=True, sort_keys=False)


set_dumper("yaml", _yaml_dump)

#: where the configs' logs go unless --trainer.default_root_dir says otherwise
DEFAULT_LOG_DIR = "logs"


def _as_config(class_: type, init_args: dict[str, Any]) -> dict[str, Any]:
    """A class and its arguments as a config names them: ``class_path``, and ``init_args`` when there are any."""
    return {"class_path": f"{class_.__module__}.{class_.__qualname__}", **({"init_args": dict(init_args)} if init_args else {})}


#: what ``make_trainer`` gives the lab scripts, as config: the same logs, callbacks and determinism
TRAINER_DEFAULTS = {
    "deterministic": True,
    "num_sanity_val_steps": 0,
    "logger": {"class_path": "lightning_modules.machinery.run_logs.ResumableCSVLogger", "init_args": {"save_dir": DEFAULT_LOG_DIR, "name": "lab"}},
    "callbacks": [_as_config(callback, init_args) for callback, init_args in DEFAULT_CALLBACKS],
    "plugins": [_as_config(plugin, init_args) for plugin, init_args in DEFAULT_PLUGINS],
}


#: --ckpt_path values Lightning resolves itself (not files to check)
SPECIAL_CHECKPOINTS = ("last", "best", "hpc", "registry")


class LabCLI(LightningCLI):
    """LightningCLI with the project's Trainer defaults, an accelerator check and a thread count.

    Arguments are checked before any work: the seed and thread count as they
    are parsed, the accelerator before anything is built, ``--ckpt_path`` (a
    checkpoint, of this config's network) before the Trainer runs.
    """

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        config = self.config[self.config["subcommand"]] if self.config.get("subcommand") else self.config
        seed = config.get("seed_everything")
        if not isinstance(seed, bool) and isinstance(seed, int) and not 0 <= seed <= MAX_SEED:
            raise BadArgumentError(f"--seed_everything must be from 0 to {MAX_SEED} (or true for a random one), got {seed}")
        threads = config.get("torch_threads")
        if threads is not None and threads < 1:
            raise BadArgumentError(f"--torch_threads must be at least 1 (or null: torch's default), got {threads}")
        # before LightningCLI reads the checkpoint's hyperparameters (a file that is none would end in a traceback)
        self._checkpoint_weights = checkpoint_weights(config.get("ckpt_path"))

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_argument(
            "--torch_threads", type=int | None, default=None, help="CPU threads for torch (small networks: 1)"
        )
        # defaults in the parser (not trainer_defaults) so --print_config shows them and a config can change them
        parser.set_defaults({f"trainer.{key}": value for key, value in TRAINER_DEFAULTS.items()})
        parser.set_defaults({"trainer.enable_progress_bar": sys.stderr.isatty()})

    def before_instantiate_classes(self) -> None:
        config = self.config[self.subcommand] if self.subcommand else self.config
        accelerator = config.trainer.accelerator
        if isinstance(accelerator, str):
            check_accelerator(accelerator)
        if config.torch_threads:
            torch.set_num_threads(config.torch_threads)
        self._logs_under_root_dir(config.trainer)
        if self.subcommand == "predict":  # predictions are printed: no log version, no config.yaml, nothing written
            config.trainer.logger = False
        elif self.subcommand:
            check_log_folder(self.subcommand, config.trainer)
        if self.subcommand == "fit" and config.get("ckpt_path") == "last":
            self._reopen_latest_version(config.trainer.logger)

    def before_fit(self) -> None:
        """Continuing a run (``--ckpt_path``): its checkpoint checked as the lab scripts' ``--resume`` checks it,
        before Lightning loads it or rewrites a file (fewer epochs than the run has, a hand-edited metrics.csv)."""
        self._before_run()
        ckpt_path = self.config[self.subcommand].get("ckpt_path")
        path = getattr(self, "_last_checkpoint", None) if ckpt_path == "last" else ckpt_path
        if path and str(path) not in SPECIAL_CHECKPOINTS and "://" not in str(path) and Path(path).is_file():
            check_resume(path, self.trainer, option="--ckpt_path", epochs_flag="--trainer.max_epochs")

    def before_validate(self) -> None:
        self._before_run()

    def before_test(self) -> None:
        self._before_run()

    def before_predict(self) -> None:
        """``predict`` prints each prediction (e.g. the probability that a review is positive)."""
        self._before_run()
        # no logger, so a checkpoint callback's folder differs from the one it was saved with: nothing is saved here
        warnings.filterwarnings("ignore", message="The dirpath has changed from")
        if not any(isinstance(callback, PrintPredictions) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(PrintPredictions())

    def instantiate_trainer(self, **kwargs: Any) -> Any:
        """The Trainer, once the network is known to fit ``--ckpt_path`` (checked before the Trainer says a word)."""
        if self.subcommand:
            ckpt_path = self.config[self.subcommand].get("ckpt_path")
            check_network(ckpt_path, getattr(self, "_checkpoint_weights", None), self.model)
        if self.subcommand == "predict":
            self.save_config_callback = None  # predict writes nothing (its config is the command line)
        return super().instantiate_trainer(**kwargs)

    def _before_run(self) -> None:
        """Let SIGTERM and Ctrl-C stop the run at a safe point (:func:`signals_stop_runs`)."""
        if not any(isinstance(callback, StopOnSignal) for callback in self.trainer.callbacks):
            self.trainer.callbacks.append(StopOnSignal())

    @staticmethod
    def _logs_under_root_dir(trainer: Any) -> None:
        """``--trainer.default_root_dir D`` moves the configs' logs from ``logs/<lab>`` to ``D/<lab>``."""
        root, init_args = trainer.get("default_root_dir"), getattr(trainer.logger, "init_args", None)
        if not root or init_args is None or "save_dir" not in init_args:
            return
        save_dir = Path(init_args.save_dir)
        if not save_dir.is_absolute() and save_dir.parts[:1] == (DEFAULT_LOG_DIR,):
            init_args.save_dir = str(Path(root, *save_dir.parts[1:]))

    def _reopen_latest_version(self, logger: Any) -> None:
        """``fit --ckpt_path last`` continues the latest run: log into its version, resume its ``last.ckpt``.

        The latest run is the newest version with a checkpoint (an empty folder a failed start
        left, or the logs of ``test``/``predict``, are not runs). With none, it says so and a new
        run starts from its first epoch.
        """
        init_args = getattr(logger, "init_args", None)
        if init_args is None or init_args.get("version") is not None or "save_dir" not in init_args:
            return
        name = init_args.get("name") or "lightning_logs"
        init_args.version = latest_version(init_args.save_dir, name)
        if init_args.version is None:
            nothing_to_resume(Path(init_args.save_dir) / name, "--ckpt_path last")
            return
        # the checkpoint Lightning will resolve "last" to, checked as a named one is (safe to read, this network)
        last = Path(init_args.save_dir) / name / f"version_{init_args.version}" / "checkpoints" / "last.ckpt"
        self._checkpoint_weights = checkpoint_weights(last)
        self._last_checkpoint = last


def check_log_folder(subcommand: str, trainer: Any) -> None:
    """Refuse in one line (:class:`BadArgumentError`) a ``subcommand`` that writes its logs where it cannot.

    The folder is the logger's ``save_dir`` (``--trainer.default_root_dir`` moves it), else
    ``default_root_dir``, else the current folder. Nothing is created here (the other arguments are checked
    after this): where the folder is missing, the nearest folder above it must take the run's.
    """
    init_args = getattr(trainer.get("logger"), "init_args", None)
    folder = Path((init_args.get("save_dir") if init_args is not None else None) or trainer.get("default_root_dir") or ".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    try:
        if not existing.is_dir():
            raise NotADirectoryError(f"{existing} is not a folder")
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise BadArgumentError(
            f"{subcommand} writes its logs in {folder}, which can't be written ({error.strerror or error}): "
            "give --trainer.default_root_dir a folder you can write to"
        ) from None


def checkpoint_weights(ckpt_path: Any) -> dict[str, Any] | None:
    """The weights (``state_dict``) in ``--ckpt_path``; None for ``last``, ``best``... that Lightning resolves.

    A missing file is a :class:`BadArgumentError`, a file that is not a Lightning
    checkpoint a :class:`CorruptDataError`.
    """
    if not ckpt_path or str(ckpt_path) in SPECIAL_CHECKPOINTS or "://" in str(ckpt_path):
        return None
    path = Path(ckpt_path)
    if not path.is_file():
        raise BadArgumentError(
            f"--ckpt_path {ckpt_path}: no such file; give a checkpoint (logs/<lab>/<model>/version_N/checkpoints/last.ckpt) or last"
        )
    try:
        checkpoint = read_checkpoint_safely(path)
    except CheckpointError as error:
        what = "cannot be loaded safely" if error.unsafe else "is not a checkpoint that can be read"
        raise CorruptDataError(f"--ckpt_path {ckpt_path} {what}: {error.reason}") from None
    weights = checkpoint.get("state_dict")
    if not isinstance(weights, dict):
        raise CorruptDataError(f"--ckpt_path {ckpt_path} is not a Lightning checkpoint (it holds no state_dict)")
    return weights


def check_network(ckpt_path: Any, weights: dict[str, Any] | None, model: torch.nn.Module) -> None:
    """Refuse (:class:`BadArgumentError`) checkpoint ``weights`` of another network than ``model``'s."""
    if weights is None:
        return
    difference = network_difference(weights, model.state_dict(), here="this config's network")
    if difference is not None:
        raise BadArgumentError(f"--ckpt_path {ckpt_path} {difference}; give a checkpoint of a run of this config")


def check_config_files(args: Sequence[str]) -> None:
    """Refuse a ``--config`` file that is not UTF-8 text (:class:`CorruptDataError`), naming where it goes wrong."""
    for index, arg in enumerate(args):
        if arg.startswith("--config="):
            name = arg.split("=", 1)[1]
        elif arg == "--config" and index + 1 < len(args):
            name = args[index + 1]
        else:
            continue
        path = Path(name)
        if not path.is_file():
            continue  # jsonargparse says so, or it is YAML text itself
        try:
            path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as error:
            raise CorruptDataError(
                f"--config {name} is not UTF-8 text (byte 0x{error.object[error.start]:02x} at position {error.start}): "
                "save it as UTF-8"
            ) from None
        except OSError as error:
            raise CorruptDataError(f"--config {name} can't be read: {error.strerror or error}") from None


def user_error_behind(error: BaseException) -> BaseException | None:
    """The user error that ``error`` is, or was raised from (jsonargparse wraps a constructor's error in its own)."""
    while error is not None:
        if isinstance(error, user_errors()):
            return error
        error = error.__cause__
    return None


def _interrupted_message(signum: int, args: Sequence[str]) -> str:
    name = signal.Signals(signum).name
    if "fit" in args:
        return (f"islp-lab: interrupted by {name}: the run stopped before finishing; its completed epochs and last "
                "checkpoint are in its log folder: to continue, run the same command with --ckpt_path last")
    return f"islp-lab: interrupted by {name} before finishing; run the same command again"


class _NoSeedNotice(logging.Filter):
    """Drops Lightning's "Seed set to 0" line: the seed is in the run's config.yaml, and an error stays one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Seed set to" not in record.getMessage()


_NO_SEED_NOTICE = _NoSeedNotice()


def main(args: Sequence[str] | None = None) -> None:
    """``islp-lab``: a user's mistake ends with one line and exit status 2 (a bad argument), 3 (data not
    available) or 1 (a bad file); SIGTERM or Ctrl-C stops at a safe point with 143 or 130."""
    quiet_lightning()
    logging.getLogger("lightning_fabric.utilities.seed").addFilter(_NO_SEED_NOTICE)  # adding it twice is a no-op
    given = list(sys.argv[1:] if args is None else args)
    try:
        with signals_stop_runs():
            try:
                check_config_files(given)
                LabCLI(
                    SimpleModule,
                    InMemoryDataModule,
                    subclass_mode_data=True,
                    seed_everything_default=0,
                    save_config_kwargs={"overwrite": True},
                    args=args,
                )
            except BaseException as error:
                signum = interrupting_signal(error)
                if signum is not None:  # SIGTERM or Ctrl-C (a SIGTERMException would exit 0)
                    if rank_zero_only.rank == 0:
                        print(_interrupted_message(signum, given), file=sys.stderr, flush=True)
                    sys.exit(INTERRUPTED_EXIT[signum])
                user_error = user_error_behind(error) if isinstance(error, Exception) else None
                if user_error is None:  # a bug, or --help and jsonargparse's own errors (SystemExit)
                    raise
                print(f"islp-lab: error: {user_error}", file=sys.stderr)
                sys.exit(exit_status(user_error))
    finally:
        end_distributed()


if __name__ == "__main__":
    main()
