"""The shared base for data that fits in memory.

The book's ``SimpleDataModule`` wraps tensors in a ``DataLoader``, which then
collates every batch sample by sample (and often in worker processes). For data
already held as tensors that is pure overhead: here a batch is one slice of
each tensor. Each process of a distributed run serves its own shard.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
import scipy.sparse as sp
import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import TensorDataset

#: a data set held in memory: a tuple of tensors (features, ..., target) of equal length.
#: An element may also be another row store (a sparse matrix, say) that has ``len()``,
#: can be indexed by a ``LongTensor`` of rows or a slice (giving a smaller store), and
#: turns into a tensor with ``to_dense()`` when it is served as a batch.
Tensors = tuple[Any, ...]

Validation = Union[float, int, Literal["test"], TensorDataset, None]


class DataUnavailableError(RuntimeError):
    """The data files are missing and could not be downloaded (the message says what to do)."""


class CorruptDataError(RuntimeError):
    """A data file fails its checksum or cannot be parsed (the message names the file)."""


class SyntheticDataWarning(UserWarning):
    """Issued when a data module serves synthetic data instead of the real set."""


@dataclass
class DesignArrays:
    """A lab's design matrices and targets in float64, as scikit-learn baselines use them."""

    X_train: np.ndarray
    X_test: np.ndarray
    y_train: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]

    def tensors(self) -> tuple[Tensors, Tensors]:
        """``(train, test)`` as float32 tensor pairs, for a data module's ``load``."""
        return float32_tensors(self.X_train, self.y_train), float32_tensors(self.X_test, self.y_test)


def float32_tensors(*arrays: np.ndarray) -> Tensors:
    return tuple(torch.tensor(array, dtype=torch.float32) for array in arrays)


class SparseRows:
    """Rows of a sparse matrix that stay sparse until a batch is served.

    Indexing (by a ``LongTensor`` of rows, an array or a slice) gives another
    ``SparseRows``, so the base's validation split and ``limit`` keep the data
    sparse; :meth:`to_dense` makes a batch a float32 tensor. ``matrix`` is a
    ``scipy.sparse.csr_matrix``, ready for scikit-learn.
    """

    def __init__(self, matrix: sp.csr_matrix) -> None:
        self.matrix = sp.csr_matrix(matrix)

    def __len__(self) -> int:
        return self.matrix.shape[0]

    @property
    def shape(self) -> tuple[int, int]:
        return self.matrix.shape

    def __getitem__(self, rows: Tensor | np.ndarray | slice) -> SparseRows:
        if isinstance(rows, Tensor):
            rows = rows.cpu().numpy()
        return SparseRows(self.matrix[rows])

    def to_dense(self) -> Tensor:
        return torch.from_numpy(self.matrix.toarray()).float()

    def __repr__(self) -> str:
        return f"SparseRows(shape={self.shape}, nnz={self.matrix.nnz})"


class ShardedSampler:
    """Row indices for one process and one epoch.

    Shuffling draws a fresh permutation from ``seed`` and the epoch number, so
    an epoch's order is the same whether a run went straight through or was
    resumed from a checkpoint. Lightning calls ``set_epoch`` at the start of
    each epoch (it looks for a ``sampler`` attribute on every loader).

    Under DDP each process takes every ``world_size``-th row. For training all
    processes must take the same number of steps, so a short shard repeats
    rows from the start of the permutation (as ``DistributedSampler`` does);
    for evaluation nothing is repeated, so whole-set metrics count each row
    exactly once.
    """

    def __init__(
        self,
        num_rows: int,
        shuffle: bool,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        pad_to_equal: bool = False,
    ) -> None:
        self.num_rows = num_rows
        self.shuffle = shuffle
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.pad_to_equal = pad_to_equal
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def indices(self) -> Tensor:
        if self.shuffle:
            generator = torch.Generator().manual_seed(self.seed * 100_003 + self.epoch)
            order = torch.randperm(self.num_rows, generator=generator)
        else:
            order = torch.arange(self.num_rows)
        if self.world_size == 1:
            return order
        if self.pad_to_equal:
            total = math.ceil(self.num_rows / self.world_size) * self.world_size
            order = torch.cat([order, order[: total - self.num_rows]])
        return order[self.rank :: self.world_size]

    def __len__(self) -> int:
        if self.world_size == 1:
            return self.num_rows
        if self.pad_to_equal:
            return math.ceil(self.num_rows / self.world_size)
        return len(range(self.rank, self.num_rows, self.world_size))


class TensorBatches:
    """An iterable of batches sliced from in-memory tensors (a fast ``DataLoader``).

    Lightning looks at a loader's ``sampler`` and ``batch_sampler`` as on a
    ``DataLoader``; it calls ``sampler.set_epoch`` and leaves the rest alone.
    """

    batch_sampler = None

    def __init__(self, tensors: Tensors, batch_size: int, sampler: ShardedSampler) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.sampler = sampler

    def __len__(self) -> int:
        return math.ceil(len(self.sampler) / self.batch_size)

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        indices = self.sampler.indices()
        contiguous = not self.sampler.shuffle and self.sampler.world_size == 1
        for start in range(0, len(indices), self.batch_size):
            if contiguous:  # a view, no copy
                batch = tuple(t[start : start + self.batch_size] for t in self.tensors)
            else:
                rows = indices[start : start + self.batch_size]
                batch = tuple(t[rows] for t in self.tensors)
            yield tuple(t if isinstance(t, Tensor) else t.to_dense() for t in batch)


def split_validation(
    train: Tensors, validation: float | int, seed: int
) -> tuple[Tensors, Tensors]:
    """Hold out ``validation`` rows of ``train`` (a fraction or a count), drawn with ``seed``."""
    num_rows = len(train[0])
    if isinstance(validation, float):
        if not 0.0 <= validation < 1.0:
            raise ValueError(f"validation fraction must be in [0, 1), got {validation}")
        num_valid = int(validation * num_rows)
    else:
        num_valid = int(validation)
    if not 0 <= num_valid < num_rows:
        raise ValueError(
            f"validation={validation} asks for {num_valid} of {num_rows} training rows: "
            "nothing would be left to train on"
        )
    order = torch.randperm(num_rows, generator=torch.Generator().manual_seed(seed))
    valid_rows, train_rows = order[:num_valid].sort().values, order[num_valid:].sort().values
    return tuple(t[train_rows] for t in train), tuple(t[valid_rows] for t in train)


def _as_tensors(data: TensorDataset | Sequence[Any]) -> Tensors:
    return tuple(data.tensors) if isinstance(data, TensorDataset) else tuple(data)


class InMemoryDataModule(LightningDataModule):
    """Base of every data module here: load once, split, serve slices.

    Subclasses implement :meth:`load`, returning the training and test sets as
    tuples of tensors. ``validation`` follows the book's ``SimpleDataModule``:
    a fraction or a count of training rows held out (seeded), a data set of
    its own, ``"test"`` to validate on the test set, or ``None`` for none.
    ``limit`` keeps only the first rows of the training and test sets, for a
    quick trial (a validation *count* is then capped at a fifth of the rows kept).
    ``eval_batch_size`` sizes the validation and test batches (default:
    ``batch_size``; metrics are computed over the whole set either way).
    """

    def __init__(
        self,
        batch_size: int = 32,
        validation: Validation = 0.2,
        eval_batch_size: int | None = None,
        seed: int = 0,
        limit: int | None = None,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.validation = validation
        self.seed = seed
        self.limit = limit
        self.train_data: Tensors | None = None
        self.val_data: Tensors | None = None
        self.test_data: Tensors | None = None

    # -- what subclasses provide -------------------------------------------
    def load(self) -> tuple[Tensors, Tensors]:
        """Return ``(train, test)``, each a tuple of tensors of equal length."""
        raise NotImplementedError

    # -- Lightning hooks -----------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:  # idempotent: every stage shares one load
            return
        train, test = self.load()
        train, test = _as_tensors(train), _as_tensors(test)
        if self.limit is not None:  # a quick trial on the first rows of each set
            train, test = (tuple(t[: self.limit] for t in data) for data in (train, test))
        validation = self.validation
        if validation is None or (not isinstance(validation, str) and validation == 0):
            val = None
        elif isinstance(validation, str):
            if validation != "test":
                raise ValueError(f"validation must be a fraction, a count, 'test' or a data set, got {validation!r}")
            val = test
        elif isinstance(validation, (float, int)):
            if self.limit is not None and isinstance(validation, int):
                # a quick trial on few rows: a held-out count meant for the whole set shrinks to a fifth
                validation = min(validation, len(train[0]) // 5)
            train, val = split_validation(train, validation, self.seed)
        else:
            val = _as_tensors(validation)
        self.train_data, self.val_data, self.test_data = train, val, test

    def _shard(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _batches(self, data: Tensors | None, batch_size: int, train: bool) -> TensorBatches | list:
        if data is None:
            return []
        rank, world_size = self._shard()
        sampler = ShardedSampler(
            len(data[0]), shuffle=train, seed=self.seed, rank=rank, world_size=world_size, pad_to_equal=train
        )
        return TensorBatches(data, batch_size, sampler)

    def train_dataloader(self) -> TensorBatches:
        return self._batches(self.train_data, self.batch_size, train=True)

    def val_dataloader(self) -> TensorBatches | list:
        return self._batches(self.val_data, self.eval_batch_size, train=False)

    def test_dataloader(self) -> TensorBatches:
        return self._batches(self.test_data, self.eval_batch_size, train=False)

    def predict_dataloader(self) -> TensorBatches:
        return self.test_dataloader()

    # -- conveniences --------------------------------------------------------
    def sizes(self) -> dict[str, int]:
        """Rows per split (after :meth:`setup`)."""
        return {
            name: (0 if data is None else len(data[0]))
            for name, data in (("train", self.train_data), ("validation", self.val_data), ("test", self.test_data))
        }


class SimpleDataModule(InMemoryDataModule):
    """The book's ``SimpleDataModule`` on tensors you already have."""

    def __init__(
        self,
        train_dataset: TensorDataset,
        test_dataset: TensorDataset,
        batch_size: int = 32,
        validation: Validation = None,
        eval_batch_size: int | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(batch_size=batch_size, validation=validation, eval_batch_size=eval_batch_size, seed=seed)
        self._train_dataset, self._test_dataset = train_dataset, test_dataset

    def load(self) -> tuple[Tensors, Tensors]:
        return _as_tensors(self._train_dataset), _as_tensors(self._test_dataset)
