"""Checkpoints that survive any fault, resume that continues the right run, results tied to their run.

The faults are real: a SIGKILL in the middle of a checkpoint write with the
logs on another filesystem than the temp folder, a disk that fills up, a
failed start and the logs of ``islp-lab test`` beside a real run, two runs of
a lab at once. The lab scripts (and ``islp-lab``) run in this process (run_script, run_islp_lab) but where
a fault needs a process of its own: the kill, the second of two runs at once; one islp-lab run keeps the
real entry point.
The filesystems are small tmpfs mounts; where this machine won't mount one
(not root, a container without the capability), those tests skip.
"""

from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import torch
from helpers import ROOT, driver_file, epochs_logged, error_lines, run_islp_lab, run_script, test_rows
from matplotlib.figure import Figure

from lightning_modules.module import SimpleModule

SCRIPTS = ROOT / "scripts"
CONFIGS = SCRIPTS / "configs"

# Pauses the second checkpoint write half-way, whatever writes it (the bytes of a file whose name has last.ckpt
# in it, by os.write or, for a copy across filesystems, os.sendfile), so the test can kill the run right there.
PAUSE_SECOND_SAVE = """
import os, runpy, sys, time
saves = []
def _is_checkpoint(fd):
    try:
        return "last.ckpt" in os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return False
def _pause(send_half):
    result = send_half()
    print("SAVING", flush=True)
    time.sleep(300)
    return result
original_write, original_sendfile = os.write, os.sendfile
def write(fd, data):
    if _is_checkpoint(fd) and os.lseek(fd, 0, os.SEEK_CUR) == 0:
        saves.append(fd)
        if len(saves) == 2:
            return _pause(lambda: original_write(fd, bytes(data)[: len(data) // 2]))
    return original_write(fd, data)
def sendfile(out_fd, in_fd, offset, count):
    if _is_checkpoint(out_fd) and offset == 0:
        saves.append(out_fd)
        if len(saves) == 2:
            return _pause(lambda: original_sendfile(out_fd, in_fd, offset, max(1, os.fstat(in_fd).st_size // 2)))
    return original_sendfile(out_fd, in_fd, offset, count)
os.write, os.sendfile = write, sendfile
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def fill_disk(filler: Path) -> None:
    """Fill the filesystem of ``filler`` until it is full (the full-disk faults, in this process)."""
    with filler.open("wb") as handle:
        try:
            while True:
                handle.write(b"\0" * 65536)
                handle.flush()
        except OSError as error:
            assert error.errno == errno.ENOSPC


def lab_command(script: str, log_dir: Path, *extra: str, driver: Path | None = None) -> list[str]:
    path = str(SCRIPTS / f"{script}.py")
    return [sys.executable, *([str(driver)] if driver else []), path, "--accelerator", "cpu", "--log-dir", str(log_dir), *extra]


def nyse(log_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """lab_nyse in this process (run_script)."""
    return run_script("lab_nyse", "--accelerator", "cpu", "--log-dir", str(log_dir), "--ar-epochs", "1", *extra)


def temp_folder(monkeypatch, folder: Path) -> None:
    """What TMPDIR=folder gives a new Python: its temp files (Python's and any library's) in ``folder``."""
    monkeypatch.setenv("TMPDIR", str(folder))
    monkeypatch.setattr(tempfile, "tempdir", str(folder))


def islp_lab(command: str, log_dir: Path, *extra: str, cwd: Path, new_process: bool = False,
             ) -> subprocess.CompletedProcess:
    return run_islp_lab(command, "--config", str(CONFIGS / "nyse_rnn.yaml"), *extra, "--trainer.accelerator", "cpu",
                        "--trainer.default_root_dir", str(log_dir), cwd=cwd, new_process=new_process)


def checkpoint_epoch(path: Path) -> int:
    return torch.load(path, map_location="cpu", weights_only=False)["epoch"]


def test_kill_during_a_save_to_another_filesystem_keeps_the_previous_checkpoint(tmp_path, mount_tmpfs, monkeypatch):
    """Lightning's own save went through a temp file in $TMPDIR: across filesystems its last step is a copy into
    last.ckpt, and a kill in that copy left a cut last.ckpt (resume: EOFError). Now the previous one survives."""
    log_dir = mount_tmpfs("64m") / "logs"
    temp = tmp_path / "tmp"  # on the disk, not on the tmpfs: another filesystem than the logs
    temp.mkdir()
    assert os.stat(temp).st_dev != os.stat(log_dir.parent).st_dev
    driver = driver_file(tmp_path, "pause", PAUSE_SECOND_SAVE)  # a process of its own: it is killed mid-save
    command = lab_command("lab_nyse", log_dir, "--max-epochs", "4", "--ar-epochs", "1", driver=driver)
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT,
                               env={**os.environ, "TMPDIR": str(temp)})
    try:
        for line in process.stdout:
            if line.startswith("SAVING"):
                process.send_signal(signal.SIGKILL)
                break
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    assert checkpoint_epoch(checkpoint) == 0  # the first epoch's checkpoint, whole, not the second's half
    temp_folder(monkeypatch, temp)  # the resume in this process, its temp folder the same
    resumed = nyse(log_dir, "--resume", "--max-epochs", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[nyse/rnn] epoch 2/4" in resumed.stdout and "[nyse/rnn] epoch 1/4" not in resumed.stdout
    assert epochs_logged(log_dir / "nyse/rnn/version_0/metrics.csv") == [0, 1, 2, 3]
    assert [p.name for p in checkpoint.parent.iterdir()] == ["last.ckpt"]  # the killed write's temp file is gone
    assert checkpoint_epoch(checkpoint) == 3


def test_a_full_disk_ends_the_run_with_one_line_and_keeps_the_previous_checkpoint(tmp_path, mount_tmpfs, monkeypatch):
    disk = mount_tmpfs("3m")
    log_dir, filler = disk / "logs", disk / "filler"
    temp_folder(monkeypatch, tmp_path)
    original_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):  # the log folder's filesystem filled right after the second checkpoint
        result = original_save(obj, f, *args, **kwargs)  # is serialized, before it is written
        if isinstance(obj, dict) and "state_dict" in obj and "epoch" in obj:
            saves.append(1)
            if len(saves) == 2:
                fill_disk(filler)
        return result

    with monkeypatch.context() as patched:
        patched.setattr(torch, "save", save)
        failed = nyse(log_dir, "--max-epochs", "4")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    (line,) = error_lines(failed.stderr)
    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    assert line.startswith("error: the disk is full: could not write") and str(checkpoint) in line
    assert "previous last.ckpt is kept" in line and "--resume" in line
    assert [p.name for p in checkpoint.parent.iterdir()] == ["last.ckpt"]  # no temporary file left on the full disk
    assert checkpoint_epoch(checkpoint) == 0
    assert not (log_dir / "nyse/results.json").exists()

    filler.unlink()  # space again: the run continues from the checkpoint the full disk left whole
    resumed = nyse(log_dir, "--resume", "--max-epochs", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[nyse/rnn] epoch 1/4" not in resumed.stdout
    assert epochs_logged(log_dir / "nyse/rnn/version_0/metrics.csv") == [0, 1, 2, 3]


def test_a_figure_that_fails_after_the_results_keeps_them_and_exits_1(tmp_path, mount_tmpfs, monkeypatch):
    disk = mount_tmpfs("3m")
    log_dir, filler = disk / "logs", disk / "filler"
    original_savefig = Figure.savefig

    def savefig(self, *args, **kwargs):  # the log folder's filesystem filled when the first figure is drawn
        if not filler.exists():
            fill_disk(filler)
        return original_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig)
    failed = nyse(log_dir, "--max-epochs", "1")
    assert failed.returncode == 1, failed.stderr[-3000:]
    assert "Traceback" not in failed.stderr
    (line,) = error_lines(failed.stderr)
    figure = log_dir / "nyse/rnn/version_0/rnn_curves.png"
    assert line == f"error: could not save the figure {figure}: the disk is full; the results are kept in " \
                   f"{log_dir / 'nyse/results.json'}"
    results = json.loads((log_dir / "nyse/results.json").read_text())  # whole, written before the figures
    assert set(results["models"]) == {"linear_ar", "linear_ar_day", "rnn", "nonlinear_ar"}
    assert not figure.exists() and not (log_dir / "nyse/rnn_curves.png").exists()  # no half-written PNG either


def test_resume_skips_versions_without_a_checkpoint_and_counts_every_attempt(tmp_path, monkeypatch):
    """--resume continues the newest version that has a checkpoint, past an empty folder (a failed start) and the
    logs of `islp-lab test`; a finished run is tested again without a second test row; fit_seconds adds up."""
    log_dir = tmp_path / "logs"
    with monkeypatch.context() as slow:  # every epoch of the lab's runs 1 s longer: fit_seconds has known minimums
        slow.setattr(SimpleModule, "on_train_epoch_start", lambda self: time.sleep(1.0))
        first = nyse(log_dir, "--resume", "--max-epochs", "3")  # nothing to resume yet: a new run
    assert first.returncode == 0, first.stderr[-3000:]
    assert f"--resume: nothing to resume in {log_dir / 'nyse' / 'rnn'}" in first.stderr
    tested = islp_lab("test", log_dir, "--ckpt_path", str(log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"),
                      cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr[-3000:]
    rnn = log_dir / "nyse" / "rnn"
    assert (rnn / "version_1" / "metrics.csv").is_file() and not (rnn / "version_1" / "checkpoints").exists()
    (rnn / "version_2").mkdir()  # what a start that failed leaves
    (log_dir / "nyse" / "nonlinear_ar" / "version_1").mkdir()
    before = json.loads((log_dir / "nyse/results.json").read_text())["models"]

    with monkeypatch.context() as slow:
        slow.setattr(SimpleModule, "on_train_epoch_start", lambda self: time.sleep(1.0))
        resumed = nyse(log_dir, "--resume", "--max-epochs", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "nothing to resume" not in resumed.stderr
    assert "[nyse/rnn] epoch 4/4" in resumed.stdout and "[nyse/rnn] epoch 3/4" not in resumed.stdout
    assert sorted(p.name for p in rnn.iterdir()) == ["version_0", "version_1", "version_2"]  # no new version
    assert epochs_logged(rnn / "version_0/metrics.csv") == [0, 1, 2, 3]
    assert test_rows(rnn / "version_0/metrics.csv") == 1
    nonlinear = log_dir / "nyse/nonlinear_ar/version_0/metrics.csv"  # finished: tested again, its test row replaced
    assert epochs_logged(nonlinear) == [0] and test_rows(nonlinear) == 1
    after = json.loads((log_dir / "nyse/results.json").read_text())["models"]
    assert after["rnn"]["version"] == after["nonlinear_ar"]["version"] == 0
    assert after["rnn"]["log_dir"] == str(rnn / "version_0")
    assert after["nonlinear_ar"]["test_r2"] == pytest.approx(before["nonlinear_ar"]["test_r2"], rel=1e-6)
    # every epoch slept 1 s: 4 epochs of the RNN over two attempts, 1 epoch of the AR in the first attempt only
    assert after["rnn"]["fit_seconds"] >= 4.0 and after["nonlinear_ar"]["fit_seconds"] >= 1.0
    assert after["nonlinear_ar"]["fit_seconds"] >= before["nonlinear_ar"]["fit_seconds"] * 0.9

    # the CLI's --ckpt_path last finds the same run past the test's version; islp-lab's real entry point
    continued = islp_lab("fit", log_dir, "--ckpt_path", "last", "--trainer.max_epochs", "5", cwd=tmp_path,
                         new_process=True)
    assert continued.returncode == 0, continued.stderr[-3000:]
    assert epochs_logged(rnn / "version_0/metrics.csv") == [0, 1, 2, 3, 4]
    assert "class_path: lightning_modules.machinery.checkpoints.AtomicCheckpointIO" in (rnn / "version_0/config.yaml").read_text()
    assert sorted(p.name for p in rnn.iterdir()) == ["version_0", "version_1", "version_2"]


def test_resuming_a_damaged_checkpoint_says_so_in_one_line(tmp_path):
    log_dir = tmp_path / "logs"
    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    checkpoint.parent.mkdir(parents=True)
    whole = torch.nn.Linear(2, 1).state_dict()
    torch.save({"state_dict": whole, "epoch": 0}, checkpoint)
    checkpoint.write_bytes(checkpoint.read_bytes()[:300])  # what a copy cut short by a kill leaves
    result = nyse(log_dir, "--resume", "--max-epochs", "2")
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr and "EOFError" not in result.stderr
    (line,) = error_lines(result.stderr)
    assert line.startswith(f"error: checkpoint {checkpoint} cannot be read: it is cut short (300 bytes")


def test_two_runs_at_once_keep_both_results(tmp_path):
    log_dir = tmp_path / "logs"
    # seed 0 in a process of its own; seed 1 in this process once that one is under way (its first line printed)
    process = subprocess.Popen(lab_command("lab_nyse", log_dir, "--max-epochs", "2", "--ar-epochs", "1", "--seed", "0"),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        process.stdout.readline()
        here = nyse(log_dir, "--max-epochs", "2", "--seed", "1")
        _, err = process.communicate(timeout=600)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == 0, err[-3000:]
    assert here.returncode == 0, here.stderr[-3000:]

    lab = log_dir / "nyse"
    records = {}
    for name in ("rnn", "nonlinear_ar"):
        assert sorted(p.name for p in (lab / name).iterdir()) == ["version_0", "version_1"]  # one version each
        for version in (0, 1):
            run_dir = lab / name / f"version_{version}"
            record = json.loads((run_dir / "results.json").read_text())
            assert record["models"][name]["version"] == version and record["models"][name]["log_dir"] == str(run_dir)
            assert (run_dir / f"{name}_curves.png").stat().st_size > 1000
            records[name, version] = record
    # each run's record pairs the versions of one run, and the two runs' figures differ (seeds 0 and 1)
    runs = {(r["models"]["rnn"]["version"], r["models"]["nonlinear_ar"]["version"]) for r in records.values()}
    assert len(runs) == 2
    assert records["rnn", 0]["models"]["rnn"]["test_r2"] != records["rnn", 1]["models"]["rnn"]["test_r2"]
    latest = json.loads((lab / "results.json").read_text())
    assert latest in [records["rnn", 0], records["rnn", 1]]  # the lab's file: one whole run, the last to finish
    for name in ("rnn", "nonlinear_ar"):
        version = latest["models"][name]["version"]
        copy = (lab / f"{name}_curves.png").read_bytes()
        assert copy == (lab / name / f"version_{version}" / f"{name}_curves.png").read_bytes()
