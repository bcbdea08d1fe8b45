"""MNIST handwritten digits (the book's MNIST labs): 60,000 training and 10,000 test images, 28 x 28, 10 classes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from torch import Tensor
from torchvision import datasets
from torchvision.datasets.mnist import read_image_file, read_label_file

from datamodules.batching import Tensors
from datamodules.images import ImageDataModule, check_images
from foundations.errors import CorruptDataError

#: md5 of the uncompressed IDX files (torchvision checks only the .gz archives it downloads)
RAW_MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}


class MNISTDataModule(ImageDataModule):
    """MNIST as ``uint8`` tensors ``(N, 1, 28, 28)`` with int64 labels; batches arrive as floats in [0, 1].

    Args:
        data_dir: root folder; the files are read from ``<data_dir>/MNIST/raw/`` (torchvision's layout)
            and downloaded there by :meth:`prepare_data` if missing.
        batch_size: rows per training batch (the book: 256).
        validation: fraction of the training set held out for validation (seeded).
        synthetic: serve shape-identical synthetic data (learnable, meaningless) instead of MNIST;
            nothing is downloaded or read.
        seed: seeds the validation split, the shuffling and the synthetic data.
        limit: keep only the first rows of the training and test sets, for a quick trial.
        eval_batch_size: rows per validation/test batch (default ``batch_size``).
        verify: check the md5 of the four raw IDX files; ``False`` reads files in the IDX
            format that are not the originals (a subset of your own, test files).

    ``classes`` holds torchvision's digit names (``"0 - zero"`` ...), for real and synthetic data.
    """

    name = "MNIST"
    image_shape = (1, 28, 28)
    num_classes = 10
    split_sizes = (60_000, 10_000)
    files = tuple(RAW_MD5)
    checksums = RAW_MD5
    synthetic_recipe = {"low_res": 7, "signal": 0.35, "contrast": 3.0, "level": -0.15, "noise": 0.0}

    def __init__(
        self,
        data_dir: str = "data",
        batch_size: int = 256,
        validation: float = 0.2,
        synthetic: bool = False,
        seed: int = 0,
        limit: int | None = None,
        eval_batch_size: int | None = None,
        verify: bool = True,
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
        self.classes = list(datasets.MNIST.classes)

    def folder(self) -> Path:
        return Path(self.data_dir) / "MNIST" / "raw"

    def where_to_get(self) -> str:
        return (
            f"the .gz archives at {datasets.MNIST.mirrors[0]} (put them in that folder as they are, "
            "they are unpacked on the next run, or gunzip them there yourself)"
        )

    def synthetic_classes(self) -> list[str]:
        return list(datasets.MNIST.classes)  # the labels are still the digits 0-9

    def archives(self) -> dict[Path, str]:
        return {self.folder() / name: md5 for name, md5 in datasets.MNIST.resources}

    def _download(self) -> None:
        datasets.MNIST(self.data_dir, train=False, download=True)  # fetches and unpacks all four files

    def _read(self) -> tuple[Tensors, Tensors]:
        return self._read_split("train"), self._read_split("t10k")

    def _read_split(self, prefix: str) -> Tensors:
        image_path = self.folder() / f"{prefix}-images-idx3-ubyte"
        label_path = self.folder() / f"{prefix}-labels-idx1-ubyte"
        images = _parse(image_path, read_image_file).unsqueeze(1)
        labels = _parse(label_path, read_label_file)
        check_images((image_path, label_path), images, labels, self.image_shape, self.num_classes)
        return images, labels


def _parse(path: Path, reader: Callable[[str], Tensor]) -> Tensor:
    """Run one of torchvision's IDX readers, turning its failures into an error that names the file."""
    try:
        return reader(str(path))
    except (AssertionError, RuntimeError, TypeError, ValueError, KeyError) as error:
        raise CorruptDataError(
            f"cannot read {path} as an IDX file ({type(error).__name__}: {error or 'bad header'}): it is corrupt "
            "or truncated; delete it and run again to fetch it afresh"
        ) from error
