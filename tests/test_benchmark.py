"""The benchmark script: runs each implementation in its own process and reports the figures."""

from __future__ import annotations

import json

from conftest import load_script

benchmark = load_script("benchmark")


def test_benchmark_times_ours_and_the_loop_side_by_side(tmp_path, capsys):
    output = tmp_path / "figures.json"
    argv = ["--labs", "hitters", "--implementations", "ours,loop", "--epochs", "2", "--log-dir", str(tmp_path), "--output", str(output)]
    assert benchmark.main(argv) == 0
    figures = json.loads(output.read_text())["hitters"]
    assert figures["epochs"] == 2
    for name in ("ours", "loop"):
        assert figures[name]["fit_seconds"] > 0 and figures[name]["figure"] > 0 and figures[name]["threads"] == 1
    table = capsys.readouterr().out
    assert "ours/loop" in table and "(real data; threads 1/1)" in table


def test_the_books_code_runs_on_ours_and_on_islp_side_by_side(tmp_path):
    output = tmp_path / "figures.json"
    argv = ["--labs", "nyse_ar", "--implementations", "book,islp", "--epochs", "2", "--log-dir", str(tmp_path),
            "--output", str(output)]
    assert benchmark.main(argv) == 0
    figures = json.loads(output.read_text())["nyse_ar"]
    for name in ("book", "islp"):
        assert figures[name]["fit_seconds"] > 0 and -1 < figures[name]["figure"] < 1  # a test R²


def test_missing_downloaded_data_falls_back_to_synthetic_without_downloading(tmp_path):
    options = benchmark.Options(epochs=1, log_dir=str(tmp_path), data_dir=str(tmp_path / "empty"), limit=500)
    datamodule = benchmark.build_datamodule(benchmark.NETWORKS["mnist_mlp"], options)
    datamodule.setup("fit")
    assert datamodule.synthetic and datamodule.sizes()["train"] == 400
    assert not (tmp_path / "empty").exists()  # nothing was fetched or created
