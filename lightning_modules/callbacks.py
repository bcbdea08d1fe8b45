"""Callbacks attached to every Trainer built here."""

from __future__ import annotations

import time
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or infinite."""


class ErrorTracker(Callback):
    """Watches the training error epoch by epoch and stops the run when it blows up.

    The book's ``ErrorTracker`` computed the validation and test figures itself,
    with a second forward pass. Here :class:`~lightning_modules.module.SimpleModule`
    computes them over the whole set as it goes (synchronised across processes), so
    they exist with or without this callback. The tracker watches the training loss instead: when an epoch's loss is NaN or infinite
    it raises :class:`NonFiniteLossError` naming the epoch, on every process
    at once (the check costs no per-step device sync). The logged figures
    themselves are read back with :func:`lightning_modules.curves.read_metrics`.
    """

    def __init__(self) -> None:
        self._all_finite: torch.Tensor | None = None

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._all_finite = None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        finite = torch.isfinite(loss.detach())
        self._all_finite = finite if self._all_finite is None else self._all_finite & finite

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._all_finite is None:
            return
        blew_up = trainer.strategy.reduce_boolean_decision(not bool(self._all_finite), all=False)
        if blew_up:
            raise NonFiniteLossError(
                f"the training loss became NaN or infinite in epoch {trainer.current_epoch}: "
                "try a lower learning rate (--model.lr), standardized inputs, or check the data for NaNs"
            )


class EpochProgress(Callback):
    """One line every tenth of the run, for logs and terminals without a progress bar."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._start = 0.0

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        every = max(1, (total or 10) // 10)
        if not trainer.is_global_zero or (epoch % every and epoch != total):
            return
        figures = "  ".join(
            f"{name}={float(value):.4g}" for name, value in sorted(trainer.callback_metrics.items()) if name.startswith("valid_")
        )
        label = f"[{self.label}] " if self.label else ""
        print(f"{label}epoch {epoch}/{total}  {figures}  ({time.perf_counter() - self._start:.1f} s)", flush=True)
