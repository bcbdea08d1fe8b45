"""--seeds: each network trained once per seed, each seed's run distinct and reproducible alone, results per seed."""

from __future__ import annotations

import json

import pytest
from helpers import load_script

from lightning_modules import curves
from lightning_modules.runner import curves_cli

nyse = load_script("lab_nyse")


def run_nyse(tmp_path, name: str, *seeds: str) -> dict:
    log_dir = tmp_path / name
    # one seed at a time: what --seeds means is tested here, seeds in parallel in test_parallel.py
    nyse.main(["--max-epochs", "2", "--ar-epochs", "1", "--accelerator", "cpu", "--jobs", "1", "--log-dir", str(log_dir),
               *seeds])
    return json.loads((log_dir / "nyse" / "results.json").read_text())["models"]


def test_seeds_are_distinct_and_each_reproducible_alone(tmp_path):
    both = run_nyse(tmp_path, "both", "--seeds", "0,1")
    rnn = both["rnn"]
    assert [run["seed"] for run in rnn["seeds"]] == [0, 1]
    zero, one = (run["test_r2"] for run in rnn["seeds"])
    assert zero != one  # different weights, shuffles and dropout
    assert rnn["test_r2"] == pytest.approx((zero + one) / 2)
    assert rnn["fit_seconds"] == pytest.approx(sum(run["fit_seconds"] for run in rnn["seeds"]), abs=0.01)
    for seed, run in zip((0, 1), rnn["seeds"]):
        assert run["log_dir"].endswith(f"nyse/rnn/seed_{seed}/version_0") and run["version"] == 0
        assert (tmp_path / "both" / "nyse" / "rnn" / f"seed_{seed}" / "version_0" / "checkpoints" / "last.ckpt").is_file()

    alone = run_nyse(tmp_path, "alone", "--seed", "1", "--seeds", "1")["rnn"]["seeds"]
    assert [run["seed"] for run in alone] == [1] and alone[0]["test_r2"] == one  # seed 1 on its own: the same run
    count = run_nyse(tmp_path, "count", "--seeds", "2")["rnn"]["seeds"]
    assert [run["test_r2"] for run in count] == [zero, one]  # --seeds 2: seeds 0 and 1

    # the linear baselines are deterministic: fitted once, whatever the seeds
    assert "seeds" not in both["linear_ar"] and both["linear_ar"]["test_r2"] == pytest.approx(0.4129, abs=1e-4)
    assert (tmp_path / "both" / "nyse" / "rnn_curves.png").is_file()  # every seed's curves and their mean

    # islp-curves takes the network's folder of seeds and draws each seed's latest run with their mean
    assert curves.seed_runs(tmp_path / "both" / "nyse" / "rnn") == [
        tmp_path / "both" / "nyse" / "rnn" / f"seed_{seed}" / "version_0" for seed in (0, 1)
    ]
    assert curves_cli.main([str(tmp_path / "both" / "nyse" / "rnn"), "--metric", "r2"]) == 0
    assert (tmp_path / "both" / "nyse" / "rnn" / "r2_curves.png").is_file()


def test_one_seed_keeps_todays_layout_and_figures(tmp_path):
    single = run_nyse(tmp_path, "single")["rnn"]
    assert "seeds" not in single and single["log_dir"].endswith("nyse/rnn/version_0")
    seeded = run_nyse(tmp_path, "seeded", "--seeds", "0,1")["rnn"]["seeds"][0]
    assert seeded["test_r2"] == single["test_r2"]  # seed 0 of --seeds is today's run


@pytest.mark.parametrize("seeds", ["0", "-1", "1,1", "a,b", ","])
def test_bad_seeds_are_refused(seeds, capsys):
    with pytest.raises(SystemExit) as stopped:
        nyse.main(["--seeds", seeds])
    assert stopped.value.code == 2 and "--seeds" in capsys.readouterr().err
