"""The benchmark script: its settings come from labs.py; each implementation runs (in its own process) and is reported."""

from __future__ import annotations

import json

import pytest
from helpers import load_script

from lightning_modules.chapter.labs import NETWORKS

benchmark = load_script("benchmark")


def in_this_process(lab: str, implementation: str, options, threads: int) -> dict:
    """``benchmark.measure`` without the fresh process: the implementation's figures, as the child reports them."""
    return benchmark.run_job(lab, implementation, options, threads)


def planned(monkeypatch, argv: list[str]) -> tuple[int, list[tuple]]:
    """What ``main(argv)`` would run: (lab, implementation, options, threads) per measurement, none of them run."""
    jobs = []

    def plan(lab, implementation, options, threads):
        jobs.append((lab, implementation, options, threads))
        return {"fit_seconds": 1.0, "figure": 0.5, "threads": threads or 2, "synthetic": False, "peak_mb": 1.0}

    monkeypatch.setattr(benchmark, "measure", plan)
    return benchmark.main(argv), jobs


def test_every_lab_is_timed_as_labs_py_says(monkeypatch, tmp_path):
    status, jobs = planned(monkeypatch, ["--log-dir", str(tmp_path), "--implementations", "ours,islp"])
    assert status == 0
    assert [lab for lab, *_ in jobs[::2]] == [key for key, settings in NETWORKS.items() if settings.timing]
    for lab, implementation, options, threads in jobs:
        assert options.epochs == NETWORKS[lab].timing.epochs and options.limit is None
        assert threads == ((NETWORKS[lab].threads or 0) if implementation == "ours" else 0)  # islp: torch's default

    status, jobs = planned(monkeypatch, ["--quick", "--labs", "mnist_mlp", "--log-dir", str(tmp_path)])
    timing = NETWORKS["mnist_mlp"].timing
    assert {(options.epochs, options.limit) for *_, options, _ in jobs} == {(timing.quick_epochs, timing.quick_limit)}
    assert [implementation for _, implementation, *_ in jobs] == ["ours", "book", "islp", "loop"]


def test_unknown_labs_and_implementations_are_refused(capsys):
    for argv in (["--labs", "hitters,nope"], ["--implementations", "ours,keras"]):
        with pytest.raises(SystemExit) as exit_info:
            benchmark.main(argv)
        assert exit_info.value.code == 2
    assert "nope" in capsys.readouterr().err


def test_the_quick_path_trains_hitters_ours_and_the_loop_and_prints_the_table(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(benchmark, "measure", in_this_process)
    output = tmp_path / "figures.json"
    argv = ["--quick", "--labs", "hitters", "--implementations", "ours,loop", "--log-dir", str(tmp_path),
            "--output", str(output)]
    assert benchmark.main(argv) == 0
    figures = json.loads(output.read_text())["hitters"]
    assert figures["epochs"] == NETWORKS["hitters"].timing.quick_epochs
    for name in ("ours", "loop"):
        assert figures[name]["fit_seconds"] > 0 and 0 < figures[name]["figure"] < 1000  # a test MAE
    table = capsys.readouterr().out
    assert "ours/loop" in table and "hitters" in table and "(real data; threads 1/1)" in table
    # ours trained with the project's trainer: its log and checkpoint where make_trainer puts them
    assert (tmp_path / "benchmark" / "ours" / "version_0" / "checkpoints" / "last.ckpt").is_file()


def test_each_implementation_runs_in_a_process_of_its_own(tmp_path):
    output = tmp_path / "figures.json"
    argv = ["--labs", "nyse_ar", "--implementations", "book,islp", "--epochs", "2", "--log-dir", str(tmp_path),
            "--output", str(output)]
    assert benchmark.main(argv) == 0
    figures = json.loads(output.read_text())["nyse_ar"]
    assert figures["epochs"] == 2
    for name in ("book", "islp"):
        row = figures[name]
        assert row["fit_seconds"] > 0 and -1 < row["figure"] < 1 and row["peak_mb"] > 0  # a test R²
    # the book's code logged on each helper
    assert {path.parts[-4] for path in tmp_path.glob("*/nyse_nonlinear_ar/version_*/metrics.csv")} == {
        "ISLP.torch", "lightning_modules"}


def test_missing_downloaded_data_falls_back_to_synthetic_without_downloading(tmp_path):
    options = benchmark.Options(epochs=1, log_dir=str(tmp_path), data_dir=str(tmp_path / "empty"), limit=500)
    datamodule = benchmark.build_datamodule(NETWORKS["mnist_mlp"], options)
    datamodule.setup("fit")
    assert datamodule.synthetic and datamodule.sizes()["train"] == 400
    assert not (tmp_path / "empty").exists()  # nothing was fetched or created


def test_profile_says_where_an_epoch_of_ours_goes_beside_the_loop(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(benchmark, "measure", in_this_process)
    assert benchmark.main(["--profile", "--labs", "hitters", "--epochs", "3", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    head, columns, *actions = out[next(i for i, line in enumerate(out) if line.startswith("hitters: ")):]
    assert head.startswith("hitters: 3 epochs; ours ") and ", the plain loop " in head
    rows = {line[:74].strip(): line[74:].split() for line in actions}
    # Lightning's names for an epoch and a batch: the profile says nothing if they change
    assert float(rows["run_training_epoch"][1]) == 1.0  # one call an epoch
    datamodule = NETWORKS["hitters"].build_datamodule()
    datamodule.setup("fit")
    assert float(rows["run_training_batch"][1]) == len(datamodule.train_dataloader())  # one call a batch
    assert float(rows["run_training_epoch"][0]) >= float(rows["run_training_batch"][0])  # an epoch holds its batches
    with pytest.raises(SystemExit):
        benchmark.main(["--profile", "--book-sections"])
