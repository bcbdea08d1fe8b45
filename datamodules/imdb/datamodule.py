"""The IMDB data module of labs 10.9.5 (bag of words) and 10.9.6 (sequences)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from datamodules.base import DataUnavailableError, InMemoryDataModule, SparseRows, SyntheticDataWarning, Tensors
from datamodules.imdb.cache import EncodedIMDB, cache_path
from datamodules.imdb.sources import (
    ARCHIVE,
    ARCHIVE_URL,
    CHECKSUMS,
    DATA_DIR,
    KERAS_REVIEWS,
    KERAS_URL,
    KERAS_WORDS,
    download,
    has_reviews,
    load_encoded,
)
from datamodules.imdb.synthetic import synthetic_imdb
from datamodules.imdb.text import RESERVED, Sequences, bag_of_words, encode_texts, pad_sequences

Features = Literal["bag_of_words", "sequence"]


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
        data_dir: str = DATA_DIR,
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

    def cache_path(self, source: str) -> Path:
        return cache_path(self.data_dir, source, self.num_words)

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
        if self.synthetic or has_reviews(self.data_dir, self.num_words):
            return
        try:
            download(ARCHIVE_URL, self.data_dir, ARCHIVE, CHECKSUMS[ARCHIVE][1])
        except DataUnavailableError as error:
            raise self._unavailable(str(error)) from None

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
        encoded = load_encoded(self.data_dir, self.num_words)
        if encoded is None:
            raise self._unavailable("call prepare_data() to download them")
        return encoded

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
