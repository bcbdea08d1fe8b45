"""The Trainer every lab uses: accelerator check, CSV logs, checkpoints, error tracking."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.plugins.io import CheckpointIO

from foundations.errors import AcceleratorUnavailableError, BadArgumentError
from lightning_modules.callbacks import EpochProgress, ErrorTracker
from lightning_modules.machinery.checkpoints import AtomicCheckpointIO, IntervalCheckpoint
from lightning_modules.machinery.lightning_internals import global_seed, skip_unused_batch_hooks
from lightning_modules.machinery.resume_log import ResumableCSVLog
from lightning_modules.machinery.run_logs import csv_logger
from lightning_modules.machinery.signals import STOP, StopOnSignal

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")


class _NoAdvertising(logging.Filter):
    """Drops Lightning's "Tip: try installing ..." line; the rest of its start-up report stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


_QUIET = _NoAdvertising()


def quiet_lightning() -> None:
    """Drop Lightning's advertising line and a deprecation inside Lightning that no user can act on.

    Called when this project builds a Trainer, never on import (a notebook's
    logging and warnings stay as its user set them).
    """
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_QUIET)  # adding it twice is a no-op
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def available_accelerators() -> list[str]:
    """Accelerators this machine can run on, ``cpu`` always among them."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_accelerator(accelerator: str) -> None:
    """Fail at once, naming what is available, if ``accelerator`` can't run here."""
    available = available_accelerators()
    if accelerator not in ACCELERATORS:
        raise AcceleratorUnavailableError(
            f"unknown accelerator {accelerator!r}: choose one of {', '.join(ACCELERATORS)}"
        )
    wanted_gpu = accelerator == "gpu" and len(available) == 1
    if wanted_gpu or (accelerator not in ("auto", "gpu") and accelerator not in available):
        raise AcceleratorUnavailableError(
            f"accelerator {accelerator!r} is not available on this machine; "
            f"available: {', '.join(available)} (or 'auto' to pick the best of them)"
        )


class SeedEachEpoch(Callback):
    """Reseed torch at the start of every training epoch from (seed, epoch, rank).

    Dropout masks of epoch ``e`` then depend only on the seed and ``e``, so a
    run resumed from a checkpoint repeats exactly what an uninterrupted run does.
    With ``seed=None`` the seed is the one ``seed_everything`` set (the CLI's
    ``--seed_everything``).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed
        skip_unused_batch_hooks(self)

    def _seed(self) -> int:
        return self.seed if self.seed is not None else global_seed()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        torch.manual_seed(self._seed() * 1_000_003 + trainer.current_epoch * 1_009 + trainer.global_rank)

    def state_dict(self) -> dict[str, Any]:
        """The seed goes into every checkpoint: it is part of what identifies a run."""
        return {"seed": self._seed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse to continue a run of another seed (``--resume --seed 7`` on seed 0's run), before anything is
        rewritten: its figures would be neither seed's."""
        saved, wanted = state_dict.get("seed"), self._seed()
        if saved is not None and saved != wanted:
            raise BadArgumentError(
                f"--resume: the run to continue was trained with seed {saved}, not {wanted}: resume it with "
                f"--seed {saved}, or start a new run without --resume"
            )


#: the callbacks of every Trainer here, each with its arguments (make_trainer builds them; islp-lab's config lists
#: them): the NaN watch, ``checkpoints/last.ckpt`` rewritten (atomically) at the end of an epoch at most every
#: ``CHECKPOINT_INTERVAL`` seconds and at every stop (what ``--ckpt_path last`` resumes), per-epoch seeding, a CSV log
#: that survives resuming, a line per tenth of the run without a progress bar, and a run stopped by a signal that ends
#: as stopped (never as a success)
DEFAULT_CALLBACKS: tuple[tuple[type[Callback], dict[str, Any]], ...] = (
    (ErrorTracker, {}),
    (IntervalCheckpoint, {"filename": "last", "save_top_k": 1, "enable_version_counter": False}),
    (SeedEachEpoch, {}),
    (ResumableCSVLog, {}),
    (EpochProgress, {}),
    (StopOnSignal, {}),
)


#: the plugins of every Trainer here (make_trainer builds them; islp-lab's trainer defaults list them): a
#: checkpoint writer that keeps the previous ``last.ckpt`` whole through a kill at any instant or a full disk
DEFAULT_PLUGINS: tuple[tuple[type, dict[str, Any]], ...] = ((AtomicCheckpointIO, {}),)


def default_plugins() -> list[Any]:
    """:data:`DEFAULT_PLUGINS`, built."""
    return [plugin(**arguments) for plugin, arguments in DEFAULT_PLUGINS]


def _with_default_plugins(plugins: Any) -> list[Any]:
    """``plugins`` (one, a list, or None) with :data:`DEFAULT_PLUGINS`, unless they bring a checkpoint writer of their own."""
    given = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if any(isinstance(plugin, CheckpointIO) for plugin in given):
        return given
    return default_plugins() + given


def default_callbacks(seed: int | None = None, label: str = "") -> list[Callback]:
    """:data:`DEFAULT_CALLBACKS`, seeded with ``seed`` and with ``label`` on the progress lines."""
    overrides = {SeedEachEpoch: {"seed": seed}, EpochProgress: {"label": label}}
    return [callback(**{**arguments, **overrides.get(callback, {})}) for callback, arguments in DEFAULT_CALLBACKS]


def make_trainer(
    lab: str,
    model_name: str,
    max_epochs: int,
    accelerator: str = "auto",
    devices: int | str = "auto",
    log_dir: str | Path = "logs",
    seed: int = 0,
    deterministic: bool = True,
    enable_progress_bar: bool | None = None,
    callbacks: list[Callback] | None = None,
    resume: bool = False,
    seed_folder: bool = False,
    **trainer_kwargs: Any,
) -> Trainer:
    """A Trainer logging to ``<log_dir>/<lab>/<model_name>/version_N/metrics.csv``.

    ``accelerator`` is one of auto/cpu/cuda/gpu/mps and is checked first. The
    progress bar shows on interactive terminals unless ``enable_progress_bar``
    says otherwise. ``resume`` logs into the latest version that has a checkpoint (fit it
    with ``ckpt_path="last"`` to continue from its last completed epoch; with none, a new
    version starts, saying so). ``seed_folder`` logs under ``<model_name>/seed_<seed>/`` instead
    (one of several seeds of a network). Checkpoints are written
    by :class:`~lightning_modules.machinery.checkpoints.AtomicCheckpointIO` (whole through a kill or
    a full disk). Further
    keyword arguments go to ``Trainer`` (``strategy``, ``num_nodes``,
    ``limit_train_batches``...).
    """
    check_accelerator(accelerator)
    STOP.raise_if_signalled()  # a signal that came after the previous Trainer's last check
    quiet_lightning()
    if seed_folder:
        model_name = f"{model_name}/seed_{seed}"
    if enable_progress_bar is None:
        enable_progress_bar = sys.stderr.isatty()
    callbacks = default_callbacks(seed, label=f"{lab}/{model_name}") + list(callbacks or [])
    STOP.log_dir = str(log_dir)
    return Trainer(
        accelerator=accelerator,
        devices=devices,
        max_epochs=max_epochs,
        deterministic=deterministic,
        logger=csv_logger(Path(log_dir) / lab, model_name, resume),
        callbacks=callbacks,
        plugins=_with_default_plugins(trainer_kwargs.pop("plugins", None)),
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,  # the labs print torchinfo summaries instead
        num_sanity_val_steps=0,
        **trainer_kwargs,
    )
