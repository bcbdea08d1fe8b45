"""Helpers for the tests of every folder (``from helpers import ...``; ``tests/`` is on pytest's ``pythonpath``).

The project's paths, the lab scripts as modules, a small regression problem, drivers that run a lab script with
a change made to it, and readers of what a run printed and logged. Fixtures are in ``conftest.py``; small data
sets in their real on-disk formats in ``data_files.py``.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import logging
import os
import subprocess
import sys
import urllib.error
from pathlib import Path
from types import ModuleType

import pandas as pd
import torch
from pytorch_lightning import Trainer

from lightning_modules.machinery.run_logs import release_run_locks

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (``scripts`` is installed with the project), so tests can call its ``main(argv)``."""
    return importlib.import_module(f"scripts.{name}")


def run_script(script: str, *args: str, new_process: bool = False, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``python -m scripts.<script> args``: what it printed and its exit status, as ``subprocess.run(...,
    capture_output=True, text=True)`` gives them.

    In this process unless ``new_process``: each new Python spends seconds importing Lightning, and the
    script's own ``run(main, argv)`` makes its refusals, exit statuses and one-line messages the same
    either way (Lightning's own log lines aside: in this process they go to the test's stderr). The working
    directory and ``os.environ`` are restored afterwards. A fault that needs a process of its own (a signal,
    a kill) starts one; so does one test of each family, for the script's real entry point."""
    if new_process:
        return subprocess.run([sys.executable, "-m", f"scripts.{script}", *args], capture_output=True, text=True,
                              cwd=cwd, timeout=600)
    module = load_script(script)
    return _in_this_process(lambda argv: module.run(module.main, argv), [script, *args], cwd)


def run_islp_lab(*args: str, new_process: bool = False, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """``islp-lab args``, in this process unless ``new_process``, as :func:`run_script` runs a script."""
    if new_process:
        return subprocess.run([sys.executable, "-m", "lightning_modules.runner.cli", *args], capture_output=True,
                              text=True, cwd=cwd, timeout=600)
    from lightning_modules.runner.cli import main

    return _in_this_process(main, ["islp-lab", *args], cwd)


def _in_this_process(entry_point, command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    out, err = io.StringIO(), io.StringIO()
    environ = dict(os.environ)
    try:
        with contextlib.chdir(cwd), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            entry_point(command[1:])
        status = 0
    except SystemExit as exited:  # as the interpreter turns sys.exit's argument into a status
        status = exited.code if isinstance(exited.code, int) else (0 if exited.code is None else 1)
        if isinstance(exited.code, str):
            err.write(exited.code + "\n")
    finally:
        release_run_locks()  # as the process's exit does: each run's .run.lock emptied and let go
        os.environ.clear()
        os.environ.update(environ)
    return subprocess.CompletedProcess(command, status, out.getvalue(), err.getvalue())


def no_network(*args, **kwargs):
    """``urllib.request.urlopen`` offline (a test monkeypatches it in): every download fails at once."""
    raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution (offline for the test)")


def regression_tensors(rows: int = 203, features: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisy linear problem; 203 rows so batches of 32 leave a ragged last one."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, features, generator=generator)
    y = X @ torch.arange(1.0, features + 1) + 0.5 * torch.randn(rows, generator=generator)
    return X, y


def quiet_trainer(**kwargs) -> Trainer:
    """A Trainer on the CPU, one epoch unless told, that logs, checkpoints and prints nothing."""
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    settings = dict(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return Trainer(**(settings | kwargs))


# What SimpleModule says of class labels 0 to 12 given num_classes=10 (unit/test_module.py and the same
# refusal through islp-lab and under DDP in faults/test_stale_and_wrong_data.py).
CLASSES = ("has class labels from 0 to 12, but num_classes=10 takes labels 0 to 9: give num_classes=13 if the "
           "labels are 0 to 12, or renumber the classes from 0")


# -- lab scripts run through a driver, and what they print and log -------------------------------------------------
# Runs a lab script whose training waits at the start of epoch 2 until the file $GO exists (printing PAUSED once).
PAUSE_AT_EPOCH_2 = """
import os, runpy, sys, time
from lightning_modules.module import SimpleModule
def pause(self):
    if self.current_epoch == 2 and not os.path.exists(os.environ["GO"]):
        print("PAUSED", flush=True)
        for _ in range(3000):
            if os.path.exists(os.environ["GO"]):
                break
            time.sleep(0.1)
SimpleModule.on_train_epoch_start = pause
script = sys.argv[1]
sys.argv = sys.argv[1:]
runpy.run_path(script, run_name="__main__")
"""


def driver_file(tmp_path: Path, name: str, text: str) -> Path:
    """``text`` (a driver such as PAUSE_AT_EPOCH_2) written to ``<tmp_path>/<name>.py``, to run a lab through."""
    path = tmp_path / f"{name}.py"
    path.write_text(text)
    return path


def error_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith("error:")]


def epochs_logged(csv: Path) -> list[int]:
    frame = pd.read_csv(csv)
    return frame.loc[frame["train_loss_epoch"].notna(), "epoch"].tolist()


def test_rows(csv: Path) -> int:
    return int(pd.read_csv(csv).filter(like="test_").notna().any(axis=1).sum())


test_rows.__test__ = False  # a helper, not a test
