"""The shared base of every data module here: data that fits in memory, loaded once, split, served in batches.

Tensors are served as slices (:mod:`datamodules.batching`), split as the book
splits them (:mod:`datamodules.splitting`); any other data set goes through a
``DataLoader``. Also here: what the labs' loaders share (:class:`DesignArrays`,
:class:`SyntheticDataWarning`) and the book's :func:`rec_num_workers`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
from pytorch_lightning import LightningDataModule
from torch.utils.data import DataLoader, Dataset

from datamodules.arguments import whole_number
from datamodules.batching import ShardedSampler, TensorBatches, Tensors
from datamodules.splitting import (
    Split,
    Validation,
    as_split,
    check_validation,
    held_out_rows,
    limited_validation,
    num_rows,
    rows_of,
)
from foundations.errors import BadArgumentError


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
    """Arrays as float32 tensors, the dtype of a network's weights."""
    return tuple(torch.tensor(array, dtype=torch.float32) for array in arrays)


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

    Arguments are checked where they are passed: sizes and counts must be
    whole numbers (numpy integers are taken), ``validation`` a fraction, a
    count, ``"test"``, a data set or ``(X, y)`` arrays. An empty training set
    is refused at :meth:`setup` (fitting it would run zero steps and leave the
    network untrained); an empty test set when the test loader is asked for.

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
        batch_size = whole_number(batch_size, "batch_size", 1, "rows per batch, e.g. 32")
        if eval_batch_size is not None:
            eval_batch_size = whole_number(eval_batch_size, "eval_batch_size", 1, "or None: batch_size")
        num_workers = whole_number(num_workers, "num_workers", 0)
        if limit is not None:
            limit = whole_number(limit, "limit", 1, "rows kept, or None: every row")
        seed = whole_number(seed, "seed")
        validation = check_validation(validation)
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
        if num_rows(train) == 0:
            raise BadArgumentError(
                f"{type(self).__name__}: the training set is empty (0 rows): there is nothing to fit; "
                "give a training set with rows"
            )
        validation = self.validation
        if validation is None or (isinstance(validation, (int, float)) and validation == 0):
            val = None
        elif isinstance(validation, str):
            if validation != "test":
                raise BadArgumentError(f"validation must be a fraction, a count, 'test' or a data set, got {validation!r}")
            val = test
        elif isinstance(validation, (float, int)):
            if self.limit is not None:  # a quick trial on few rows
                validation = limited_validation(validation, num_rows(train))
            train_rows, valid_rows = held_out_rows(num_rows(train), validation, self.seed)
            train, val = rows_of(train, train_rows), rows_of(train, valid_rows)
        else:
            val = as_split(validation)
            if num_rows(val) == 0:
                raise BadArgumentError(
                    f"{type(self).__name__}: the validation set is empty (0 rows); give one with rows, "
                    "or validation=None for none"
                )
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
        """The test batches. An empty test set is an error (:class:`BadArgumentError`), not an empty
        result: ``trainer.test`` would otherwise return ``[]``, which reads as if testing had run."""
        self.setup()
        if self.test_data is None or num_rows(self.test_data) == 0:
            raise BadArgumentError(
                f"{type(self).__name__}: the test set is empty (0 rows), so there is nothing to test on; "
                "give a test set with rows (fromarrays: test= a fraction or a count of the rows)"
            )
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
