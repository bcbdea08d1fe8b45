"""Batches sliced from tensors held in memory: the fast path of every data module here.

The book's ``SimpleDataModule`` wraps tensors in a ``DataLoader``, which then
collates every batch sample by sample (and often in worker processes). For data
already held as tensors that is pure overhead: here a batch is one slice of
each tensor. Each process of a distributed run serves its own shard.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.sparse as sp
import torch
from torch import Tensor
from torch.utils.data import DistributedSampler

#: a data set held in memory: a tuple of tensors (features, ..., target) of equal length.
#: An element may also be another row store (a sparse matrix, say) that has ``len()``,
#: can be indexed by a ``LongTensor`` of rows or a slice (giving a smaller store), and
#: turns into a tensor with ``to_dense()`` when it is served as a batch.
Tensors = tuple[Any, ...]


def take_rows(values: Any, rows: Tensor) -> Any:
    """``values[rows]`` for a ``LongTensor`` of rows; a tensor's by ``index_select``, which gathers
    whole rows faster than indexing does (about 5x for ``uint8`` images, 2x for float ones, on a CPU)."""
    if isinstance(values, Tensor):
        return values.index_select(0, rows.to(values.device))
    return values[rows]


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
        """Each batch holds tensors of its own, never views of the stored ones: what the steps do to a
        batch (``x.mul_(2)``, an in-place ``Normalize``) cannot change the data the next epoch serves."""
        indices = self.sampler.indices()
        contiguous = not self.sampler.shuffle and self.sampler.world_size == 1
        for start in range(0, len(indices), self.batch_size):
            if contiguous:  # a slice, copied (as indexing by rows copies: no dearer than that)
                batch = tuple(_own_slice(t, start, start + self.batch_size) for t in self.tensors)
            else:
                rows = indices[start : start + self.batch_size]
                batch = tuple(take_rows(t, rows) for t in self.tensors)
            batch = tuple(t if isinstance(t, Tensor) else t.to_dense() for t in batch)
            yield self.transform(batch) if self.transform is not None else batch


def _own_slice(values: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of a row store: a tensor's copied; another store's as its slicing gives them (a
    ``SparseRows`` slice is a new matrix, a ``StoredRows`` one is copied when it is made dense)."""
    rows = values[start:stop]
    return rows.clone() if isinstance(rows, Tensor) else rows
