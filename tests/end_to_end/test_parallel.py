"""Seeds in parallel: the same figures and files as one after another, failures that reach the user (signals and
worker deaths: ``faults/test_worker_deaths.py``)."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch
from helpers import ROOT, load_script

from foundations.errors import CorruptDataError
from lightning_modules.runner.parallel import for_each_seed, parallel_jobs


def noisy_sum(seed: int) -> float:
    """A seed's figure that depends on torch's generator: wrong if a worker shared or skipped the seeding."""
    torch.manual_seed(seed)
    return float(torch.randn(1000).sum())


def fail_on_three(seed: int) -> int:
    if seed == 3:
        raise CorruptDataError(f"seed {seed}: the file is damaged")
    return seed


def test_results_come_back_in_the_order_of_the_seeds_and_equal_the_sequential_ones():
    seeds = [4, 0, 7, 2]
    assert for_each_seed(noisy_sum, seeds, jobs=2, threads=1) == [noisy_sum(seed) for seed in seeds]


def test_a_failing_seed_raises_its_own_error_with_its_exit_status():
    with pytest.raises(CorruptDataError, match="seed 3: the file is damaged") as raised:
        for_each_seed(fail_on_three, [1, 2, 3, 4], jobs=2, threads=1)
    assert raised.value.exit_status == CorruptDataError.exit_status


@pytest.mark.parametrize(
    ("seeds", "threads", "jobs", "on_cpu", "cores", "expected"),
    [
        (5, 1, None, True, 2, 2),  # one thread a run: a run per core
        (5, None, None, True, 2, 1),  # torch's default takes every core: one run at a time
        (5, 1, 4, True, 2, 4),  # --jobs says
        (3, 1, 8, True, 16, 3),  # never more than the seeds
        (5, 1, None, False, 2, 1),  # a GPU or DDP: one at a time
        (1, 1, None, True, 2, 1),
    ],
)
def test_how_many_seeds_run_at_once(monkeypatch, seeds, threads, jobs, on_cpu, cores, expected):
    monkeypatch.setattr("lightning_modules.runner.parallel.cpu_cores", lambda: cores)
    assert parallel_jobs(seeds, threads, jobs, on_cpu=on_cpu) == expected


def test_jobs_is_offered_only_by_labs_that_train_seeds_in_parallel():
    hitters = load_script("lab_hitters").main
    with pytest.raises(SystemExit):
        hitters(["--jobs", "0"])  # refused as it is parsed: at least 1
    cifar_help = subprocess.run([sys.executable, "-m", "scripts.lab_cifar100", "--help"], cwd=ROOT,
                                capture_output=True, text=True, timeout=120)
    assert cifar_help.returncode == 0 and "--jobs" not in cifar_help.stdout


def test_hitters_seeds_in_two_workers_equal_one_after_another(tmp_path):
    hitters = load_script("lab_hitters").main
    common = ["--seeds", "2", "--max-epochs", "3", "--accelerator", "cpu", "--lasso-lambdas", "3"]  # the seeds matter here
    parallel = hitters([*common, "--jobs", "2", "--log-dir", str(tmp_path / "parallel")])["mlp"]
    sequential = hitters([*common, "--jobs", "1", "--log-dir", str(tmp_path / "sequential")])["mlp"]
    assert [run["test_mae"] for run in parallel["seeds"]] == [run["test_mae"] for run in sequential["seeds"]]
    for run in parallel["seeds"]:  # each seed logged in its own folder, as a sequential run logs it
        assert run["log_dir"].endswith(f"seed_{run['seed']}/version_0")
        metrics = (tmp_path / "parallel" / "hitters" / "mlp" / f"seed_{run['seed']}" / "version_0" / "metrics.csv")
        twin = tmp_path / "sequential" / "hitters" / "mlp" / f"seed_{run['seed']}" / "version_0" / "metrics.csv"
        assert metrics.read_text().splitlines()[0] == twin.read_text().splitlines()[0]
        assert len(metrics.read_text().splitlines()) == len(twin.read_text().splitlines())


