"""Targets that do not suit the task, refused in one line: the first batch's and every later batch's.

``SimpleModule`` checks the first batch of each stage at once (with one device
sync: see ``SimpleModule._check_batch``). A bad label further on (a binary target 2,
a class label 12 with ``num_classes=10``) is caught here, without a sync per step:
:class:`TargetWatch` keeps each batch's targets (a reference, no copy, no device
work) and checks them all once, at the end of the stage's epoch, in the same words.
A class label out of range would make the loss fail first (``IndexError`` on a CPU,
a device-side assert on a GPU), so the loss gets :func:`loss_safe_labels` meanwhile.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from datamodules.errors import BadArgumentError

#: how a reader builds a module for each task (for the messages)
CONSTRUCTORS = {
    "regression": "SimpleModule.regression(model)",
    "classification": "SimpleModule.classification(model, num_classes=...)",
    "binary": "SimpleModule.binary_classification(model)",
}
#: the stages' names in the messages
STAGE_NAMES = {"train": "training", "valid": "validation", "test": "test"}
#: distinct binary targets a message lists (then "...")
_LISTED = 6


# -- the messages -----------------------------------------------------------------------------------------------
def binary_targets_message(where: str, seen: list[float], more: bool) -> str:
    """Binary targets other than 0 and 1; ``seen`` are (some of) the targets, ``more``: there are others."""
    return (
        f"{where} has targets {', '.join(f'{v:g}' for v in seen)}{', ...' if more else ''}, "
        "but binary_classification needs 0 or 1: recode them (e.g. (y == positive_label).float(), or y - 1 "
        f"for labels 1 and 2); for more than two classes use {CONSTRUCTORS['classification']}"
    )


def class_labels_message(where: str, low: int, high: int, num_classes: int) -> str:
    """Class labels from ``low`` to ``high``, some outside ``0..num_classes-1``."""
    return (
        f"{where} has class labels from {low} to {high}, but num_classes={num_classes} takes labels "
        f"0 to {num_classes - 1}: give num_classes={high + 1} if the labels are 0 to {high}, or "
        "renumber the classes from 0"
    )


# -- every batch -------------------------------------------------------------------------------------------------
def loss_safe_labels(y: Tensor, num_classes: int, ignore_index: int | None) -> Tensor:
    """``y`` with labels outside ``0..num_classes-1`` replaced, so that the loss runs until the stage's end
    refuses them: by the loss's ``ignore_index`` (those rows are left out of it), else by 0. Three tensor
    operations, no sync; labels in range (and rows already ``ignore_index``) are kept as they are."""
    if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:  # refused at the first batch
        return y
    keep = y == y.clamp(0, num_classes - 1)
    limits = torch.iinfo(y.dtype)
    fill = ignore_index if ignore_index is not None and limits.min <= ignore_index <= limits.max else 0
    if ignore_index is not None and fill != ignore_index:  # (uint8 labels: rows of an ignore_index of 255)
        keep |= y == ignore_index
    return torch.where(keep, y, fill)


class TargetWatch:
    """Every batch's targets of each stage, checked against the task once, at the end of the stage's epoch.

    :meth:`watch` keeps a batch's targets (no copy, no device work) and gives the
    targets the loss may be given; :meth:`refuse_bad` looks at a stage's targets
    (one sync) and raises :class:`BadArgumentError` with the first-batch check's
    words for the whole stage (``the test data has targets 0, 1, 2, but ...``).
    Under DDP each process summarises its own targets in a few numbers, which
    ``gather`` (``LightningModule.all_gather``) brings together: every process
    decides alike, and all say the same line.
    """

    def __init__(self, task: str, num_classes: int | None, ignore_index: int | None) -> None:
        self.task = task
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.targets: dict[str, list[Tensor]] = {}

    def start(self, stage: str) -> None:
        self.targets[stage] = []

    def watch(self, stage: str, y: Tensor) -> Tensor:
        if self.task == "regression" or not isinstance(y, Tensor):
            return y
        self.targets.setdefault(stage, []).append(y.detach())
        if self.task == "classification":
            return loss_safe_labels(y, self.num_classes, self.ignore_index)
        return y

    def refuse_bad(self, stage: str, gather: Callable[[Tensor], Tensor], device: torch.device) -> None:
        """Raise if a target of ``stage`` seen since its epoch began does not suit the task."""
        seen = self.targets.pop(stage, [])
        if self.task == "regression":
            return
        values = torch.cat([y.reshape(-1) for y in seen]).to(device) if seen else torch.empty(0, device=device)
        where = f"the {STAGE_NAMES.get(stage, stage)} data"
        if self.task == "binary":
            self._refuse_binary(where, gather(_distinct_bad(values)).reshape(-1, _LISTED + 4))
        else:
            self._refuse_labels(where, gather(self._label_range(values)).reshape(-1, 2))

    def _label_range(self, values: Tensor) -> Tensor:
        """``[-lowest, highest]`` of the labels the loss counts (not its ``ignore_index``): taken by maximum."""
        if values.is_floating_point() or values.is_complex() or values.dtype == torch.bool:
            values = values[:0].long()  # refused at the first batch already
        values = values.long()
        if self.ignore_index is not None:
            values = values[values != self.ignore_index]
        if not len(values):
            return torch.full((2,), torch.iinfo(torch.long).min, device=values.device)
        return torch.stack([-values.min(), values.max()])

    def _refuse_labels(self, where: str, ranges: Tensor) -> None:
        negative_low, high = ranges.amax(0).tolist()
        low, none = -negative_low, high == torch.iinfo(torch.long).min
        if not none and (low < 0 or high >= self.num_classes):
            raise BadArgumentError(class_labels_message(where, low, high, self.num_classes))

    def _refuse_binary(self, where: str, summaries: Tensor) -> None:
        seen: set[float] = set()
        more = False
        for has_zero, has_one, count, *bad in summaries.tolist():
            seen |= {0.0} if has_zero else set()
            seen |= {1.0} if has_one else set()
            seen |= {v if v == v else math.nan for v in bad[: min(int(count), _LISTED + 1)]}  # one NaN
            more |= count > _LISTED + 1
        if seen - {0.0, 1.0}:
            listed = sorted(seen, key=lambda v: (v != v, v))  # (a NaN last)
            raise BadArgumentError(binary_targets_message(where, listed[:_LISTED], more or len(listed) > _LISTED))


def _distinct_bad(values: Tensor) -> Tensor:
    """``[0 seen, 1 seen, how many distinct others, the first 7 of them (NaN-padded)]``: one process's
    binary targets in a fixed shape that processes can gather."""
    values = values.double() if values.device.type != "mps" else values.float()
    bad = values[(values != 0) & (values != 1)].unique()
    kept = torch.full((_LISTED + 1,), torch.nan, dtype=values.dtype, device=values.device)
    kept[: min(len(bad), _LISTED + 1)] = bad[: _LISTED + 1]
    flags = torch.stack([(values == 0).any(), (values == 1).any()]).to(values.dtype)
    return torch.cat([flags, torch.tensor([len(bad)], dtype=values.dtype, device=values.device), kept])
