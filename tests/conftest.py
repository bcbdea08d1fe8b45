"""Shared fixtures: small data modules, a loader for the lab scripts, quiet Lightning."""

from __future__ import annotations

import importlib.util
import logging
import sys
import warnings
from pathlib import Path
from types import ModuleType

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "scripts"
sys.path.insert(0, str(SCRIPTS))  # the lab scripts import their runner as a script does: from its own folder


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
    """Import ``scripts/<name>.py`` as a module, so tests can call its ``main(argv)``."""
    spec = importlib.util.spec_from_file_location(f"lab_script_{name}", SCRIPTS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def regression_tensors(rows: int = 203, features: int = 4, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """A noisy linear problem; 203 rows so batches of 32 leave a ragged last one."""
    generator = torch.Generator().manual_seed(seed)
    X = torch.randn(rows, features, generator=generator)
    y = X @ torch.arange(1.0, features + 1) + 0.5 * torch.randn(rows, generator=generator)
    return X, y
