"""Small data sets written in their real on-disk formats, for the tests of every folder (``from data_files import ...``).

MNIST's IDX files, CIFAR100's pickles, the Large Movie Review Dataset (``aclImdb``, as a tree or its archive),
Keras's IMDB files and ISLP's own IMDB files: each a few rows, offline, made here.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import pickle
import shutil
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from datamodules.imdb import book, sources
from datamodules.imdb.sources import ARCHIVE

# -- MNIST (IDX files) and CIFAR100 (pickles) --------------------------------------------------------------------
MNIST_TRAIN, MNIST_TEST = 100, 30


def numbered_images(n: int, shape: tuple[int, ...], seed: int) -> np.ndarray:
    """Random uint8 images whose first pixel holds the row number, so a row can be recognised anywhere."""
    images = np.random.default_rng(seed).integers(0, 256, size=(n, int(np.prod(shape))), dtype=np.uint8)
    images[:, 0] = np.arange(n)
    return images.reshape(n, *shape)


def write_idx(path: Path, array: np.ndarray) -> None:
    """An IDX file as LeCun's MNIST: magic 0x0000 08 <ndim>, big-endian dimensions, then the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


class Planted:
    """Pickled, it asks the loader to create ``marker`` (a folder): proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def cifar_files(root: Path, planted_in: str | None = None, marker: Path | None = None, protocol: int = 4) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` in the real format; ``planted_in`` holds a :class:`Planted`."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 60), ("test", 20)):
        labels = [(7 * i) % 100 for i in range(n)]
        content = {"data": numbered_images(n, (3072,), seed=n), "fine_labels": labels,
                   "coarse_labels": [label // 5 for label in labels], "filenames": [f"img_{i}.png" for i in range(n)],
                   "batch_label": "training batch 1 of 1"}
        if planted_in == name:
            content["filenames"] = Planted(marker)
        (folder / name).write_bytes(pickle.dumps(content, protocol=protocol))
    meta = {"fine_label_names": [f"fine_{i}" for i in range(100)], "coarse_label_names": [f"c_{i}" for i in range(20)]}
    if planted_in == "meta":
        meta["coarse_label_names"] = Planted(marker)
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return root


# -- the Large Movie Review Dataset (aclImdb) and Keras's IMDB files ----------------------------------------------
def file_digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()


# Training counts: film 36; awful, great, the, was 12 each (ties: alphabetical); the rest once.
SINGLES = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo", "lima")
REVIEWS = {
    "train": {
        "pos": [f"The film film film was great, GREAT!<br />{word}." for word in SINGLES[:6]],
        "neg": [f"The film film film was awful; AWFUL...<br /><br />{word}" for word in SINGLES[6:]],
    },
    "test": {
        "pos": ["A great film, zyzzyva!", "Great great great.", "What a film!"],
        "neg": ["An awful film.", "Awful, awful<br />zyzzyva", "Not the film for me."],
    },
}
WORD_INDEX = {"film": 3, "awful": 4, "great": 5, "the": 6, "was": 7} | {w: 8 + i for i, w in enumerate(SINGLES)}


def write_aclimdb(root: Path) -> Path:
    """An ``aclImdb`` tree with REVIEWS, plus files the reader must ignore."""
    for split, labels in REVIEWS.items():
        for label, texts in labels.items():
            folder = root / "aclImdb" / split / label
            folder.mkdir(parents=True)
            for i, text in enumerate(texts):
                (folder / f"{i}_{8 if label == 'pos' else 2}.txt").write_text(text, encoding="utf-8")
    (root / "aclImdb" / "train" / "unsup").mkdir()
    (root / "aclImdb" / "train" / "unsup" / "0_0.txt").write_text("unlabelled unlabelled unlabelled")
    (root / "aclImdb" / "train" / "urls_pos.txt").write_text("http://www.imdb.com/title/tt0000000/")
    (root / "aclImdb" / "imdb.vocab").write_text("the\nfilm\n")
    return root / "aclImdb"


def write_archive(root: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """``aclImdb_v1.tar.gz`` holding the tree, registered as the known checksum."""
    tree = write_aclimdb(root / "tree")
    archive = root / ARCHIVE
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tree, arcname="aclImdb")
    shutil.rmtree(root / "tree")
    monkeypatch.setitem(sources.CHECKSUMS, ARCHIVE, ("md5", file_digest(archive, "md5")))
    return archive


KERAS_RANKS = {"the": 1, "and": 2, "a": 3, "of": 4, "film": 5, "great": 6, "awful": 7, "rare": 8}


def write_keras(root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``imdb.npz`` (object arrays of word-rank lists) and ``imdb_word_index.json``, as Keras stores them."""
    def ragged(lists: list[list[int]]) -> np.ndarray:
        array = np.empty(len(lists), dtype=object)
        array[:] = [list(x) for x in lists]
        return array

    root.mkdir(parents=True, exist_ok=True)
    x_train = [[1, 5, 6, 6], [1, 5, 7], [3, 5, 6, 8], [4, 7, 7, 2]]
    x_test = [[1, 6], [5, 7, 8]]
    np.savez(root / "imdb.npz", x_train=ragged(x_train), y_train=np.array([1, 0, 1, 0]),
             x_test=ragged(x_test), y_test=np.array([1, 0]))
    (root / "imdb_word_index.json").write_text(json.dumps(KERAS_RANKS))
    for name in ("imdb.npz", "imdb_word_index.json"):
        monkeypatch.setitem(sources.CHECKSUMS, name, ("sha256", file_digest(root / name, "sha256")))


# -- ISLP's IMDB files ----------------------------------------------------------------------------------------------
COLUMNS, LENGTH = 10_003, 500
ROWS = {"train": 24, "test": 9}


def md5(path: Path) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "md5").hexdigest()


def islp_contents() -> dict[str, object]:
    """What ISLP's files hold, made as its build script makes them: Keras-style reviews
    (start marker, indices 2-10002, some longer than 500), one-hot rows, pre-padded int32 sequences."""
    rng = np.random.default_rng(7)
    contents: dict[str, object] = {}
    for split, rows in ROWS.items():
        reviews = [np.r_[1, rng.integers(2, COLUMNS, size=rng.integers(3, 700))] for _ in range(rows)]
        dense = np.zeros((rows, COLUMNS), dtype=np.float32)
        padded = np.zeros((rows, LENGTH), dtype=np.int32)
        for i, review in enumerate(reviews):
            dense[i, review] = 1.0
            kept = review[-LENGTH:]
            padded[i, LENGTH - len(kept):] = kept
        contents[f"IMDB_X_{split}.tensor"] = torch.from_numpy(dense).to_sparse()
        contents[f"IMDB_S_{split}.tensor"] = torch.from_numpy(padded)
        contents[f"IMDB_X_{split}.npz"] = sp.csr_matrix(dense)
        contents[f"IMDB_Y_{split}.npy"] = (np.arange(rows) % 3 == 0).astype(np.float32)
    contents["IMDB_word_index.pkl"] = {0: "<PAD>", 1: "<START>", 2: "<UNK>", 4: "the"} | {
        i: f"word{i}" for i in range(5, COLUMNS)
    }
    return contents


def write_islp(root: Path, monkeypatch: pytest.MonkeyPatch, gunzipped: bool = True) -> dict[str, object]:
    """ISLP's files as it leaves them in ``root`` (each ``.tensor.gz`` with, if ``gunzipped``, its
    ``.tensor`` beside it), registered with their MD5s."""
    root.mkdir(parents=True, exist_ok=True)
    contents = islp_contents()
    for name, value in contents.items():
        path = root / name
        if name.endswith(".tensor"):
            torch.save(value, path)
            with open(path, "rb") as source, gzip.open(root / f"{name}.gz", "wb") as target:
                shutil.copyfileobj(source, target)
            if not gunzipped:
                path.unlink()
        elif name.endswith(".npz"):
            sp.save_npz(path, value)
        elif name.endswith(".npy"):
            np.save(path, value)
        else:
            path.write_bytes(pickle.dumps(value))
    for name in book.ISLP_MD5:
        monkeypatch.setitem(book.ISLP_MD5, name, md5(root / name))
    return contents


# -- reviews of clearly signed words, in an aclImdb tree --------------------------------------------------------------
POSITIVE, NEGATIVE = ("great", "wonderful", "superb"), ("awful", "dull", "terrible")
FILLER = ("film", "movie", "plot", "actor", "scene")


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
