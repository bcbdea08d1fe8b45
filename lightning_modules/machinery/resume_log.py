"""The run's ``metrics.csv`` kept whole across a kill and a resume (:class:`ResumableCSVLog`)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pandas as pd
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.trainer.states import TrainerFn

from foundations.files import write_atomically
from lightning_modules.machinery.lightning_internals import set_csv_columns, skip_unused_batch_hooks
from lightning_modules.machinery.resuming import SAVED_ROWS_KEY, read_resume_state, read_resumed_log


class ResumableCSVLog(Callback):
    """Keeps ``metrics.csv`` whole across a kill and a resume: every completed epoch exactly once.

    Lightning saves the end-of-epoch checkpoint *before* it hands that epoch's
    training figures to the logger, so a run killed in between would resume
    after an epoch whose row never reached the file. So the checkpoint carries
    the epoch's logged figures, and on resume this callback keeps the rows of
    the epochs the checkpoint covers (no test rows: the resumed run tests
    again, once) and adds the checkpointed epoch's rows if they are missing.
    It does so once the resumed ``fit`` has really started (Lightning has restored the
    whole checkpoint: its first training epoch, or the end of a ``fit`` that had
    no epoch left to train, for a finished run tested again), never before: a
    resume refused on the way leaves the file as it was. (It needs a logger that keeps
    the file when it reopens a version:
    :class:`~lightning_modules.machinery.run_logs.ResumableCSVLogger`.)

    The checkpoint also carries the seconds spent fitting up to it, over every
    attempt, so :attr:`fit_seconds_before` tells a resumed run how long the
    attempts before it trained.
    """

    def __init__(self) -> None:
        self._restored: dict[str, Any] | None = None
        #: seconds of fitting that earlier attempts of this run did (read from the checkpoint resumed)
        self.fit_seconds_before = 0.0
        self._fit_started: float | None = None
        skip_unused_batch_hooks(self)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit":
            self.fit_seconds_before, self._fit_started = 0.0, time.perf_counter()
            _logging_interval_within_an_epoch(trainer)

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
        checkpoint[SAVED_ROWS_KEY] = {
            "epoch": trainer.current_epoch,
            "step": trainer.global_step - 1,
            "figures": figures,
            "fit_seconds": self.fit_seconds(),
        }

    def on_load_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        """A fit resumed: the checkpoint checked whole again, as Lightning loaded it, and its saved rows (which
        it must have) kept for the log's rewrite; refused in one line otherwise, before any file is written.
        (Loading one to test or predict takes nothing from it.)"""
        self._restored = None
        if trainer.state.fn != TrainerFn.FITTING:
            return
        state = read_resume_state(trainer.ckpt_path or "(given to fit)", checkpoint, trainer, rows_needed=True)
        self._restored = state.rows  # of the checkpoint's epoch and last step: checked
        self.fit_seconds_before = float(state.rows.get("fit_seconds", 0.0))

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage == "fit" and self._fit_started is not None:
            self.fit_seconds_before, self._fit_started = self.fit_seconds(), None

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rewrite_log(trainer)  # Lightning has restored the whole checkpoint: the run is under way

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._rewrite_log(trainer)  # a finished run resumed: no epoch was left to train (it is tested again next)

    def _rewrite_log(self, trainer: Trainer) -> None:
        """Put the log in order for a resumed run, once it has started (never before: a resume refused while
        Lightning restores its checkpoint, for fewer epochs than the run has, must leave the files as they were)."""
        restored, self._restored = self._restored, None
        logger = trainer.logger if trainer.is_global_zero else None
        if hasattr(logger, "begin_writing"):
            logger.begin_writing()
        writer = logger.experiment if logger is not None else None
        if restored is None or not hasattr(writer, "metrics_file_path"):
            return
        csv = Path(writer.metrics_file_path)  # cut back to the epoch the checkpoint was checked to end with
        rows = completed_rows(read_resumed_log(csv), restored["epoch"], restored["step"], restored["figures"])
        columns = sorted(rows.columns)  # Lightning's writer keeps its columns sorted too
        write_atomically(csv, rows[columns].to_csv(index=False).encode())
        set_csv_columns(writer, columns)  # its next rows append under the same header


def _logging_interval_within_an_epoch(trainer: Trainer) -> None:
    """Lower ``log_every_n_steps`` to the training batches of an epoch when an epoch has fewer (Hitters: 6 batches
    against Lightning's 50), for this project's data modules (their loaders are cheap to build and draw no random
    numbers). Lightning would otherwise warn, once per Trainer (five times for five seeds), that figures logged
    per step never reach the log within an epoch; the figures logged per epoch are the same either way."""
    from datamodules.base import InMemoryDataModule

    if not isinstance(trainer.datamodule, InMemoryDataModule) or trainer.log_every_n_steps <= 1:
        return
    try:
        batches = len(trainer.datamodule.train_dataloader())
    except (TypeError, NotImplementedError, RuntimeError):  # no length, or no training data set up
        return
    limit = trainer.limit_train_batches
    if isinstance(limit, int):
        batches = min(batches, limit)
    elif isinstance(limit, float) and limit < 1.0:
        batches = int(batches * limit)
    if 0 < batches < trainer.log_every_n_steps:
        trainer.log_every_n_steps = batches


def completed_rows(frame: pd.DataFrame, epoch: int, step: int, figures: dict[str, float]) -> pd.DataFrame:
    """Rows of epochs up to ``epoch`` (no test rows), with the training/validation rows of ``epoch`` present.

    ``epoch``, ``step`` and ``figures`` are a checkpoint's, checked
    (:func:`~lightning_modules.machinery.resuming.read_resume_state`): a whole number from 0, the step of its end, and
    numbers. Anything else is refused here too (``ValueError``), never written into the log.
    """
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        raise ValueError(f"completed_rows: the epoch to cut back to must be a whole number from 0, got {epoch!r}")
    if isinstance(step, bool) or not isinstance(step, int) or step < -1:
        raise ValueError(f"completed_rows: the step must be a whole number from -1, got {step!r}")
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
