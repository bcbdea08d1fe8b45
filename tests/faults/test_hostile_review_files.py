"""Reviews scored from a file: lines are lines, the file is checked whole then streamed, and scoring writes nothing.

A file splits at ``\\n``, ``\\r\\n`` and ``\\r`` only; it is read a batch at a time, and a pipe, a device, an
endless line or a file changed after its check is refused; ``--predict`` and ``islp-lab predict`` need no
writable folder, and a command that writes says so in one line.
Memory and time are measured by scripts/benchmark_predict.py.
"""

from __future__ import annotations

import io
import os
import re
import shutil
import stat
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, load_script

from datamodules.imdb import IMDBDataModule
from datamodules.imdb.reviews import CHUNK_BYTES, MAX_REVIEW_BYTES, ReviewsFile, read_reviews_file, split_lines
from foundations.errors import BadArgumentError, CorruptDataError
from lightning_modules.runner.cli import main as cli_main

CONFIG = str(ROOT / "scripts" / "configs" / "imdb_dense.yaml")
SCORE = re.compile(r'^P\(positive\) = ([01]\.\d\d)  "(.*)"$')
#: every character ``str.splitlines`` splits at, besides \n and \r
SEPARATORS = {"U+2028": "\u2028", "U+2029": "\u2029", "form feed": "\x0c", "NEL": "\x85", "U+001C": "\x1c",
              "U+001D": "\x1d", "U+001E": "\x1e", "vertical tab": "\x0b"}
LINE_ENDS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


def four_reviews(separator: str) -> list[str]:
    return [f"word5 word9{separator}word17", f"a wonderful{separator}film", f"dull{separator}and long",
            f"word3 word44{separator}word2000 again"]


def scores(out: str) -> list[tuple[str, str]]:
    """(probability, text) of each printed score; the output split at \\n only (the texts hold other separators)."""
    return [match.groups() for line in out.split("\n") if (match := SCORE.match(line))]


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A log folder holding one IMDB network trained on synthetic reviews: ``<logs>/imdb/dense/version_0``."""
    logs = tmp_path_factory.mktemp("trained") / "logs"
    cli_main(["fit", "--config", CONFIG, "--data.init_args.synthetic", "true", "--data.init_args.limit", "600",
              "--data.init_args.validation", "100", "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu",
              "--trainer.default_root_dir", str(logs)])
    assert (logs / "imdb/dense/version_0/checkpoints/last.ckpt").is_file()
    return logs


def lab_predict(capsys, *args: str) -> tuple[int, str, str]:
    """``lab_imdb.py`` run in this process: its exit status, stdout and stderr."""
    lab = load_script("lab_imdb")
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        lab.run(lab.main, ["--synthetic", "--accelerator", "cpu", *args])
        raise SystemExit(0)
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


def cli(capsys, *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        cli_main(list(args))
        code = 0
    except SystemExit as exited:
        code = exited.code or 0
    out, err = capsys.readouterr()
    return code, out, err


def files_under(folder: Path) -> dict[str, int]:
    return {str(path.relative_to(folder)): path.stat().st_mtime_ns for path in folder.rglob("*")}


# -- lines are lines --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("end", LINE_ENDS.values(), ids=LINE_ENDS.keys())
@pytest.mark.parametrize("separator", SEPARATORS.values(), ids=SEPARATORS.keys())
def test_a_file_splits_at_line_ends_only(tmp_path, separator, end):
    reviews = four_reviews(separator)
    path = tmp_path / "reviews.txt"
    path.write_bytes(end.join(reviews).encode() + end.encode())
    assert read_reviews_file(path, "--predict-file") == reviews
    assert len(path.read_bytes().decode().splitlines()) == 8  # what str.splitlines made of it: 8 half-reviews


@pytest.mark.parametrize("separator", SEPARATORS.values(), ids=SEPARATORS.keys())
def test_lab_scores_one_review_per_line_whatever_the_line_holds(trained, tmp_path, capsys, separator):
    reviews = four_reviews(separator)
    path = tmp_path / "reviews.txt"
    path.write_text("\n".join(reviews) + "\n", encoding="utf-8")
    code, out, err = lab_predict(capsys, "--log-dir", str(trained), "--predict-file", str(path))
    assert code == 0, err
    assert [text for _, text in scores(out)] == reviews


def test_islp_lab_predict_scores_one_review_per_line_and_writes_nothing(trained, tmp_path, capsys, monkeypatch):
    reviews = [*four_reviews("\u2028"), *four_reviews("\x0c")]
    path = tmp_path / "reviews.txt"
    path.write_bytes("\r\n".join(reviews).encode())  # CRLF, no final line end
    checkpoint = trained / "imdb/dense/version_0/checkpoints/last.ckpt"
    root = tmp_path / "root"
    root.mkdir()
    monkeypatch.chdir(root)
    before = files_under(trained)
    code, out, err = cli(capsys, "predict", "--config", CONFIG, "--ckpt_path", str(checkpoint),
                         "--trainer.accelerator", "cpu", "--data.init_args.synthetic", "true",
                         "--data.init_args.eval_batch_size", "3", "--data.init_args.predict_file", str(path))
    assert code == 0, err
    assert [text for _, text in scores(out)] == reviews  # in order, named by their own texts across batches of 3
    assert list(root.iterdir()) == [] and files_under(trained) == before  # no log version, no config.yaml


def test_the_lab_and_islp_lab_give_the_same_scores(trained, tmp_path, capsys):
    path = tmp_path / "reviews.txt"
    path.write_text("".join(f"word{i} word{i * 7 % 97} film\n" for i in range(1, 1200)))
    code, lab_out, err = lab_predict(capsys, "--log-dir", str(trained), "--predict-file", str(path))
    assert code == 0, err
    code, cli_out, err = cli(capsys, "predict", "--config", CONFIG, "--ckpt_path",
                             str(trained / "imdb/dense/version_0/checkpoints/last.ckpt"), "--trainer.accelerator", "cpu",
                             "--data.init_args.synthetic", "true", "--data.init_args.predict_file", str(path))
    assert code == 0, err
    assert scores(lab_out) == scores(cli_out) and len(scores(lab_out)) == 1199


# -- checked whole, then streamed ---------------------------------------------------------------------------------


def test_split_lines_across_chunks():
    data = b"x" * (CHUNK_BYTES - 1) + b"\r\n" + b"y\rz\n\n" + b"w" * (2 * CHUNK_BYTES) + b"\r"
    assert [len(line) for line in split_lines(io.BytesIO(data))] == [CHUNK_BYTES - 1, 1, 1, 0, 2 * CHUNK_BYTES]
    assert list(split_lines(io.BytesIO(b""))) == [] and list(split_lines(io.BytesIO(b"a"))) == [b"a"]


def test_the_file_is_read_in_batches_and_shared_between_processes(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("".join(f"review number {i}\n" for i in range(1001)))
    reviews = ReviewsFile.checked(path, "--predict-file")
    assert len(reviews) == 1001
    batches = list(reviews.batches(100))
    assert [len(batch) for batch in batches] == [100] * 10 + [1]
    shards = [[text for batch in reviews.batches(64, rank, 3) for text in batch] for rank in range(3)]
    assert sorted(sum(shards, [])) == sorted(f"review number {i}" for i in range(1001))
    assert shards[1][:2] == ["review number 1", "review number 4"]
    datamodule = IMDBDataModule(synthetic=True, predict_file=str(path))
    assert datamodule.predict_texts is None and len(datamodule.reviews_file) == 1001


def test_a_file_changed_after_its_check_is_refused(tmp_path):
    path = tmp_path / "reviews.txt"
    path.write_text("a wonderful film\n")
    reviews = ReviewsFile.checked(path, "--predict-file")
    path.write_text("a wonderful film\nand another\n")
    with pytest.raises(CorruptDataError, match="changed after it was checked"):
        list(reviews)


def bad_file(tmp_path: Path, kind: str) -> str:
    """A path that is no file of reviews, of the ``kind`` asked for."""
    path = tmp_path / kind
    if kind == "fifo":
        os.mkfifo(path)  # no writer: opening it to read would wait forever
    elif kind == "folder":
        path.mkdir()
    elif kind == "endless line":
        with open(path, "wb") as sparse:  # 8 GiB of zeros, no line end (sparse: nothing on disk)
            sparse.truncate(8 << 30)
    elif kind == "long line":
        path.write_bytes(b"fine\n" + b"w" * (MAX_REVIEW_BYTES + 1) + b"\n")
    elif kind == "latin-1":
        path.write_bytes("fine\nfine\r\nun film très ennuyeux\n".encode("latin-1"))
    elif kind == "blank":
        path.write_text("\n \r\n\t\r\u2028\n")
    elif kind == "no words":
        path.write_text("fine film\n!!! ...\n")
    elif kind == "unreadable":
        path.write_text("fine\n")
        path.chmod(0)
        if os.geteuid() == 0:
            pytest.skip("root reads a file of mode 000")
    elif kind == "dev zero":
        return "/dev/zero"
    elif kind == "missing":
        pass
    return str(path)


REFUSALS = {
    "fifo": (BadArgumentError, r"is a pipe, not a regular file .*save the reviews to a file first"),
    "dev zero": (BadArgumentError, r"/dev/zero is a character device, not a regular file"),
    "folder": (BadArgumentError, r"is a folder; give a text file with one review per line"),
    "endless line": (CorruptDataError, r"line 1 is longer than 1,000,000 bytes"),
    "long line": (CorruptDataError, r"line 2 is longer than 1,000,000 bytes"),
    "latin-1": (CorruptDataError, r"is not UTF-8 text \(byte 0xe8 on line 3\)"),
    "blank": (BadArgumentError, r"holds no reviews"),
    "no words": (BadArgumentError, r"the review on line 2 \('!!! \.\.\.'\) has no words to score"),
    "unreadable": (BadArgumentError, r"can't be read: Permission denied"),
    "missing": (BadArgumentError, r"no such file"),
}


@pytest.mark.parametrize("kind", REFUSALS)
def test_what_is_no_file_of_reviews_is_refused_in_one_line(tmp_path, kind):
    path = bad_file(tmp_path, kind)
    error, message = REFUSALS[kind]
    with pytest.raises(error, match=message):
        ReviewsFile.checked(path, "--predict-file")
    with pytest.raises(error, match=message):
        IMDBDataModule(synthetic=True, predict_file=path)


@pytest.mark.parametrize("kind", ["fifo", "dev zero", "endless line"])
def test_the_entry_points_refuse_an_endless_input_in_one_line(trained, tmp_path, capsys, kind):
    path = bad_file(tmp_path, kind)
    code, out, err = lab_predict(capsys, "--log-dir", str(trained), "--predict-file", path)
    assert code in (1, 2) and err.count("\n") == 1 and err.startswith("error: --predict-file") and not scores(out)
    code, out, err = cli(capsys, "predict", "--config", CONFIG, "--ckpt_path",
                         str(trained / "imdb/dense/version_0/checkpoints/last.ckpt"), "--trainer.accelerator", "cpu",
                         "--data.init_args.synthetic", "true", "--data.init_args.predict_file", path)
    assert code in (1, 2) and err.count("\n") == 1 and "islp-lab: error: predict_file" in err and not scores(out)


# -- read-only places ---------------------------------------------------------------------------------------------


def read_only_copy(trained: Path, tmp_path: Path, mount_tmpfs) -> Path:
    """A copy of the trained logs that cannot be written: a tmpfs remounted read-only (root), else modes without w."""
    if os.geteuid() == 0:
        disk = mount_tmpfs("64m")
        logs = disk / "logs"
        shutil.copytree(trained, logs)
        done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot remount {disk} read-only: {done.stderr.strip()}")
        return logs
    logs = tmp_path / "read_only" / "logs"
    shutil.copytree(trained, logs)
    for path in [logs.parent, logs, *logs.rglob("*")]:
        path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
    return logs


def test_scoring_needs_no_writable_folder_and_writing_says_so(trained, tmp_path, capsys, mount_tmpfs, monkeypatch):
    logs = read_only_copy(trained, tmp_path, mount_tmpfs)
    path = tmp_path / "reviews.txt"
    path.write_text("a wonderful film\ndull and long\n")
    # the lab: --predict and --predict-file score from a read-only log folder
    code, out, err = lab_predict(capsys, "--log-dir", str(logs), "--predict", "word5 word9", "--predict-file", str(path))
    assert code == 0, err
    assert [text for _, text in scores(out)] == ["word5 word9", "a wonderful film", "dull and long"]
    # training there must write: refused in one line
    code, out, err = lab_predict(capsys, "--log-dir", str(logs), "--limit", "600", "--max-epochs", "1")
    assert code == 2 and err.count("\n") == 1 and "can't write there" in err

    # islp-lab: predict with a read-only root dir scores; test (which logs) is refused in one line
    monkeypatch.chdir(tmp_path)
    common = ["--config", CONFIG, "--ckpt_path", str(logs / "imdb/dense/version_0/checkpoints/last.ckpt"),
              "--trainer.accelerator", "cpu", "--data.init_args.synthetic", "true", "--trainer.default_root_dir", str(logs)]
    code, out, err = cli(capsys, "predict", *common, "--data.init_args.predict_file", str(path))
    assert code == 0, err
    assert [text for _, text in scores(out)] == ["a wonderful film", "dull and long"]
    code, out, err = cli(capsys, "test", *common, "--data.init_args.limit", "600", "--data.init_args.validation", "100")
    assert code == 2 and err.count("\n") == 1
    assert err.startswith(f"islp-lab: error: test writes its logs in {logs / 'imdb'}, which can't be written")
