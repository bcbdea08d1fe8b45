"""Random reviews shaped like IMDB's, for machines without the real files. Their figures mean nothing."""

from __future__ import annotations

import numpy as np

from datamodules.imdb.cache import EncodedIMDB
from datamodules.imdb.text import OOV, RESERVED, START, Sequences

SYNTHETIC_SEED = 2023


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
