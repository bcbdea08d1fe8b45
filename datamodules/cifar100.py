"""CIFAR100 (the book's CNN lab): 50,000 training and 10,000 test colour images, 32 x 32, 100 fine classes."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets

from datamodules.base import CorruptDataError, Tensors
from datamodules.images import ImageDataModule, check_images, random_crop_flip, seeded_generator

#: md5 of the three files of ``cifar-100-python/``, as torchvision lists them
CHECKSUMS = {
    name: md5 for name, md5 in datasets.CIFAR100.train_list + datasets.CIFAR100.test_list
} | {datasets.CIFAR100.meta["filename"]: datasets.CIFAR100.meta["md5"]}


class _UncheckedCIFAR100(datasets.CIFAR100):
    """torchvision's CIFAR100 reader with its md5 checks off: to torchvision an md5 of None means "exists"."""

    train_list = [[name, None] for name, _ in datasets.CIFAR100.train_list]
    test_list = [[name, None] for name, _ in datasets.CIFAR100.test_list]
    meta = {**datasets.CIFAR100.meta, "md5": None}


class CIFAR100DataModule(ImageDataModule):
    """CIFAR100 as ``uint8`` tensors ``(N, 3, 32, 32)`` with int64 fine labels; batches arrive as floats in [0, 1].

    Args:
        data_dir: root folder; the files are read from ``<data_dir>/cifar-100-python/`` (torchvision's
            layout: ``train``, ``test``, ``meta``) and downloaded there by :meth:`prepare_data` if missing.
        batch_size: rows per training batch (the book: 128).
        validation: fraction of the training set held out for validation (seeded).
        synthetic: serve shape-identical synthetic data (learnable, meaningless) instead of CIFAR100;
            nothing is downloaded or read.
        seed: seeds the validation split, the shuffling, the augmentation and the synthetic data.
        limit: keep only the first rows of the training and test sets, for a quick trial.
        eval_batch_size: rows per validation/test batch (default ``batch_size``).
        verify: check the md5 of the three files; ``False`` reads files in the same pickle
            format that are not the originals (test files).
        augment: random crop (zero padding 4) and horizontal flip of each training image, drawn
            per image from ``seed`` and the epoch; validation and test batches are never augmented.
            Not in the book (off by default).

    ``classes`` holds the 100 fine label names from ``meta`` once :meth:`setup` has read it
    (``class_00`` ... ``class_99`` for synthetic data).
    """

    name = "CIFAR100"
    image_shape = (3, 32, 32)
    num_classes = 100
    split_sizes = (50_000, 10_000)
    files = tuple(CHECKSUMS)
    checksums = CHECKSUMS
    # clear enough classes that the book's CNN leaves chance level within a few short epochs
    synthetic_recipe = {"low_res": 8, "signal": 0.9, "contrast": 3.0, "level": 0.5, "noise": 0.05}
    padding = 4

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 128,
        validation: float = 0.2,
        synthetic: bool = False,
        seed: int = 0,
        limit: int | None = None,
        eval_batch_size: int | None = None,
        verify: bool = True,
        augment: bool = False,
    ) -> None:
        super().__init__(
            data_dir=data_dir,
            batch_size=batch_size,
            validation=validation,
            synthetic=synthetic,
            seed=seed,
            limit=limit,
            eval_batch_size=eval_batch_size,
            verify=verify,
        )
        self.augment = augment
        self._augment_generator: tuple[tuple[int, int], torch.Generator] | None = None
        if synthetic:
            self.classes = self.synthetic_classes()

    def folder(self) -> Path:
        return Path(self.data_dir) / datasets.CIFAR100.base_folder

    def where_to_get(self) -> str:
        return (
            f"{datasets.CIFAR100.url} (put the archive in {Path(self.data_dir).resolve()} as it is, "
            "it is unpacked on the next run, or unpack it there yourself)"
        )

    def _download(self) -> None:
        datasets.CIFAR100(self.data_dir, train=False, download=True)  # fetches and unpacks the archive

    def _read(self) -> tuple[Tensors, Tensors]:
        return self._read_split(train=True), self._read_split(train=False)

    def _read_split(self, train: bool) -> Tensors:
        ((name, _),) = datasets.CIFAR100.train_list if train else datasets.CIFAR100.test_list
        path, meta = self.folder() / name, self.folder() / datasets.CIFAR100.meta["filename"]
        try:
            data = _UncheckedCIFAR100(self.data_dir, train=train)
        except (pickle.UnpicklingError, EOFError, KeyError, ValueError, TypeError, AttributeError) as error:
            raise CorruptDataError(
                f"cannot read {path} and {meta} as CIFAR100 pickles ({type(error).__name__}: {error}): "
                "a file is corrupt or truncated; delete the folder and run again to fetch it afresh"
            ) from error
        if data.data.dtype != np.uint8:
            raise CorruptDataError(f"{path}: expected uint8 pixel data, got {data.data.dtype}")
        images = torch.from_numpy(data.data).permute(0, 3, 1, 2).contiguous()  # torchvision's HWC back to CHW
        labels = torch.as_tensor(data.targets, dtype=torch.int64)
        check_images(path, images, labels, self.image_shape, self.num_classes)
        self.classes = list(data.classes)  # the fine label names in meta
        return images, labels

    # -- per-batch work on the accelerator --------------------------------------------------------
    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Floats in [0, 1], then (``augment=True``, training batches only) a random crop and flip per image."""
        images, *rest = super().on_after_batch_transfer(batch, dataloader_idx)
        trainer = self.trainer
        if self.augment and trainer is not None and trainer.training:
            images = random_crop_flip(images, self.padding, self._generator(trainer.current_epoch, trainer.global_rank))
        return (images, *rest)

    def _generator(self, epoch: int, rank: int) -> torch.Generator:
        """One random stream per (seed, epoch, process): a run's augmentations are the same every time."""
        key = (epoch, rank)
        if self._augment_generator is None or self._augment_generator[0] != key:
            self._augment_generator = (key, seeded_generator(self.seed, "augment", epoch, rank))
        return self._augment_generator[1]

