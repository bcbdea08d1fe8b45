"""Stale or falsified data, and the data and curves mistakes a user makes, each through its real entry point.

- The IMDB cache follows the files it was made from: reviews added, removed,
  rewritten or touched are seen on the next load; an unchanged folder is not
  read again; a cache of another format version is rebuilt.
- The vocabulary travels with the trained network (in its checkpoint):
  ``lab_imdb.py --predict`` and ``islp-lab predict`` score a review the same
  whatever ``--data-dir`` says; a checkpoint without one is refused, and so is
  resuming or testing on data whose vocabulary differs.
- Bad inputs end in one line naming the value, exit 2 (an argument) or 1 (bad data): the IMDB lab's and
  the CLI's, a review that is not UTF-8, a garbled metrics file given to ``islp-curves``, and a class label
  outside the task in a late batch, through ``islp-lab`` and under DDP.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from data_files import write_reviews
from helpers import CLASSES, ROOT, load_script, run_islp_lab, run_script

from datamodules.imdb import IMDBDataModule, sources
from datamodules.imdb.cache import cache_path
from datamodules.imdb.sources import ARCHIVE
from foundations.errors import DataUnavailableError
from lightning_modules.module import SimpleModule
from lightning_modules.networks import IMDBDense
from lightning_modules.runner.cli import main as cli_main

TEXTS = ["great wonderful superb film", "awful dull terrible plot"]
SCORE = re.compile(r'^P\(positive\) = ([01]\.\d\d)  "(.*)"$', re.MULTILINE)


def one_line_error(capsys: pytest.CaptureFixture, exited: pytest.ExceptionInfo, code: int) -> str:
    err = capsys.readouterr().err.strip()
    assert exited.value.code == code, err
    assert "\n" not in err and "Traceback" not in err, err
    return err


# -- the cache follows its sources ---------------------------------------------------------------
def test_the_cache_follows_its_sources_and_is_reused_while_they_stand_still(tmp_path, monkeypatch):
    root = write_reviews(tmp_path / "data", per_label=6)
    reads = []
    read_reviews = sources.read_reviews
    monkeypatch.setattr(sources, "read_reviews", lambda path: reads.append(path) or read_reviews(path))

    def load() -> IMDBDataModule:
        datamodule = IMDBDataModule(data_dir=str(root), validation=None)
        datamodule.setup()
        return datamodule

    first = load()
    assert len(reads) == 1 and first.sizes()["train"] == 12 and cache_path(root, "aclImdb", 10_000).is_file()
    assert load().word_index == first.word_index and len(reads) == 1  # unchanged: served from the cache, unread

    # reviews added: the next load sees them (the old cache held 12 and no 'zebra')
    (root / "aclImdb/train/pos/100_9.txt").write_text("zebra zebra wonderful", encoding="utf-8")
    (root / "aclImdb/test/neg/100_1.txt").write_text("zebra awful", encoding="utf-8")
    added = load()
    assert len(reads) == 2 and added.sizes() == {"train": 13, "validation": 0, "test": 13}
    assert "zebra" in added.word_index

    # a file only touched (same content, another modification time): rebuilt
    review = root / "aclImdb/train/neg/0_2.txt"
    status = review.stat()
    os.utime(review, ns=(status.st_atime_ns, status.st_mtime_ns + 2_000_000_000))
    assert load().word_index == added.word_index and len(reads) == 3
    # rewritten to the same size (a word swapped for one as long): rebuilt, the new word counted
    review.write_text(("yucky " * 50)[: status.st_size])
    os.utime(review, ns=(status.st_atime_ns, status.st_mtime_ns + 4_000_000_000))
    assert review.stat().st_size == status.st_size
    assert "yucky" in load().word_index and len(reads) == 4
    # a review removed: rebuilt without it
    (root / "aclImdb/train/pos/100_9.txt").unlink()
    assert load().sizes()["train"] == 12 and len(reads) == 5
    assert load().sizes()["train"] == 12 and len(reads) == 5  # and then reused again

    # a cache of another format version (here: the format before the key) is rebuilt ...
    cache = cache_path(root, "aclImdb", 10_000)
    with np.load(cache) as file:
        arrays = {name: file[name] for name in file.files if name != "sources"}
    np.savez(cache, **{**arrays, "version": np.array(1)})
    assert load().sizes()["train"] == 12 and len(reads) == 6
    with np.load(cache) as file:
        assert int(file["version"]) == 2 and len(str(file["sources"])) == 64
    # ... and, with the reviews it came from gone, is refused in one line rather than served
    np.savez(cache, **{**arrays, "version": np.array(1)})
    for path in sorted((root / "aclImdb").rglob("*"), reverse=True):
        path.rmdir() if path.is_dir() else path.unlink()
    (root / "aclImdb").rmdir()
    with pytest.raises(DataUnavailableError, match=r"is of format 1, not 2, and the reviews it was made from are no longer in"):
        load()


# -- the vocabulary travels with the network --------------------------------------------------------
def test_the_vocabulary_travels_with_the_network(tmp_path, monkeypatch, capsys):
    lab = load_script("lab_imdb")
    here = write_reviews(tmp_path / "A")
    # another folder, another vocabulary: other words, other ranks (here 'great' and 'awful' are filler)
    other = write_reviews(tmp_path / "B", ("lovely", "brilliant"), ("boring", "bad"),
                          ("the", "a", "of", "and", "cinema", "story", "great", "awful"), seed=1)
    logs = ["--log-dir", str(tmp_path / "logs"), "--accelerator", "cpu"]
    lab.main([*logs, "--data-dir", str(here), "--limit", "1000", "--max-epochs", "1", "--lasso-lambdas", "2"])
    checkpoint = tmp_path / "logs/imdb/dense/version_0/checkpoints/last.ckpt"

    def predict(data_dir: Path) -> list[float]:
        return lab.main([*logs, "--data-dir", str(data_dir), "--predict", TEXTS[0], "--predict", TEXTS[1]])

    capsys.readouterr()
    trained = predict(here)
    assert predict(other) == trained and predict(tmp_path / "nowhere") == trained
    assert "its vocabulary: 11 words of aclImdb reviews" in capsys.readouterr().out
    # the test can tell: the other folder's vocabulary (what --predict used to take) scores otherwise
    module = SimpleModule.load_from_checkpoint(checkpoint, model=IMDBDense(), map_location="cpu").eval()
    others = IMDBDataModule(data_dir=str(other), validation=None)
    others.setup()
    with torch.no_grad():
        misread = module.predict_step((others.encode(TEXTS),), 0).tolist()
    assert not np.allclose(misread, trained, atol=1e-4)

    # islp-lab predict with the lab's checkpoint and the other folder: the same scores
    (tmp_path / "cli").mkdir()
    monkeypatch.chdir(tmp_path / "cli")
    config = str(ROOT / "scripts" / "configs" / "imdb_dense.yaml")
    cli = ["--config", config, "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu"]
    cli_main(["predict", *cli, "--data.init_args.data_dir", str(other), "--data.init_args.predict_texts", json.dumps(TEXTS)])
    scores = SCORE.findall(capsys.readouterr().out)
    assert scores == [(f"{p:.2f}", text) for p, text in zip(trained, TEXTS)]
    # testing that network on the other folder would give false figures: refused
    with pytest.raises(SystemExit) as exited:
        cli_main(["test", *cli, "--data.init_args.data_dir", str(other), "--data.init_args.limit", "1000"])
    assert "another vocabulary than the one the network was trained with" in one_line_error(capsys, exited, 1)

    # a checkpoint saved before networks kept their vocabulary is refused, not guessed at
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    del saved[IMDBDataModule.__qualname__]
    old = tmp_path / "old/imdb/dense/version_0/checkpoints/last.ckpt"
    old.parent.mkdir(parents=True)
    torch.save(saved, old)
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, ["--log-dir", str(tmp_path / "old"), "--data-dir", str(here), "--predict", TEXTS[0]])
    assert re.fullmatch(rf"error: {re.escape(str(old))} holds no vocabulary .*train it again.*",
                        one_line_error(capsys, exited, 1))
    with pytest.raises(SystemExit) as exited:
        cli_main(["predict", *cli[:2], "--ckpt_path", str(old), "--trainer.accelerator", "cpu",
                  "--data.init_args.predict_texts", json.dumps(TEXTS)])
    assert "holds no vocabulary" in one_line_error(capsys, exited, 1)

    # resuming on reviews that changed since (a new word): refused, the network's words would be renumbered
    (here / "aclImdb/train/pos/100_9.txt").write_text("zebra wonderful", encoding="utf-8")
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, [*logs, "--data-dir", str(here), "--limit", "1000", "--max-epochs", "2", "--resume"])
    assert "another vocabulary" in one_line_error(capsys, exited, 1)


# -- bad inputs of the IMDB lab and the CLI ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("argv", "code", "expected"),
    [
        (["--predict", ""], 2, "--predict: the review '' has no words to score"),
        (["--predict", "a fine film", "--predict", "!!! ..."], 2, "the review '!!! ...' has no words"),
        (["--synthetic", "--limit", "4"], 2, "limit=4 keeps too few training reviews to hold out any for validation"),
        ([], 1, "hold 40 training reviews, too few to hold out validation=2000 and train on the rest: at least 2001"),
    ],
    ids=["empty-review", "review-without-words", "limit-4", "too-few-reviews-for-validation"],
)
def test_imdb_lab_bad_inputs_are_one_line_errors(argv, code, expected, tmp_path, capsys):
    lab = load_script("lab_imdb")
    data = write_reviews(tmp_path / "data")
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, ["--data-dir", str(data), "--log-dir", str(tmp_path / "logs"), "--accelerator", "cpu",
                           "--max-epochs", "1", *argv])
    assert expected in one_line_error(capsys, exited, code)
    assert not list(tmp_path.glob("logs/**/results.json"))


def test_cli_empty_predict_texts_is_a_bad_argument(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli_main(["predict", "--config", str(ROOT / "scripts/configs/imdb_dense.yaml"), "--trainer.accelerator", "cpu",
                  "--data.init_args.predict_texts", "[]"])
    assert "predict_texts=[]: give a non-empty list of reviews" in one_line_error(capsys, exited, 2)


def test_a_review_that_is_not_utf8_is_named(tmp_path, monkeypatch, capsys):
    folder = write_reviews(tmp_path / "data")
    bad = folder / "aclImdb/train/neg/7_2.txt"
    bad.write_bytes("un film très ennuyeux".encode("latin-1"))
    # a Python of its own: the lab script's real entry point (the file's other lab refusals run in this process)
    run = run_script("lab_imdb", "--data-dir", str(folder), "--limit", "1000", "--max-epochs", "1", "--accelerator",
                     "cpu", "--log-dir", str(tmp_path / "logs"), new_process=True, cwd=tmp_path)
    assert run.returncode == 1 and "Traceback" not in run.stderr, run.stderr
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: {bad} is not UTF-8 text (byte 0xe8 at offset 10): re-save it as UTF-8 or delete it, then run again"
    )

    # the same review inside the archive: the member is named
    bad.rename(bad.with_name("keep.bin"))
    with tarfile.open(tmp_path / ARCHIVE, "w:gz") as tar:
        tar.add(folder / "aclImdb", arcname="aclImdb")
        info = tarfile.TarInfo("aclImdb/train/neg/7_2.txt")
        content = bad.with_name("keep.bin").read_bytes()
        info.size = len(content)
        tar.addfile(info, io.BytesIO(content))
    archived = tmp_path / "archived"
    archived.mkdir()
    (tmp_path / ARCHIVE).rename(archived / ARCHIVE)
    md5 = hashlib.md5((archived / ARCHIVE).read_bytes()).hexdigest()
    monkeypatch.setitem(sources.CHECKSUMS, ARCHIVE, ("md5", md5))
    lab = load_script("lab_imdb")
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, ["--data-dir", str(archived), "--limit", "1000", "--max-epochs", "1", "--accelerator", "cpu",
                           "--log-dir", str(tmp_path / "logs")])
    assert f"error: aclImdb/train/neg/7_2.txt in the archive {archived / ARCHIVE} is not UTF-8" in one_line_error(
        capsys, exited, 1
    )


# -- islp-curves -----------------------------------------------------------------------------------------------


def islp_curves() -> list[str]:
    script = Path(sys.executable).parent / "islp-curves"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lightning_modules.runner.curves_cli"]


def test_islp_curves_names_a_garbled_file_in_one_line(tmp_path):
    junk = tmp_path / "metrics.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    run = subprocess.run([*islp_curves(), str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1 and run.stdout == "", run.stderr
    assert re.fullmatch(rf"islp-curves: error: {re.escape(str(junk))} is not a readable metrics CSV \(.*\): "
                        r"it is damaged or not a Lightning log\n", run.stderr)


# -- a class label outside the task in a late batch: islp-lab, and DDP -----------------------------------------------
READERS_DATA = """
import torch
from datamodules.base import InMemoryDataModule

class LateLabel(InMemoryDataModule):
    '''A reader's own data module: 28 x 28 'digits' whose last row holds label 12.'''

    def load(self):
        X = torch.rand(300, 1, 28, 28, generator=torch.Generator().manual_seed(0))
        y = torch.arange(300) % 10
        bad = y.clone()
        bad[-1] = 12
        return (X, y), (X, bad)
"""


def test_islp_lab_refuses_a_late_bad_label_in_one_line(tmp_path, monkeypatch, request):
    (tmp_path / "readers_data.py").write_text(textwrap.dedent(READERS_DATA))
    # the reader's module on the path, as PYTHONPATH gave it to a process of its own, and forgotten afterwards
    monkeypatch.syspath_prepend(str(tmp_path))
    request.addfinalizer(lambda: sys.modules.pop("readers_data", None))
    monkeypatch.setenv("HOME", str(tmp_path))
    done = run_islp_lab(
        "fit", "--config", str(ROOT / "scripts/configs/mnist_mlr.yaml"),
        "--data", "readers_data.LateLabel", "--data.init_args.validation", "test", "--data.init_args.batch_size", "32",
        "--trainer.max_epochs", "2", "--trainer.accelerator", "cpu", "--trainer.enable_model_summary", "false",
        "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), cwd=tmp_path,
    )
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and "IndexError" not in done.stderr
    errors = [line for line in done.stderr.splitlines() if "error" in line]
    assert errors == [f"islp-lab: error: the validation data {CLASSES}"], done.stderr[-3000:]
    assert not list((tmp_path / "logs").rglob("*.ckpt"))  # no checkpoint of an epoch that trained beside it


DDP_SCRIPT = """
import logging, os, sys, warnings
import torch
from pytorch_lightning import Trainer
from torch import nn
from torch.utils.data import TensorDataset
from foundations.errors import BadArgumentError
from lightning_modules import SimpleDataModule, SimpleModule

warnings.simplefilter("ignore")
logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
X = torch.randn(160, 4, generator=torch.Generator().manual_seed(0))
y = torch.arange(160) % 10
bad = y.clone()
bad[159] = 12  # the last row of the second process's shard only
dm = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, bad), validation=None, batch_size=16, eval_batch_size=16)
module = SimpleModule.classification(nn.Linear(4, 10), num_classes=10)
trainer = Trainer(accelerator="cpu", strategy="ddp", devices=2, max_epochs=1, logger=False, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False)
trainer.fit(module, datamodule=dm)
try:
    trainer.test(module, datamodule=dm, verbose=False)
except BadArgumentError as error:
    os.write(2, f"rank {trainer.global_rank}: {error}\\n".encode())  # one write: the two processes' lines stay whole
    sys.exit(2)
"""


def test_under_ddp_every_process_refuses_a_label_in_one_processs_shard(tmp_path):
    """The check's figures are gathered from every process: all refuse alike, none waits for the others."""
    script = tmp_path / "late_ddp.py"
    script.write_text(DDP_SCRIPT)
    done = subprocess.run([sys.executable, str(script)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr[-3000:]
    refused = {line for line in done.stderr.splitlines() if line.startswith("rank ")}
    # rank 0 (whose data is good) refuses too; Lightning may end rank 1 before it prints its own line
    assert f"rank 0: the test data {CLASSES}" in refused, done.stderr[-3000:]
    assert refused <= {f"rank {rank}: the test data {CLASSES}" for rank in (0, 1)}, done.stderr[-3000:]
