"""How a data module splits its data: validation rows held out as the book holds them out, and ``limit``'s trials.

One function per rule: :func:`check_validation` (what ``validation`` may be),
:func:`held_out_rows` (the book's rows for a seed), :func:`limited_validation`
(under a ``limit``, a validation count shrinks to a fifth of the rows kept)
and :func:`fewest_limited_rows` (the smallest ``limit`` that still validates).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch.utils.data import Dataset, Subset, TensorDataset, random_split

from datamodules.arguments import as_dataset, fraction_or_count, is_array_like
from datamodules.batching import SparseRows, Tensors
from foundations.errors import BadArgumentError

#: one split as the loaders serve it: tensors in memory, or any map-style data set
Split = Tensors | Dataset

#: a data module's ``validation``: a fraction or a count of training rows, ``"test"``, a data set, or none
Validation = float | int | Literal["test"] | Dataset | None

#: under a ``limit``, a validation count holds out at most one row in this many of those kept (a fifth)
LIMITED_SHARE = 5


def check_validation(validation: Any) -> Validation:
    """``validation`` as a data module keeps it, or :class:`BadArgumentError` naming it.

    A fraction in [0, 1) or a count of rows (numpy numbers become Python's), ``"test"``, ``None``,
    a data set, or ``(X, y)`` arrays (made a ``TensorDataset``).
    """
    if validation is None or isinstance(validation, Dataset):
        return validation
    if isinstance(validation, str):
        if validation != "test":
            raise BadArgumentError(
                f"validation={validation!r}: give a fraction, a count, 'test' or a data set"
            )
        return validation
    if isinstance(validation, (tuple, list)) or is_array_like(validation):
        return as_dataset(validation, "validation")
    if isinstance(validation, (bool, np.bool_)) or not isinstance(validation, numbers.Real):
        raise BadArgumentError(
            f"validation={validation!r} ({type(validation).__name__}): give a fraction, a count, 'test' or a data set"
        )
    if isinstance(validation, numbers.Integral) and validation < 0:
        raise BadArgumentError(f"validation count must be 0 or more, got {validation}")
    if not isinstance(validation, numbers.Integral) and not 0.0 <= validation < 1.0:
        raise BadArgumentError(f"validation fraction must be in [0, 1), got {validation}")
    return fraction_or_count(validation, "validation")


def held_out_count(validation: float | int, num_rows: int) -> int:
    """How many of ``num_rows`` training rows ``validation`` holds out: a fraction of them, or a count."""
    return int(validation * num_rows) if isinstance(validation, float) else int(validation)


def limited_validation(validation: float | int, num_rows: int) -> float | int:
    """``validation`` for a quick trial on the first ``num_rows`` rows (a ``limit``): a count meant for
    the whole set shrinks to at most a fifth of them, so some rows are left to train on; a fraction stays."""
    if isinstance(validation, int):
        return min(validation, num_rows // LIMITED_SHARE)
    return validation


def fewest_limited_rows(validation: float | int) -> int:
    """The smallest ``limit`` that leaves at least one row for validation and one for training."""
    if isinstance(validation, float):
        return max(2, math.ceil(1 / validation))
    return LIMITED_SHARE


def held_out_rows(num_rows: int, validation: float | int, seed: int) -> tuple[Tensor, Tensor]:
    """``(train_rows, valid_rows)``: ``validation`` rows (a fraction or a count) held out with ``seed``.

    The very rows the book's ``SimpleDataModule`` holds out for the same seed
    (``random_split`` into ``[rest, validation]`` with a generator seeded by
    ``seed``), so figures are comparable with the book's.
    """
    validation = check_validation(validation)
    num_valid = held_out_count(validation, num_rows)
    if not 0 <= num_valid < num_rows:
        raise BadArgumentError(
            f"validation={validation} asks for {num_valid} of {num_rows} training rows: "
            "nothing would be left to train on"
        )
    train, valid = random_split(
        range(num_rows), [num_rows - num_valid, num_valid], generator=torch.Generator().manual_seed(seed)
    )
    return torch.as_tensor(train.indices, dtype=torch.long), torch.as_tensor(valid.indices, dtype=torch.long)


def rows_of(split: Split, rows: Tensor) -> Split:
    """The given rows of a split: indexed tensors, or a ``Subset`` of a data set."""
    if isinstance(split, tuple):
        return tuple(t[rows] for t in split)
    return Subset(split, rows.tolist())


def num_rows(split: Split) -> int:
    """Rows of a split: of its tensors, or of its data set."""
    return len(split[0]) if isinstance(split, tuple) else len(split)


def as_split(data: Dataset | Sequence[Any]) -> Split:
    """A split as the loaders serve it: the tensors behind a ``TensorDataset`` (or a
    ``Subset`` of one), sparse ones as :class:`SparseRows`; any other data set as is."""
    if isinstance(data, (tuple, list)):
        return tuple(_row_store(t) for t in data)
    if isinstance(data, TensorDataset):
        return tuple(_row_store(t) for t in data.tensors)
    if isinstance(data, Subset):
        inner = as_split(data.dataset)
        if isinstance(inner, tuple):
            return rows_of(inner, torch.as_tensor(data.indices, dtype=torch.long))
    return data


def _row_store(values: Any) -> Any:
    """Sparse COO tensors become :class:`SparseRows` (fast row indexing); the rest stays."""
    if isinstance(values, Tensor) and values.layout == torch.sparse_coo:
        coalesced = values.coalesce()
        if coalesced.dim() != 2:
            raise ValueError(f"a sparse tensor of data must have 2 dimensions (rows, columns), got {tuple(values.shape)}")
        row, column = coalesced.indices().numpy()
        matrix = sp.csr_matrix((coalesced.values().numpy(), (row, column)), shape=tuple(coalesced.shape))
        return SparseRows(matrix)
    return values
