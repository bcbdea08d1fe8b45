"""Shared fixtures: small data modules, a loader for the lab scripts, quiet Lightning."""

from __future__ import annotations

import importlib
import logging
import shutil
import struct
import subprocess
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd
import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"


@pytest.fixture(autouse=True)
def _quiet_and_single_threaded():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks; and keeps the suite's timing steady
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


def load_script(name: str) -> ModuleType:
    """``scripts/<name>.py`` as a module (``scripts`` is installed with the project), so tests can call its ``main(argv)``."""
    return importlib.import_module(f"scripts.{name}")


def regression_tensors(rows: int = 203, features: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisy linear problem; 203 rows so batches of 32 leave a ragged last one."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, features, generator=generator)
    y = X @ torch.arange(1.0, features + 1) + 0.5 * torch.randn(rows, generator=generator)
    return X, y


# -- MNIST in its real on-disk format, small --------------------------------------------------------
MNIST_TRAIN, MNIST_TEST = 100, 30


def numbered_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 images whose first pixel holds the row number, so a row can be recognised anywhere."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, int(np.prod(shape))), dtype=np.uint8)
    images[:, 0] = np.arange(n)
    return images.reshape(n, *shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as LeCun's MNIST: magic 0x0000 08 <ndim>, big-endian dimensions, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """MNIST's four IDX files (100 training, 30 test images) where torchvision looks: ``<root>/MNIST/raw``."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", MNIST_TRAIN), ("t10k", MNIST_TEST)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", numbered_images(n, (28, 28), seed=n))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


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


@pytest.fixture
def mount_tmpfs(tmp_path):
    """``mount_tmpfs(size)``: a fresh tmpfs under ``tmp_path``; skips where none can be mounted (not root)."""
    mounted: list[Path] = []

    def mount(size: str) -> Path:
        if sys.platform != "linux" or shutil.which("mount") is None:
            pytest.skip("tmpfs mounts need Linux and mount(8)")
        point = tmp_path / f"tmpfs_{len(mounted)}"
        point.mkdir()
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or 'mount failed'}): needs root")
        mounted.append(point)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["mount", "-o", "remount,rw", str(point)], capture_output=True)
        if subprocess.run(["umount", str(point)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(point)], capture_output=True)
