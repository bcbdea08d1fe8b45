"""The chapter's applied exercises (ISLP 10.10, 6 to 13): each one's data checked against an independent
computation, and each script run on small settings, writing its results and figures."""

from __future__ import annotations

import json
import math
import urllib.error
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from helpers import load_script
from sklearn.linear_model import LinearRegression
from torch import nn
from torchvision.io import write_png

from datamodules.default import DefaultDataModule, load_default
from datamodules.nyse import NYSEDataModule, load_nyse
from foundations.errors import BadArgumentError
from lightning_modules.chapter.gradient_descent import gradient_descent, objective
from lightning_modules.chapter.labs import BOOK_BASELINES, EXERCISES, NETWORKS
from lightning_modules.networks import IMDBDense, LinearAR


def nyse_rows() -> pd.DataFrame:
    """ISLP's NYSE without the first five days (they have no full set of lags), as the exercises use it."""
    from ISLP import load_data

    return load_data("NYSE").iloc[5:]


def read_results(log_dir: Path, exercise: str) -> dict:
    return json.loads((log_dir / exercise / "results.json").read_text())


# -- the data of each exercise, against an independent computation -----------------------------------
def test_exercise_6_iterates_follow_the_closed_form_derivative():
    for start in (2.3, 1.4):
        path = gradient_descent(start, lr=0.1)
        assert path[0] == start
        # every step is β ← β − 0.1 (cos β + 1/10)
        np.testing.assert_allclose(path[1:], path[:-1] - 0.1 * (np.cos(path[:-1]) + 0.1), rtol=0, atol=1e-12)
        # it ends where the derivative vanishes, at a minimum (the second derivative, −sin β, above 0)
        assert abs(np.cos(path[-1]) + 0.1) < 1e-4 and np.sin(path[-1]) < 0
    assert gradient_descent(2.3)[-1] == pytest.approx(2 * np.pi - np.arccos(-0.1), abs=1e-4)  # to the right
    assert gradient_descent(1.4)[-1] == pytest.approx(-np.arccos(-0.1), abs=1e-4)  # to the left, the lower minimum
    assert objective(np.pi) == pytest.approx(np.pi / 10, abs=1e-12)


def test_exercise_7_default_split_keeps_every_row_and_the_default_rate():
    from ISLP import load_data

    default = load_data("Default")
    defaults = int((default["default"] == "Yes").sum())
    arrays = load_default()
    assert (len(arrays.y_train), len(arrays.y_test)) == (6666, 3334)  # a third held out
    assert arrays.y_train.sum() + arrays.y_test.sum() == defaults == 333
    # stratified: both parts keep the 3.33% default rate
    assert arrays.y_train.mean() == pytest.approx(defaults / len(default), abs=1e-3)
    assert arrays.y_test.mean() == pytest.approx(defaults / len(default), abs=1e-3)
    # standardized with the training rows: student becomes one 0/1 column before scaling
    assert sorted(arrays.feature_names) == ["balance", "income", "student_Yes"]
    np.testing.assert_allclose(arrays.X_train.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(arrays.X_train.std(axis=0), 1, atol=1e-12)

    module = DefaultDataModule()
    module.setup("fit")
    assert module.sizes() == {"train": 6666, "validation": 3334, "test": 3334}  # the test set as validation
    X, y = module.train_data
    assert X.dtype == y.dtype == torch.float32 and X.shape == (6666, 3)


def test_exercise_9_month_indicators_are_pandas_dummies_of_the_rows_dates():
    arrays, plain = load_nyse(5, "flat", month=True), load_nyse(5, "flat")
    rows = nyse_rows()
    months = pd.get_dummies(pd.to_datetime(rows.index).month).to_numpy(np.float64)
    train = rows["train"].to_numpy(bool)
    assert arrays.feature_names[15:] == [f"month_{month}" for month in range(1, 13)]
    np.testing.assert_array_equal(arrays.X_train[:, 15:], months[train])
    np.testing.assert_array_equal(arrays.X_test[:, 15:], months[~train])
    np.testing.assert_array_equal(arrays.X_train[:, :15], plain.X_train)  # the lags unchanged
    np.testing.assert_array_equal(arrays.y_test, plain.y_test)
    # with the day of the week too: its five columns, then the twelve months
    both = load_nyse(5, "flat", day_of_week=True, month=True)
    assert both.X_train.shape[1] == 15 + 5 + 12
    np.testing.assert_array_equal(both.X_train[:, 20:], months[train])


def test_exercises_10_and_11_flattened_sequences_are_the_labs_lag_matrix():
    sequence, flat = load_nyse(5, "sequence"), load_nyse(5, "flat")
    flattened = nn.Flatten()(torch.tensor(sequence.X_train)).numpy()
    order = [flat.feature_names.index(name) for name in sequence.feature_names]  # oldest lag first
    np.testing.assert_array_equal(flattened, flat.X_train[:, order])
    # so the network without a hidden layer can be the lab's linear AR exactly: given its least-squares
    # weights, the network on the sequences scores the lab's test R² (0.4129)
    fitted = LinearRegression().fit(flat.X_train, flat.y_train)
    network = LinearAR(input_size=15)
    with torch.no_grad():
        network._forward[1].weight.copy_(torch.tensor(fitted.coef_[order]).unsqueeze(0))
        network._forward[1].bias.fill_(float(fitted.intercept_))
        predicted = network(torch.tensor(sequence.X_test, dtype=torch.float32)).double().numpy()
    r2 = 1 - ((sequence.y_test - predicted) ** 2).sum() / ((sequence.y_test - sequence.y_test.mean()) ** 2).sum()
    assert r2 == pytest.approx(BOOK_BASELINES["nyse/linear_ar"], abs=1e-4)


def test_exercise_12_each_step_carries_its_own_days_indicators():
    arrays, plain = load_nyse(5, "sequence", lagged_day_of_week=True), load_nyse(5, "sequence")
    assert arrays.X_train.shape == (4276, 5, 8)
    np.testing.assert_array_equal(arrays.X_train[:, :, :3], plain.X_train)  # the three series as before
    from ISLP import load_data

    nyse = load_data("NYSE")
    days = pd.get_dummies(nyse["day_of_week"]).to_numpy(np.float64)
    train = nyse["train"].to_numpy(bool)[5:]
    for lag in range(1, 6):  # step 5 - lag holds the day `lag` days before the forecast day
        lagged_days = days[5 - lag : len(days) - lag]
        np.testing.assert_array_equal(arrays.X_train[:, 5 - lag, 3:], lagged_days[train])
        np.testing.assert_array_equal(arrays.X_test[:, 5 - lag, 3:], lagged_days[~train])
    module = NYSEDataModule(layout="sequence", lagged_day_of_week=True)
    module.setup("fit")
    assert module.train_data[0].shape == (4276, 5, 8)


def test_nyse_refuses_indicators_its_layout_cannot_take():
    with pytest.raises(BadArgumentError, match="month indicators go with the flat layout"):
        load_nyse(5, "sequence", month=True)
    with pytest.raises(BadArgumentError, match="lagged_day_of_week"):
        NYSEDataModule(layout="flat", lagged_day_of_week=True)


def test_exercise_13_networks_widen_the_labs_and_keep_its_default():
    torch.manual_seed(0)
    network, x = IMDBDense(input_size=50), (torch.rand(8, 50) > 0.5).float()
    book = nn.Sequential(nn.Linear(50, 16), nn.ReLU(), nn.Linear(16, 16), nn.ReLU(), nn.Linear(16, 1))
    book.load_state_dict(dict(zip(book.state_dict(), network.state_dict().values())))
    assert list(network.state_dict()) == ["dense1.weight", "dense1.bias", "dense2.weight", "dense2.bias",
                                          "output.weight", "output.bias"]  # the lab's checkpoints still load
    network.train()
    assert torch.equal(network(x), book(x).flatten())  # no dropout by default, even in training
    wide = IMDBDense(input_size=50, hidden=64, dropout=0.3).train()
    assert wide.dense2.weight.shape == (64, 64)
    assert not torch.equal(wide(x), wide.eval()(x))  # dropout acts in training only
    units = sorted({(NETWORKS[key].network.init_args["hidden"], NETWORKS[key].network.init_args["dropout"])
                    for key in EXERCISES["exercise_13"].networks})
    assert units == [(16, 0.0), (16, 0.3), (32, 0.0), (32, 0.3), (64, 0.0), (64, 0.3)]


# -- each exercise runs (what it builds: tests/unit/test_labs.py, with the labs) ----------------------------
def test_exercise_6_script_writes_both_paths_and_the_figure(tmp_path):
    models = load_script("exercise_06_gradient_descent").main(["--log-dir", str(tmp_path)])
    results = read_results(tmp_path, "exercise_06")
    assert results["lr"] == 0.1 and set(results["models"]) == {"start_2.3", "start_1.4"} == set(models)
    for found in results["models"].values():
        assert found["iterates"][0] == found["start"] and len(found["iterates"]) == found["steps"] + 1
        assert found["final_R"] == pytest.approx(math.sin(found["final_beta"]) + found["final_beta"] / 10)
    assert (tmp_path / "exercise_06" / "gradient_descent.png").stat().st_size > 10_000


def test_exercise_7_script_compares_the_network_with_logistic_regression_and_the_null_rate(tmp_path):
    load_script("exercise_07_default").main(["--max-epochs", "1", "--accelerator", "cpu", "--log-dir", str(tmp_path)])
    results = read_results(tmp_path, "exercise_07")
    models = results["models"]
    assert set(models) == {"mlp", "logistic_regression", "always_no"}
    assert models["always_no"]["test_accuracy"] == pytest.approx(1 - 111 / 3334)  # 111 of the 3,334 test rows default
    assert models["logistic_regression"]["test_accuracy"] > models["always_no"]["test_accuracy"]
    assert 0.9 < models["mlp"]["test_accuracy"] <= 1 and models["mlp"]["epochs"] == 1
    assert "logistic regression" in results["answer"] and (tmp_path / "exercise_07" / "mlp_curves.png").is_file()


@pytest.fixture
def photos(tmp_path: Path) -> Path:
    folder = tmp_path / "photos"
    folder.mkdir()
    generator = torch.Generator().manual_seed(0)
    for name in ("cat.png", "dog.png"):
        write_png(torch.randint(0, 256, (3, 240, 300), dtype=torch.uint8, generator=generator), str(folder / name))
    return folder


def test_exercise_8_script_saves_the_top_five_classes_per_image(photos, tmp_path):
    log_dir = tmp_path / "logs"
    load_script("exercise_08_pretrained_top5").main(
        ["--images", str(photos), "--weights", "none", "--accelerator", "cpu", "--log-dir", str(log_dir)]
    )
    results = read_results(log_dir, "exercise_08")
    assert results["synthetic"] is True and set(results["models"]) == {"cat.png", "dog.png"}
    for image in results["models"].values():
        probabilities = [entry["probability"] for entry in image["top_5"]]
        assert len(probabilities) == 5 and probabilities == sorted(probabilities, reverse=True) and sum(probabilities) <= 1
    table = pd.read_csv(log_dir / "exercise_08" / "top5.csv")
    assert len(table) == 10 and list(table["rank"][:5]) == [1, 2, 3, 4, 5]


def test_exercise_8_without_weights_says_which_file_to_put_where(photos, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(url, dst, *args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    script = load_script("exercise_08_pretrained_top5")
    with pytest.raises(SystemExit) as exited:
        script.run(script.main, ["--images", str(photos), "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs")])
    assert exited.value.code == 3
    err = capsys.readouterr().err
    where = tmp_path / "torch" / "hub" / "checkpoints" / "resnet50-11ad3fa6.pth"
    assert str(where) in err and "https://download.pytorch.org/models/resnet50-11ad3fa6.pth" in err
    assert not (tmp_path / "logs" / "exercise_08" / "results.json").exists()


def test_exercise_9_script_answers_whether_the_month_helps(tmp_path):
    load_script("exercise_09_nyse_month").main(["--log-dir", str(tmp_path)])
    results = read_results(tmp_path, "exercise_09")
    models = results["models"]
    assert models["linear_ar"]["test_r2"] == pytest.approx(models["linear_ar"]["book_test_r2"], abs=1e-4)
    assert [models[name]["features"] for name in models] == [15, 27, 20, 32]
    with_month = f"{models['linear_ar_month']['test_r2']:.4f}"
    assert with_month in results["answer"] and "help" in results["answer"]


@pytest.mark.parametrize("script, exercise, network, compared", [
    ("exercise_10_linear_ar_network", "exercise_10", "linear_ar_network", "linear_ar"),
    ("exercise_11_nonlinear_ar_flat", "exercise_11", "nonlinear_ar_flat", "linear_ar"),
    ("exercise_12_rnn_day_of_week", "exercise_12", "rnn_day", "linear_ar_day"),
])
def test_nyse_exercise_scripts_write_the_network_beside_the_labs_baseline(script, exercise, network, compared, tmp_path):
    argv = ["--max-epochs", "1", "--seeds", "2", "--jobs", "1", "--accelerator", "cpu", "--log-dir", str(tmp_path)]
    load_script(script).main(argv)
    results = read_results(tmp_path, exercise)
    models = results["models"]
    assert set(models) == {network, compared}
    assert models[compared]["test_r2"] == pytest.approx(BOOK_BASELINES[f"nyse/{compared}"], abs=1e-4)
    assert [run["seed"] for run in models[network]["seeds"]] == [0, 1]
    assert -1 < models[network]["test_r2"] < 1 and f"{models[network]['test_r2']:.4f}" in results["answer"]
    assert (tmp_path / exercise / f"{network}_curves.png").is_file()


def test_exercise_13_script_trains_six_widths_on_synthetic_reviews(tmp_path):
    argv = ["--synthetic", "--limit", "300", "--max-epochs", "1", "--accelerator", "cpu",
            "--log-dir", str(tmp_path / "logs"), "--data-dir", str(tmp_path / "data")]
    load_script("exercise_13_imdb_widths").main(argv)
    results = read_results(tmp_path / "logs", "exercise_13")
    assert results["synthetic"] is True
    assert set(results["models"]) == {f"dense_{units}{suffix}" for units in (16, 32, 64) for suffix in ("", "_dropout")}
    assert results["models"]["dense_16"]["book_test_accuracy"] == NETWORKS["imdb_dense"].book
    assert (tmp_path / "logs" / "exercise_13" / "accuracy_by_units.png").stat().st_size > 10_000


def test_exercise_13_without_reviews_exits_3_with_the_data_modules_message(tmp_path, monkeypatch, capsys):
    import torchvision

    def offline(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    script = load_script("exercise_13_imdb_widths")
    argv = ["--max-epochs", "1", "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs"), "--data-dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit) as exited:
        script.run(script.main, argv)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith("error: No IMDB reviews in") and "--synthetic" in err
    assert not list((tmp_path / "logs").rglob("results.json"))
