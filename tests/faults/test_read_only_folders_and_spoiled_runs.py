"""Read-only folders, full disks and spoiled runs a user meets, in one line each; many reviews to score; what a new user sees.

Each fault is real and reaches the entry point a user runs (a subprocess where it is
one): a read-only IMDB data folder and a folder where its cache file belongs, a disk
that fills while the chapter's report is written, ``--resume`` from a checkpoint that
can't be loaded safely or that holds another network, a log folder that turns
read-only in the middle of a run, a hand-edited ``metrics.csv``; reviews to score read
from a file and given by the thousand in a config; files made with the user's umask;
a lab whose data is missing says so before anything else and leaves no empty run
folder.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import torch
from data_files import write_reviews
from helpers import PAUSE_AT_EPOCH_2, ROOT, driver_file, load_script, no_network, run_islp_lab, run_script

from datamodules.imdb import IMDBDataModule
from datamodules.imdb.cache import cache_path
from datamodules.imdb.sources import CacheNotWrittenWarning
from foundations.errors import DiskFullError
from foundations.files import write_atomically
from lightning_modules.module import SimpleModule
from lightning_modules.runner.cli import main as cli_main

SCRIPTS = ROOT / "scripts"
CONFIGS = SCRIPTS / "configs"
chapter = load_script("chapter")


class Planted:
    """Pickled into a checkpoint, it asks the loader to create ``marker`` (a folder): proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def lab(script: str, log_dir: Path, *extra: str, umask: int | None = None,
        new_process: bool = False) -> subprocess.CompletedProcess:
    """The lab script in this process; in a Python of its own where it must run under another ``umask``, or
    where what it prints is a warning (this process's tests silence warnings)."""
    args = ["--accelerator", "cpu", "--log-dir", str(log_dir), *extra]
    if umask is None:
        return run_script(script, *args, new_process=new_process)
    return subprocess.run([sys.executable, str(SCRIPTS / f"{script}.py"), *args], capture_output=True, text=True,
                          cwd=ROOT, timeout=600, preexec_fn=lambda: os.umask(umask))


def nyse(log_dir: Path, *extra: str, **kwargs) -> subprocess.CompletedProcess:
    return lab("lab_nyse", log_dir, "--ar-epochs", "1", *extra, **kwargs)


def error_line(result: subprocess.CompletedProcess, status: int) -> str:
    assert result.returncode == status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    (line,) = [text for text in result.stderr.splitlines() if text.startswith(("error:", "islp-lab: error:"))]
    return line


def fingerprint(folder: Path) -> dict[str, str]:
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def make_read_only(folder: Path, mount_point: Path | None) -> None:
    """``folder`` can no longer be written: its filesystem remounted read-only (root ignores file modes)."""
    if os.geteuid() != 0:
        for path in [folder, *folder.rglob("*")]:
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        return
    done = subprocess.run(["mount", "-o", "remount,ro", str(mount_point)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount {mount_point} read-only: {done.stderr.strip()}")


@pytest.fixture(scope="module")
def finished_nyse(tmp_path_factory) -> Path:
    """A finished NYSE run (3 epochs) to copy and spoil: ``<log_dir>/nyse/rnn/version_0``."""
    log_dir = tmp_path_factory.mktemp("finished") / "logs"
    done = nyse(log_dir, "--max-epochs", "3")
    assert done.returncode == 0, done.stderr[-3000:]
    return log_dir


def copy_of(finished: Path, tmp_path: Path) -> Path:
    log_dir = tmp_path / "logs"
    shutil.copytree(finished, log_dir)
    return log_dir


# -- one line for each fault a user meets ------------------------------------------------------------------------


def test_a_read_only_imdb_data_folder_is_read_and_used_from_memory(tmp_path, mount_tmpfs):
    """A shared data set the user may read but not write: the encoded reviews can't be cached; the lab runs anyway."""
    disk = mount_tmpfs("16m") if os.geteuid() == 0 else tmp_path
    data = write_reviews(disk / "data")
    make_read_only(data, disk)
    result = lab("lab_imdb", tmp_path / "logs", "--data-dir", str(data), "--limit", "1000", "--max-epochs", "1",
                 "--lasso-lambdas", "2", new_process=True)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = [text for text in result.stderr.splitlines() if "could not be cached" in text]
    assert str(cache_path(data, "aclImdb", 10_000)) in line and "used from memory" in line
    assert (tmp_path / "logs/imdb/results.json").is_file()
    assert not (data / "imdb_cache").exists()


def test_a_folder_where_the_imdb_cache_belongs_is_named_and_the_reviews_used(tmp_path):
    data = write_reviews(tmp_path / "data", per_label=6)
    taken = cache_path(data, "aclImdb", 10_000)
    taken.mkdir(parents=True)
    with pytest.warns(CacheNotWrittenWarning, match="taken by a folder"):
        datamodule = IMDBDataModule(data_dir=str(data), validation=None)
        datamodule.setup()
    assert datamodule.sizes()["train"] == 12 and taken.is_dir()


def test_a_full_disk_while_the_report_is_written_is_one_line_and_leaves_no_empty_figure(tmp_path, mount_tmpfs,
                                                                                         monkeypatch, capsys):
    log_dir = mount_tmpfs("2m") / "logs"
    log_dir.mkdir()
    (log_dir / "report.md").write_text("the previous report")
    results = {"lab": "hitters", "models": {"mlp": {"test_mae": 250.0, "book_test_mae": 221.8, "fit_seconds": 1.0,
                                                     "accelerator": "cpu"}}}

    def labs_ran(labs, args):
        try:
            with open(log_dir / "filler", "wb", buffering=0) as filler:  # the disk fills up while the labs run
                while True:
                    filler.write(bytes(65536))
        except OSError:
            pass
        return [chapter.Outcome(labs[0], "done", 1.0, "", results, [])]

    monkeypatch.setattr(chapter, "run_chapter", labs_ran)
    status = chapter.main(["--labs", "hitters", "--log-dir", str(log_dir), "--accelerator", "cpu"])
    assert status == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: the report could not be written: the disk is full: could not write ")
    assert "\n" not in err and "chapter_spread.png" in err
    assert not (log_dir / "chapter_spread.png").exists()  # no 0-byte figure
    assert (log_dir / "report.md").read_text() == "the previous report"
    assert not [path.name for path in log_dir.iterdir() if path.name.endswith(".tmp")]


def test_a_figure_on_a_full_disk_keeps_the_previous_one(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from lightning_modules.curves import save_figure

    output = tmp_path / "figure.png"
    output.write_bytes(b"the previous figure")

    def full(fd, data):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(DiskFullError, match="the previous figure.png is kept"):
        save_figure(plt.figure(), output)
    assert output.read_bytes() == b"the previous figure"


def test_resume_from_a_checkpoint_that_cannot_be_loaded_safely_runs_nothing(finished_nyse, tmp_path):
    log_dir = copy_of(finished_nyse, tmp_path)
    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    marker = tmp_path / "MARKER"
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    torch.save({**saved, "extra": Planted(marker)}, checkpoint)
    before = fingerprint(log_dir)
    result = nyse(log_dir, "--resume", "--max-epochs", "4")
    line = error_line(result, 1)
    assert line == (f"error: checkpoint {checkpoint} cannot be loaded safely: it holds Python objects besides tensors "
                    "and plain values, which only a load that can run code from the file would read (it was not "
                    "loaded); start a new run instead (without --resume or --ckpt_path), or give another checkpoint")
    assert not marker.exists() and "weights_only" not in result.stderr
    assert fingerprint(log_dir) == before

    # islp-lab's --ckpt_path last finds the same checkpoint: checked before Lightning reads it
    cli = run_islp_lab("fit", "--config", str(CONFIGS / "nyse_rnn.yaml"), "--ckpt_path", "last",
                       "--trainer.max_epochs", "4", "--trainer.accelerator", "cpu", "--trainer.default_root_dir",
                       str(log_dir), cwd=tmp_path)
    assert "cannot be loaded safely" in error_line(cli, 1)
    assert not marker.exists()


def test_resume_into_another_networks_checkpoint_is_one_line(finished_nyse, tmp_path):
    from pytorch_lightning import Trainer

    log_dir = copy_of(finished_nyse, tmp_path)
    checkpoint = log_dir / "nyse/rnn/version_0/checkpoints/last.ckpt"
    X = torch.randn(40, 3)
    other = Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    other.fit(SimpleModule.regression(torch.nn.Linear(3, 1)),
              train_dataloaders=torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, X.sum(1)), batch_size=8))
    other.save_checkpoint(checkpoint)  # epoch 0 of a 3-input linear network where the RNN's last.ckpt was
    before = fingerprint(log_dir)
    line = error_line(nyse(log_dir, "--resume", "--max-epochs", "4"), 2)
    assert line.startswith(f"error: checkpoint {checkpoint} holds another network: ")
    assert line.endswith("resume or load a checkpoint of this network, or start a new run (without --resume or "
                         "--ckpt_path)")
    assert fingerprint(log_dir) == before


@pytest.mark.parametrize("edit, says", [
    (lambda text: text.replace("epoch,step", "époque,step", 1), "no epoch column in its header"),
    (lambda text: text.replace("\n1,", "\none,", 1), "values that are not numbers in epoch"),
    (lambda text: text + "2,3,4,5,6,7,8,9,10,11,12,13\n", "is not a metrics log that can be continued (Error "),
], ids=["header", "word", "row-too-long"])
def test_resume_after_metrics_csv_was_edited_by_hand_is_one_line(finished_nyse, tmp_path, edit, says):
    log_dir = copy_of(finished_nyse, tmp_path)
    csv = log_dir / "nyse/rnn/version_0/metrics.csv"
    csv.write_text(edit(csv.read_text()))
    before = fingerprint(log_dir)
    line = error_line(nyse(log_dir, "--resume", "--max-epochs", "4"), 1)
    assert line.startswith(f"error: {csv} is not a metrics log that can be continued") and says in line
    assert line.endswith("restore it (or remove it), or start a new run without --resume")
    assert fingerprint(log_dir) == before


def test_a_log_folder_that_turns_read_only_mid_run_ends_in_one_line_and_resumes(tmp_path, mount_tmpfs):
    if os.geteuid() != 0:
        pytest.skip("turns a mounted log folder read-only (needs root)")
    disk = mount_tmpfs("64m")
    log_dir, go = disk / "logs", tmp_path / "GO"
    pause = driver_file(tmp_path, "pause", PAUSE_AT_EPOCH_2)
    process = subprocess.Popen(
        [sys.executable, str(pause), str(SCRIPTS / "lab_nyse.py"), "--ar-epochs", "1", "--max-epochs", "4",
         "--accelerator", "cpu", "--log-dir", str(log_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "GO": str(go)},
    )
    try:
        for line in process.stdout:
            if line.startswith("PAUSED"):
                break
        make_read_only(log_dir, disk)  # the run holds no file open for writing: the remount goes through
    finally:
        go.touch()
        out, err = process.communicate(timeout=600)
    result = subprocess.CompletedProcess(process.args, process.returncode, out, err)
    line = error_line(result, 1)
    assert line.startswith("error: could not write ") and "Read-only file system" in line
    subprocess.run(["mount", "-o", "remount,rw", str(disk)], check=True)
    resumed = nyse(log_dir, "--resume", "--max-epochs", "4")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[nyse/rnn] epoch 1/4" not in resumed.stdout
    import pandas as pd

    frame = pd.read_csv(log_dir / "nyse/rnn/version_0/metrics.csv")
    assert frame.loc[frame["train_loss_epoch"].notna(), "epoch"].tolist() == [0, 1, 2, 3]


# -- many reviews, and reviews from a file ------------------------------------------------------------------------


def test_a_lab_and_the_cli_score_reviews_from_a_file_as_from_the_command_line(tmp_path, monkeypatch, capsys):
    imdb = load_script("lab_imdb")
    logs = ["--log-dir", str(tmp_path / "logs"), "--accelerator", "cpu", "--synthetic"]
    imdb.main([*logs, "--limit", "600", "--max-epochs", "1", "--lasso-lambdas", "2"])
    texts = ["a wonderful film", "dull and far too long", " ".join(["w12 w7 w3"] * 20)]
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\n".join(texts) + "\n")
    capsys.readouterr()
    given = imdb.main([*logs, *[arg for text in texts for arg in ("--predict", text)]])
    from_file = imdb.main([*logs, "--predict-file", str(reviews)])
    assert from_file == given and len(given) == 3

    checkpoint = next((tmp_path / "logs/imdb/dense").glob("version_*/checkpoints/last.ckpt"))
    monkeypatch.chdir(tmp_path)
    common = ["predict", "--config", str(CONFIGS / "imdb_dense.yaml"), "--ckpt_path", str(checkpoint),
              "--trainer.accelerator", "cpu", "--data.init_args.synthetic", "true"]
    capsys.readouterr()
    cli_main([*common, "--data.init_args.predict_file", str(reviews)])
    printed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("P(positive)")]
    assert printed == [f'P(positive) = {p:.2f}  "{text}"' for p, text in zip(given, texts)]
    with pytest.raises(SystemExit) as exited:
        cli_main([*common, "--data.init_args.predict_file", str(tmp_path / "nowhere.txt")])
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "predict_file" in err and "no such file" in err


def test_thousands_of_reviews_in_a_config_are_taken_whole_and_in_order(tmp_path, monkeypatch):
    """Declared ``list[str]``, jsonargparse deep-copied the whole list once per review while checking it (10,000
    reviews: 459 s); now they are checked as one list. The time is printed by scripts/benchmark_predict.py."""
    from datamodules.base import InMemoryDataModule
    from lightning_modules.runner.cli import LabCLI

    texts = [f"review number {i} of a film" for i in range(3000)]
    config = tmp_path / "reviews.yaml"
    config.write_text(json.dumps({"data": {"init_args": {"predict_texts": texts, "synthetic": True}}}))
    monkeypatch.chdir(tmp_path)
    cli = LabCLI(SimpleModule, InMemoryDataModule, subclass_mode_data=True, run=False, seed_everything_default=0,
                 args=["--config", str(CONFIGS / "imdb_dense.yaml"), "--config", str(config),
                       "--trainer.accelerator", "cpu", "--trainer.logger", "false"])
    assert cli.datamodule.predict_texts == texts


def test_the_predict_benchmark_runs(capsys):
    status = load_script("benchmark_predict").main(["--reviews", "200"])  # it times islp-lab in processes of its own
    out, err = capsys.readouterr()
    assert status == 0, out + err[-3000:]
    lines = out.splitlines()
    assert len(lines) == 2 and all("islp-lab predict, 200 reviews" in line and "FAILED" not in line for line in lines)


# -- what a new user sees ----------------------------------------------------------------------------------------


def test_every_file_of_a_run_follows_the_users_umask(tmp_path):
    log_dir = tmp_path / "logs"
    done = nyse(log_dir, "--max-epochs", "1", umask=0o022)
    assert done.returncode == 0, done.stderr[-3000:]
    files = [path for path in log_dir.rglob("*") if path.is_file()]
    names = {path.name for path in files}
    assert {"results.json", "rnn_curves.png", "last.ckpt", "metrics.csv", "hparams.yaml"} <= names
    modes = {str(path.relative_to(log_dir)): oct(stat.S_IMODE(path.stat().st_mode)) for path in files}
    assert set(modes.values()) == {"0o644"}, modes


def test_write_atomically_gives_new_files_the_umasks_mode(tmp_path):
    previous = os.umask(0o027)
    try:
        write_atomically(tmp_path / "shared.json", b"{}")
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "shared.json").stat().st_mode) == 0o640


def test_a_lab_whose_data_is_missing_says_so_first_and_leaves_no_run_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(urllib.request, "urlopen", no_network)  # any download fails at once, as without a network
    result = lab("lab_mnist", tmp_path / "logs", "--data-dir", str(tmp_path / "empty"), "--max-epochs", "1")
    line = error_line(result, 3)
    assert line.startswith("error: MNIST is not in ") and "could not be downloaded" in line
    assert "Layer (type" not in result.stdout and "MNISTMLP" not in result.stdout  # no network summary first
    assert not list((tmp_path / "logs").rglob("version_*"))

    # islp-lab: the data module fails in fit; the version folder it claimed is taken back
    cli = run_islp_lab("fit", "--config", str(CONFIGS / "mnist_mlp.yaml"), "--data.init_args.data_dir",
                       str(tmp_path / "empty"), "--trainer.accelerator", "cpu", "--trainer.default_root_dir",
                       str(tmp_path / "cli_logs"), cwd=tmp_path)
    assert "MNIST is not in" in error_line(cli, 3)
    assert not list((tmp_path / "cli_logs").rglob("version_*"))


