"""The book's ``SimpleDataModule``: a data module around data sets you already have.

It takes what the book's lab builds — ``TensorDataset``s (dense or sparse
COO tensors), torchvision data sets with their transforms, ``Subset``s — and
holds out the same validation rows as ``ISLP.torch.SimpleDataModule`` for the
same seed. Tensor data is served as slices of the tensors (no worker
processes: ``num_workers`` is not needed there). So is a torchvision data set
whose transform is known to be deterministic (the book's ``MNIST(...,
transform=ToTensor())``): its rows are made into tensors once, when its first
loader is asked for (:mod:`datamodules.materialise`). Any other data set (a
random or unknown transform, a data set of your own) goes through a
``DataLoader`` with ``num_workers`` worker processes.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset, random_split

from datamodules.arguments import as_dataset, as_tensor, equal_lengths, fraction_or_count
from datamodules.base import InMemoryDataModule
from datamodules.batching import TensorBatches
from datamodules.materialise import MAX_BYTES, materialise
from datamodules.splitting import Split, Validation
from foundations.errors import BadArgumentError

#: the most values (rows × features) an evaluation batch of tensors holds by default
EVAL_BATCH_VALUES = 1 << 16


class SimpleDataModule(InMemoryDataModule):
    """Training and test data sets, an optional validation split, and their loaders.

    Args:
        train_dataset: any map-style data set of ``(features, target)`` pairs, or ``(X, y)``:
            a tuple of arrays of equal length (tensors, numpy arrays, pandas objects).
            An empty one is refused.
        test_dataset: the same, for testing. An empty one is refused when it is
            tested on (``trainer.test``), not before: ``fromarrays(test=0)`` makes one
            for a module that is only fitted.
        batch_size: training batch size (validation and test too, unless
            ``eval_batch_size`` says otherwise).
        num_workers: worker processes of the ``DataLoader`` for data sets that are
            not tensors (``rec_num_workers()`` is the most that helps).
            Tensor data sets are sliced in the main process and need none, as do
            torchvision data sets with a deterministic transform (made into tensors once).
        persistent_workers: keep those workers alive between epochs.
        validation: a fraction or a count of training rows held out (the rows
            the book's helper holds out for the same ``seed``; numpy numbers are
            taken), a data set of its own (the book passes the test set) or
            ``(X, y)`` arrays, or ``None`` for none.
        seed: seed of the held-out rows and of the shuffling.
        eval_batch_size: validation and test batch size. Default: ``batch_size`` for
            data sets served by a ``DataLoader``; for tensors, batches of up to
            :data:`EVAL_BATCH_VALUES` values (the whole set, for small tables such as
            Hitters or NYSE; wide rows such as images keep ``batch_size``), which saves the
            evaluation loop's cost per batch. The
            figures are whole-set figures either way.

    The loaders work straight after construction, before any ``fit``.

    A torchvision data set (or a ``Subset`` of one) whose transform is made only of
    ``ToTensor``, ``PILToTensor``, ``ToImage``, ``Normalize``, ``Resize``, ``CenterCrop``,
    ``ConvertImageDtype`` or ``ToDtype`` (torchvision's v1 or v2) is materialised: each
    split's rows are transformed once, when its loader is first asked for, and served
    as slices, the same batches in the same order as the ``DataLoader`` would serve.
    8-bit pixels are kept as ``uint8`` and made floats per batch, so memory is one byte
    per pixel: 47 MB for MNIST's 60,000 × 28 × 28 training images, 154 MB for CIFAR100's
    50,000 × 3 × 32 × 32. A split whose stored images would take more than
    ``max_materialised_bytes`` (2 GiB; set it to 0 to materialise nothing) keeps its
    ``DataLoader``, as does any random or unknown transform: augmentations are never cached.
    ``train_data``, ``val_data`` and ``test_data`` stay the data sets (``Subset`` objects) they are.
    """

    #: the most bytes one split's stored images may take to be materialised (0: none is)
    max_materialised_bytes: int = MAX_BYTES

    def __init__(
        self,
        train_dataset: Dataset,
        test_dataset: Dataset,
        batch_size: int = 32,
        num_workers: int = 0,
        persistent_workers: bool = True,
        validation: Validation = None,
        seed: int = 0,
        eval_batch_size: int | None = None,
    ) -> None:
        super().__init__(
            batch_size=batch_size,
            validation=validation,
            eval_batch_size=eval_batch_size,
            seed=seed,
            num_workers=num_workers,
            persistent_workers=persistent_workers,
        )
        train_dataset, test_dataset = as_dataset(train_dataset, "train_dataset"), as_dataset(test_dataset, "test_dataset")
        if _length(train_dataset) == 0:
            raise BadArgumentError(
                "train_dataset is empty (0 rows): fitting it would run zero steps and leave the network untrained; "
                "give a training set with rows"
            )
        self._datasets = (train_dataset, test_dataset)
        self._eval_batch_size_given = eval_batch_size is not None
        self._materialised: list[tuple[Dataset, Split]] = []  # (split, what serves it), made once each

    def load(self) -> tuple[Dataset, Dataset]:
        return self._datasets

    def setup(self, stage: str | None = None) -> None:
        super().setup(stage)
        if not self._eval_batch_size_given:
            self.eval_batch_size = max(
                [self.batch_size]
                + [_rows_within(EVAL_BATCH_VALUES, split) for split in (self.val_data, self.test_data) if isinstance(split, tuple)]
            )

    def _batches(self, data: Split | None, batch_size: int, train: bool) -> TensorBatches | DataLoader | list:
        """Batches of one split; a data set that can be materialised is served as slices of its tensors."""
        if data is not None and not isinstance(data, tuple):
            data = self._in_memory(data)
        return super()._batches(data, batch_size, train)

    def _in_memory(self, data: Dataset) -> Split:
        """``data`` as the tensors its transform makes, made on the first call (the data set itself where it
        cannot be materialised); a split that serves twice (``validation=test``) is made once."""
        for split, served in self._materialised:
            if split is data:
                return served
        tensors = materialise(data, self.max_materialised_bytes) if self.max_materialised_bytes > 0 else None
        served = data if tensors is None else tensors
        self._materialised.append((data, served))
        return served

    @classmethod
    def fromarrays(
        cls,
        *arrays: Any,
        test: float | int = 0,
        validation: float | int = 0,
        batch_size: int = 32,
        num_workers: int = 0,
        persistent_workers: bool = True,
        test_as_validation: bool = False,
        seed: int = 0,
    ) -> SimpleDataModule:
        """A data module from arrays of equal length (features, ..., target), split as the book's helper splits them.

        Arrays of different lengths are refused (rows are paired by position), as are
        columns that are not numbers; numpy arrays, DataFrames and tensors are taken.

        ``test`` and ``validation`` are fractions or counts of the rows; the rows
        go to training, test and validation as ``ISLP.torch.SimpleDataModule.fromarrays``
        sends them for the same ``seed``. With ``test_as_validation`` the test
        rows also serve as the validation set. Floating-point arrays become
        float32 tensors (what a network's weights are); others keep their type.
        """
        if len(arrays) < 1:
            raise BadArgumentError("fromarrays() needs the arrays: fromarrays(X, y), of equal length")
        names = [f"array {i + 1} of {len(arrays)}" for i in range(len(arrays))]
        tensors = [as_tensor(array, name) for array, name in zip(arrays, names)]
        equal_lengths(tensors, names, "fromarrays")
        test, validation = fraction_or_count(test, "test"), fraction_or_count(validation, "validation")
        total = len(tensors[0])
        counts = [int(share * total) if isinstance(share, float) else int(share) for share in (test, validation)]
        if total <= sum(counts):
            raise BadArgumentError(
                f"test={test} and validation={validation} ask for {sum(counts)} of {total} rows: none left for training"
            )
        train_part, test_part, valid_part = random_split(
            range(total), [total - sum(counts), *counts], generator=torch.Generator().manual_seed(seed)
        )
        train_ds, test_ds, valid_ds = (
            TensorDataset(*(t[torch.as_tensor(part.indices, dtype=torch.long)] for t in tensors))
            for part in (train_part, test_part, valid_part)
        )
        if test_as_validation:
            if counts[1]:
                warnings.warn(
                    f"test_as_validation=True validates on the test rows; the {counts[1]} validation rows "
                    "asked for are left unused (set validation=0)",
                    stacklevel=2,
                )
            valid_ds = test_ds
        return cls(
            train_ds,
            test_ds,
            batch_size=batch_size,
            num_workers=num_workers,
            persistent_workers=persistent_workers,
            validation=valid_ds if len(valid_ds) else None,
            seed=seed,
        )


def _rows_within(values: int, split: tuple) -> int:
    """How many rows of ``split``'s first tensor hold at most ``values`` values (at least one; at most all rows)."""
    features = split[0]
    per_row = max(1, math.prod(features.shape[1:]))
    return max(1, min(len(features), values // per_row))


def _length(data: Any) -> int | None:
    try:
        return len(data)
    except TypeError:  # an iterable-style data set: its rows are counted as they are served
        return None
