"""Shared fixtures (quiet Lightning, MNIST's files, tmpfs mounts), and the slow marker set by folder.

The tests are in three folders by kind: ``unit/`` (one library module in this process: the quick loop,
``pytest tests/unit``), ``end_to_end/`` (scripts, notebooks, islp-lab, the chapter run, the benchmark, the
book's own code) and ``faults/`` (hostile scenarios through the real entry points). Every test under
``end_to_end/`` and ``faults/`` is marked ``slow``. Plain helpers are in ``helpers.py`` and ``data_files.py``.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import MNIST_TEST, MNIST_TRAIN, numbered_images, write_idx

#: the folders whose tests are all slow
SLOW_FOLDERS = ("end_to_end", "faults")
TESTS = Path(__file__).resolve().parent


@pytest.hookimpl(tryfirst=True)  # before -m selects by marker
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    slow = [TESTS / folder for folder in SLOW_FOLDERS]
    for item in items:
        if any(item.path.resolve().is_relative_to(folder) for folder in slow):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(autouse=True)
def _quiet_and_single_threaded():
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small networks; and keeps the suite's timing steady
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield
    torch.set_num_threads(threads)


@pytest.fixture
def mnist_root(tmp_path: Path) -> Path:
    """MNIST's four IDX files (100 training, 30 test images) where torchvision looks: ``<root>/MNIST/raw``."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for prefix, n in (("train", MNIST_TRAIN), ("t10k", MNIST_TEST)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", numbered_images(n, (28, 28), seed=n))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


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
