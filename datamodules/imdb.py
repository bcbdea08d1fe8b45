"""IMDB movie reviews (labs 10.9.5 and 10.9.6): binary bag-of-words or padded sequences.

Where the reviews come from, first found in ``data_dir`` wins:

1. ``aclImdb/`` — the Large Movie Review Dataset, extracted — or its archive
   ``aclImdb_v1.tar.gz`` (read member by member, never extracted). When
   neither is there, :meth:`IMDBDataModule.prepare_data` downloads the archive
   from :data:`ARCHIVE_URL` and checks its MD5.
2. ``imdb.npz`` and ``imdb_word_index.json`` — the Keras files.
3. ``synthetic=True`` — random reviews with a planted signal, loudly labelled:
   the figures they give mean nothing.

Encoding (Keras's conventions): 0 pads, 1 starts every review, 2 stands for a
word outside the vocabulary, and the ``num_words`` most frequent words take the
indices from 3 up, so features have ``num_words + 3`` columns. For the raw
reviews the vocabulary is counted on the training split only and ranked by
count, ties broken alphabetically (so it does not depend on file order): the
most frequent word gets 3. The Keras files keep Keras's own index space (a
word's rank + 3; index 3 is Keras's unused slot), so the words ranked below
``num_words`` fit the same columns and sequences read as in the book.

Each source is encoded once and cached as ``<data_dir>/imdb_cache/encoded_<source>_<num_words>.npz``
(reviews as token indices, labels, vocabulary); both feature modes derive from it.
Reviews are shuffled once with a fixed seed (113, as Keras does), so
``limit=n`` gives a mix of positive and negative reviews.

Bag-of-words features stay sparse (:class:`SparseRows`) through splitting and
subsetting; the data module's loaders make each batch dense as it is served.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import urllib.error
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from datamodules.base import (
    CorruptDataError,
    DataUnavailableError,
    InMemoryDataModule,
    SparseRows,
    SyntheticDataWarning,
    Tensors,
)

PAD, START, OOV = 0, 1, 2
#: the number of reserved indices before the first word
RESERVED = 3

ARCHIVE = "aclImdb_v1.tar.gz"
ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
KERAS_REVIEWS, KERAS_WORDS = "imdb.npz", "imdb_word_index.json"
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: (algorithm, hex digest) of each file read, by file name
CHECKSUMS: dict[str, tuple[str, str]] = {
    ARCHIVE: ("md5", "7c2ac02c03563afcf9b574c7e56c153a"),
    KERAS_REVIEWS: ("sha256", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    KERAS_WORDS: ("md5", "bfafd718b763782e994055a2d397834f"),
}
SHUFFLE_SEED = 113
SYNTHETIC_SEED = 2023
CACHE_DIR = "imdb_cache"
CACHE_VERSION = 1

Features = Literal["bag_of_words", "sequence"]


# -- text ------------------------------------------------------------------------
_LINE_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_PUNCTUATION = re.compile(r"[^\w\s']|_")


def tokenize(text: str) -> list[str]:
    """Lower case, HTML line breaks and punctuation replaced by spaces, split on whitespace.

    Apostrophes inside a word are kept ("don't"), those around it dropped.
    """
    text = _PUNCTUATION.sub(" ", _LINE_BREAK.sub(" ", text.lower()))
    return [word for word in (token.strip("'") for token in text.split()) if word]


def build_word_index(texts: Iterable[str], num_words: int) -> dict[str, int]:
    """Map the ``num_words`` most frequent words of ``texts`` to 3, 4, ... (ties alphabetical)."""
    counts: Counter[str] = Counter()
    for text in texts:
        counts.update(tokenize(text))
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))[:num_words]
    return {word: RESERVED + rank for rank, (word, _) in enumerate(ranked)}


def encode_texts(texts: Iterable[str], word_index: dict[str, int]) -> Sequences:
    """Token indices of each text, after the start marker; unknown words become 2."""
    return Sequences.from_lists([START, *(word_index.get(word, OOV) for word in tokenize(text))] for text in texts)


# -- reviews as token indices ------------------------------------------------------
@dataclass(frozen=True)
class Sequences:
    """Variable-length integer sequences stored end to end: sequence ``i`` is
    ``tokens[offsets[i]:offsets[i + 1]]`` (the layout of a CSR matrix's rows)."""

    tokens: np.ndarray  # int32
    offsets: np.ndarray  # int64, one more than the number of sequences

    def __post_init__(self) -> None:
        offsets = self.offsets
        if offsets.ndim != 1 or len(offsets) == 0 or offsets[0] != 0 or offsets[-1] != len(self.tokens):
            raise ValueError("offsets must run from 0 to the number of tokens")
        if np.any(np.diff(offsets) < 0):
            raise ValueError("offsets must not decrease")

    @classmethod
    def from_lists(cls, sequences: Iterable[Sequence[int] | np.ndarray]) -> Sequences:
        arrays = [np.asarray(sequence, dtype=np.int32) for sequence in sequences]
        offsets = np.zeros(len(arrays) + 1, dtype=np.int64)
        np.cumsum([len(array) for array in arrays], out=offsets[1:])
        tokens = np.concatenate(arrays) if arrays else np.zeros(0, dtype=np.int32)
        return cls(tokens, offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


# -- features --------------------------------------------------------------------
def bag_of_words(sequences: Sequences, num_columns: int) -> SparseRows:
    """Binary indicators: entry ``(i, j)`` is 1.0 iff index ``j`` occurs in sequence ``i``.

    Built straight from the token lists: memory grows with the number of
    tokens, never with rows × columns.
    """
    if len(sequences.tokens) and sequences.tokens.max() >= num_columns:
        raise ValueError(f"a token index is {sequences.tokens.max()}, beyond {num_columns} columns")
    matrix = sp.csr_matrix(
        (np.ones(len(sequences.tokens), dtype=np.float32), sequences.tokens.copy(), sequences.offsets.copy()),
        shape=(len(sequences), num_columns),
    )
    matrix.sum_duplicates()  # one entry per (row, word), holding its count ...
    matrix.data[:] = 1.0  # ... which becomes presence
    return SparseRows(matrix)


def pad_sequences(sequences: Sequences, max_length: int) -> Tensor:
    """The last ``max_length`` tokens of each sequence, zero pre-padded: int64 ``(N, max_length)``.

    Keras's ``pad_sequences`` with its defaults (truncating and padding 'pre').
    """
    kept = np.minimum(sequences.lengths, max_length)
    rows = np.repeat(np.arange(len(sequences)), kept)
    position = np.arange(kept.sum()) - np.repeat(np.cumsum(kept) - kept, kept)  # 0.. within each row
    source = np.repeat(sequences.offsets[1:] - kept, kept) + position
    padded = np.zeros((len(sequences), max_length), dtype=np.int64)
    padded[rows, np.repeat(max_length - kept, kept) + position] = sequences.tokens[source]
    return torch.from_numpy(padded)


# -- the encoded data set and its cache --------------------------------------------
@dataclass
class EncodedIMDB:
    """Both splits as token indices and 0/1 labels, with the vocabulary that encoded them."""

    source: str
    word_index: dict[str, int]
    train: Sequences
    train_labels: np.ndarray
    test: Sequences
    test_labels: np.ndarray

    def save(self, path: Path) -> None:
        """Write atomically: a reader sees the old file, the whole new one, or none."""
        path.parent.mkdir(parents=True, exist_ok=True)
        words = list(self.word_index)
        arrays: dict[str, Any] = {
            "version": np.array(CACHE_VERSION),
            "source": np.array(self.source),
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
        temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            with open(temporary, "wb") as file:
                np.savez(file, **arrays)
                file.flush()
                os.fsync(file.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    @classmethod
    def load(cls, path: Path) -> EncodedIMDB:
        """Read a cache; a damaged one raises (the zip's CRC-32 checks catch flipped bytes)."""
        with np.load(path, allow_pickle=False) as file:
            arrays = {name: file[name] for name in file.files}
        if int(arrays["version"]) != CACHE_VERSION:
            raise ValueError(f"cache format {int(arrays['version'])}, expected {CACHE_VERSION}")
        splits = {}
        for split in ("train", "test"):
            sequences = Sequences(arrays[f"{split}_tokens"], arrays[f"{split}_offsets"])
            labels = arrays[f"{split}_labels"]
            if len(labels) != len(sequences):
                raise ValueError(f"{len(labels)} {split} labels for {len(sequences)} reviews")
            splits[split], splits[f"{split}_labels"] = sequences, labels
        word_index = dict(zip(arrays["words"].tolist(), arrays["indices"].tolist()))
        return cls(source=str(arrays["source"]), word_index=word_index, **splits)


#: what a damaged cache file may raise while it is read
CACHE_ERRORS = (OSError, EOFError, ValueError, KeyError, zipfile.BadZipFile, zlib.error)


# -- readers -----------------------------------------------------------------------
def file_digest(path: Path, algorithm: str) -> str:
    digest = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def verify_checksum(path: Path, name: str | None = None) -> None:
    """Raise :class:`CorruptDataError` unless ``path`` has the known checksum of ``name`` (default: its name)."""
    algorithm, expected = CHECKSUMS[name or path.name]
    actual = file_digest(path, algorithm)
    if actual != expected:
        raise CorruptDataError(
            f"{path} is corrupt or incomplete: its {algorithm} is {actual}, expected {expected}. "
            "Delete it and run again (the archive is downloaded afresh; "
            f"the Keras files come from {KERAS_URL})."
        )


_REVIEW_FILE = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")


def _review_files(path: Path) -> Iterator[tuple[str, int, int, str]]:
    """(split, label, id, text) of each review under ``path``: an ``aclImdb`` folder or its archive.

    Other files (the 'unsup' reviews, URL lists, the vocabulary) are skipped unread.
    """
    if path.is_dir():
        for file in path.glob("*/*/*.txt"):
            if match := _REVIEW_FILE.search(file.relative_to(path.parent).as_posix()):
                yield *_parse(match), file.read_text(encoding="utf-8")
        return
    verify_checksum(path, ARCHIVE)
    with tarfile.open(path, "r|gz") as archive:  # one pass, nothing extracted
        for member in archive:
            if member.isfile() and (match := _REVIEW_FILE.search(member.name)):
                yield *_parse(match), archive.extractfile(member).read().decode("utf-8")


def _parse(match: re.Match[str]) -> tuple[str, int, int]:
    split, label, number = match.groups()
    return split, int(label == "pos"), int(number)


def read_reviews(path: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Texts and labels (1 positive) per split of the Large Movie Review Dataset.

    Reviews are ordered by label and id, then shuffled with a fixed seed, so a
    folder and its archive give the same order.
    """
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for split, label, number, text in _review_files(path):
        found[split].append((label, number, text))
    splits = {}
    for split, reviews in found.items():
        if not reviews:
            raise DataUnavailableError(
                f"{path} holds no {split} reviews (expected aclImdb/{split}/pos|neg/<id>_<rating>.txt)"
            )
        reviews.sort()
        order = np.random.RandomState(SHUFFLE_SEED).permutation(len(reviews))
        splits[split] = ([reviews[i][2] for i in order], np.array([reviews[i][0] for i in order], dtype=np.int8))
    return splits


def encode_reviews(path: Path, num_words: int) -> EncodedIMDB:
    """Encode the raw reviews (folder or archive), with a vocabulary from the training split."""
    splits = read_reviews(path)
    word_index = build_word_index(splits["train"][0], num_words)
    (train_texts, train_labels), (test_texts, test_labels) = splits["train"], splits["test"]
    return EncodedIMDB(
        "aclImdb", word_index, encode_texts(train_texts, word_index), train_labels,
        encode_texts(test_texts, word_index), test_labels,
    )


def encode_keras(data_dir: Path, num_words: int) -> EncodedIMDB:
    """Read the Keras files: reviews stored as word ranks (1 = most frequent).

    As Keras's ``load_data`` does: the reviews are shuffled (seed 113), each
    gets the start marker, and rank ``r`` becomes index ``r + 3``; ranks that
    would fall beyond ``num_words + 3`` columns become 2.
    """
    reviews, words = data_dir / KERAS_REVIEWS, data_dir / KERAS_WORDS
    verify_checksum(reviews)
    verify_checksum(words)
    ranks = json.loads(words.read_text(encoding="utf-8"))
    word_index = {word: rank + RESERVED for word, rank in ranks.items() if rank < num_words}
    with np.load(reviews, allow_pickle=True) as file:  # object arrays of lists
        arrays = {name: file[name] for name in ("x_train", "y_train", "x_test", "y_test")}

    def encode(ranked: np.ndarray) -> Sequences:
        def one(review: Sequence[int]) -> np.ndarray:
            review = np.asarray(review, dtype=np.int64)
            return np.concatenate([[START], np.where(review < num_words, review + RESERVED, OOV)])

        return Sequences.from_lists(one(review) for review in ranked)

    splits = {}
    for split in ("train", "test"):
        order = np.random.RandomState(SHUFFLE_SEED).permutation(len(arrays[f"y_{split}"]))
        splits[split] = encode(arrays[f"x_{split}"][order])
        splits[f"{split}_labels"] = arrays[f"y_{split}"][order].astype(np.int8)
    return EncodedIMDB(source="keras", word_index=word_index, **splits)


def synthetic_imdb(num_words: int = 10_000, num_reviews: int = 25_000, seed: int = SYNTHETIC_SEED) -> EncodedIMDB:
    """Random reviews shaped like IMDB's, with a planted, learnable signal. Their figures mean nothing.

    Lengths are log-normal (median 175 tokens, at most 2,500); words are drawn
    with Zipf frequencies from twice the vocabulary (so some are out of it).
    About 3% of the words come from 400 'sentiment' words (fewer for a small
    vocabulary), three times in four from the half that goes with the label. The vocabulary is
    placeholder words ``word1``, ``word2``, ... by rank.
    """
    rng = np.random.default_rng(seed)
    frequency = 1.0 / np.arange(1, 2 * num_words + 1)
    cumulative = np.cumsum(frequency) / frequency.sum()
    per_side = min(200, num_words // 2)
    sentiment = rng.choice(num_words, size=(2, per_side), replace=False) + RESERVED  # [negative, positive]

    def split() -> tuple[Sequences, np.ndarray]:
        labels = rng.permutation(np.arange(num_reviews) % 2).astype(np.int8)
        lengths = np.clip(rng.lognormal(np.log(175), 0.75, num_reviews).astype(np.int64), 10, 2_500)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        ranks = np.searchsorted(cumulative, rng.random(offsets[-1]), side="right") + 1
        tokens = np.where(ranks <= num_words, ranks + RESERVED - 1, OOV)
        planted = np.flatnonzero(rng.random(len(tokens)) < 0.03)
        label = np.repeat(labels, lengths)[planted]
        agrees = rng.random(len(planted)) < 0.75
        tokens[planted] = sentiment[np.where(agrees, label, 1 - label), rng.integers(0, per_side, len(planted))]
        tokens[offsets[:-1]] = START
        return Sequences(tokens.astype(np.int32), offsets), labels

    word_index = {f"word{rank}": rank + RESERVED - 1 for rank in range(1, num_words + 1)}
    (train, train_labels), (test, test_labels) = split(), split()
    return EncodedIMDB("synthetic", word_index, train, train_labels, test, test_labels)


# -- the data module -------------------------------------------------------------
class IMDBDataModule(InMemoryDataModule):
    """IMDB reviews as binary bag-of-words (``N × (num_words + 3)``, sparse until
    batched) or as the last ``max_length`` token indices, zero pre-padded.

    Args:
        data_dir: folder holding ``aclImdb/``, ``aclImdb_v1.tar.gz`` or
            ``imdb.npz`` + ``imdb_word_index.json``; the archive is downloaded here
            when none is present, and the encoded reviews are cached in ``imdb_cache/``.
        features: ``"bag_of_words"`` (the dense-network lab) or ``"sequence"`` (the LSTM lab).
        num_words: size of the vocabulary, the most frequent training words.
        max_length: tokens kept per review in ``"sequence"`` mode (the last ones).
        batch_size: training batch size.
        validation: training reviews held out for validation (seeded).
        synthetic: use random reviews of IMDB's shape instead; results mean nothing.
        seed: seed of the validation split and of the shuffling.
        limit: keep only the first reviews of each split, for a quick trial.
        eval_batch_size: validation and test batch size (default ``batch_size``).
        predict_texts: reviews of your own for ``predict`` to score (encoded with the
            vocabulary of the data); when not given, ``predict`` runs on the test set.

    After :meth:`setup`, ``word_index`` maps a word to its index (3 upward),
    ``vocabulary`` lists the words by index, and :meth:`encode` turns texts
    into features for the network. Bag-of-words splits are held as
    :class:`SparseRows` (``dm.train_data[0].matrix`` is a CSR matrix, for
    scikit-learn); the loaders serve dense float32 batches (the base loader calls ``SparseRows.to_dense`` per batch).
    """

    def __init__(
        self,
        data_dir: str = "data",
        features: Features = "bag_of_words",
        num_words: int = 10_000,
        max_length: int = 500,
        batch_size: int = 512,
        validation: int = 2000,
        synthetic: bool = False,
        seed: int = 0,
        limit: int | None = None,
        eval_batch_size: int | None = None,
        predict_texts: list[str] | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size, validation=validation, eval_batch_size=eval_batch_size, seed=seed, limit=limit
        )
        if features not in ("bag_of_words", "sequence"):
            raise ValueError(f"features must be 'bag_of_words' or 'sequence', got {features!r}")
        if num_words < 1 or max_length < 1:
            raise ValueError(f"num_words and max_length must be positive, got {num_words} and {max_length}")
        self.data_dir = Path(data_dir)
        self.features = features
        self.num_words = num_words
        self.max_length = max_length
        self.synthetic = synthetic
        if predict_texts is not None and (isinstance(predict_texts, str) or not predict_texts):
            raise ValueError("predict_texts must be a non-empty list of reviews, e.g. ['a wonderful film']")
        self.predict_texts = predict_texts
        self.source: str | None = None
        self.word_index: dict[str, int] | None = None
        self.vocabulary: list[str] | None = None

    @property
    def num_columns(self) -> int:
        """Columns of the bag-of-words features, and the size of an embedding's vocabulary."""
        return self.num_words + RESERVED

    # -- where the reviews are -----------------------------------------------------
    def cache_path(self, source: str) -> Path:
        return self.data_dir / CACHE_DIR / f"encoded_{source}_{self.num_words}.npz"

    def _raw(self, source: str) -> Path | None:
        """The raw files of ``source`` ('aclImdb' or 'keras'), if present."""
        if source == "aclImdb":
            for path in (self.data_dir / "aclImdb", self.data_dir / ARCHIVE):
                if path.exists():
                    return path
            return None
        keras_files = (self.data_dir / KERAS_REVIEWS, self.data_dir / KERAS_WORDS)
        return self.data_dir if all(path.is_file() for path in keras_files) else None

    def _unavailable(self, reason: str) -> DataUnavailableError:
        return DataUnavailableError(
            f"No IMDB reviews in {self.data_dir.resolve()} ({reason}). Put one of these there:\n"
            f"  - aclImdb/ : the Large Movie Review Dataset, extracted (aclImdb/train|test/pos|neg/*.txt)\n"
            f"  - {ARCHIVE} : its archive, from {ARCHIVE_URL}\n"
            f"  - {KERAS_REVIEWS} and {KERAS_WORDS} : the Keras files, from {KERAS_URL}\n"
            "or run on synthetic reviews (figures meaningless): --synthetic in a lab script, "
            "--data.synthetic true with the CLI, synthetic=True in Python."
        )

    def prepare_data(self) -> None:
        """Download the archive, unless some copy of the reviews (or its cache) is already here."""
        sources = ("aclImdb", "keras")
        if self.synthetic or any(self._raw(s) or self.cache_path(s).exists() for s in sources):
            return
        from torchvision.datasets.utils import download_url

        self.data_dir.mkdir(parents=True, exist_ok=True)
        partial = self.data_dir / f"{ARCHIVE}.part"  # never a half-downloaded file under the real name
        try:
            download_url(ARCHIVE_URL, str(self.data_dir), filename=partial.name, md5=CHECKSUMS[ARCHIVE][1])
        except (urllib.error.URLError, OSError) as error:  # offline, or the server failed
            partial.unlink(missing_ok=True)
            raise self._unavailable(f"downloading {ARCHIVE_URL} failed: {error}") from None
        except RuntimeError as error:  # torchvision's word for a checksum mismatch
            partial.unlink(missing_ok=True)
            raise CorruptDataError(
                f"The archive downloaded from {ARCHIVE_URL} does not have MD5 {CHECKSUMS[ARCHIVE][1]} "
                f"({error}): a corrupt or incomplete download. It was deleted; run again to retry."
            ) from None
        os.replace(partial, self.data_dir / ARCHIVE)

    def _encoded(self) -> EncodedIMDB:
        """The encoded reviews: from the cache, else from the first raw source present (then cached)."""
        if self.synthetic:
            warnings.warn(
                "IMDBDataModule(synthetic=True): these are RANDOM reviews with a planted signal, "
                "not IMDB. Every accuracy and loss they give is MEANINGLESS.",
                SyntheticDataWarning,
                stacklevel=3,
            )
            return synthetic_imdb(self.num_words)
        readers = {"aclImdb": encode_reviews, "keras": encode_keras}
        for source, read in readers.items():
            cache = self.cache_path(source)
            if cache.exists():
                try:
                    return EncodedIMDB.load(cache)
                except CACHE_ERRORS as error:
                    warnings.warn(f"The cache {cache} is damaged ({error}); rebuilding it.", stacklevel=3)
            raw = self._raw(source)
            if raw is not None:
                encoded = read(raw, self.num_words)
                encoded.save(cache)
                return encoded
        raise self._unavailable("call prepare_data() to download them")

    # -- features ------------------------------------------------------------------
    def _features(self, sequences: Sequences) -> SparseRows | Tensor:
        if self.features == "bag_of_words":
            return bag_of_words(sequences, self.num_columns)
        return pad_sequences(sequences, self.max_length)

    def load(self) -> tuple[Tensors, Tensors]:
        encoded = self._encoded()
        self.source, self.word_index = encoded.source, encoded.word_index
        self.vocabulary = sorted(encoded.word_index, key=encoded.word_index.__getitem__)
        return tuple(
            (self._features(sequences), torch.from_numpy(labels.astype(np.float32)))
            for sequences, labels in ((encoded.train, encoded.train_labels), (encoded.test, encoded.test_labels))
        )

    def predict_dataloader(self) -> Any:
        """``predict_texts`` encoded as the network takes them, else the test set."""
        if self.predict_texts is None:
            return super().predict_dataloader()
        return self._batches((self.encode(self.predict_texts),), self.eval_batch_size, train=False)

    def encode(self, texts: str | Sequence[str]) -> Tensor:
        """Features of your own reviews, as the network takes them (same tokenizer and vocabulary)."""
        if self.word_index is None:
            raise RuntimeError("call setup() first: the vocabulary comes with the data")
        features = self._features(encode_texts([texts] if isinstance(texts, str) else texts, self.word_index))
        return features.to_dense() if isinstance(features, SparseRows) else features

