"""Seeds in parallel: a worker that dies, and signals to the parent, leave no process behind.

Each fault goes to a real lab script (two Hitters seeds in two workers) started
in a session of its own, so that every process of the run shares its process
group: after the lab exits, a scan of ``/proc`` finds none of them still
running. A worker killed with ``kill -9`` ends the run with one line naming its
seed and ``--resume``, which then finishes every seed; so does ``--resume`` after a SIGTERM.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import ROOT, run_script

from foundations.errors import LabError

pytestmark = [
    pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="reads processes from /proc (Linux)"),
]

#: how long a lab may take to get both seeds training, on a busy machine
START_SECONDS = 300


def lab_command(log_dir: Path, epochs: int, *extra: str) -> list[str]:
    return [sys.executable, "-m", "scripts.lab_hitters", "--seeds", "2", "--jobs", "2", "--max-epochs", str(epochs),
            "--accelerator", "cpu", "--lasso-lambdas", "3", "--log-dir", str(log_dir), *extra]


class Lab:
    """A lab script running in a session (and process group) of its own, its output in files."""

    def __init__(self, tmp_path: Path, epochs: int = 2000) -> None:
        self.log_dir = tmp_path / "logs"
        self.command = lab_command(self.log_dir, epochs)
        self.err = tmp_path / "stderr.txt"
        with open(tmp_path / "stdout.txt", "wb") as out, open(self.err, "wb") as err:
            self.process = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=err, start_new_session=True)

    def until(self, condition, what: str) -> None:
        deadline = time.monotonic() + START_SECONDS
        while not condition():
            assert self.process.poll() is None, f"the lab ended before {what}: {self.err.read_text()[-3000:]}"
            assert time.monotonic() < deadline, f"the lab took too long to get to {what}"
            time.sleep(0.05)

    def training(self) -> bool:
        logs = [self.log_dir / "hitters" / "mlp" / f"seed_{seed}" / "version_0" / "metrics.csv" for seed in (0, 1)]
        return all(log.is_file() and len(log.read_text().splitlines()) > 3 for log in logs)

    def workers(self) -> list[int]:
        """The worker processes (not multiprocessing's resource tracker)."""
        return [pid for pid, parent, _ in processes() if parent == self.process.pid
                and "spawn_main" in command_line(pid) and "resource_tracker" not in command_line(pid)]

    def finish(self) -> tuple[int, str]:
        """Wait for the lab to exit: its exit status and its standard error."""
        status = self.process.wait(timeout=600)
        return status, self.err.read_text()

    def left_running(self) -> list[str]:
        """Processes of the run's process group still running (a zombie waiting to be reaped is not running)."""
        return [command_line(pid) for pid, _, group in processes() if group == self.process.pid]


def processes() -> list[tuple[int, int, int]]:
    """Every running process as (pid, parent pid, process group), from ``/proc``; zombies left out."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # ended meanwhile
            continue
        state, parent, group = stat.rsplit(")", 1)[1].split()[:3]
        if state not in ("Z", "X"):
            found.append((int(entry), int(parent), int(group)))
    return found


def command_line(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def one_line(stderr: str) -> str:
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]


def test_kill_9_of_a_worker_ends_the_run_in_one_line_naming_its_seed_and_resume_finishes(tmp_path):
    lab = Lab(tmp_path, epochs=150)
    lab.until(lab.training, "both seeds training")
    os.kill(lab.workers()[0], signal.SIGKILL)

    status, stderr = lab.finish()

    assert status == LabError.exit_status
    line = one_line(stderr)
    assert re.match(r"error: the worker process of seed [01] was killed by SIGKILL before its run finished", line)
    assert "run the same command with --resume" in line
    assert lab.left_running() == []
    assert not (lab.log_dir / "hitters" / "results.json").exists()

    resumed = run_script("lab_hitters", *lab.command[3:], "--resume")  # here; its two workers processes still
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = json.loads((lab.log_dir / "hitters" / "results.json").read_text())["models"]["mlp"]["seeds"]
    assert [(run["seed"], run["epochs"], run["version"]) for run in runs] == [(0, 150, 0), (1, 150, 0)]


def test_a_worker_killed_as_it_starts_ends_the_run_in_one_line_and_leaves_no_process(tmp_path):
    lab = Lab(tmp_path)
    lab.until(lambda: len(lab.workers()) == 2, "its workers starting")
    os.kill(lab.workers()[1], signal.SIGKILL)

    status, stderr = lab.finish()

    assert status == LabError.exit_status
    assert re.match(r"error: the worker process of seed [01] was killed by SIGKILL .*--resume", one_line(stderr))
    assert lab.left_running() == []


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])  # SIGTERM: with the resume, below
def test_a_signal_to_the_parent_stops_every_worker_before_it_exits(tmp_path, signum):
    lab = Lab(tmp_path)
    lab.until(lab.training, "both seeds training")
    lab.process.send_signal(signum)

    status, stderr = lab.finish()

    assert status == 128 + signum
    line = one_line(stderr)
    assert line.startswith(f"interrupted by {signal.Signals(signum).name}") and "--resume" in line
    assert lab.left_running() == []


def test_sigterm_while_the_workers_start_stops_them_all(tmp_path):
    lab = Lab(tmp_path)
    lab.until(lambda: len(lab.workers()) == 2, "its workers starting")
    lab.process.send_signal(signal.SIGTERM)

    status, stderr = lab.finish()

    assert status == 128 + signal.SIGTERM
    assert one_line(stderr).startswith("interrupted by SIGTERM")
    assert lab.left_running() == []


def test_a_parent_killed_outright_takes_its_workers_with_it(tmp_path):
    lab = Lab(tmp_path)
    lab.until(lab.training, "both seeds training")
    workers = lab.workers()
    lab.process.kill()
    lab.finish()

    # the kernel ends them as the parent dies (PR_SET_PDEATHSIG); without it they would train 2,000 epochs
    deadline = time.monotonic() + 60
    while lab.left_running() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert lab.left_running() == [] and len(workers) == 2


def test_sigterm_to_the_parent_stops_every_worker_and_resume_finishes_each_seed(tmp_path):
    lab = Lab(tmp_path, epochs=150)
    lab.until(lab.training, "both seeds training")
    workers = lab.workers()
    lab.process.send_signal(signal.SIGTERM)

    status, stderr = lab.finish()

    assert status == 128 + signal.SIGTERM
    line = one_line(stderr)
    assert line.startswith("interrupted by SIGTERM") and "--resume" in line and str(lab.log_dir) in line
    assert lab.left_running() == [] and len(workers) == 2
    assert not (lab.log_dir / "hitters" / "results.json").exists()

    resumed = run_script("lab_hitters", *lab.command[3:], "--resume")  # here; its two workers processes still
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    runs = json.loads((lab.log_dir / "hitters" / "results.json").read_text())["models"]["mlp"]["seeds"]
    assert [(run["seed"], run["epochs"], run["version"]) for run in runs] == [(0, 150, 0), (1, 150, 0)]  # continued
