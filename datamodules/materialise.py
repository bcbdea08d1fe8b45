"""torchvision data sets whose transform is known to be deterministic, made into tensors once.

The book builds ``MNIST(root, train=True, transform=ToTensor())``; a ``DataLoader``
then makes every image afresh in every epoch, one at a time, in worker processes.
Where the transform can only ever give the same tensor for the same row, that work
is done once here: :func:`materialise` runs it over every row of the split and keeps
the result, which :class:`~datamodules.batching.TensorBatches` then slices as it
slices any tensor data set (``SimpleDataModule`` does this for you).

**Recognised** (these exact classes, from ``torchvision.transforms`` and
``torchvision.transforms.v2``): ``ToTensor``, ``PILToTensor``, ``ToImage`` (v2),
``Normalize``, ``Resize``, ``CenterCrop``, ``ConvertImageDtype``, ``ToDtype`` (v2),
and ``Compose`` of them, with no ``target_transform``. Anything else (``RandomCrop``
or any random transform, a ``Lambda``, a function, a subclass of one of those
classes, a ``target_transform``, a joint ``transforms``) leaves the data set as it
is: it keeps its ``DataLoader`` and its transform runs for every sample served, so
an augmentation is never cached. Only data sets of torchvision's own classes are
taken (their ``__getitem__`` reads a row and applies ``transform``), whole or
through ``Subset`` wrappers of them.

**Storage.** Where the images leave the PIL stage as 8-bit pixels (``ToTensor``,
``PILToTensor``, ``ToImage``, after any ``Resize``/``CenterCrop``), the pixels are
stored as ``uint8`` and what follows (``ToTensor``'s division by 255,
``ToDtype``/``ConvertImageDtype``, ``Normalize``) runs on each batch: those act on
each value alone, so a batch gets exactly the values its samples would. Memory,
then, is one byte per pixel: MNIST's 60,000 × 28 × 28 training images take 47 MB
(as floats, what the ``DataLoader`` serves, 188 MB), its 10,000 test images 7.8 MB,
CIFAR100's 50,000 × 3 × 32 × 32 154 MB; plus 8 bytes a label. Where the transform
makes floats before a ``Resize`` or ``CenterCrop``, floats are stored (4 bytes a
value). A split whose stored form would pass :data:`MAX_BYTES` is not materialised.

**Checked.** A few rows spread over the split are fetched through the data set's own
``__getitem__`` and must equal their materialised batch exactly (values and dtype),
or the transform's own output is stored instead; MNIST and CIFAR, whose pixels are in
memory already (``.data``), are read from there without decoding an image.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image
from torch import Tensor
from torch.utils.data import Dataset, Subset, default_collate
from torchvision import datasets
from torchvision import transforms as v1
from torchvision.transforms import v2
from torchvision.transforms.functional import pil_to_tensor

from datamodules.batching import take_rows

#: the most bytes one split's stored images may take (2 GiB); a larger split keeps its ``DataLoader``
MAX_BYTES = 2 << 30
#: rows fetched through the data set's own ``__getitem__`` to check what was stored
CHECKED_ROWS = 8

#: PIL image to float tensor in [0, 1]: 8-bit pixels, divided by 255
_SCALING_TO_TENSOR = (v1.ToTensor, v2.ToTensor)
#: PIL image to a tensor of its pixels, unscaled
_TO_TENSOR = (v1.PILToTensor, v2.PILToTensor, v2.ToImage)
#: change an image's size: run on each sample
_RESIZING = (v1.Resize, v1.CenterCrop, v2.Resize, v2.CenterCrop)
#: act on each value (or each channel's values) alone: a batch gets what each of its samples would
_ELEMENTWISE = (v1.Normalize, v2.Normalize, v1.ConvertImageDtype, v2.ConvertImageDtype, v2.ToDtype)
_COMPOSE = (v1.Compose, v2.Compose)
_KNOWN = _SCALING_TO_TENSOR + _TO_TENSOR + _RESIZING + _ELEMENTWISE

#: data sets holding their images in memory as uint8 ``.data`` and their labels as ``.targets``
_MNIST_LIKE = (datasets.MNIST, datasets.FashionMNIST, datasets.KMNIST)  # (N, H, W) tensor, one channel
_CIFAR = (datasets.CIFAR10, datasets.CIFAR100)  # (N, H, W, 3) numpy array

Step = Callable[[Any], Any]


class _NotPixels(Exception):
    """An image that is not 8-bit pixels (a PIL mode such as ``'1'``, ``'I'`` or ``'F'``, or no PIL image)."""


class StoredRows:
    """Stored images (``uint8`` pixels, say) that become what the transform gives when a batch is served.

    A row store as :mod:`datamodules.batching` takes them: indexing by a ``LongTensor``
    of rows or a slice gives another ``StoredRows``, :meth:`to_dense` the batch's tensor.
    What :meth:`to_dense` gives, and what its steps are given, is never the store's memory:
    ``Normalize(..., inplace=True)`` writes into what it is given, as may the steps of a
    LightningModule. ``copied`` says that ``values`` are rows of this batch's own (indexing by
    rows makes a copy; a slice is a view of the store): those need no further copy, nor do
    rows that a step has already made new tensors of (``ToTensor``'s division by 255, say).
    """

    def __init__(self, values: Tensor, per_batch: Sequence[Step], copied: bool = False) -> None:
        self.values = values
        self.per_batch = tuple(per_batch)
        self.copied = copied

    def __len__(self) -> int:
        return len(self.values)

    @property
    def shape(self) -> torch.Size:
        return self.values.shape

    def __getitem__(self, rows: Tensor | slice) -> StoredRows:
        if isinstance(rows, slice):
            return StoredRows(self.values[rows], self.per_batch)  # a view of the store
        return StoredRows(take_rows(self.values, rows), self.per_batch, copied=True)

    def to_dense(self) -> Tensor:
        batch = self.values
        for step in self.per_batch:
            if getattr(step, "inplace", False) and self._is_stored(batch):
                batch = batch.clone()
            batch = step(batch)
        return (batch.clone() if self._is_stored(batch) else batch).as_subclass(Tensor)

    def _is_stored(self, batch: Tensor) -> bool:
        """Is ``batch`` (still) the store's memory, not a tensor of its own?"""
        return not self.copied and batch.untyped_storage().data_ptr() == self.values.untyped_storage().data_ptr()

    def __repr__(self) -> str:
        return f"StoredRows({self.values.dtype}, shape={tuple(self.shape)}, per batch: {len(self.per_batch)} steps)"


@dataclass(frozen=True)
class Plan:
    """How a transform is split: ``per_sample`` runs once on each row's image; then, where ``pixels``, the
    PIL image's 8-bit pixels are taken (``ToTensor``'s or ``ToImage``'s first half); that is stored, and
    ``per_batch`` runs on each batch of it. Together they give what the transform gives."""

    per_sample: tuple[Step, ...]
    pixels: bool
    per_batch: tuple[Step, ...]

    def sample(self, image: Any) -> Any:
        for step in self.per_sample:
            image = step(image)
        return _pixels(image) if self.pixels else image


def transform_steps(transform: Any) -> list[Step] | None:
    """The steps of ``transform``, nested ``Compose`` flattened; ``None`` if any step is not known to be deterministic."""
    if type(transform) in _COMPOSE:
        steps: list[Step] = []
        for inner in transform.transforms:
            inner_steps = transform_steps(inner)
            if inner_steps is None:
                return None
            steps += inner_steps
        return steps
    return [transform] if type(transform) in _KNOWN else None


def plan_for(transform: Any) -> Plan | None:
    """How to store what ``transform`` gives, compactly where it can be; ``None`` where it may not be stored
    (a random or unknown step) or gives no tensor (no ``ToTensor``, ``PILToTensor`` or ``ToImage``)."""
    steps = transform_steps(transform)
    if not steps:
        return None
    kinds = [type(step) for step in steps]
    to_tensor = next((i for i, kind in enumerate(kinds) if kind in _SCALING_TO_TENSOR + _TO_TENSOR), None)
    if to_tensor is None:
        return None
    last_resize = max((i for i, kind in enumerate(kinds) if kind in _RESIZING), default=-1)
    if last_resize < to_tensor:  # the size is settled on the PIL image: store its pixels
        tail = steps[to_tensor + 1 :]
        scale = (_scale,) if kinds[to_tensor] in _SCALING_TO_TENSOR else ()
        plan = Plan(tuple(steps[:to_tensor]), True, scale + tuple(tail))
    else:  # resized as a tensor: store what the resizing gives
        tail = steps[last_resize + 1 :]
        plan = Plan(tuple(steps[: last_resize + 1]), False, tuple(tail))
    return plan if all(type(step) in _ELEMENTWISE for step in tail) else None


def materialise(data: Dataset, max_bytes: int = MAX_BYTES) -> tuple[Tensor | StoredRows, Tensor] | None:
    """``(images, targets)`` of every row of ``data`` as its ``__getitem__`` gives them, or ``None``.

    ``data`` is a torchvision data set (or a ``Subset`` of one, to any depth) whose
    transform is known to be deterministic (see the module's notes); anything else,
    an empty split, images of different shapes, labels that do not stack into a
    tensor, or stored images of more than ``max_bytes`` give ``None``: serve such
    data through a ``DataLoader``. ``images`` is a :class:`StoredRows` where a step
    runs per batch (``uint8`` pixels divided by 255, ``Normalize``), else a tensor.
    """
    dataset, rows = _rows_of(data)
    if not _is_plain_torchvision(dataset) or len(rows) == 0:
        return None
    plan = plan_for(dataset.transform)
    if plan is None:
        return None
    # the compact plan first; the transform's own output if its check fails
    for candidate in (plan, Plan((dataset.transform,), False, ())):
        try:
            stored = _from_memory(dataset, rows, max_bytes) if candidate.pixels and not candidate.per_sample else None
            if stored is None:
                stored = _through_getitem(dataset, rows, candidate, max_bytes)
        except _NotPixels:
            continue
        if stored is None:
            return None
        images, targets = stored
        served = StoredRows(images, candidate.per_batch) if candidate.per_batch else images
        if _agrees(dataset, rows, served, targets):
            return served, targets
    return None


# -- where the rows come from ------------------------------------------------------------------
def _rows_of(data: Dataset) -> tuple[Dataset, Tensor]:
    """The data set under any ``Subset`` wrappers, and the rows of it that ``data`` serves, in order."""
    rows: Tensor | None = None
    while isinstance(data, Subset):
        indices = torch.as_tensor(data.indices, dtype=torch.long)
        rows = indices if rows is None else indices[rows]
        data = data.dataset
    if rows is None:
        try:
            rows = torch.arange(len(data))
        except TypeError:  # no length: an iterable-style data set
            rows = torch.empty(0, dtype=torch.long)
    return data, rows


def _is_plain_torchvision(dataset: Any) -> bool:
    """One of torchvision's own data set classes, with no ``target_transform`` (nor one in its joint ``transforms``)."""
    if not isinstance(dataset, datasets.VisionDataset) or not type(dataset).__module__.startswith("torchvision.datasets"):
        return False
    joint = getattr(dataset, "transforms", None)  # torchvision's wrapper of transform and target_transform
    return getattr(dataset, "target_transform", None) is None and getattr(joint, "target_transform", None) is None


def _from_memory(dataset: Dataset, rows: Tensor, max_bytes: int) -> tuple[Tensor, Tensor] | None:
    """MNIST's or CIFAR's pixels and labels straight from ``.data`` and ``.targets``, ``(N, C, H, W)`` as
    ``pil_to_tensor`` would give them image by image; ``None`` for other data sets."""
    if type(dataset) in _MNIST_LIKE:
        pixels = torch.as_tensor(dataset.data)  # (N, H, W): one channel
    elif type(dataset) in _CIFAR:
        pixels = torch.from_numpy(dataset.data)  # (N, H, W, C)
    else:
        return None
    if pixels.dtype != torch.uint8 or len(rows) * math.prod(pixels.shape[1:]) > max_bytes:
        return None
    images = take_rows(pixels, torch.where(rows < 0, rows + len(pixels), rows))  # (as __getitem__, a negative row counts from the end)
    images = images.unsqueeze(1) if images.dim() == 3 else images.permute(0, 3, 1, 2).contiguous()
    return images, torch.as_tensor(dataset.targets, dtype=torch.long)[rows]


def _through_getitem(dataset: Dataset, rows: Tensor, plan: Plan, max_bytes: int) -> tuple[Tensor, Tensor] | None:
    """Each row through the data set's own ``__getitem__``, its transform replaced by ``plan``'s per-sample part."""
    fetcher = copy.copy(dataset)  # the reader's data set stays as it is
    fetcher.transform = plan.sample
    images: Tensor | None = None
    targets = []
    for position, row in enumerate(rows.tolist()):
        sample = fetcher[row]
        if not (isinstance(sample, (tuple, list)) and len(sample) == 2 and isinstance(sample[0], Tensor)):
            return None
        image, target = sample
        if images is None:
            if image.element_size() * image.numel() * len(rows) > max_bytes:
                return None
            images = torch.empty((len(rows), *image.shape), dtype=image.dtype)
        elif image.shape != images.shape[1:] or image.dtype != images.dtype:  # ragged: no one tensor holds them
            return None
        images[position] = image
        targets.append(target)
    collated = default_collate(targets)  # what the DataLoader makes of them
    if not isinstance(collated, Tensor) or collated.dim() == 0 or len(collated) != len(rows):
        return None
    return images, collated


def _agrees(dataset: Dataset, rows: Tensor, images: Tensor | StoredRows, targets: Tensor) -> bool:
    """Do a few rows spread over the split, fetched by the data set's own ``__getitem__``, equal what is stored?"""
    picks = torch.linspace(0, len(rows) - 1, min(len(rows), CHECKED_ROWS)).round().long().unique()
    expected_images, expected_targets = default_collate([dataset[int(rows[k])] for k in picks])
    served = images[picks]
    served = served.to_dense() if isinstance(served, StoredRows) else served
    return all(
        isinstance(want, Tensor) and got.dtype == want.dtype and got.shape == want.shape and torch.equal(got, want)
        for got, want in ((served, expected_images), (targets[picks], expected_targets))
    )


# -- the steps of a compact plan ------------------------------------------------------------------
def _pixels(image: Any) -> Tensor:
    """A PIL image's 8-bit pixels as a ``(C, H, W)`` ``uint8`` tensor: what ``ToTensor`` divides by 255."""
    if not isinstance(image, Image.Image):
        raise _NotPixels
    pixels = pil_to_tensor(image)
    if pixels.dtype != torch.uint8:
        raise _NotPixels
    return pixels


def _scale(pixels: Tensor) -> Tensor:
    """``ToTensor``'s second half, on a batch: 8-bit pixels to floats in [0, 1], with its very arithmetic."""
    return pixels.to(torch.get_default_dtype()).div(255)
