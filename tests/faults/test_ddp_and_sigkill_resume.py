"""Scale-out on Lightning's DDP (two or three CPU processes, gloo) and surviving a SIGKILL."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from conftest import ROOT

CONFIGS = ROOT / "scripts" / "configs"


def islp_lab(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [sys.executable, "-m", "lightning_modules.cli", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def test_figures(version: Path) -> dict[str, float]:
    frame = pd.read_csv(version / "metrics.csv", float_precision="round_trip")
    row = frame.filter(like="test_").dropna().iloc[-1]
    return row.to_dict()


test_figures.__test__ = False  # a helper, not a test


@pytest.mark.slow
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
        "--trainer.strategy", "ddp", "--trainer.devices", str(devices), cwd=tmp_path,
    )
    one, many = test_figures(logger_dir / "version_1"), test_figures(logger_dir / "version_2")
    assert set(one) == set(many) and len(one) == 2
    for name in one:
        assert many[name] == pytest.approx(one[name], rel=1e-5), name
    assert not (logger_dir / "version_3").exists()  # only rank zero logs


@pytest.mark.slow
def test_ddp_fit_logs_once_from_rank_zero(tmp_path):
    islp_lab(
        "fit", "--config", str(CONFIGS / "nyse_ar.yaml"), "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu",
        "--trainer.strategy", "ddp", "--trainer.devices", "2", cwd=tmp_path,
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


@pytest.mark.slow
def test_sigkill_then_resume_equals_an_uninterrupted_run(tmp_path):
    straight = run_nyse(tmp_path / "straight")
    assert straight.wait(timeout=600) == 0

    interrupted = run_nyse(tmp_path / "killed")
    for line in interrupted.stdout:  # kill it, without warning, once epoch 4 of 8 has ended
        if "[nyse/rnn] epoch 4/8" in line:
            interrupted.send_signal(signal.SIGKILL)
            break
    interrupted.wait(timeout=60)
    assert interrupted.returncode == -signal.SIGKILL
    assert not (tmp_path / "killed" / "nyse" / "results.json").exists()

    resumed = run_nyse(tmp_path / "killed", "--resume")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0
    assert "[nyse/rnn] epoch 1/8" not in output  # it continued, it did not start over
    assert figures_without_timing(tmp_path / "killed") == figures_without_timing(tmp_path / "straight")

    killed_csv = tmp_path / "killed/nyse/rnn/version_0/metrics.csv"
    assert not (tmp_path / "killed/nyse/rnn/version_1").exists()  # the same log version
    assert epochs_logged(killed_csv) == list(range(8))  # every epoch once: no gap, no duplicate
    straight_frame = pd.read_csv(tmp_path / "straight/nyse/rnn/version_0/metrics.csv", float_precision="round_trip")
    killed_frame = pd.read_csv(killed_csv, float_precision="round_trip")
    pd.testing.assert_frame_equal(straight_frame, killed_frame)


# Makes the second checkpoint write slow: half the bytes, then a pause in which the test kills the run.
# (The writer, lightning_modules.checkpoints, hands the bytes of its temporary file beside last.ckpt to os.write.)
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


@pytest.mark.slow
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
    resumed = run_nyse(log_dir, "--resume", "--max-epochs", "4")
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0 and "[nyse/rnn] epoch 2/4" in output and "[nyse/rnn] epoch 1/4" not in output
    assert epochs_logged(log_dir / "nyse/rnn/version_0/metrics.csv") == [0, 1, 2, 3]
