"""The code passes the linter configured in pyproject.toml (ruff): the suite fails on a new finding."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import ROOT


def test_ruff_finds_nothing():
    # the venv's own first: the suite may run as .venv/bin/python -m pytest, without the venv on PATH
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff is not None, "ruff is not installed: it comes with the test extras (pip install -e '.[test]')"
    result = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
