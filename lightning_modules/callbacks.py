"""The callbacks a reader attaches: the book's :class:`ErrorTracker`, and :class:`EpochProgress`'s line per epoch.

The callbacks that keep a run resumable (its log, its checkpoints, its signals) are machinery, in
:mod:`lightning_modules.machinery`.
"""

from __future__ import annotations

import time
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer

from foundations.errors import NonFiniteLossError
from lightning_modules.machinery.lightning_internals import skip_unused_batch_hooks


class ErrorTracker(Callback):
    """Watches the training error epoch by epoch and stops the run when it blows up.

    The book's ``ErrorTracker`` computed the validation and test figures itself,
    with a second forward pass. Here :class:`~lightning_modules.module.SimpleModule`
    computes them over the whole set as it goes (synchronised across processes),
    so they exist with or without this callback. The tracker watches the
    training loss instead: when an epoch's loss is NaN or infinite it raises
    :class:`NonFiniteLossError` naming the epoch, on every process at once (the
    check costs no per-step device sync). The logged figures themselves are read
    back with :func:`lightning_modules.curves.read_metrics`.

    Each step only keeps its (detached) loss; they are checked together, in
    one operation, at the end of the epoch (or once :attr:`CHECK_EVERY` wait,
    so a long epoch holds few): a step costs no tensor operation of its own.
    """

    #: losses checked together at the latest once this many are waiting
    CHECK_EVERY = 1024

    def __init__(self) -> None:
        self._losses: list[torch.Tensor] = []
        self._all_finite: torch.Tensor | None = None
        skip_unused_batch_hooks(self)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._losses, self._all_finite = [], None

    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        loss = outputs["loss"] if isinstance(outputs, dict) else outputs
        if loss is None:
            return
        self._losses.append(loss.detach())
        if len(self._losses) >= self.CHECK_EVERY:
            self._check_waiting()

    def _check_waiting(self) -> None:
        """Fold the waiting losses into the epoch's all-finite flag (a tensor: no device sync)."""
        losses, self._losses = self._losses, []
        if not losses:
            return
        try:
            together = torch.stack(losses)
        except RuntimeError:  # losses of different shapes (a manual optimization's own outputs)
            together = torch.cat([loss.reshape(-1) for loss in losses])
        finite = torch.isfinite(together).all()
        self._all_finite = finite if self._all_finite is None else self._all_finite & finite

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._check_waiting()
        if self._all_finite is None:
            return
        blew_up = trainer.strategy.reduce_boolean_decision(not bool(self._all_finite), all=False)
        if blew_up:
            raise NonFiniteLossError(
                f"the training loss became NaN or infinite in epoch {trainer.current_epoch} (counting from 0, "
                "as metrics.csv does): try a lower learning rate, standardized inputs, or check the data for NaNs"
            )


class EpochProgress(Callback):
    """One line every tenth of the run, for logs and terminals without a progress bar (silent beside one)."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._start = 0.0
        skip_unused_batch_hooks(self)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start = time.perf_counter()

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        epoch, total = trainer.current_epoch + 1, trainer.max_epochs
        every = max(1, (total or 10) // 10)
        if not trainer.is_global_zero or trainer.progress_bar_callback is not None or (epoch % every and epoch != total):
            return
        figures = "  ".join(
            f"{name}={float(value):.4g}" for name, value in sorted(trainer.callback_metrics.items()) if name.startswith("valid_")
        )
        label = f"[{self.label}] " if self.label else ""
        print(f"{label}epoch {epoch}/{total}  {figures}  ({time.perf_counter() - self._start:.1f} s)", flush=True)
