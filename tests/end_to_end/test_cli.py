"""islp-lab: every config runs, --print_config round-trips, bad input is rejected by the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from helpers import ROOT, run_islp_lab

from lightning_modules.runner.cli import main as cli_main

CONFIGS = sorted((ROOT / "scripts" / "configs").glob("*.yaml"))


def test_every_network_has_a_config():
    names = {config.stem for config in CONFIGS}
    labs = {"hitters", "mnist_mlp", "mnist_mlr", "cifar100_cnn", "imdb_dense", "imdb_lstm", "nyse_rnn", "nyse_ar"}
    exercises = {"ex07_default", "ex10_linear_ar", "ex11_nonlinear_ar", "ex12_rnn_day"} | {
        f"ex13_dense_{units}{dropout}" for units in (16, 32, 64) for dropout in ("", "_dropout")
    }
    assert names == labs | exercises


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.stem)
def test_each_config_fits_on_a_few_batches(config, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    settings = yaml.safe_load(config.read_text())
    extra = ["--data.init_args.synthetic", "true"] if "synthetic" in str(settings.get("data")) else []
    cli_main(
        ["fit", "--config", str(config), "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "3",
         "--trainer.limit_val_batches", "2", "--trainer.accelerator", "cpu", *extra]
    )
    logger = settings["trainer"]["logger"]["init_args"]
    version = tmp_path / logger["save_dir"] / logger["name"] / "version_0"
    assert (version / "checkpoints" / "last.ckpt").is_file() and (version / "config.yaml").is_file()
    assert "train_loss_epoch" in pd.read_csv(version / "metrics.csv").columns


def test_print_config_then_fit_and_test_on_it(tmp_path):
    printed = run_islp_lab("fit", "--config", str(ROOT / "scripts/configs/hitters.yaml"), "--print_config", cwd=tmp_path)
    assert printed.returncode == 0, printed.stderr
    (tmp_path / "printed.yaml").write_text(printed.stdout)
    fitted = run_islp_lab("fit", "--config", "printed.yaml", "--trainer.max_epochs", "3", "--trainer.accelerator", "cpu", cwd=tmp_path)
    assert fitted.returncode == 0, fitted.stderr
    version = tmp_path / "logs/hitters/mlp/version_0"
    assert read_epochs(version) == [0, 1, 2]
    tested = run_islp_lab("test", "--config", "printed.yaml", "--ckpt_path", str(version / "checkpoints/last.ckpt"), cwd=tmp_path)
    assert tested.returncode == 0, tested.stderr
    assert "test_mae" in tested.stdout


def read_epochs(version: Path) -> list[int]:
    """Epochs with a training loss logged."""
    frame = pd.read_csv(version / "metrics.csv")
    return sorted(frame.loc[frame["train_loss_epoch"].notna(), "epoch"].tolist())


def test_typo_and_wrong_type_are_rejected(tmp_path):
    config = (ROOT / "scripts/configs/hitters.yaml").read_text().replace("max_epochs", "max_epohcs")
    (tmp_path / "typo.yaml").write_text(config)
    typo = run_islp_lab("fit", "--config", "typo.yaml", cwd=tmp_path)
    assert typo.returncode != 0 and "max_epohcs" in typo.stderr
    wrong = run_islp_lab("fit", "--config", str(ROOT / "scripts/configs/hitters.yaml"), "--model.lr", "fast", cwd=tmp_path)
    assert wrong.returncode != 0 and "model.lr" in wrong.stderr
    assert not (tmp_path / "logs").exists()


def test_unavailable_accelerator_exits_with_a_message(tmp_path):
    # a Python of its own: one refusal through islp-lab's real entry point
    result = run_islp_lab("fit", "--config", str(ROOT / "scripts/configs/hitters.yaml"), "--trainer.accelerator", "mps",
                          cwd=tmp_path, new_process=True)
    if "mps" in result.stdout + result.stderr and result.returncode == 0:
        pytest.skip("this machine has mps")
    assert result.returncode == 1
    assert "islp-lab: error: accelerator 'mps' is not available" in result.stderr and "Traceback" not in result.stderr


def test_fit_prints_the_model_summary_and_honours_default_root_dir(tmp_path):
    # a Python of its own: the summary is a Lightning log line, which this process's tests silence
    result = run_islp_lab(
        "fit", "--config", str(ROOT / "scripts/configs/cifar100_cnn.yaml"), "--data.synthetic", "true",
        "--data.limit", "300", "--trainer.max_epochs", "1", "--trainer.limit_train_batches", "2",
        "--trainer.limit_val_batches", "1", "--trainer.accelerator", "cpu", "--trainer.default_root_dir", "elsewhere",
        cwd=tmp_path, new_process=True,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    output = result.stdout + result.stderr
    assert "Trainable params" in output and "Total params" in output  # Lightning's summary of the network
    assert (tmp_path / "elsewhere" / "cifar100" / "cnn" / "version_0" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "logs").exists()


def test_importing_the_library_changes_nothing_in_the_users_process():
    code = (
        # the libraries underneath set warnings filters of their own: import them first
        "import logging, warnings, matplotlib, torch, torchvision, torchmetrics, pytorch_lightning, pandas, sklearn;"
        "matplotlib.use('svg'); filters = list(warnings.filters);"
        "handlers = [list(logging.getLogger(n).filters) for n in ('pytorch_lightning.utilities.rank_zero',)];"
        "import lightning_modules, datamodules, lightning_modules.curves, lightning_modules.runner.cli, datamodules.imdb;"
        "assert matplotlib.get_backend() == 'svg', matplotlib.get_backend();"
        "assert list(warnings.filters) == filters, 'warnings filters changed';"
        "assert [list(logging.getLogger(n).filters) for n in ('pytorch_lightning.utilities.rank_zero',)] == handlers"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
