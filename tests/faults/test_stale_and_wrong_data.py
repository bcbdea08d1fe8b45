"""Stale or falsified data, and the data and curves mistakes a user makes, each through its real entry point.

- The IMDB cache follows the files it was made from: reviews added, removed,
  rewritten or touched are seen on the next load; an unchanged folder is not
  read again; a cache of another format version is rebuilt.
- The vocabulary travels with the trained network (in its checkpoint):
  ``lab_imdb.py --predict`` and ``islp-lab predict`` score a review the same
  whatever ``--data-dir`` says; a checkpoint without one is refused, and so is
  resuming or testing on data whose vocabulary differs.
- Bad inputs end in one line naming the value, exit 2 (an argument) or 1 (bad data).
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
from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import ROOT, load_script

from datamodules.errors import BadArgumentError, DataUnavailableError
from datamodules.imdb import IMDBDataModule, load_sparse, sources
from datamodules.imdb.cache import cache_path
from datamodules.imdb.sources import ARCHIVE
from lightning_modules import curves
from lightning_modules.cli import main as cli_main
from lightning_modules.module import SimpleModule
from lightning_modules.networks import IMDBDense

POSITIVE, NEGATIVE = ("great", "wonderful", "superb"), ("awful", "dull", "terrible")
FILLER = ("film", "movie", "plot", "actor", "scene")
TEXTS = ["great wonderful superb film", "awful dull terrible plot"]
SCORE = re.compile(r'^P\(positive\) = ([01]\.\d\d)  "(.*)"$', re.MULTILINE)


def write_reviews(
    root: Path, positive=POSITIVE, negative=NEGATIVE, filler=FILLER, per_label: int = 20, seed: int = 0
) -> Path:
    """``root/aclImdb/{train,test}/{pos,neg}/<i>_<rating>.txt``: short reviews of clearly signed words."""
    rng = np.random.default_rng(seed)
    for split in ("train", "test"):
        for label, words in (("pos", positive), ("neg", negative)):
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True, exist_ok=True)
            for i in range(per_label):
                text = " ".join([*rng.choice(words, 4), *rng.choice(filler, 8)])
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(text, encoding="utf-8")
    return root


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


# -- bad inputs of the IMDB lab, the CLI and the book's loaders --------------------------------------------
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
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts/lab_imdb.py"), "--data-dir", str(folder), "--limit", "1000",
         "--max-epochs", "1", "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs")],
        capture_output=True, text=True, cwd=tmp_path, timeout=300,
    )
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


def test_the_book_loaders_refuse_their_own_bad_arguments(tmp_path, monkeypatch):
    root = write_reviews(tmp_path / "IMDB", per_label=5)

    def no_reading(path):
        raise AssertionError("a bad argument must be refused before any review is read")

    with monkeypatch.context() as patched:
        patched.setattr(sources, "read_reviews", no_reading)
        for validation in (-1, 0.2, "100"):
            with pytest.raises(BadArgumentError, match=rf"load_sparse\(validation={re.escape(repr(validation))}\)"):
                load_sparse(root=str(root), validation=validation)
    with pytest.raises(BadArgumentError, match=r"validation=11\): more than the 10 training rows"):
        load_sparse(root=str(root), validation=11)
    (X_train, _), (X_valid, _), _ = load_sparse(root=str(root), validation=10)
    assert X_train.shape[0] == 0 and X_valid.shape[0] == 10


# -- islp-curves -----------------------------------------------------------------------------------------------
GOOD_CSV = "epoch,step,train_loss_epoch,valid_loss,valid_mae\n0,1,0.5,0.6,0.7\n1,3,0.4,0.3,0.5\n"


def islp_curves() -> list[str]:
    script = Path(sys.executable).parent / "islp-curves"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lightning_modules.curves"]


def test_islp_curves_names_a_garbled_file_in_one_line(tmp_path):
    junk = tmp_path / "metrics.csv"
    junk.write_bytes(bytes(range(256)) * 8)
    run = subprocess.run([*islp_curves(), str(tmp_path)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 1 and run.stdout == "", run.stderr
    assert re.fullmatch(rf"islp-curves: error: {re.escape(str(junk))} is not a readable metrics CSV \(.*\): "
                        r"it is damaged or not a Lightning log\n", run.stderr)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("epoch,step,valid_loss\n", "holds no epochs"),
        ("epoch,step,valid_loss\n0,1,0.5\n1,2,0.4,0.3,9\n", "is not a readable metrics CSV (Error tokenizing data"),
        ("epoch,step,valid_loss\nzero,1,0.5\n", "holds values that are not numbers in epoch"),
        ("loss;accuracy\n0.5;0.7\n", "has no 'epoch' column (its header: loss;accuracy)"),
    ],
    ids=["header-only", "ragged-rows", "not-numbers", "not-a-lightning-log"],
)
def test_islp_curves_garbled_csv_exits_1(content, expected, tmp_path, capsys):
    (tmp_path / "metrics.csv").write_text(content)
    assert curves.main([str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"islp-curves: error: {tmp_path / 'metrics.csv'} ") and expected in err
    assert err.count("\n") == 1 and not list(tmp_path.glob("*.png"))


def test_islp_curves_arguments(tmp_path, capsys):
    run = tmp_path / "version_0"
    run.mkdir()
    (run / "metrics.csv").write_text(GOOD_CSV)
    # -o an existing folder: the figure goes inside it, and that path is printed
    (tmp_path / "figures").mkdir()
    assert curves.main([str(run), "-o", str(tmp_path / "figures")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'figures' / 'loss_curves.png'}\n"
    assert (tmp_path / "figures" / "loss_curves.png").stat().st_size > 1000
    # a name without a suffix: .png added, and the path printed is the file written
    assert curves.main([str(run), "--metric", "mae", "-o", str(tmp_path / "mae")]) == 0
    assert capsys.readouterr().out == f"{tmp_path / 'mae.png'}\n" and (tmp_path / "mae.png").is_file()
    # bad arguments: exit 2, one line naming them, nothing written
    for argv, expected in (
        ([str(tmp_path / "nowhere")], f"{tmp_path / 'nowhere'} does not exist"),
        ([str(run), str(tmp_path / "figures")], f"{tmp_path / 'figures'} holds no metrics.csv"),
        ([str(run), "--metric", "r2"], "metric 'r2' is not in"),
        ([str(run), "-o", str(tmp_path / "curves.txt")], "matplotlib cannot write .txt files"),
    ):
        assert curves.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("islp-curves: error: ") and expected in err and err.count("\n") == 1
    assert curves.main([str(run), "--metric", "r2"]) == 2 and "metrics present: loss, mae" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.rglob("*.png")) == ["loss_curves.png", "mae.png"]
