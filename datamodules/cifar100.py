"""CIFAR100 (the book's CNN lab): 50,000 training and 10,000 test colour images, 32 x 32, 100 fine classes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torchvision import datasets
from torchvision.datasets.utils import download_and_extract_archive

from datamodules.batching import Tensors
from datamodules.images import ImageDataModule, check_images, random_crop_flip, seeded_generator
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle
from foundations.errors import CorruptDataError

#: md5 of the three files of ``cifar-100-python/``, as torchvision lists them
CHECKSUMS = {
    name: md5 for name, md5 in datasets.CIFAR100.train_list + datasets.CIFAR100.test_list
} | {datasets.CIFAR100.meta["filename"]: datasets.CIFAR100.meta["md5"]}


#: what CIFAR100's pickles name: numpy's array reconstruction, nothing else (see :mod:`datamodules.safe_pickle`)
PICKLED_NAMES = NUMPY_ARRAYS
#: what to do about a damaged file of ``cifar-100-python/``
_REMEDY = "delete it and run again to fetch it afresh (or replace it with the file from the original archive)"


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
            format that are not the originals (test files). Verified or not, the pickles are read
            without running code from them: a file naming anything but numpy's arrays is refused.
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
        """Fetch the archive (md5-checked by torchvision) and unpack it; nothing is unpickled here."""
        download_and_extract_archive(
            datasets.CIFAR100.url, self.data_dir, filename=datasets.CIFAR100.filename, md5=datasets.CIFAR100.tgz_md5
        )

    def archives(self) -> dict[Path, str]:
        return {Path(self.data_dir) / datasets.CIFAR100.filename: datasets.CIFAR100.tgz_md5}

    def _read(self) -> tuple[Tensors, Tensors]:
        self.classes = self._read_classes()
        return self._read_split(train=True), self._read_split(train=False)

    def _read_classes(self) -> list[str]:
        """The 100 fine label names of ``meta``."""
        path = self.folder() / datasets.CIFAR100.meta["filename"]
        meta = load_pickle(path, "a CIFAR100 pickle", PICKLED_NAMES, remedy=_REMEDY)
        names = meta.get(datasets.CIFAR100.meta["key"]) if isinstance(meta, dict) else None
        if not isinstance(names, list) or len(names) != self.num_classes or not all(isinstance(n, str) for n in names):
            raise CorruptDataError(
                f"{path} holds no list of {self.num_classes} fine label names ('fine_label_names'): "
                f"it is not CIFAR100's meta file; {_REMEDY}"
            )
        return names

    def _read_split(self, train: bool) -> Tensors:
        """``(uint8 images (N, 3, 32, 32), int64 fine labels)`` of ``train`` or ``test``: rows of 1024 red,
        1024 green and 1024 blue values, as torchvision reads them (without its copy to HWC and back)."""
        ((name, _),) = datasets.CIFAR100.train_list if train else datasets.CIFAR100.test_list
        path = self.folder() / name
        entry = load_pickle(path, "a CIFAR100 pickle", PICKLED_NAMES, remedy=_REMEDY)
        data = entry.get("data") if isinstance(entry, dict) else None
        labels = entry.get("fine_labels", entry.get("labels")) if isinstance(entry, dict) else None
        if not isinstance(data, np.ndarray) or labels is None:
            raise CorruptDataError(f"{path} holds no 'data' array and 'fine_labels': it is not a CIFAR100 file; {_REMEDY}")
        if data.dtype != np.uint8:
            raise CorruptDataError(f"{path}: expected uint8 pixel data, got {data.dtype}; {_REMEDY}")
        if data.size % 3072:
            raise CorruptDataError(f"{path}: {data.size} pixel values are not whole 3 x 32 x 32 images; {_REMEDY}")
        try:
            targets = torch.as_tensor(np.asarray(labels, dtype=np.int64))
        except (TypeError, ValueError, OverflowError):
            raise CorruptDataError(f"{path}: its labels are not whole numbers; {_REMEDY}") from None
        images = torch.from_numpy(np.ascontiguousarray(data.reshape(-1, *self.image_shape)))
        check_images(path, images, targets.reshape(-1), self.image_shape, self.num_classes)
        return images, targets.reshape(-1)

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

