"""The encoded reviews of one source, and their cache file.

Each source is encoded once and cached as
``<data_dir>/imdb_cache/encoded_<source>_<num_words>.npz`` (reviews as token
indices, labels, vocabulary); every kind of feature derives from it. The file
also holds the format version and the key of the source files it was made from
(``sources``: see :func:`datamodules.imdb.sources.fingerprint`); a cache of
another version or of other source files is stale, and is rebuilt.
"""

from __future__ import annotations

import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from datamodules.imdb.text import RESERVED, Sequences
from foundations.files import write_atomically

CACHE_DIR = "imdb_cache"
#: the cache format; 2: keyed by its source files
CACHE_VERSION = 2
#: what a damaged cache file may raise while it is read (a :class:`ValueError` when its arrays disagree)
CACHE_ERRORS = (OSError, EOFError, ValueError, TypeError, KeyError, zipfile.BadZipFile, zlib.error)
#: the dtype and number of dimensions of each array a cache holds, as :meth:`EncodedIMDB.save` writes them
CACHE_ARRAYS: dict[str, tuple[str, int]] = {
    "version": ("i", 0), "source": ("U", 0), "sources": ("U", 0), "words": ("U", 1), "indices": ("int32", 1),
    **{f"{split}_{name}": (dtype, 1) for split in ("train", "test")
       for name, dtype in (("tokens", "int32"), ("offsets", "int64"), ("labels", "int8"))},
}


class StaleCacheError(ValueError):
    """A readable cache that is not of the source files as they are now, or of another format version."""


def cache_path(data_dir: Path, source: str, num_words: int) -> Path:
    """Where the reviews of ``source`` ('aclImdb', 'keras') in ``data_dir`` are cached, encoded."""
    return Path(data_dir) / CACHE_DIR / f"encoded_{source}_{num_words}.npz"


@dataclass
class EncodedIMDB:
    """Both splits as token indices and 0/1 labels, with the vocabulary that encoded them."""

    source: str
    word_index: dict[str, int]
    train: Sequences
    train_labels: np.ndarray
    test: Sequences
    test_labels: np.ndarray
    #: the key of the source files this was encoded from ("" when none: synthetic reviews)
    sources: str = ""

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file, the whole new one, or none."""
        words = list(self.word_index)
        arrays: dict[str, Any] = {
            "version": np.array(CACHE_VERSION),
            "source": np.array(self.source),
            "sources": np.array(self.sources),
            "words": np.array(words, dtype=str),
            "indices": np.array([self.word_index[word] for word in words], dtype=np.int32),
        }
        for split in ("train", "test"):
            sequences: Sequences = getattr(self, split)
            arrays.update({
                f"{split}_tokens": sequences.tokens,
                f"{split}_offsets": sequences.offsets,
                f"{split}_labels": getattr(self, f"{split}_labels"),
            })
        write_atomically(path, lambda file: np.savez(file, **arrays))

    @classmethod
    def load(cls, path: Path, sources: str | None = None, num_words: int | None = None) -> EncodedIMDB:
        """Read a cache; a damaged one raises one of :data:`CACHE_ERRORS` (the zip's CRC-32 checks catch flipped
        bytes, :func:`check_arrays` contents that contradict each other or ``num_words``).

        :class:`StaleCacheError` when it is of another format version, or when
        ``sources`` is given and the cache was made from other source files
        (checked before the reviews are read).
        """
        with np.load(path, allow_pickle=False) as file:
            version = int(file["version"])
            if version != CACHE_VERSION:
                raise StaleCacheError(f"is of format {version}, not {CACHE_VERSION}")
            if sources is not None and str(file["sources"]) != sources:
                raise StaleCacheError("was made from other versions of the source files")
            arrays = {name: file[name] for name in file.files}
        check_arrays(arrays, num_words)
        splits = {}
        for split in ("train", "test"):
            sequences = Sequences(arrays[f"{split}_tokens"], arrays[f"{split}_offsets"])
            splits[split], splits[f"{split}_labels"] = sequences, arrays[f"{split}_labels"]
        word_index = dict(zip(arrays["words"].tolist(), arrays["indices"].tolist()))
        return cls(source=str(arrays["source"]), word_index=word_index, sources=str(arrays["sources"]), **splits)


def check_arrays(arrays: dict[str, np.ndarray], num_words: int | None = None) -> None:
    """Raise :class:`ValueError` saying what is wrong unless a cache's arrays are what :meth:`EncodedIMDB.save`
    writes and agree with each other: the dtypes and dimensions of :data:`CACHE_ARRAYS`, offsets from 0 to the
    number of tokens, a 0/1 label per review, one index per word, words and indices unique, and every token
    and word index in ``0 .. num_words + 2`` (the columns of the features; any index ``>= 0`` when
    ``num_words`` is not known). A cache whose key matches may still be damaged or written by other code:
    this is what the features and the network would otherwise fail on, deep inside, with a traceback.
    """
    for name, (dtype, dimensions) in CACHE_ARRAYS.items():
        array = arrays.get(name)
        if array is None:
            raise ValueError(f"it has no {name!r}")
        if array.ndim != dimensions or not (array.dtype.kind == dtype if len(dtype) == 1 else array.dtype == dtype):
            raise ValueError(f"its {name!r} is {array.dtype} of {array.ndim} dimensions, not {dtype} of {dimensions}")
    highest = None if num_words is None else num_words + RESERVED - 1

    def beyond(values: np.ndarray, lowest: int) -> bool:
        return len(values) > 0 and (values.min() < lowest or (highest is not None and values.max() > highest))

    for split in ("train", "test"):
        tokens, offsets, labels = (arrays[f"{split}_{name}"] for name in ("tokens", "offsets", "labels"))
        if len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(tokens) or np.any(np.diff(offsets) < 0):
            raise ValueError(f"its {split} offsets do not run from 0 to its {len(tokens)} tokens")
        if len(labels) != len(offsets) - 1 or np.any((labels != 0) & (labels != 1)):
            raise ValueError(f"its {len(labels)} {split} labels are not a 0 or 1 for each of {len(offsets) - 1} reviews")
        if beyond(tokens, 0):
            raise ValueError(f"a {split} token index is outside 0..{highest if highest is not None else ''}")
    words, indices = arrays["words"], arrays["indices"]
    if len(words) != len(indices) or len(set(words.tolist())) != len(words) or len(np.unique(indices)) != len(indices):
        raise ValueError(f"its {len(words)} words and {len(indices)} indices are not one index per word, each its own")
    if beyond(indices, RESERVED):
        raise ValueError(f"a word's index is outside {RESERVED}..{highest if highest is not None else ''}")
