"""The MNIST and CIFAR100 labs: their networks, the scripts end to end on synthetic data, missing data, learning."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import matplotlib.image
import pytest
import torch
from helpers import ROOT, load_script, no_network, run_script

from lightning_modules.curves import read_metrics
from lightning_modules.networks import CIFARCNN, MNISTMLP, MNISTLogistic

REAL_MNIST = ROOT.parent / "shared" / "data"  # this workplace's copy; absent on a user's machine


@pytest.mark.parametrize(
    "network, input_shape, classes",
    [(MNISTMLP, (1, 28, 28), 10), (MNISTLogistic, (1, 28, 28), 10), (CIFARCNN, (3, 32, 32), 100)],
    ids=["mnist_mlp", "mnist_mlr", "cifar_cnn"],
)
def test_network_output_shape(network, input_shape, classes):
    """(Their parameter counts against the book's: tests/unit/test_labs.py, with every other setting.)"""
    model = network()
    assert model(torch.rand(5, *input_shape)).shape == (5, classes)


def check_model_figures(figures: dict, book: float, epochs: int) -> None:
    assert {"test_accuracy", "test_loss", "epochs", "fit_seconds"} <= set(figures)
    assert figures["epochs"] == epochs and figures["fit_seconds"] > 0 and figures["test_loss"] > 0
    assert 0 <= figures["test_accuracy"] <= 1 and figures["book_test_accuracy"] == book


def test_mnist_lab_end_to_end_on_synthetic_data(tmp_path, capsys):
    argv = ["--synthetic", "--limit", "600", "--max-epochs", "1", "--log-dir", str(tmp_path), "--accelerator", "cpu"]
    models = load_script("lab_mnist").main(argv)
    results = json.loads((tmp_path / "mnist" / "results.json").read_text())
    assert results["lab"] == "mnist" and results["synthetic"] is True
    assert set(results["models"]) == {"mlp", "mlr"}
    check_model_figures(results["models"]["mlp"], 0.9648, epochs=1)
    check_model_figures(results["models"]["mlr"], 0.9219, epochs=1)
    assert models["mlr"]["test_accuracy"] == results["models"]["mlr"]["test_accuracy"]
    for name in ("mlp", "mlr"):
        assert (tmp_path / "mnist" / f"{name}_curves.png").is_file()
        assert (tmp_path / "mnist" / name / "version_0" / "metrics.csv").is_file()
    out = capsys.readouterr().out
    for network in (MNISTMLP(), MNISTLogistic()):  # the summary of each network trained
        assert f"Total params: {sum(p.numel() for p in network.parameters()):,}" in out
    assert out.count("SYNTHETIC DATA, NOT MNIST") == 2  # before training and beside the table


def test_cifar_lab_end_to_end_on_synthetic_data(tmp_path, capsys):
    argv = ["--synthetic", "--limit", "300", "--max-epochs", "1", "--log-dir", str(tmp_path), "--accelerator", "cpu"]
    load_script("lab_cifar100").main(argv)
    results = json.loads((tmp_path / "cifar100" / "results.json").read_text())
    assert results["lab"] == "cifar100" and results["synthetic"] is True and results["augment"] is False
    assert set(results["models"]) == {"cnn"}
    check_model_figures(results["models"]["cnn"], 0.4303, epochs=1)
    assert (tmp_path / "cifar100" / "cnn_curves.png").is_file()
    grid = matplotlib.image.imread(tmp_path / "cifar100" / "sample_images.png")
    assert grid.shape[:2] == (1100, 1000)  # the 10 x 11 inch figure of 5 x 5 images at 100 dpi
    out = capsys.readouterr().out
    assert f"Total params: {sum(p.numel() for p in CIFARCNN().parameters()):,}" in out
    assert "SYNTHETIC DATA, NOT CIFAR100" in out


@pytest.mark.skipif(not (REAL_MNIST / "MNIST" / "raw").is_dir(), reason="the real MNIST files are not on this machine")
def test_mnist_lab_reads_the_real_files(tmp_path):
    argv = ["--data-dir", str(REAL_MNIST), "--limit", "6000", "--max-epochs", "1", "--log-dir", str(tmp_path), "--accelerator", "cpu"]
    load_script("lab_mnist").main(argv)
    results = json.loads((tmp_path / "mnist" / "results.json").read_text())
    assert results["synthetic"] is False
    # one epoch on 4,800 real digits: labels that fit their images, far above chance (0.1) for logistic
    # regression (the multilayer network a reader changes may need more epochs), above chance for both
    assert results["models"]["mlr"]["test_accuracy"] > 0.6
    assert all(results["models"][name]["test_accuracy"] > 0.15 for name in ("mlp", "mlr"))


@pytest.mark.parametrize("script, data_set", [("lab_mnist", "MNIST"), ("lab_cifar100", "CIFAR100")])
def test_lab_without_data_exits_3_with_one_error_line(script, data_set, tmp_path, monkeypatch):
    empty = tmp_path / "empty"
    empty.mkdir()
    args = ["--data-dir", str(empty), "--log-dir", str(tmp_path / "logs"), "--accelerator", "cpu"]
    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    result = run_script(script, *args)
    assert result.returncode == 3, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and errors == result.stderr.strip().splitlines()[-1:]
    assert f"error: {data_set} is not in {empty.resolve()}" in errors[0] and "could not be downloaded" in errors[0]
    assert "--synthetic" in errors[0]
    assert not (tmp_path / "logs" / script.removeprefix("lab_") / "results.json").exists()


def test_cnn_learns_on_synthetic_images(tmp_path):
    """The lab's CNN, batches and optimizer (RMSprop, lr 0.001) on 1,600 synthetic images: the loss falls clearly
    (from chance, ln 100 = 4.6, to near 0.5 by the 8th epoch)."""
    argv = ["--synthetic", "--limit", "2000", "--max-epochs", "8", "--log-dir", str(tmp_path), "--accelerator", "cpu"]
    models = load_script("lab_cifar100").main(argv)
    metrics = read_metrics(models["cnn"]["log_dir"])
    losses = metrics["train_loss_epoch"].dropna().tolist()
    assert len(losses) == 8
    assert losses[-1] < 2.5 and losses[-1] < 0.5 * losses[0]  # chance level is ln(100) = 4.6
    assert metrics["valid_accuracy"].dropna().iloc[-1] > 0.3  # chance is 0.01
