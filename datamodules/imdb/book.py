"""The book's IMDB loaders: ``from datamodules.imdb import load_lookup, load_tensor, load_sparse, load_sequential``
in place of ``from ISLP.torch.imdb import ...``, and the lab's cells run unchanged.

Each takes ISLP's arguments and returns what ISLP's does. The data, first found wins:

1. ISLP's own files in ``root`` (``IMDB_X_train.tensor.gz``, ... :data:`ISLP_MD5`),
   each checked against its MD5 as it is read. Once any of them is there,
   ``root`` holds ISLP's encoding, so a loader fetches the ISLP files it lacks
   rather than mixing in another vocabulary (a lookup must fit the sequences).
2. The Large Movie Review Dataset (``aclImdb/`` or its archive) or the Keras
   files (``imdb.npz`` + ``imdb_word_index.json``), in ``root`` or else in
   ``data/``: encoded by :func:`load_encoded`, exactly as
   :class:`IMDBDataModule` encodes them (same vocabulary of 10,000 words, same
   cache), then made into the same features.
3. Nothing there: ISLP's files are downloaded into ``root`` from :data:`ISLP_URL`
   (each verified before it takes its name); offline, a
   :class:`DataUnavailableError` says which files to put where.

Sources 1 and 3 give ISLP's arrays as its files hold them (its sequences are
int32); source 2 gives IMDBDataModule's (int64 sequences), reviews in the order
the data module reads them.
"""

from __future__ import annotations

import gzip
import os
import pickle
import shutil
import warnings
import zlib
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch.utils.data import TensorDataset

from datamodules.imdb.cache import EncodedIMDB
from datamodules.imdb.sources import (
    ARCHIVE,
    ARCHIVE_URL,
    DATA_DIR,
    KERAS_REVIEWS,
    KERAS_URL,
    KERAS_WORDS,
    digest,
    download,
    load_encoded,
    verify_digest,
)
from datamodules.imdb.text import OOV, PAD, RESERVED, START, Sequences, bag_of_words, pad_sequences
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle
from foundations.errors import BadArgumentError, CorruptDataError, DataUnavailableError
from foundations.files import write_atomically

ISLP_URL = "http://imdb.jtaylor.su.domains/jtaylor/data/"
#: ISLP's files and their MD5s (ISLP 0.6's ``ISLP.torch.imdb.md5sums``)
ISLP_MD5: dict[str, str] = {
    "IMDB_Y_test.npy": "bedbed694970384ebf48088dfee80d51",
    "IMDB_Y_train.npy": "66bbcf3b4d43d2ddbafc03c2c5fbaab5",
    "IMDB_S_test.tensor.gz": "b792157f839e849b9bca81572474d3a6",
    "IMDB_S_train.tensor.gz": "f51d41d7d9a8dd030db068115b12fc0c",
    "IMDB_X_test.tensor.gz": "b850b332d6c3bd057757f33674877438",
    "IMDB_X_train.tensor.gz": "74d8a538c0ce86fb45ce4497417f598d",
    "IMDB_X_test.npz": "d914c62cc0a3862067eea3cce955ea2b",
    "IMDB_X_train.npz": "9d19e42410ca9264bd2c549122a842fa",
    "IMDB_word_index.pkl": "5fa514f2ee6e3ea50a07e84711c42bbd",
}
_LABELS = ("IMDB_Y_train.npy", "IMDB_Y_test.npy")
#: the ISLP files each loader reads, (train, test) first
ISLP_FILES: dict[str, tuple[str, ...]] = {
    "load_tensor": ("IMDB_X_train.tensor.gz", "IMDB_X_test.tensor.gz", *_LABELS),
    "load_sparse": ("IMDB_X_train.npz", "IMDB_X_test.npz", *_LABELS),
    "load_sequential": ("IMDB_S_train.tensor.gz", "IMDB_S_test.tensor.gz", *_LABELS),
    "load_lookup": ("IMDB_word_index.pkl",),
}
#: the book's vocabulary and sequence length
NUM_WORDS, MAX_LENGTH = 10_000, 500


# -- the book's loaders ---------------------------------------------------------------------
def load_lookup(root: str | os.PathLike = ".") -> dict[int, str]:
    """Index -> word, for every index a sequence holds: 0 ``<PAD>``, 1 ``<START>``, 2 ``<UNK>``, words from 3
    (from 4 in Keras's index space, where 3 is the unused slot ``<UNUSED>``). ISLP's pickle: what it holds."""
    root = _root(root, "load_lookup")
    encoded = _source(root, "load_lookup")
    if encoded is None:  # verified, and read without running code all the same
        path = _verified(root, "IMDB_word_index.pkl")
        return load_pickle(path, "ISLP's IMDB word index", NUMPY_ARRAYS, remedy="Delete it and run again.")
    lookup = {PAD: "<PAD>", START: "<START>", OOV: "<UNK>"}
    if encoded.source == "keras":
        lookup[RESERVED] = "<UNUSED>"
    lookup.update(sorted((index, word) for word, index in encoded.word_index.items()))
    return lookup


def load_tensor(root: str | os.PathLike = ".") -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` data sets of binary bag-of-words (a sparse COO float32 tensor of
    10,003 columns) and float32 0/1 labels."""
    root = _root(root, "load_tensor")
    encoded = _source(root, "load_tensor")
    if encoded is None:
        return _islp_datasets(root, "load_tensor")
    return tuple(
        TensorDataset(_sparse_tensor(bag_of_words(sequences, NUM_WORDS + RESERVED).matrix), _float_tensor(labels))
        for sequences, labels in _splits(encoded)
    )


def load_sequential(root: str | os.PathLike = ".") -> tuple[TensorDataset, TensorDataset]:
    """``(train, test)`` data sets of each review's last 500 token indices, zero pre-padded,
    and float32 0/1 labels."""
    root = _root(root, "load_sequential")
    encoded = _source(root, "load_sequential")
    if encoded is None:
        return _islp_datasets(root, "load_sequential")
    return tuple(
        TensorDataset(pad_sequences(sequences, MAX_LENGTH), _float_tensor(labels))
        for sequences, labels in _splits(encoded)
    )


def load_sparse(
    root: str | os.PathLike = ".", validation: int = 2000, random_state: int = 0
) -> tuple[tuple[sp.csr_matrix, np.ndarray], tuple[sp.csr_matrix, np.ndarray], tuple[sp.csr_matrix, np.ndarray]]:
    """``((X_train, Y_train), (X_valid, Y_valid), (X_test, Y_test))``: binary bag-of-words as
    scipy CSR matrices of 10,003 columns, labels as numpy arrays.

    ``validation`` training rows are held out, the very rows ISLP holds out for
    ``random_state``: a mask whose last ``validation`` entries are False, shuffled
    by ``np.random.default_rng(random_state)``. (With ``validation=0`` nothing is
    held out; ISLP's mask would then hold out every row.)
    """
    root = _root(root, "load_sparse")
    check_held_out_count(validation)  # before any data is read or fetched
    encoded = _source(root, "load_sparse")
    if encoded is None:
        X_train, X_test, Y_train, Y_test = _islp_arrays(root)
    else:
        (X_train, Y_train), (X_test, Y_test) = (
            (bag_of_words(sequences, NUM_WORDS + RESERVED).matrix, labels.astype(np.float32))
            for sequences, labels in _splits(encoded)
        )
    keep = training_mask(X_train.shape[0], validation, random_state)
    return (X_train[keep], Y_train[keep]), (X_train[~keep], Y_train[~keep]), (X_test, Y_test)


def check_held_out_count(validation: Any) -> None:
    """``load_sparse``'s ``validation`` must be a count of training rows, 0 or more (a fraction would
    silently become 0). (A data module's ``validation`` follows :func:`datamodules.splitting.check_validation`.)"""
    if isinstance(validation, bool) or not isinstance(validation, (int, np.integer)) or validation < 0:
        raise BadArgumentError(
            f"load_sparse(validation={validation!r}): give the number of training rows to hold out, "
            "a whole number from 0 (the book holds out 2000)"
        )


def training_mask(num_rows: int, validation: int, random_state: int) -> np.ndarray:
    """ISLP's draw of the rows kept for training: ``validation`` False entries among ``num_rows``."""
    check_held_out_count(validation)
    validation = int(validation)
    if validation > num_rows:
        raise BadArgumentError(
            f"load_sparse(validation={validation}): more than the {num_rows} training rows there are; "
            f"hold out at most {num_rows} (the book holds out 2000 of 25,000)"
        )
    mask = np.zeros(num_rows, dtype=bool)
    mask[: num_rows - validation] = True
    np.random.default_rng(random_state).shuffle(mask)
    return mask


def _root(root: Any, loader: str) -> Path:
    """``root`` as a path: a folder, or a name where one can be made (it is made only once a download succeeds)."""
    if not isinstance(root, (str, os.PathLike)):
        raise BadArgumentError(f"{loader}(root={root!r}): give the folder (a str or a path) that holds the IMDB files")
    path = Path(root)
    for where in (path, *path.parents):
        if where.is_dir():
            break
        if where.exists():
            raise BadArgumentError(
                f"{loader}(root={str(root)!r}): {where} is a file, not a folder; give the folder that holds "
                "(or is to hold) the IMDB files, e.g. root='data/IMDB'"
            )
    return path


# -- where the data comes from ------------------------------------------------------------------
def _source(root: Path, loader: str) -> EncodedIMDB | None:
    """The encoded reviews of source 2, or ``None``: read ISLP's files in ``root`` (now all there)."""
    if any(_islp_present(root, name) for name in ISLP_MD5):
        _fetch_islp(root, [name for name in ISLP_FILES[loader] if not _islp_present(root, name)], loader)
        return None
    for folder in _review_folders(root):
        encoded = load_encoded(folder, NUM_WORDS)
        if encoded is not None:
            return encoded
    _fetch_islp(root, ISLP_FILES[loader], loader)
    return None


def _review_folders(root: Path) -> list[Path]:
    """``root``, then the project's data folder (unless it is ``root``)."""
    data = Path(DATA_DIR)
    return [root] if data.resolve() == root.resolve() else [root, data]


def _islp_present(root: Path, name: str) -> bool:
    """Whether ISLP's file ``name`` is in ``root`` (for a ``.gz``: or the file gunzipped beside it)."""
    return (root / name).is_file() or (name.endswith(".gz") and (root / name.removesuffix(".gz")).is_file())


def _fetch_islp(root: Path, names: list[str], loader: str) -> None:
    """Download ``names`` into ``root``. The folders made for them are removed again (when still
    empty) if a download fails: a loader that fails leaves no folder behind."""
    made = [folder for folder in (root, *root.parents) if not folder.exists()]  # deepest first
    for name in names:
        try:
            download(ISLP_URL + name, root, name, ISLP_MD5[name])
        except (DataUnavailableError, CorruptDataError) as error:
            for folder in made:
                try:
                    folder.rmdir()  # only if empty: what is there stays
                except OSError:
                    break
            if isinstance(error, CorruptDataError):
                raise
            damaged = _damaged(root, loader)
            if damaged:  # what is there is broken, not only what could not be fetched
                raise CorruptDataError(
                    f"{loader}(root={str(root)!r}): {', '.join(damaged)} in {root.resolve()} "
                    f"{'are' if len(damaged) > 1 else 'is'} damaged (cut short or corrupt: the md5 is not ISLP's), "
                    f"and {', '.join(names)} could not be downloaded ({error}). Delete the damaged "
                    f"file{'s' if len(damaged) > 1 else ''} so {'they are' if len(damaged) > 1 else 'it is'} "
                    f"downloaded again, or replace {'them' if len(damaged) > 1 else 'it'} with ISLP's from {ISLP_URL}."
                ) from None
            raise _unavailable(root, names, loader, str(error)) from None


def _damaged(root: Path, loader: str) -> list[str]:
    """The files ``loader`` reads that are in ``root`` but fail their md5 (a lone gunzipped copy can't be checked)."""
    return [name for name in ISLP_FILES[loader] if (root / name).is_file() and digest(root / name, "md5") != ISLP_MD5[name]]


def _unavailable(root: Path, missing: list[str], loader: str, reason: str) -> DataUnavailableError:
    here = [name for name in ISLP_MD5 if _islp_present(root, name)]
    folders = " or ".join(str(folder.resolve()) for folder in _review_folders(root))
    message = (
        f"No IMDB data for {loader}(root={str(root)!r}) ({reason}).\n"
        f"Put ISLP's files {', '.join(missing)} in {root.resolve()} (from {ISLP_URL})"
    )
    if here:
        return DataUnavailableError(
            f"{message}: {loader} reads ISLP's files there because some already are ({', '.join(here)}). "
            f"To read the reviews or the Keras files instead, move ISLP's files out of {root.resolve()}."
        )
    return DataUnavailableError(
        f"{message},\n"
        f"or aclImdb/ (the Large Movie Review Dataset, extracted) or its archive {ARCHIVE} (from {ARCHIVE_URL}) "
        f"in {folders},\n"
        f"or the Keras files {KERAS_REVIEWS} and {KERAS_WORDS} (from {KERAS_URL}) in {folders}."
    )


# -- ISLP's files ---------------------------------------------------------------------------------
def _verified(root: Path, name: str) -> Path:
    path = root / name
    verify_digest(path, "md5", ISLP_MD5[name], f"it is downloaded afresh from {ISLP_URL}")
    return path


def _islp_datasets(root: Path, loader: str) -> tuple[TensorDataset, TensorDataset]:
    train, test, y_train, y_test = ISLP_FILES[loader]
    return tuple(
        TensorDataset(*_matched(_islp_tensor(root, x), torch.tensor(_islp_array(root, y)), x, y))
        for x, y in ((train, y_train), (test, y_test))
    )


def _islp_arrays(root: Path) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray, np.ndarray]:
    train, test, y_train, y_test = ISLP_FILES["load_sparse"]
    (X_train, Y_train), (X_test, Y_test) = (
        _matched(sp.load_npz(_verified(root, x)).tocsr(), _islp_array(root, y), x, y)
        for x, y in ((train, y_train), (test, y_test))
    )
    return X_train, X_test, Y_train, Y_test


def _islp_array(root: Path, name: str) -> np.ndarray:
    return np.load(_verified(root, name), allow_pickle=False)


def _islp_tensor(root: Path, name: str) -> Tensor:
    """``torch.load`` of ISLP's gzipped tensor, from the gunzipped copy beside it, as ISLP reads it.

    The copy is (re)made from the verified ``.gz`` when it is missing or not
    the size the gzip trailer records; a lone copy (no ``.gz``) is read as it is.
    """
    packed, path = root / name, root / name.removesuffix(".gz")
    if packed.is_file():
        _verified(root, name)
        if not path.is_file() or path.stat().st_size % 2**32 != _gunzipped_size(packed):
            _gunzip(packed, path)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Validating sparse tensor invariants")
            tensor = torch.load(path, weights_only=True)
    except (RuntimeError, OSError, EOFError, ValueError, pickle.UnpicklingError) as error:
        first_line = str(error).strip().partition("\n")[0][:200]
        raise CorruptDataError(
            f"{path} cannot be read as a tensor ({type(error).__name__}: {first_line}). It is corrupt or not "
            "ISLP's: delete it and run again."
        ) from None
    if not isinstance(tensor, Tensor):
        raise CorruptDataError(f"{path} holds a {type(tensor).__name__}, not a tensor. Delete it and run again.")
    return tensor


def _gunzipped_size(packed: Path) -> int:
    """The size of the gzipped data modulo 2**32, from the gzip trailer."""
    with open(packed, "rb") as file:
        file.seek(-4, os.SEEK_END)
        return int.from_bytes(file.read(4), "little")


def _gunzip(packed: Path, path: Path) -> None:
    """Gunzip ``packed`` into ``path``, streamed: ``path`` is never a partial copy."""

    def unpack(target: BinaryIO) -> None:
        try:
            with gzip.open(packed, "rb") as source:
                shutil.copyfileobj(source, target, 1 << 20)
        except (gzip.BadGzipFile, EOFError, zlib.error) as error:  # not gzip data, or cut short
            raise CorruptDataError(f"{packed} cannot be gunzipped ({error}). Delete it and run again.") from None

    write_atomically(path, unpack)


def _matched(x: Any, y: Any, x_name: str, y_name: str) -> tuple[Any, Any]:
    if x.shape[0] != len(y):
        raise CorruptDataError(
            f"{x_name} has {x.shape[0]} rows but {y_name} {len(y)} labels: the two come from different "
            "versions. Delete both and run again."
        )
    return x, y


# -- our encoding -----------------------------------------------------------------------------------
def _splits(encoded: EncodedIMDB) -> tuple[tuple[Sequences, np.ndarray], tuple[Sequences, np.ndarray]]:
    return (encoded.train, encoded.train_labels), (encoded.test, encoded.test_labels)


def _float_tensor(labels: np.ndarray) -> Tensor:
    return torch.from_numpy(labels.astype(np.float32))


def _sparse_tensor(matrix: sp.csr_matrix) -> Tensor:
    """A CSR matrix as a coalesced torch sparse COO tensor, as ISLP's files hold them."""
    coo = matrix.tocoo()
    indices = torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64))
    tensor = torch.sparse_coo_tensor(
        indices, torch.from_numpy(coo.data), coo.shape,
        is_coalesced=matrix.has_canonical_format, check_invariants=False,
    )
    return tensor.coalesce()
