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

from datamodules.files import write_atomically
from datamodules.imdb.text import Sequences

CACHE_DIR = "imdb_cache"
#: the cache format; 2: keyed by its source files
CACHE_VERSION = 2
#: what a damaged cache file may raise while it is read
CACHE_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


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
    def load(cls, path: Path, sources: str | None = None) -> EncodedIMDB:
        """Read a cache; a damaged one raises one of :data:`CACHE_ERRORS` (the zip's CRC-32 checks catch flipped bytes).

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
        splits = {}
        for split in ("train", "test"):
            sequences = Sequences(arrays[f"{split}_tokens"], arrays[f"{split}_offsets"])
            labels = arrays[f"{split}_labels"]
            if len(labels) != len(sequences):
                raise ValueError(f"{len(labels)} {split} labels for {len(sequences)} reviews")
            splits[split], splits[f"{split}_labels"] = sequences, labels
        word_index = dict(zip(arrays["words"].tolist(), arrays["indices"].tolist()))
        return cls(source=str(arrays["source"]), word_index=word_index, sources=str(arrays["sources"]), **splits)
