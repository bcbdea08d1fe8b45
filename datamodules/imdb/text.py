"""Reviews as token indices, and the two kinds of features made from them.

Keras's conventions: 0 pads, 1 starts every review, 2 stands for a word
outside the vocabulary, and words take the indices from 3 up, so features
have ``num_words + 3`` columns.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor

from datamodules.batching import SparseRows

PAD, START, OOV = 0, 1, 2
#: the number of reserved indices before the first word
RESERVED = 3

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

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def bag_of_words(sequences: Sequences, num_columns: int) -> SparseRows:
    """Binary indicators: entry ``(i, j)`` is 1.0 iff index ``j`` occurs in sequence ``i``.

    Built straight from the token lists: memory grows with the number of
    tokens, never with rows × columns. The matrix is in canonical form
    (column indices sorted and unique within each row).
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
