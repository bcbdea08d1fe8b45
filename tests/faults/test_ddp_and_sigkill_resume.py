"""Scale-out on Lightning's DDP (two or three CPU processes, gloo) and surviving a SIGKILL.

A run killed outright, or during a checkpoint write, or with SIGKILL or SIGTERM after a checkpoint the interval
throttled (epochs held in memory), resumes to the figures, logs and weights of a run that was never stopped.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from helpers import ROOT, run_islp_lab, run_script

CONFIGS = ROOT / "scripts" / "configs"


def islp_lab(*args: str, cwd: Path, new_process: bool = False) -> subprocess.CompletedProcess:
    """islp-lab, in this process unless ``new_process`` (DDP: Lightning starts the other ranks by running the
    command again, so it must be a command)."""
    result = run_islp_lab(*args, cwd=cwd, new_process=new_process)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_figures(version: Path) -> dict[str, float]:
    frame = pd.read_csv(version / "metrics.csv", float_precision="round_trip")
    row = frame.filter(like="test_").dropna().iloc[-1]
    return row.to_dict()


test_figures.__test__ = False  # a helper, not a test


@pytest.mark.parametrize("config, devices", [("hitters", 3)])  # NYSE under DDP: test_ddp_fit_logs_once_from_rank_zero
def test_ddp_test_figures_equal_one_process(config, devices, tmp_path):
    """The same trained weights give the same whole-set test figures on 1 and on N processes.

    Hitters' 88 test rows over 3 processes leave uneven shards (30/29/29): a
    distributed sampler's padding would count rows twice and change the figures.
    """
    yaml = str(CONFIGS / f"{config}.yaml")
    islp_lab("fit", "--config", yaml, "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu", cwd=tmp_path)
    logger_dir = next(tmp_path.glob("logs/*/*"))
    checkpoint = logger_dir / "version_0" / "checkpoints" / "last.ckpt"
    islp_lab("test", "--config", yaml, "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu", cwd=tmp_path)
    islp_lab(
        "test", "--config", yaml, "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu",
        "--trainer.strategy", "ddp", "--trainer.devices", str(devices), cwd=tmp_path, new_process=True,
    )
    one, many = test_figures(logger_dir / "version_1"), test_figures(logger_dir / "version_2")
    assert set(one) == set(many) and len(one) == 2
    for name in one:
        assert many[name] == pytest.approx(one[name], rel=1e-5), name
    assert not (logger_dir / "version_3").exists()  # only rank zero logs


def test_ddp_fit_logs_once_from_rank_zero(tmp_path):
    islp_lab(
        "fit", "--config", str(CONFIGS / "nyse_ar.yaml"), "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", cwd=tmp_path, new_process=True,
    )
    versions = list((tmp_path / "logs/nyse/nonlinear_ar").iterdir())
    assert [v.name for v in versions] == ["version_0"]
    frame = pd.read_csv(versions[0] / "metrics.csv")
    assert sorted(frame.loc[frame["train_loss_epoch"].notna(), "epoch"]) == [0, 1]
    assert (versions[0] / "checkpoints" / "last.ckpt").is_file()


def run_nyse(log_dir: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, str(ROOT / "scripts/lab_nyse.py"), "--max-epochs", "8", "--ar-epochs", "1",
               "--accelerator", "cpu", "--log-dir", str(log_dir), *extra]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)


def figures_without_timing(log_dir: Path) -> dict:
    models = json.loads((log_dir / "nyse" / "results.json").read_text())["models"]
    return {name: {k: v for k, v in figures.items() if k not in ("fit_seconds", "log_dir")} for name, figures in models.items()}


def epochs_logged(csv: Path) -> list[int]:
    frame = pd.read_csv(csv)
    return frame.loc[frame["train_loss_epoch"].notna(), "epoch"].tolist()


def nyse_here(log_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """The lab run_nyse starts, in this process (the lab sets its one torch thread itself, as in a process)."""
    return run_script("lab_nyse", "--max-epochs", "8", "--ar-epochs", "1", "--accelerator", "cpu", "--log-dir",
                      str(log_dir), *extra)


def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = nyse_here(tmp_path / "straight")
    assert straight.returncode == 0, straight.stderr[-3000:]

    interrupted = run_nyse(tmp_path / "killed")
    for line in interrupted.stdout:  # kill it, without warning, once epoch 4 of 8 has ended
        if "[nyse/rnn] epoch 4/8" in line:
            interrupted.send_signal(signal.SIGKILL)
            break
    interrupted.wait(timeout=60)
    assert interrupted.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "nyse" / "results.json").exists()

    resumed = nyse_here(tmp_path / "killed", "--resume")
    output = resumed.stdout
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[nyse/rnn] epoch 1/8" not in output  # it continued, it did not start over
    assert figures_without_timing(tmp_path / "killed") == figures_without_timing(tmp_path / "straight")

    killed_csv = tmp_path / "killed/nyse/rnn/version_0/metrics.csv"
    assert not (tmp_path / "killed/nyse/rnn/version_1").exists()  # the same log version
    assert epochs_logged(killed_csv) == list(range(8))  # every epoch once: no gap, no duplicate
    straight_frame = pd.read_csv(tmp_path / "straight/nyse/rnn/version_0/metrics.csv", float_precision="round_trip")
    killed_frame = pd.read_csv(killed_csv, float_precision="round_trip")
    pd.testing.assert_frame_equal(straight_frame, killed_frame)


# Makes the second checkpoint write slow: half the bytes, then a pause in which the test kills the run.
# (The writer, lightning_modules.machinery.checkpoints, hands the bytes of its temporary file beside last.ckpt to os.write.)
SLOW_SAVE = """
import os, sys, time
original_write, saves = os.write, []
def slow_write(fd, data):
    try:
        checkpoint = "last.ckpt" in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        checkpoint = False
    if not checkpoint or os.lseek(fd, 0, os.SEEK_CUR) != 0:
        return original_write(fd, data)
    saves.append(1)
    if len(saves) < 2:
        return original_write(fd, data)
    written = original_write(fd, bytes(data)[: len(data) // 2])
    print("SAVING", flush=True)
    time.sleep(120)
    return written
os.write = slow_write
sys.argv = [sys.argv[1]] + sys.argv[2:]
import runpy
runpy.run_path(sys.argv[0], run_name="not_main")["main"](sys.argv[1:])
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the checkpoint's file descriptor in /proc")
def test_kill_during_checkpoint_save_leaves_the_previous_one_usable(tmp_path):
    driver = tmp_path / "slow_save.py"
    driver.write_text(SLOW_SAVE)
    log_dir = tmp_path / "logs"
    command = [sys.executable, str(driver), str(ROOT / "scripts/lab_nyse.py"), "--max-epochs", "4", "--ar-epochs", "1",
               "--accelerator", "cpu", "--log-dir", str(log_dir)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT)
    for line in process.stdout:
        if line.startswith("SAVING"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    state = torch.load(checkpoint, map_location="cpu", weights_only=False)  # whole, not half written
    assert state["epoch"] == 0  # the first epoch's checkpoint survived the second one's interrupted save
    resumed = run_script("lab_nyse", "--resume", "--max-epochs", "4", "--ar-epochs", "1", "--accelerator", "cpu",
                         "--log-dir", str(log_dir))
    output = resumed.stdout
    assert resumed.returncode == 0 and "[nyse/rnn] epoch 2/4" in output and "[nyse/rnn] epoch 1/4" not in output
    assert epochs_logged(log_dir / "nyse/rnn/version_0/metrics.csv") == [0, 1, 2, 3]


# -- a kill after a throttled checkpoint (IntervalCheckpoint) --------------------------------------------------------
def checkpoint_epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=True)["epoch"]


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
from lightning_modules.machinery import checkpoints
from lightning_modules.module import SimpleModule
from lightning_modules.runner.runs import last_checkpoint
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
