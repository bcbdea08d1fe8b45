"""The shared base for data that fits in memory.

The book's ``SimpleDataModule`` wraps tensors in a ``DataLoader``, which then
collates every batch sample by sample (and often in worker processes). For data
already held as tensors that is pure overhead: here a batch is one slice of
each tensor. Each process of a distributed run serves its own shard.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Union

import numpy as np
import scipy.sparse as sp
import torch
from pytorch_lightning import LightningDataModule
from torch import Tensor
from torch.utils.data import DataLoader, Dataset, DistributedSampler, Subset, TensorDataset, random_split

#: a data set held in memory: a tuple of tensors (features, ..., target) of equal length.
#: An element may also be another row store (a sparse matrix, say) that has ``len()``,
#: can be indexed by a ``LongTensor`` of rows or a slice (giving a smaller store), and
#: turns into a tensor with ``to_dense()`` when it is served as a batch.
Tensors = tuple[Any, ...]

#: one split as the loaders serve it: tensors in memory, or any map-style data set
Split = Union[Tensors, Dataset]

Validation = Union[float, int, Literal["test"], Dataset, None]


class BadArgumentError(ValueError):
    """An argument a user gave is wrong (the message names the value, why, and what to give instead)."""


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


class ShardedSampler(DistributedSampler):
    """Row indices for one process and one epoch.

    Shuffling draws a fresh permutation from ``seed`` and the epoch number, so
    an epoch's order is the same whether a run went straight through or was
    resumed from a checkpoint. Lightning calls ``set_epoch`` at the start of
    each epoch (it looks for a ``sampler`` attribute on every loader).

    Under DDP each process takes every ``world_size``-th row. For training all
    processes must take the same number of steps, so a short shard repeats
    rows from the start of the permutation (as ``DistributedSampler`` does);
    for evaluation nothing is repeated, so whole-set metrics count each row
    exactly once. (It is a ``DistributedSampler`` so that Lightning keeps it in
    a ``DataLoader`` instead of putting its own, padding one, in its place.)
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
        super().__init__(range(num_rows), num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        self.num_rows = num_rows
        self.world_size = world_size
        self.pad_to_equal = pad_to_equal

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

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())


class TensorBatches:
    """An iterable of batches sliced from in-memory tensors (a fast ``DataLoader``).

    Lightning looks at a loader's ``sampler`` and ``batch_sampler`` as on a
    ``DataLoader``; it calls ``sampler.set_epoch`` and leaves the rest alone.
    """

    batch_sampler = None

    def __init__(
        self,
        tensors: Tensors,
        batch_size: int,
        sampler: ShardedSampler,
        transform: Callable[[tuple[Any, ...]], tuple[Any, ...]] | None = None,
    ) -> None:
        self.tensors = tensors
        self.batch_size = batch_size
        self.sampler = sampler
        self.transform = transform

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
            batch = tuple(t if isinstance(t, Tensor) else t.to_dense() for t in batch)
            yield self.transform(batch) if self.transform is not None else batch


def held_out_rows(num_rows: int, validation: float | int, seed: int) -> tuple[Tensor, Tensor]:
    """``(train_rows, valid_rows)``: ``validation`` rows (a fraction or a count) held out with ``seed``.

    The very rows the book's ``SimpleDataModule`` holds out for the same seed
    (``random_split`` into ``[rest, validation]`` with a generator seeded by
    ``seed``), so figures are comparable with the book's.
    """
    check_validation(validation)
    num_valid = int(validation * num_rows) if isinstance(validation, float) else int(validation)
    if not 0 <= num_valid < num_rows:
        raise BadArgumentError(
            f"validation={validation} asks for {num_valid} of {num_rows} training rows: "
            "nothing would be left to train on"
        )
    train, valid = random_split(
        range(num_rows), [num_rows - num_valid, num_valid], generator=torch.Generator().manual_seed(seed)
    )
    return torch.as_tensor(train.indices, dtype=torch.long), torch.as_tensor(valid.indices, dtype=torch.long)


def check_validation(validation: Any) -> None:
    """Refuse (:class:`BadArgumentError`) a ``validation`` that is no fraction in [0, 1), count, ``"test"`` or data set."""
    if isinstance(validation, bool):
        raise BadArgumentError(f"validation must be a fraction, a count, 'test' or a data set, got {validation!r}")
    if isinstance(validation, float) and not 0.0 <= validation < 1.0:
        raise BadArgumentError(f"validation fraction must be in [0, 1), got {validation}")
    if isinstance(validation, int) and validation < 0:
        raise BadArgumentError(f"validation count must be 0 or more, got {validation}")
    if isinstance(validation, str) and validation != "test":
        raise BadArgumentError(f"validation must be a fraction, a count, 'test' or a data set, got {validation!r}")


def rows_of(split: Split, rows: Tensor) -> Split:
    """The given rows of a split: indexed tensors, or a ``Subset`` of a data set."""
    if isinstance(split, tuple):
        return tuple(t[rows] for t in split)
    return Subset(split, rows.tolist())


def num_rows(split: Split) -> int:
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


def rec_num_workers() -> int:
    """How many data loader worker processes this process may usefully run: the CPUs it may use.

    (The book's helper of the same name.) Tensor data sets need none here: their
    batches are sliced in the main process.
    """
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


class InMemoryDataModule(LightningDataModule):
    """Base of every data module here: load once, split, serve batches.

    Subclasses implement :meth:`load`, returning the training and test sets:
    tuples of tensors (or ``TensorDataset``s), which are served as slices of
    the tensors in the main process (no worker processes, no per-sample
    collation), or any map-style data set (a torchvision data set with its
    transform, say), served by a ``DataLoader`` with ``num_workers`` worker processes.

    ``validation`` follows the book's ``SimpleDataModule``: a fraction or a
    count of training rows held out (the book's rows for the same ``seed``), a
    data set of its own, ``"test"`` to validate on the test set, or ``None``
    for none. ``limit`` keeps only the first rows of the training and test
    sets, for a quick trial (a validation *count* is then capped at a fifth of
    the rows kept). ``eval_batch_size`` sizes the validation and test batches
    (default: ``batch_size``; metrics are computed over the whole set either way).

    The loaders work before any ``fit`` (the first one asks for :meth:`setup`).
    Under DDP each process serves its own shard; evaluation shards repeat no row.
    """

    def __init__(
        self,
        batch_size: int = 32,
        validation: Validation = 0.2,
        eval_batch_size: int | None = None,
        seed: int = 0,
        limit: int | None = None,
        num_workers: int = 0,
        persistent_workers: bool = True,
    ) -> None:
        super().__init__()
        if batch_size < 1:
            raise BadArgumentError(f"batch_size must be at least 1, got {batch_size}")
        if eval_batch_size is not None and eval_batch_size < 1:
            raise BadArgumentError(f"eval_batch_size must be at least 1 (or None: batch_size), got {eval_batch_size}")
        if num_workers < 0:
            raise BadArgumentError(f"num_workers must be 0 or more, got {num_workers}")
        if limit is not None and limit < 1:
            raise BadArgumentError(f"limit must be at least 1 row (or None: every row), got {limit}")
        check_validation(validation)
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size or batch_size
        self.validation = validation
        self.seed = seed
        self.limit = limit
        self.num_workers = num_workers
        self.persistent_workers = persistent_workers and num_workers > 0
        self.train_data: Split | None = None
        self.val_data: Split | None = None
        self.test_data: Split | None = None

    # -- what subclasses provide -------------------------------------------
    def load(self) -> tuple[Tensors | Dataset, Tensors | Dataset]:
        """Return ``(train, test)``: tuples of tensors of equal length, or data sets."""
        raise NotImplementedError

    # -- Lightning hooks -----------------------------------------------------
    def setup(self, stage: str | None = None) -> None:
        if self.train_data is not None:  # idempotent: every stage shares one load
            return
        train, test = (as_split(data) for data in self.load())
        if self.limit is not None:  # a quick trial on the first rows of each set
            train, test = (rows_of(data, torch.arange(min(self.limit, num_rows(data)))) for data in (train, test))
        validation = self.validation
        if validation is None or (isinstance(validation, (int, float)) and validation == 0):
            val = None
        elif isinstance(validation, str):
            if validation != "test":
                raise BadArgumentError(f"validation must be a fraction, a count, 'test' or a data set, got {validation!r}")
            val = test
        elif isinstance(validation, (float, int)):
            if self.limit is not None and isinstance(validation, int):
                # a quick trial on few rows: a held-out count meant for the whole set shrinks to a fifth
                validation = min(validation, num_rows(train) // 5)
            train_rows, valid_rows = held_out_rows(num_rows(train), validation, self.seed)
            train, val = rows_of(train, train_rows), rows_of(train, valid_rows)
        else:
            val = as_split(validation)
        self.train_data, self.val_data, self.test_data = train, val, test

    def _shard(self) -> tuple[int, int]:
        trainer = self.trainer
        if trainer is None:
            return 0, 1
        return trainer.global_rank, trainer.world_size

    def _batches(self, data: Split | None, batch_size: int, train: bool) -> TensorBatches | DataLoader | list:
        """Batches of one split for this process: sliced from tensors, or from a ``DataLoader``."""
        if data is None:
            return []
        rank, world_size = self._shard()
        sampler = ShardedSampler(
            num_rows(data), shuffle=train, seed=self.seed, rank=rank, world_size=world_size, pad_to_equal=train
        )
        if isinstance(data, tuple):
            # taken by hand (no Trainer, whose hooks would do it): serve batches as the network takes them
            by_hand = None if self.trainer is not None else (lambda batch: self.on_after_batch_transfer(batch, 0))
            return TensorBatches(data, batch_size, sampler, transform=by_hand)
        return DataLoader(
            data,
            batch_size=batch_size,
            sampler=sampler,
            num_workers=self.num_workers,
            persistent_workers=self.persistent_workers,
            generator=torch.Generator().manual_seed(self.seed),  # seeds the workers' random transforms
        )

    def _loader(self, split: str, train: bool = False) -> TensorBatches | DataLoader | list:
        self.setup()
        batch_size = self.batch_size if train else self.eval_batch_size
        return self._batches(getattr(self, f"{split}_data"), batch_size, train=train)

    def train_dataloader(self) -> TensorBatches | DataLoader:
        return self._loader("train", train=True)

    def val_dataloader(self) -> TensorBatches | DataLoader | list:
        return self._loader("val")

    def test_dataloader(self) -> TensorBatches | DataLoader:
        return self._loader("test")

    def predict_dataloader(self) -> TensorBatches | DataLoader:
        return self.test_dataloader()

    # -- conveniences --------------------------------------------------------
    def sizes(self) -> dict[str, int]:
        """Rows per split (after :meth:`setup`)."""
        return {
            name: (0 if data is None else num_rows(data))
            for name, data in (("train", self.train_data), ("validation", self.val_data), ("test", self.test_data))
        }
