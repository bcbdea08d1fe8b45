"""The Hitters and NYSE lab scripts end to end, with few epochs, and their errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import ROOT, load_script


def test_hitters_lab_end_to_end(tmp_path, capsys):
    models = load_script("lab_hitters").main(["--max-epochs", "2", "--log-dir", str(tmp_path), "--accelerator", "cpu"])
    results = json.loads((tmp_path / "hitters" / "results.json").read_text())
    assert results["lab"] == "hitters"
    assert set(results["models"]) == {"mlp", "linear_regression", "lasso", "lasso_scaled"}
    mlp = results["models"]["mlp"]
    assert mlp["epochs"] == 2 and mlp["fit_seconds"] > 0 and mlp["test_mae"] > 0 and mlp["test_loss"] > 0
    # the book's baselines are deterministic: they match its figures
    assert results["models"]["linear_regression"]["test_mae"] == pytest.approx(259.72, abs=0.01)
    assert results["models"]["lasso"]["test_mae"] == pytest.approx(257.24, abs=0.01)
    assert results["models"]["lasso_scaled"]["test_mae"] == pytest.approx(235.68, abs=0.01)
    assert (tmp_path / "hitters" / "mlp_curves.png").is_file()
    assert models["mlp"]["test_mae"] == mlp["test_mae"]
    out = capsys.readouterr().out
    assert "Total params: 1,051" in out and "221.8" in out


def test_nyse_lab_end_to_end(tmp_path, capsys):
    load_script("lab_nyse").main(["--max-epochs", "2", "--ar-epochs", "2", "--log-dir", str(tmp_path), "--accelerator", "cpu"])
    results = json.loads((tmp_path / "nyse" / "results.json").read_text())
    models = results["models"]
    assert set(models) == {"linear_ar", "linear_ar_day", "rnn", "nonlinear_ar"}
    assert models["linear_ar"]["test_r2"] == pytest.approx(0.4129, abs=0.002)
    assert models["linear_ar_day"]["test_r2"] == pytest.approx(0.4596, abs=0.002)
    for name in ("rnn", "nonlinear_ar"):
        assert models[name]["epochs"] == 2 and "test_loss" in models[name] and "fit_seconds" in models[name]
        assert (tmp_path / "nyse" / f"{name}_curves.png").is_file()
        assert (tmp_path / "nyse" / name / "version_0" / "metrics.csv").is_file()


def test_lab_script_reports_a_bad_accelerator_without_traceback(tmp_path):
    # a Python of its own: the file's one run of a lab script's real entry point (the labs above run in this process)
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/lab_nyse.py"), "--accelerator", "cuda", "--log-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    if result.returncode == 0:
        pytest.skip("this machine has cuda")
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: accelerator 'cuda' is not available") and "Traceback" not in result.stderr
    assert not (tmp_path / "nyse" / "results.json").exists()
