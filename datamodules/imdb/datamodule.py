"""The IMDB data module of labs 10.9.5 (bag of words) and 10.9.6 (sequences)."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor

from datamodules.arguments import whole_number
from datamodules.base import InMemoryDataModule, SyntheticDataWarning
from datamodules.batching import SparseRows, Tensors
from datamodules.imdb.cache import EncodedIMDB, cache_path
from datamodules.imdb.reviews import ReviewsFile, read_reviews_file  # noqa: F401 (read_reviews_file: imported from here)
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
from datamodules.imdb.text import RESERVED, Sequences, bag_of_words, encode_texts, pad_sequences, tokenize
from datamodules.splitting import fewest_limited_rows, held_out_count, limited_validation
from foundations.errors import BadArgumentError, CorruptDataError, DataUnavailableError

Features = Literal["bag_of_words", "sequence"]


class VocabularyError(CorruptDataError):
    """The vocabulary a network was trained with is missing from its checkpoint, or is not the data's."""


class TooFewReviewsError(CorruptDataError):
    """The reviews found cannot fill the training and validation splits asked for."""


class IMDBDataModule(InMemoryDataModule):
    """IMDB reviews as binary bag-of-words (``N × (num_words + 3)``, sparse until
    batched) or as the last ``max_length`` token indices, zero pre-padded.

    Args:
        data_dir: folder holding ``aclImdb/``, ``aclImdb_v1.tar.gz`` or
            ``imdb.npz`` + ``imdb_word_index.json``; the archive is downloaded here
            when none is present, and the encoded reviews are cached in ``imdb_cache/``
            (made again whenever those files change: added, removed, edited, touched).
        features: ``"bag_of_words"`` (the dense-network lab) or ``"sequence"`` (the LSTM lab).
        num_words: size of the vocabulary, the most frequent training words.
        max_length: tokens kept per review in ``"sequence"`` mode (the last ones).
        batch_size: training batch size.
        validation: training reviews held out for validation (seeded).
        synthetic: use random reviews of IMDB's shape instead; results mean nothing.
        seed: seed of the validation split and of the shuffling.
        limit: keep only the first reviews of each split, for a quick trial.
        eval_batch_size: validation and test batch size (default ``batch_size``).
        predict_texts: reviews of your own for ``predict`` to score, encoded with the
            vocabulary the network was trained with (saved in its checkpoint: no
            data is read); when not given, ``predict`` runs on the test set.
        predict_file: a UTF-8 text file of reviews to score, one review per line (blank
            lines are skipped; lines end at ``\n``, ``\r\n`` or ``\r``), instead of
            ``predict_texts``: for many reviews, or reviews too long for one command-line
            argument (``islp-lab predict ... --data.init_args.predict_file reviews.txt``).
            It is checked whole here, then scored a batch at a time as it is read again
            (memory flat in its length; see :mod:`datamodules.imdb.reviews`).

    After :meth:`setup`, ``word_index`` maps a word to its index (3 upward),
    ``vocabulary`` lists the words by index, and :meth:`encode` turns texts
    into features for the network. Bag-of-words splits are held as
    :class:`SparseRows` (``dm.train_data[0].matrix`` is a CSR matrix, for
    scikit-learn); the loaders serve dense float32 batches (the base loader calls ``SparseRows.to_dense`` per batch).

    The vocabulary travels with the network: :meth:`state_dict` holds it, so
    every checkpoint the Trainer writes carries it, and :meth:`load_state_dict`
    (the Trainer calls it when it restores a checkpoint) brings it back. Texts
    to predict are then encoded with it; and data whose vocabulary differs
    from the checkpoint's (the reviews changed since, another folder) is
    refused rather than fed to a network that numbers words otherwise.
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
        predict_texts: ReviewList | None = None,
        predict_file: str | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size, validation=validation, eval_batch_size=eval_batch_size, seed=seed, limit=limit
        )
        if features not in ("bag_of_words", "sequence"):
            raise BadArgumentError(f"features must be 'bag_of_words' or 'sequence', got {features!r}")
        num_words = whole_number(num_words, "num_words", 1, "the vocabulary's size, e.g. 10000")
        max_length = whole_number(max_length, "max_length", 1, "tokens kept per review, e.g. 500")
        self.data_dir = Path(data_dir)
        self.features = features
        self.num_words = num_words
        self.max_length = max_length
        self.synthetic = synthetic
        if predict_file is not None and predict_texts is not None:
            raise BadArgumentError("give the reviews to score as predict_texts or as predict_file, not both")
        self.reviews_file = ReviewsFile.checked(predict_file, "predict_file") if predict_file is not None else None
        check_reviews(predict_texts, "predict_texts")
        validation, limit = self.validation, self.limit  # as checked by the base (numpy numbers made Python's)
        if (limit is not None and isinstance(validation, (int, float)) and validation > 0
                and held_out_count(limited_validation(validation, limit), limit) < 1):
            rule = f"a fifth of them, at most {validation}" if isinstance(validation, int) else f"{validation} of them"
            raise BadArgumentError(
                f"limit={limit} keeps too few training reviews to hold out any for validation ({rule}): "
                f"use a limit of {fewest_limited_rows(validation)} or more"
            )
        self.predict_texts = list(predict_texts) if predict_texts is not None else None
        self.predict_file = predict_file
        self.source: str | None = None
        self.word_index: dict[str, int] | None = None
        self.vocabulary: list[str] | None = None
        #: the vocabulary of the network, restored from its checkpoint (:meth:`load_state_dict`)
        self.trained_word_index: dict[str, int] | None = None
        self._trained_source: str | None = None

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
        """Download the archive, unless some copy of the reviews (or its cache) is already here, or the
        Trainer only predicts ``predict_texts`` (their vocabulary comes with the network)."""
        predicting_texts = self._predicts_own_reviews and self.trainer is not None and self.trainer.predicting
        if self.synthetic or predicting_texts or has_reviews(self.data_dir, self.num_words):
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
        self._check_sizes(encoded)
        if self.trained_word_index is not None:
            self._check_vocabulary(encoded.word_index, self._trained_source)
        self._use_vocabulary(encoded.source, encoded.word_index)
        return tuple(
            (self._features(sequences), torch.from_numpy(labels.astype(np.float32)))
            for sequences, labels in ((encoded.train, encoded.train_labels), (encoded.test, encoded.test_labels))
        )

    def _use_vocabulary(self, source: str, word_index: dict[str, int]) -> None:
        self.source, self.word_index = source, word_index
        self.vocabulary = sorted(word_index, key=word_index.__getitem__)

    def _check_sizes(self, encoded: EncodedIMDB) -> None:
        """Enough reviews for the splits asked for: some to train on and, if asked, some to validate on."""
        found = len(encoded.train)
        kept = found if self.limit is None else min(self.limit, found)
        validation = self.validation
        if not isinstance(validation, (int, float)) or isinstance(validation, bool) or validation <= 0:
            return
        held_out = held_out_count(validation if self.limit is None else limited_validation(validation, kept), kept)
        if 1 <= held_out < kept:
            return
        where = "synthetic reviews" if self.synthetic else f"the {encoded.source} reviews in {self.data_dir.resolve()}"
        # (a limit too small for validation was refused on construction: here, the data itself holds too few)
        needed = validation + 1 if isinstance(validation, int) and self.limit is None else fewest_limited_rows(validation)
        raise TooFewReviewsError(
            f"{where} hold {found} training reviews, too few to hold out validation={validation} and train on the "
            f"rest: at least {needed} are needed (the full data set has 25,000); for a trial, give a limit "
            "(--limit: a fifth of the reviews kept are then held out) or a smaller validation count"
        )

    # -- the vocabulary, which travels with the network in its checkpoints ------------------
    def state_dict(self) -> dict[str, Any]:
        """The vocabulary the data is encoded with (saved in every checkpoint by the Trainer); empty before setup."""
        if self.word_index is None:
            return {}
        return {"source": self.source, "num_words": self.num_words, "word_index": dict(self.word_index)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take the vocabulary of a checkpoint's network: texts to predict are encoded with it from now on.

        Raises :class:`VocabularyError` when it cannot be the network's for this
        data module (another vocabulary size, synthetic against real reviews),
        or when the data already loaded numbers words otherwise.
        """
        if "word_index" not in state_dict:
            return
        source, num_words = state_dict.get("source"), int(state_dict.get("num_words", -1))
        if num_words != self.num_words:
            raise VocabularyError(
                f"the network was trained with a vocabulary of num_words={num_words}, this data module has "
                f"num_words={self.num_words}: give the same num_words as in training"
            )
        if (source == "synthetic") != self.synthetic:
            raise VocabularyError(
                f"the network was trained on {'synthetic' if source == 'synthetic' else 'real'} reviews, and its "
                f"vocabulary means nothing for {'synthetic' if self.synthetic else 'real'} ones: "
                f"{'add' if source == 'synthetic' else 'drop'} --synthetic (lab scripts) or set "
                f"--data.init_args.synthetic {str(source == 'synthetic').lower()} (islp-lab)"
            )
        trained = {str(word): int(index) for word, index in state_dict["word_index"].items()}
        if self.word_index is not None:
            self._check_vocabulary(self.word_index, source, trained)
        self.trained_word_index, self._trained_source = trained, source
        self._use_vocabulary(source, trained)

    def _check_vocabulary(
        self, data_words: dict[str, int], trained_source: str | None, trained: dict[str, int] | None = None
    ) -> None:
        trained = self.trained_word_index if trained is None else trained
        if data_words != trained:
            raise VocabularyError(
                f"the reviews in {self.data_dir.resolve()} give another vocabulary than the one the network was "
                f"trained with (of {trained_source} reviews): they changed since, or are another data set. "
                "Use the data it was trained on, or train a new network on these (a new run: no --resume)"
            )

    def setup(self, stage: str | None = None) -> None:
        if stage == "predict" and self._predicts_own_reviews:
            return  # only the texts are needed, and the vocabulary comes with the network (see predict_dataloader)
        super().setup(stage)

    def predict_dataloader(self) -> Any:
        """``predict_texts`` encoded as the network takes them, else the test set.

        The texts are encoded with the vocabulary of the checkpoint the Trainer
        restored (no data is read); a checkpoint without one (saved before
        networks kept theirs) is refused. With no checkpoint (a network
        trained in this process), the vocabulary is the data's.
        """
        if not self._predicts_own_reviews:
            return super().predict_dataloader()
        if self.trained_word_index is None:
            checkpoint = getattr(self.trainer, "ckpt_path", None) if self.trainer is not None else None
            if checkpoint:
                raise VocabularyError(
                    f"the checkpoint {checkpoint} holds no vocabulary (it was saved before networks kept theirs), so "
                    "the words of predict_texts cannot be numbered as its network learned them: train it again, then predict"
                )
            self.setup()
        if self.reviews_file is not None:  # a batch at a time, each with its texts (PrintPredictions names rows by them)
            rank, world_size = self._shard()
            batches = self.reviews_file.batches(self.eval_batch_size, rank, world_size)
            return ((self.encode(texts), texts) for texts in batches)
        return self._batches((self.encode(self.predict_texts),), self.eval_batch_size, train=False)

    @property
    def _predicts_own_reviews(self) -> bool:
        """``predict`` scores the reviews given (``predict_texts`` or ``predict_file``), not the test set."""
        return self.predict_texts is not None or getattr(self, "reviews_file", None) is not None

    def encode(self, texts: str | Sequence[str]) -> Tensor:
        """Features of your own reviews, as the network takes them (same tokenizer and vocabulary)."""
        if self.word_index is None:
            raise RuntimeError("call setup() first (the vocabulary comes with the data), or load_state_dict() a checkpoint's")
        features = self._features(encode_texts([texts] if isinstance(texts, str) else texts, self.word_index))
        return features.to_dense() if isinstance(features, SparseRows) else features


class ReviewList(list):
    """The type ``predict_texts`` declares: a list of reviews (strings), taken whole.

    ``islp-lab`` registers it with jsonargparse (:func:`review_list` turns what a config or
    the command line gives into a plain ``list``). Declared as ``list[str]``,
    jsonargparse checked the reviews one by one and deep-copied the whole list for
    each: 10,000 reviews in a config took minutes to parse, where this takes milliseconds.
    """


def review_list(value: Any) -> list[str]:
    """``predict_texts`` as given in a config or on the command line (a list, or its JSON/YAML text), as a list."""
    if isinstance(value, str):
        import yaml

        try:
            value = yaml.safe_load(value)
        except yaml.YAMLError as error:
            raise ValueError(f"not a list of reviews: {' '.join(str(error).split())[:100]}") from None
    if not isinstance(value, (list, tuple)) or not all(isinstance(text, str) for text in value):
        raise ValueError(f"expected a list of reviews (strings), e.g. [\"a wonderful film\"], got {value!r:.80}")
    return list(value)


def check_reviews(texts: Any, name: str) -> None:
    """Raise :class:`BadArgumentError` unless ``texts`` is ``None`` or a non-empty list of reviews with words in them."""
    if texts is None:
        return
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not texts:
        raise BadArgumentError(
            f"{name}={texts!r}: give a non-empty list of reviews, e.g. ['a wonderful film', 'dull and far too long']"
        )
    for text in texts:
        if not isinstance(text, str) or not tokenize(text):
            raise BadArgumentError(f"{name}: the review {text!r} has no words to score; give a review with words in it")
