"""The Trainer every lab uses: accelerator check, CSV logs, checkpoints, error tracking."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import CSVLogger

from lightning_modules.callbacks import EpochProgress, ErrorTracker

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")


class AcceleratorUnavailableError(RuntimeError):
    """The accelerator asked for is not on this machine."""


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

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        seed = self.seed if self.seed is not None else int(os.environ.get("PL_GLOBAL_SEED", 0))
        torch.manual_seed(seed * 1_000_003 + trainer.current_epoch * 1_009 + trainer.global_rank)


def last_epoch_checkpoint() -> ModelCheckpoint:
    """``checkpoints/last.ckpt``, rewritten (atomically) after every epoch: what ``--ckpt_path last`` resumes."""
    return ModelCheckpoint(filename="last", save_top_k=1, enable_version_counter=False)


def default_callbacks(seed: int | None = None) -> list[Callback]:
    """ErrorTracker, a checkpoint of the last epoch, and per-epoch seeding."""
    return [ErrorTracker(), last_epoch_checkpoint(), SeedEachEpoch(seed)]


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
    **trainer_kwargs: Any,
) -> Trainer:
    """A Trainer logging to ``<log_dir>/<lab>/<model_name>/version_N/metrics.csv``.

    ``accelerator`` is one of auto/cpu/cuda/gpu/mps and is checked first. The
    progress bar shows on interactive terminals unless ``enable_progress_bar``
    says otherwise. Further keyword arguments go to ``Trainer`` (``strategy``,
    ``num_nodes``, ``limit_train_batches``...).
    """
    check_accelerator(accelerator)
    if enable_progress_bar is None:
        enable_progress_bar = sys.stderr.isatty()
    callbacks = default_callbacks(seed) + list(callbacks or [])
    if not enable_progress_bar:  # still show progress, one line at a time
        callbacks.append(EpochProgress(f"{lab}/{model_name}"))
    return Trainer(
        accelerator=accelerator,
        devices=devices,
        max_epochs=max_epochs,
        deterministic=deterministic,
        logger=CSVLogger(save_dir=str(Path(log_dir) / lab), name=model_name),
        callbacks=callbacks,
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,  # the labs print torchinfo summaries instead
        num_sanity_val_steps=0,
        **trainer_kwargs,
    )
