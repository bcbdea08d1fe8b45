"""Checkpoints written at most every few seconds, and at every stop: resume stays exact after any kill.

``IntervalCheckpoint`` (every Trainer's checkpoint callback) writes ``last.ckpt``
at a run's first epoch, then at most once every ``interval`` seconds, holding
the epochs in between in memory; the end of ``fit``, an error and a signal
write the held one. A SIGKILL loses the epochs since the last write, and the
resumed run still ends exactly as an uninterrupted one.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT, regression_tensors
from pytorch_lightning import Callback
from pytorch_lightning.plugins.io import TorchCheckpointIO
from torch import nn
from torch.utils.data import TensorDataset

from datamodules import SimpleDataModule
from lightning_modules.checkpoints import CHECKPOINT_INTERVAL, AtomicCheckpointIO, IntervalCheckpoint
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


# A run of a small regression (dropout, shuffled batches: resuming must restore both), whose epochs take 0.15 s and
# whose checkpoint interval is 0.5 s, so some epochs are written and some only held. It prints "WROTE e" / "HELD e"
# as each epoch's checkpoint is written or held; with --pause it stops still, once it has written a checkpoint after the
# first (a write the interval allowed) and then held a later epoch, until a signal comes (or 60 s pass).
DRIVER = """
import argparse, sys, time
import torch
from torch import nn
from torch.utils.data import TensorDataset
from pytorch_lightning import Callback
from datamodules import SimpleDataModule
from lightning_modules import checkpoints
from lightning_modules.module import SimpleModule
from lightning_modules.runs import last_checkpoint
from lightning_modules.trainer import make_trainer

parser = argparse.ArgumentParser()
parser.add_argument("log_dir")
parser.add_argument("--resume", action="store_true")
parser.add_argument("--pause", action="store_true")
args = parser.parse_args()
torch.set_num_threads(1)
events = []
original = checkpoints.AtomicCheckpointIO.save_checkpoint
def save_checkpoint(self, checkpoint, path, storage_options=None):
    original(self, checkpoint, path, storage_options)
    events.append(("HELD" if self.holds else "WROTE", checkpoint["epoch"]))
    print(*events[-1], flush=True)
checkpoints.AtomicCheckpointIO.save_checkpoint = save_checkpoint

class SlowEpochs(Callback):
    def on_train_epoch_start(self, trainer, pl_module):
        time.sleep(0.15)
        throttled = any(kind == "WROTE" and epoch >= 1 for kind, epoch in events)
        if args.pause and throttled and events[-1][0] == "HELD":
            print("PAUSED", flush=True)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline and not trainer.received_sigterm:
                time.sleep(0.05)

def tensors(rows, seed):
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, 4, generator=generator)
    return X, X @ torch.arange(1.0, 5.0) + 0.5 * torch.randn(rows, generator=generator)

torch.manual_seed(0)
datamodule = SimpleDataModule(TensorDataset(*tensors(300, 0)), TensorDataset(*tensors(60, 1)), validation=0.2,
                              batch_size=16)
network = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 1), nn.Flatten(0))
module = SimpleModule.regression(network, metrics=["mae"])
trainer = make_trainer("lab", "net", max_epochs=12, accelerator="cpu", log_dir=args.log_dir, resume=args.resume,
                       enable_progress_bar=False, callbacks=[SlowEpochs()])
trainer.checkpoint_callback.interval = 0.5
trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
torch.save(module.state_dict(), args.log_dir + "/final_weights.pt")
print("DONE", flush=True)
"""


def drive(tmp_path: Path, log_dir: Path, *extra: str, **popen) -> subprocess.Popen:
    driver = tmp_path / "driver.py"
    if not driver.exists():
        driver.write_text(DRIVER)
    return subprocess.Popen([sys.executable, str(driver), str(log_dir), *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, cwd=ROOT, **popen)


def finished(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0 and "DONE" in out, err[-3000:]
    return out


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("uninterrupted")
    saves = [line for line in finished(drive(folder, folder / "logs")).splitlines() if line.startswith(("WROTE", "HELD"))]
    assert saves[0] == "WROTE 0" and any(save.startswith("HELD") for save in saves)  # the interval held some epochs
    assert (folder / "logs/lab/net/version_0/checkpoints/last.ckpt").is_file()
    return folder / "logs"


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_a_run_stopped_after_a_throttled_checkpoint_resumes_to_the_uninterrupted_figures(tmp_path, uninterrupted, signum):
    """SIGKILL: nothing runs, the epochs held since the last write are lost, ``--resume`` continues from that write.
    SIGTERM: the run writes the epoch it held before it stops, and continues from there. Both end as the run that
    was never stopped: every epoch logged once, the same figures, the same weights."""
    log_dir = tmp_path / "logs"
    process = drive(tmp_path, log_dir, "--pause")
    events = []
    for line in process.stdout:
        if line.startswith(("WROTE", "HELD")):
            kind, epoch = line.split()
            events.append((kind, int(epoch)))
        if line.startswith("PAUSED"):
            process.send_signal(signum)
            break
    process.communicate(timeout=120)
    assert process.returncode == (-signal.SIGKILL if signum == signal.SIGKILL else 128 + signal.SIGTERM)
    written = [epoch for kind, epoch in events if kind == "WROTE"]
    held = events[-1][1]
    assert events[-1][0] == "HELD" and written[-1] >= 1 and held > written[-1]  # a throttled write, then held epochs
    checkpoint = log_dir / "lab/net/version_0/checkpoints/last.ckpt"
    expected = written[-1] if signum == signal.SIGKILL else held  # a SIGTERM writes the held epoch as it stops
    assert checkpoint_epoch(checkpoint) == expected

    resumed = finished(drive(tmp_path, log_dir, "--resume"))
    first = next(line for line in resumed.splitlines() if line.startswith(("WROTE", "HELD")))
    assert first == f"WROTE {expected + 1}"  # it continued after the checkpoint: nothing trained twice, nothing skipped
    assert not (log_dir / "lab/net/version_1").exists()
    straight = pd.read_csv(uninterrupted / "lab/net/version_0/metrics.csv", float_precision="round_trip")
    stopped = pd.read_csv(log_dir / "lab/net/version_0/metrics.csv", float_precision="round_trip")
    pd.testing.assert_frame_equal(straight, stopped)
    assert stopped.loc[stopped["train_loss_epoch"].notna(), "epoch"].tolist() == list(range(12))
    weights = torch.load(log_dir / "final_weights.pt", weights_only=True)
    for name, tensor in torch.load(uninterrupted / "final_weights.pt", weights_only=True).items():
        assert torch.equal(weights[name], tensor), name
