"""Checkpoints written at most every few seconds, and at every stop; written atomically, read or named as unreadable.

``IntervalCheckpoint`` (every Trainer's checkpoint callback) writes ``last.ckpt``
at a run's first epoch, then at most once every ``interval`` seconds, holding
the epochs in between in memory; the end of ``fit`` and an error write the held
one. ``AtomicCheckpointIO`` (every Trainer's) writes whole files or none, and
names a checkpoint it cannot read; a run's versions are claimed before they are
written, and the latest one with a checkpoint is the one to resume. (A kill or a
SIGTERM after a throttled write: ``faults/test_ddp_and_sigkill_resume.py``.)
"""
from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest
import torch
from helpers import regression_tensors
from pytorch_lightning import Callback
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch import nn
from torch.utils.data import TensorDataset

from datamodules import SimpleDataModule
from lightning_modules.machinery.checkpoints import (
    CHECKPOINT_INTERVAL,
    AtomicCheckpointIO,
    CheckpointError,
    DiskFullError,
    IntervalCheckpoint,
    write_atomically,
)
from lightning_modules.machinery.run_logs import ResumableCSVLogger, latest_version
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import make_trainer


def checkpoint_epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


def writes_of(monkeypatch) -> list[int]:
    """The epochs of the checkpoints AtomicCheckpointIO writes to disk from now on, in order."""
    written: list[int] = []
    original = AtomicCheckpointIO._write

    def counting(self, checkpoint, path, storage_options):
        original(self, checkpoint, path, storage_options)
        written.append(checkpoint["epoch"])

    monkeypatch.setattr(AtomicCheckpointIO, "_write", counting)
    return written


def small_fit(tmp_path: Path, epochs: int, interval: float | None = None, callbacks: list | None = None, **kwargs):
    torch.manual_seed(0)
    X, y = regression_tensors(150)
    datamodule = SimpleDataModule(TensorDataset(X, y), TensorDataset(*regression_tensors(50, seed=1)),
                                  validation=0.2, batch_size=16)
    network = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1), nn.Flatten(0))
    module = SimpleModule.regression(network, metrics=["mae"])
    trainer = make_trainer("lab", "net", max_epochs=epochs, accelerator="cpu", log_dir=tmp_path,
                           enable_progress_bar=False, callbacks=callbacks, **kwargs)
    if interval is not None:
        trainer.checkpoint_callback.interval = interval
    trainer.fit(module, datamodule=datamodule)
    return trainer


def test_every_trainer_checkpoints_at_most_every_few_seconds(tmp_path):
    trainer = make_trainer("lab", "net", max_epochs=1, accelerator="cpu", log_dir=tmp_path)
    assert isinstance(trainer.checkpoint_callback, IntervalCheckpoint)
    assert trainer.checkpoint_callback.interval == CHECKPOINT_INTERVAL and 1 <= CHECKPOINT_INTERVAL <= 30


def test_between_the_first_epoch_and_the_end_nothing_is_written_within_the_interval(tmp_path, monkeypatch):
    written = writes_of(monkeypatch)
    trainer = small_fit(tmp_path, epochs=6, interval=3600)
    assert written == [0, 5]  # the first epoch at once, the last at the end of fit
    assert checkpoint_epoch(Path(trainer.checkpoint_callback.dirpath) / "last.ckpt") == 5


def test_an_interval_of_zero_writes_every_epoch(tmp_path, monkeypatch):
    written = writes_of(monkeypatch)
    small_fit(tmp_path, epochs=4, interval=0)
    assert written == [0, 1, 2, 3]


class FailsInEpoch(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if trainer.current_epoch == self.epoch and batch_idx == 1:
            raise RuntimeError("a failure half-way through an epoch")


def test_an_error_half_way_through_an_epoch_writes_the_last_completed_one(tmp_path, monkeypatch):
    written = writes_of(monkeypatch)
    with pytest.raises(RuntimeError, match="half-way"):
        small_fit(tmp_path, epochs=6, interval=3600, callbacks=[FailsInEpoch(3)])
    assert written == [0, 2]  # epoch 2, held in memory, written when the error stopped the run in epoch 3
    assert checkpoint_epoch(tmp_path / "lab/net/version_0/checkpoints/last.ckpt") == 2


def test_another_checkpoint_writer_writes_every_epoch(tmp_path, monkeypatch):
    written: list[int] = []
    original = TorchCheckpointIO.save_checkpoint

    def counting(self, checkpoint, path, storage_options=None):
        original(self, checkpoint, path, storage_options)
        written.append(checkpoint["epoch"])

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", counting)
    small_fit(tmp_path, epochs=3, interval=3600, plugins=TorchCheckpointIO())
    assert written == [0, 1, 2]


# -- atomic writes, unreadable checkpoints, versions -----------------------------------------------------------------
def test_write_atomically_on_a_full_disk_keeps_the_old_file_and_leaves_no_temporary(tmp_path, monkeypatch):
    target = tmp_path / "results.json"
    target.write_text("old")

    def no_space(fd, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", no_space)
    with pytest.raises(DiskFullError, match=r"^the disk is full: could not write .*results\.json \(.* free on that"):
        write_atomically(target, b"new", kept="the previous results.json is kept")
    monkeypatch.undo()
    assert target.read_text() == "old" and [p.name for p in tmp_path.iterdir()] == ["results.json"]


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "it is empty (0 bytes"), (b"PK\x03\x04" + b"\0" * 60, "it is cut short (64 bytes"),
     (b"epoch,loss\n0,1.0\n", "it is not a checkpoint")],
    ids=["empty", "cut short", "not a checkpoint"],
)
def test_a_checkpoint_that_cannot_be_read_is_named(tmp_path, content, reason):
    path = tmp_path / "last.ckpt"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as raised:
        AtomicCheckpointIO().load_checkpoint(path)
    assert str(raised.value).startswith(f"checkpoint {path} cannot be read: {reason}")
    assert "\n" not in str(raised.value)


def test_latest_version_is_the_newest_with_a_checkpoint(tmp_path):
    folder = tmp_path / "lab" / "mlp"
    for number, files in {0: ["checkpoints/last.ckpt"], 1: ["checkpoints/last.ckpt"], 2: ["hparams.yaml", "metrics.csv"],
                          3: [], 4: ["checkpoints/.last.ckpt.x1.tmp"]}.items():
        (folder / f"version_{number}").mkdir(parents=True)
        for name in files:
            (folder / f"version_{number}" / name).parent.mkdir(parents=True, exist_ok=True)
            (folder / f"version_{number}" / name).write_bytes(b"x")
    assert latest_version(tmp_path / "lab", "mlp") == 1
    assert latest_version(tmp_path / "lab", "nothing") is None


def test_new_loggers_claim_distinct_versions_before_writing(tmp_path):
    first, second = (ResumableCSVLogger(str(tmp_path), name="mlp") for _ in range(2))
    assert (first.version, second.version) == (0, 1)  # neither has logged yet: the folder is the claim
    assert sorted(p.name for p in (tmp_path / "mlp").iterdir()) == ["version_0", "version_1"]


def test_every_trainer_writes_checkpoints_atomically(tmp_path):
    trainer = make_trainer("lab", "net", max_epochs=1, accelerator="cpu", log_dir=tmp_path)
    assert isinstance(trainer.strategy.checkpoint_io, AtomicCheckpointIO)
    own = AtomicCheckpointIO()
    assert make_trainer("lab", "net", max_epochs=1, accelerator="cpu", log_dir=tmp_path, plugins=own).strategy.checkpoint_io is own
