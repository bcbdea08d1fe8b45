"""The IMDB lab scripts end to end on small synthetic data, scoring new reviews, and their errors."""

from __future__ import annotations

import json
import re
import urllib.error

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
import torchvision.datasets.utils
from helpers import ROOT, load_script

from datamodules.imdb import IMDBDataModule
from lightning_modules.chapter import baselines
from lightning_modules.module import SimpleModule
from lightning_modules.networks import IMDBDense
from lightning_modules.runner.cli import main as cli_main

SCORE = re.compile(r'^P\(positive\) = ([01]\.\d\d)  "(.*)"$', re.MULTILINE)
REVIEWS = ["word5 word9 word17 word120", "word3 word44 word2000"]


def small_run(tmp_path, *extra: str) -> list[str]:
    return ["--synthetic", "--limit", "600", "--max-epochs", "1", "--accelerator", "cpu",
            "--log-dir", str(tmp_path / "logs"), "--data-dir", str(tmp_path / "data"), *extra]


def test_lasso_path_grid_and_accuracy():
    lab = baselines
    rng = np.random.default_rng(0)
    X = sp.random(300, 40, density=0.2, format="csr", random_state=0, data_rvs=lambda n: np.ones(n))
    y = (X[:, :5].sum(axis=1).A1 + rng.normal(0, 0.5, 300) > 1).astype(np.float32)
    lambdas, coefs, intercepts = lab.lasso_path(X, y, num_lambdas=6, seed=0)
    lambda_max = np.abs(X.T @ (y - y.mean())).max()
    assert lambdas[0] == pytest.approx(lambda_max) and lambdas[-1] == pytest.approx(1e-4 * lambda_max)
    assert np.allclose(np.diff(np.log(lambdas)), np.log(1e-4) / 5)  # a log grid
    assert coefs.shape == (6, 40) and (coefs[0] != 0).sum() <= 1 < (coefs[-1] != 0).sum()
    # the path's accuracy is what scikit-learn's own classifier at that λ scores
    fitted = lab.l1_logistic(seed=0).set_params(C=1 / lambdas[3]).fit(X, y)
    assert np.allclose(fitted.coef_.ravel(), coefs[3])
    assert lab.path_accuracy(X, y, coefs, intercepts)[3] == pytest.approx(fitted.score(X, y))


def test_imdb_lab_end_to_end_then_scores_new_reviews(tmp_path, capsys):
    lab = load_script("lab_imdb")
    lab.main(small_run(tmp_path, "--lasso-lambdas", "5"))
    folder = tmp_path / "logs" / "imdb"
    results = json.loads((folder / "results.json").read_text())
    assert results["lab"] == "imdb" and results["synthetic"] is True and set(results["models"]) == {"dense", "lasso"}
    dense, lasso = results["models"]["dense"], results["models"]["lasso"]
    assert dense["epochs"] == 1 and dense["fit_seconds"] > 0 and dense["test_loss"] > 0
    assert 0 <= dense["test_accuracy"] <= 1 and dense["book_test_accuracy"] == 0.8474
    path = pd.read_csv(folder / "lasso_path.csv")
    assert len(path) == lasso["lambdas"] == 5
    assert path["lambda"].iloc[0] / path["lambda"].iloc[-1] == pytest.approx(1e4)
    assert path["nonzero_coefficients"].iloc[0] < path["nonzero_coefficients"].iloc[-1]
    assert path["train_accuracy"].iloc[-1] > 0.95  # 480 reviews, 10,003 words: little penalty fits them all
    best = path.loc[path["valid_accuracy"].idxmax()]
    assert lasso["best_valid_accuracy"] == best["valid_accuracy"] == path["valid_accuracy"].max()
    assert lasso["test_accuracy"] == best["test_accuracy"] and lasso["lambda"] == pytest.approx(best["lambda"])
    for figure in ("imdb_accuracy.png", "dense_curves.png"):
        assert (folder / figure).stat().st_size > 10_000
    assert "Total params: 160,353" in capsys.readouterr().out

    # --predict: the trained network scores new reviews; nothing is trained again
    before = (folder / "results.json").read_text()
    probabilities = lab.main(small_run(tmp_path, "--predict", REVIEWS[0], "--predict", REVIEWS[1]))
    scores = SCORE.findall(capsys.readouterr().out)
    assert [text for _, text in scores] == REVIEWS
    assert all(0 <= p <= 1 for p in probabilities)
    assert [float(p) for p, _ in scores] == [round(p, 2) for p in probabilities]
    assert (folder / "results.json").read_text() == before and not (folder / "dense" / "version_1").exists()

    # a network trained on synthetic reviews is not used with the real vocabulary
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, [a for a in small_run(tmp_path, "--predict", "fine") if a != "--synthetic"])
    assert exited.value.code == 1 and "--synthetic" in capsys.readouterr().err


def test_predict_without_a_trained_network_is_a_one_line_error(tmp_path, capsys):
    lab = load_script("lab_imdb")
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, small_run(tmp_path, "--predict", "a wonderful film"))
    err = capsys.readouterr().err.strip()
    assert exited.value.code == 1
    assert err.startswith("error: no trained network") and "train it first" in err and "\n" not in err


def test_lstm_lab_end_to_end(tmp_path):
    models = load_script("lab_imdb_lstm").main(small_run(tmp_path))
    folder = tmp_path / "logs" / "imdb_lstm"
    results = json.loads((folder / "results.json").read_text())
    assert results["lab"] == "imdb_lstm" and results["synthetic"] is True and set(results["models"]) == {"lstm"}
    lstm = results["models"]["lstm"]
    assert lstm["epochs"] == 1 and lstm["fit_seconds"] > 0 and lstm["test_loss"] > 0
    assert 0 <= lstm["test_accuracy"] <= 1 and lstm["test_accuracy"] == models["lstm"]["test_accuracy"]
    assert lstm["book_test_accuracy"] == 0.8488
    assert (folder / "lstm_curves.png").stat().st_size > 10_000
    assert (folder / "lstm" / "version_0" / "checkpoints" / "last.ckpt").is_file()


@pytest.mark.parametrize("script", ["lab_imdb", "lab_imdb_lstm"])
def test_no_data_and_no_download_exits_3(script, tmp_path, monkeypatch, capsys):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    lab = load_script(script)
    argv = ["--max-epochs", "1", "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs"), "--data-dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, argv)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: No IMDB reviews in") and "--synthetic" in err and "Traceback" not in err
    assert not list((tmp_path / "logs").rglob("results.json"))


def test_cli_predict_scores_texts_with_a_checkpoint_of_the_config(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    config = str(ROOT / "scripts" / "configs" / "imdb_dense.yaml")
    tiny = ["--data.init_args.synthetic", "true", "--data.init_args.limit", "600", "--data.init_args.validation", "100",
            "--trainer.accelerator", "cpu"]
    cli_main(["fit", "--config", config, "--trainer.max_epochs", "1", *tiny])
    checkpoint = tmp_path / "logs/imdb/dense/version_0/checkpoints/last.ckpt"
    capsys.readouterr()
    cli_main(["predict", "--config", config, "--ckpt_path", str(checkpoint), *tiny,
              "--data.init_args.predict_texts", json.dumps(REVIEWS)])
    scores = SCORE.findall(capsys.readouterr().out)
    assert [text for _, text in scores] == REVIEWS
    # the same probabilities as the network of the checkpoint gives on the encoded reviews
    datamodule = IMDBDataModule(synthetic=True, limit=600, validation=100)
    datamodule.setup()
    module = SimpleModule.load_from_checkpoint(checkpoint, model=IMDBDense()).eval()
    with torch.no_grad():
        expected = torch.sigmoid(module(datamodule.encode(REVIEWS))).tolist()
    assert [float(p) for p, _ in scores] == [round(p, 2) for p in expected]


def test_imdb_data_module_serves_predict_texts_else_the_test_set():
    with pytest.raises(ValueError, match="non-empty list"):
        IMDBDataModule(synthetic=True, predict_texts=[])
    with pytest.raises(ValueError, match="non-empty list"):
        IMDBDataModule(synthetic=True, predict_texts="a bare string")
    texts = IMDBDataModule(synthetic=True, limit=50, validation=10, predict_texts=REVIEWS, eval_batch_size=1)
    plain = IMDBDataModule(synthetic=True, limit=50, validation=10)
    texts.setup()
    plain.setup()
    batches = [x for (x,) in texts.predict_dataloader()]
    assert len(batches) == 2 and torch.equal(torch.cat(batches), texts.encode(REVIEWS))
    assert sum(len(x) for x, _ in plain.predict_dataloader()) == 50  # the test set
