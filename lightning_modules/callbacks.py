"""Callbacks attached to every Trainer built here."""

from __future__ import annotations

import io
import time
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from pytorch_lightning import Callback, LightningModule, Trainer

from datamodules.errors import NonFiniteLossError
from datamodules.files import write_atomically
from lightning_modules.lightning_internals import set_csv_columns


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
                f"the training loss became NaN or infinite in epoch {trainer.current_epoch} (counting from 0, "
                "as metrics.csv does): try a lower learning rate, standardized inputs, or check the data for NaNs"
            )


class EpochProgress(Callback):
    """One line every tenth of the run, for logs and terminals without a progress bar (silent beside one)."""

    def __init__(self, label: str = "") -> None:
        self.label = label
        self._start = 0.0

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


class ResumableCSVLog(Callback):
    """Keeps ``metrics.csv`` whole across a kill and a resume: every completed epoch exactly once.

    Lightning saves the end-of-epoch checkpoint *before* it hands that epoch's
    training figures to the logger, so a run killed in between would resume
    after an epoch whose row never reached the file. So the checkpoint carries
    the epoch's logged figures, and on resume this callback keeps the rows of
    the epochs the checkpoint covers (no test rows: the resumed run tests
    again, once) and adds the checkpointed epoch's rows if they are missing.
    It does so when the resumed ``fit`` starts, even when the checkpoint ends a
    finished run and no epoch is left to train. (It needs a logger that keeps
    the file when it reopens a version:
    :class:`~lightning_modules.trainer.ResumableCSVLogger`.)

    The checkpoint also carries the seconds spent fitting up to it, over every
    attempt, so :attr:`fit_seconds_before` tells a resumed run how long the
    attempts before it trained.
    """

    STATE_KEY = "islp_last_epoch_rows"

    def __init__(self) -> None:
        self._restored: dict[str, Any] | None = None
        #: seconds of fitting that earlier attempts of this run did (read from the checkpoint resumed)
        self.fit_seconds_before = 0.0
        self._fit_started: float | None = None

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self.fit_seconds_before, self._fit_started = 0.0, time.perf_counter()

    def fit_seconds(self) -> float:
        """Seconds spent fitting, over this attempt and those before it that the resumed checkpoint covers."""
        running = time.perf_counter() - self._fit_started if self._fit_started is not None else 0.0
        return self.fit_seconds_before + running

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        figures = {
            name: float(value)
            for name, value in trainer.logged_metrics.items()
            if name.startswith(("train_", "valid_")) and value.numel() == 1
        }
        checkpoint[self.STATE_KEY] = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step - 1,
            "figures": figures,
            "fit_seconds": self.fit_seconds(),
        }

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        self._restored = checkpoint.get(self.STATE_KEY)
        if self._restored is not None:
            self.fit_seconds_before = float(self._restored.get("fit_seconds", 0.0))

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and self._fit_started is not None:
            self.fit_seconds_before, self._fit_started = self.fit_seconds(), None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rewrite_log(trainer)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rewrite_log(trainer)  # for strategies that restore the checkpoint after on_fit_start

    def _rewrite_log(self, trainer: Trainer) -> None:
        restored, self._restored = self._restored, None
        writer = trainer.logger.experiment if trainer.logger is not None and trainer.is_global_zero else None
        if restored is None or not hasattr(writer, "metrics_file_path"):
            return
        csv = Path(writer.metrics_file_path)
        previous = (
            pd.read_csv(io.StringIO(complete_lines(csv.read_text())), float_precision="round_trip")
            if csv.is_file() and csv.stat().st_size
            else pd.DataFrame(columns=["epoch", "step"])
        )
        rows = completed_rows(previous, restored["epoch"], restored["step"], restored["figures"])
        columns = sorted(rows.columns)  # Lightning's writer keeps its columns sorted too
        write_atomically(csv, rows[columns].to_csv(index=False).encode())
        set_csv_columns(writer, columns)  # its next rows append under the same header


def complete_lines(text: str) -> str:
    """``text`` without a last line cut short (a write that a kill or a full disk interrupted)."""
    return text if not text or text.endswith("\n") else text[: text.rfind("\n") + 1]


def completed_rows(frame: pd.DataFrame, epoch: int, step: int, figures: dict[str, float]) -> pd.DataFrame:
    """Rows of epochs up to ``epoch`` (no test rows), with the training/validation rows of ``epoch`` present."""
    frame = frame[frame["epoch"].notna() & frame["step"].notna() & (frame["epoch"] <= epoch)]
    frame = frame[frame.filter(like="test_").isna().all(axis=1)]
    for stage in ("train_", "valid_"):
        stage_figures = {k: v for k, v in figures.items() if k.startswith(stage)}
        columns = [c for c in frame.columns if c.startswith(stage)]
        has_row = bool(columns) and frame.loc[frame["epoch"] == epoch, columns].notna().any(axis=1).any()
        if stage_figures and not has_row:
            frame = pd.concat([frame, pd.DataFrame([{"epoch": epoch, "step": step, **stage_figures}])], ignore_index=True)
    frame = frame.dropna(axis=1, how="all").astype({"epoch": int, "step": int})
    return frame.sort_values(["epoch", "step"], kind="stable").reset_index(drop=True)
