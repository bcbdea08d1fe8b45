"""The code passes the linter configured in pyproject.toml (ruff): the suite fails on a new finding."""

from __future__ import annotations

import shutil
import subprocess

from conftest import ROOT


def test_ruff_finds_nothing():
    ruff = shutil.which("ruff")
    assert ruff is not None, "ruff is not installed: it comes with the test extras (pip install -e '.[test]')"
    result = subprocess.run([ruff, "check", "--no-cache", str(ROOT)], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
