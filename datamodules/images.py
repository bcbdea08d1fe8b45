"""What the image data modules (MNIST, CIFAR100) share.

Images are held decoded in memory as ``uint8`` tensors ``(N, C, H, W)``, four
times smaller than floats and never re-decoded. Each batch becomes float32 in
[0, 1] (what the book's ``ToTensor`` gives) in :meth:`on_after_batch_transfer`,
that is after it reached the accelerator, so the conversion runs there. The
hook runs when the data module is handed to the Trainer (``datamodule=dm``);
loaders taken by hand, before any ``fit``, convert their batches themselves.

Also here: checksum checks, the messages for missing and corrupt data files
(the errors themselves are in ``foundations.errors``), and the shape-identical
synthetic data for machines without the real files.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import tarfile
import warnings
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor
from torchvision.datasets.utils import calculate_md5

from datamodules.base import InMemoryDataModule, SyntheticDataWarning
from datamodules.batching import Tensors
from foundations.errors import BadArgumentError, CorruptDataError, DataUnavailableError
from foundations.files import outside_folder


def seeded_generator(*keys: Any) -> torch.Generator:
    """A CPU generator seeded from any tuple of keys, so separate streams never share a seed."""
    digest = hashlib.sha256(repr(keys).encode()).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little"))


def to_float(images: Tensor) -> Tensor:
    """``uint8`` images to float32 in [0, 1] (the book's ``ToTensor``); other dtypes pass unchanged.

    On CUDA torch divides by a scalar through its reciprocal, so a value may
    differ from the CPU's in the last bit (1 in 2**24).
    """
    if images.dtype != torch.uint8:
        return images
    return images.float().div_(255)  # the arithmetic of torchvision's ToTensor


def verify_checksums(folder: Path, checksums: Mapping[str, str]) -> None:
    """Raise :class:`CorruptDataError` naming the first file whose md5 is not the expected one."""
    for name, expected in checksums.items():
        path = folder / name
        actual = calculate_md5(path)
        if actual != expected:
            raise CorruptDataError(
                f"checksum mismatch for {path}: md5 {actual}, expected {expected}. The file is corrupt, truncated "
                "or not the original: delete it and run again to fetch it afresh "
                "(or, for files of your own in the same format, pass verify=False: they are then read "
                "without the check, and never run as code)."
            )


def check_inside(folder: Path, names: Sequence[str]) -> None:
    """Raise :class:`CorruptDataError` naming the first file of ``names`` that is a link out of ``folder``.

    A data set is read from its folder only: a file there that resolves elsewhere (``train -> /etc/passwd``)
    refuses the set, whose files cannot be done without. The folder itself may be a link.
    """
    for name in names:
        if (target := outside_folder(folder / name, folder)) is not None:
            raise CorruptDataError(
                f"{folder / name} is a link to {target}, outside {folder.resolve()}: a data set is read only "
                "from its own folder; put the file itself there (or link the whole folder)"
            )


def random_crop_flip(images: Tensor, padding: int, generator: torch.Generator) -> Tensor:
    """Per-sample random crop (zero padding of ``padding`` pixels) and horizontal flip of a batch.

    ``torchvision.transforms.v2.RandomCrop`` draws one crop per call, i.e. one
    for a whole batch; here every image gets its own offsets and flip, drawn
    from ``generator`` on the CPU (so the result does not depend on the
    device) and applied on the device with one indexing operation.
    """
    n, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    top = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (n,), generator=generator)
    flip = torch.rand(n, generator=generator) < 0.5
    rows = top[:, None] + torch.arange(height)  # (n, height)
    cols = left[:, None] + torch.arange(width)  # (n, width)
    cols = torch.where(flip[:, None], cols.flip(1), cols)
    device = images.device
    sample = torch.arange(n, device=device)[:, None, None]
    crops = padded[sample, :, rows.to(device)[:, :, None], cols.to(device)[:, None, :]]  # (n, h, w, c)
    return crops.permute(0, 3, 1, 2).contiguous()


def _upsampling_matrix(low: int, size: int) -> Tensor:
    """The (size*size, low*low) matrix of torch's bilinear upsampling from low x low to size x size."""
    one_axis = F.interpolate(torch.eye(low).unsqueeze(0), size=size, mode="linear", align_corners=False)[0].T
    return torch.kron(one_axis, one_axis)


def synthetic_images(
    num_images: int,
    shape: tuple[int, int, int],
    num_classes: int,
    seed: int,
    stream: str,
    *,
    low_res: int,
    signal: float,
    contrast: float,
    level: float,
    noise: float,
    chunk: int = 4096,
) -> tuple[Tensor, Tensor]:
    """Learnable fake images: a smooth random prototype per class, blurred by a random smooth distractor.

    Each image is ``level + contrast * (field - 0.5)`` (+ pixel noise),
    clipped to [0, 1] and stored as ``uint8``, where ``field`` is the
    bilinear upsampling of ``signal * prototype[label] + (1 - signal) *
    distractor`` from ``low_res x low_res``. A smaller ``signal`` makes the
    classes harder to tell apart. Prototypes depend on ``seed`` only, so all
    streams (``"train"``, ``"test"``) share the classes; rows are made in
    chunks with a generator per chunk, so the first k rows do not depend on
    ``num_images``.
    """
    channels, height, width = shape
    if height != width:
        raise ValueError(f"synthetic images must be square, got {shape}")
    upsample = _upsampling_matrix(low_res, height).T.contiguous()  # (low*low, h*w)
    prototypes = torch.rand(num_classes, channels, low_res * low_res, generator=seeded_generator(seed, "prototypes"))
    # fold level, contrast and the scale to 0..255 (+0.5 to round on the uint8 cast) into the low-res field:
    # bilinear weights sum to one, so an affine map commutes with the upsampling
    scale, offset = 255 * contrast, 255 * (level - 0.5 * contrast) + 0.5
    images = torch.empty(num_images, channels, height * width, dtype=torch.uint8)
    labels = torch.empty(num_images, dtype=torch.int64)
    for index in range(math.ceil(num_images / chunk)):
        start, stop = index * chunk, min((index + 1) * chunk, num_images)
        # always draw a whole chunk, so a chunk's rows never depend on where the data set ends
        generator = seeded_generator(seed, stream, index)
        label = torch.randint(0, num_classes, (chunk,), generator=generator)
        distractor = torch.rand(chunk, channels, low_res * low_res, generator=generator)
        field = signal * prototypes[label] + (1 - signal) * distractor
        pixels = (field * scale + offset) @ upsample
        if noise:
            pixels.add_(torch.randn(pixels.shape, generator=generator), alpha=255 * noise)
        rows = stop - start
        images[start:stop] = pixels[:rows].clamp_(0, 255)  # the cast truncates: +0.5 above makes it round
        labels[start:stop] = label[:rows]
    return images.view(num_images, channels, height, width), labels


def check_images(
    path: Path | Sequence[Path], images: Tensor, labels: Tensor, shape: tuple[int, ...], num_classes: int
) -> None:
    """Raise :class:`CorruptDataError` if parsed images and labels do not fit together or the data set."""
    where = path if isinstance(path, Path) else " / ".join(str(p) for p in path)
    if images.dtype != torch.uint8 or tuple(images.shape[1:]) != shape:
        raise CorruptDataError(
            f"{where}: expected uint8 images of shape {shape}, got {images.dtype} {tuple(images.shape[1:])}"
        )
    if len(images) != len(labels):
        raise CorruptDataError(f"{where}: {len(images)} images but {len(labels)} labels")
    if len(labels) and not (int(labels.min()) >= 0 and int(labels.max()) < num_classes):
        raise CorruptDataError(f"{where}: labels outside 0..{num_classes - 1}")


class ImageDataModule(InMemoryDataModule):
    """Base of the image data modules: download, verify, read or synthesize, convert per batch.

    Subclasses set the class attributes and implement :meth:`folder`,
    :meth:`where_to_get`, :meth:`_download` and :meth:`_read`.
    """

    name: ClassVar[str]
    image_shape: ClassVar[tuple[int, int, int]]
    num_classes: ClassVar[int]
    split_sizes: ClassVar[tuple[int, int]]  # rows of the real training and test sets
    files: ClassVar[tuple[str, ...]]  # expected in :meth:`folder`
    checksums: ClassVar[Mapping[str, str]]  # md5 of each file of the original data
    synthetic_recipe: ClassVar[Mapping[str, float]]  # keyword arguments of :func:`synthetic_images`

    def __init__(
        self,
        data_dir: str,
        batch_size: int,
        validation: float,
        synthetic: bool,
        seed: int,
        limit: int | None,
        eval_batch_size: int | None,
        verify: bool,
    ) -> None:
        super().__init__(
            batch_size=batch_size, validation=validation, eval_batch_size=eval_batch_size, seed=seed, limit=limit
        )
        self.data_dir = data_dir
        self.synthetic = synthetic
        self.verify = verify
        self.classes: list[str] | None = None

    # -- what subclasses provide -------------------------------------------
    def folder(self) -> Path:
        """Where the data files live (the layout torchvision uses under ``data_dir``)."""
        raise NotImplementedError

    def where_to_get(self) -> str:
        """Where a user without internet on this machine can get the files, and where to put them."""
        raise NotImplementedError

    def _download(self) -> None:
        """Fetch the files with torchvision (which checks the archives' md5)."""
        raise NotImplementedError

    def _read(self) -> tuple[Tensors, Tensors]:
        """Read ``(train, test)`` from the files, each ``(uint8 images, int64 labels)``; set :attr:`classes`."""
        raise NotImplementedError

    def synthetic_classes(self) -> list[str]:
        return [f"class_{i:0{len(str(self.num_classes - 1))}d}" for i in range(self.num_classes)]

    # -- Lightning hooks -----------------------------------------------------
    def archives(self) -> dict[Path, str]:
        """The archives :meth:`_download` fetches and unpacks, each with its md5 (a good one is unpacked
        without a download; a damaged one is fetched again)."""
        return {}

    def damaged_archives(self) -> list[tuple[Path, str, str]]:
        """``(path, md5, expected md5)`` of each archive that is there but is not the original (cut short, say)."""
        damaged = []
        for path, expected in self.archives().items():
            if path.is_file():
                actual = calculate_md5(str(path))
                if actual != expected:
                    damaged.append((path, actual, expected))
        return damaged

    def prepare_data(self) -> None:
        """Download the files if any is missing (never for synthetic data).

        An archive already there is unpacked when it is the original; when it
        is damaged and no fresh copy can be downloaded, the error says it is
        damaged (not missing) and what to do.
        """
        if self.synthetic or not self.missing_files():
            return
        try:
            self._download()
        except (OSError, RuntimeError) as error:  # URLError is an OSError; torchvision wraps some in RuntimeError
            lines = [line.strip() for line in str(error).splitlines() if line.strip()]
            reason = lines[-1] if lines else type(error).__name__
            damaged = self.damaged_archives()
            if damaged:
                raise CorruptDataError(self._damaged_message(damaged, reason)) from None
            raise DataUnavailableError(self._unavailable_message(f"could not be downloaded ({reason})")) from error
        except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as error:  # an archive that won't unpack
            damaged = self.damaged_archives() or [(path, "?", md5) for path, md5 in self.archives().items()]
            raise CorruptDataError(self._damaged_message(damaged, f"{type(error).__name__}: {error}")) from None

    def _damaged_message(self, damaged: list[tuple[Path, str, str]], reason: str) -> str:
        names = ", ".join(f"{path.resolve()} (md5 {actual}, expected {expected})" for path, actual, expected in damaged)
        many = len(damaged) > 1
        return (
            f"{self.name} is not unpacked yet, and the archive{'s' if many else ''} there {'are' if many else 'is'} "
            f"damaged: {names}, cut short, corrupt or not the original; a fresh copy could not be downloaded "
            f"({reason}). Delete {'them' if many else 'it'} so that {'they are' if many else 'it is'} downloaded "
            f"again on the next run with internet, or replace {'them' if many else 'it'} with the original "
            f"from {self.where_to_get()}."
        )

    def load(self) -> tuple[Tensors, Tensors]:
        if self.synthetic:
            return self._synthesize()
        if self.missing_files():
            raise DataUnavailableError(self._unavailable_message("prepare_data() has not downloaded it"))
        check_inside(self.folder(), self.files)
        if self.verify:
            verify_checksums(self.folder(), self.checksums)
        return self._read()

    def on_after_batch_transfer(self, batch: Any, dataloader_idx: int) -> Any:
        """Turn the ``uint8`` images of a batch (already on the accelerator) into floats in [0, 1]."""
        images, *rest = batch
        return (to_float(images), *rest)

    # -- conveniences --------------------------------------------------------
    def float_images(self, split: str = "train") -> Tensor:
        """The images of ``split`` (``"train"``, ``"validation"`` or ``"test"``) as float32 in [0, 1]."""
        if self.train_data is None:
            self.setup()
        data = {"train": self.train_data, "validation": self.val_data, "test": self.test_data}[split]
        if data is None:
            raise BadArgumentError(f"this data module has no {split} split (validation={self.validation!r})")
        return to_float(data[0])

    def missing_files(self) -> list[str]:
        folder = self.folder()
        return [name for name in self.files if not (folder / name).is_file()]

    def _unavailable_message(self, what_happened: str) -> str:
        folder, missing = self.folder().resolve(), self.missing_files()
        which = "" if len(missing) == len(self.files) else f" (missing: {', '.join(missing)})"
        return (
            f"{self.name} is not in {folder} and {what_happened}. "
            f"Expected files there: {', '.join(self.files)}{which}. "
            f"Get them from {self.where_to_get()}. "
            "Or run on shape-identical synthetic data with synthetic=True (--synthetic in the lab scripts, "
            "--data.synthetic true in the CLI); its numbers measure nothing."
        )

    def _synthesize(self) -> tuple[Tensors, Tensors]:
        warnings.warn(
            f"SYNTHETIC DATA: {type(self).__name__}(synthetic=True) serves random class prototypes plus noise "
            f"with the shapes, sizes and classes of {self.name}. Losses and accuracies on it mean nothing "
            f"about {self.name}.",
            SyntheticDataWarning,
            stacklevel=2,
        )
        self.classes = self.synthetic_classes()
        splits = []
        for stream, size in zip(("train", "test"), self.split_sizes):
            if self.limit is not None:  # the first rows do not depend on how many are made
                size = min(size, self.limit)
            splits.append(
                synthetic_images(size, self.image_shape, self.num_classes, self.seed, stream, **self.synthetic_recipe)
            )
        return splits[0], splits[1]
