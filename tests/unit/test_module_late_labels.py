"""SimpleModule's target checks: a label outside the task anywhere in a stage is refused, not only in its first batch.

``SimpleModule`` checks the first batch of each stage at once; every later batch's
targets are checked at the end of the stage's epoch (no device sync per step), in the
same words: a binary target 2 in the last test batch is refused, not tested on, and a
class label 12 with ``num_classes=10`` is refused in one line where torch's loss would
end in ``IndexError: Target 12 is out of bounds``. (The same refusal through ``islp-lab`` and under
DDP: ``faults/test_stale_and_wrong_data.py``.)
"""

from __future__ import annotations

import logging
import math
import warnings

import pytest
import torch
from helpers import CLASSES
from pytorch_lightning import Trainer
from torch import nn
from torch.utils.data import TensorDataset

from datamodules.batching import ShardedSampler
from foundations.errors import BadArgumentError
from lightning_modules import SimpleDataModule, SimpleModule
from lightning_modules.machinery.checks import loss_safe_labels

ROWS, BATCH = 160, 16
X = torch.randn(ROWS, 4, generator=torch.Generator().manual_seed(0))

BINARY = "has targets 0, 1, 2, but binary_classification needs 0 or 1: recode them"
STAGE_NAMES = {"train": "training", "valid": "validation", "test": "test"}


def quiet_trainer(**kwargs) -> Trainer:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    settings = dict(accelerator="cpu", max_epochs=2, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return Trainer(**(settings | kwargs))


def good_targets(task: str) -> torch.Tensor:
    return (torch.arange(ROWS) % 2).float() if task == "binary" else torch.arange(ROWS) % 10


def module_for(task: str, loss: nn.Module | None = None) -> SimpleModule:
    if task == "binary":
        return SimpleModule.binary_classification(nn.Linear(4, 1))
    return SimpleModule.classification(nn.Linear(4, 10), num_classes=10, loss=loss)


def late_row(stage: str) -> int:
    """A row served in the last batch of its stage: training batches are shuffled (seed 0, epoch 0)."""
    order = ShardedSampler(ROWS, shuffle=stage == "train", seed=0).indices()
    return int(order[-1])


def data_with(stage: str, y: torch.Tensor, bad: torch.Tensor) -> SimpleDataModule:
    """Training, validation and test sets of the same rows, the bad targets in ``stage``'s."""
    sets = {name: TensorDataset(X, bad if name == stage else y) for name in ("train", "valid", "test")}
    return SimpleDataModule(sets["train"], sets["test"], validation=sets["valid"], batch_size=BATCH,
                            eval_batch_size=BATCH)


def fit_and_test(module: SimpleModule, dm: SimpleDataModule, **kwargs) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = quiet_trainer(**kwargs)
        trainer.fit(module, datamodule=dm)
        return trainer.test(module, datamodule=dm, verbose=False)[0]


@pytest.mark.parametrize("stage", ["train", "valid", "test"])
@pytest.mark.parametrize("task, label, words", [("binary", 2.0, BINARY), ("classification", 12, CLASSES)])
def test_a_bad_label_in_a_late_batch_is_refused_in_one_line(task, label, words, stage):
    y = good_targets(task)
    bad = y.clone()
    bad[late_row(stage)] = label
    with pytest.raises(BadArgumentError) as caught:
        fit_and_test(module_for(task), data_with(stage, y, bad), num_sanity_val_steps=0)
    message = str(caught.value)
    assert message.startswith(f"the {STAGE_NAMES[stage]} data {words}") and "\n" not in message


def test_the_sanity_check_and_later_epochs_refuse_too():
    """Validation during the sanity check sees only its two batches; the first epoch's validation sees the rest."""
    y = good_targets("classification")
    bad = y.clone()
    bad[-1] = 12
    with pytest.raises(BadArgumentError, match=f"^the validation data {CLASSES}$"):
        fit_and_test(module_for("classification"), data_with("valid", y, bad))  # 2 sanity batches first


@pytest.mark.parametrize(
    ("task", "label", "loss", "expected"),
    [
        ("classification", -1, None, "has class labels from -1 to 9, but num_classes=10"),
        ("classification", 12, nn.MultiMarginLoss(), "has class labels from 0 to 12"),  # no ignore_index
        ("classification", 12, nn.CrossEntropyLoss(ignore_index=3), "has class labels from 0 to 12"),
        ("binary", 0.5, None, "has targets 0, 0.5, 1, but binary_classification needs 0 or 1"),
        ("binary", -1.0, None, "has targets -1, 0, 1, but"),
        ("binary", math.nan, None, "has targets 0, 1, nan, but"),
    ],
    ids=["label-minus-1", "multimargin-12", "ce-own-ignore-index-12", "binary-half", "binary-minus-1", "binary-nan"],
)
def test_other_late_targets_outside_the_task_are_refused(task, label, loss, expected):
    y = good_targets(task)
    bad = y.clone()
    bad[-1] = label
    with pytest.raises(BadArgumentError, match=f"^the test data {expected}"):
        fit_and_test(module_for(task, loss), data_with("test", y, bad), num_sanity_val_steps=0)


def test_binary_targets_listed_as_the_first_batch_check_lists_them():
    y = good_targets("binary")
    bad = y.clone()
    bad[-8:] = torch.arange(2, 10).float()  # eight distinct targets other than 0 and 1
    with pytest.raises(BadArgumentError, match=r"^the test data has targets 0, 1, 2, 3, 4, 5, \.\.\., but"):
        fit_and_test(module_for("binary"), data_with("test", y, bad), num_sanity_val_steps=0)


def test_ignored_rows_and_good_labels_reach_the_loss_as_they_are():
    y = torch.tensor([0, 9, -100, 3, 12, -1])
    assert loss_safe_labels(y, 10, -100).tolist() == [0, 9, -100, 3, -100, -100]
    assert loss_safe_labels(y, 10, None).tolist() == [0, 9, 0, 3, 0, 0]
    uint8 = torch.tensor([0, 255, 9, 12], dtype=torch.uint8)  # an ignore_index of 255: those rows stay, 12 joins them
    assert loss_safe_labels(uint8, 10, 255).tolist() == [0, 255, 9, 255]
    assert loss_safe_labels(uint8, 10, -100).tolist() == [0, 0, 9, 0]  # -100 cannot be a uint8 label


def test_good_data_with_ignored_rows_trains_and_tests_as_before():
    y = good_targets("classification")
    y[::7] = -100  # CrossEntropyLoss's ignore_index: not a label out of range
    figures = fit_and_test(module_for("classification"), data_with("test", y, y))
    assert set(figures) == {"test_loss", "test_accuracy"} and all(math.isfinite(v) for v in figures.values())
