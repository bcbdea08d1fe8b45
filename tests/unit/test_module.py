"""The generic module: factories, per-stage metrics, whole-set figures, checkpoints; and its target checks, a label
outside the task anywhere in a stage refused, not only in its first batch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch
from helpers import CLASSES, quiet_trainer, regression_tensors
from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score
from torch import nn
from torch.optim import RMSprop
from torch.utils.data import DataLoader, TensorDataset
from torchmetrics import MeanAbsoluteError, R2Score
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from datamodules import SimpleDataModule
from datamodules.batching import ShardedSampler
from foundations.errors import BadArgumentError
from lightning_modules.machinery.checks import loss_safe_labels
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import make_trainer


def test_factories_pick_loss_and_metrics():
    regression = SimpleModule.regression(nn.Linear(4, 1), metrics=["mae", "r2"])
    assert isinstance(regression.loss, nn.MSELoss)
    assert isinstance(regression.valid_metrics["mae"], MeanAbsoluteError)
    assert isinstance(regression.test_metrics["r2"], R2Score)

    classification = SimpleModule.classification(nn.Linear(4, 3), num_classes=3)
    assert isinstance(classification.loss, nn.CrossEntropyLoss)
    assert isinstance(classification.train_metrics["accuracy"], MulticlassAccuracy)
    assert classification.hparams.num_classes == 3

    binary = SimpleModule.binary_classification(nn.Linear(4, 1))
    assert isinstance(binary.loss, nn.BCEWithLogitsLoss)
    assert isinstance(binary.valid_metrics["accuracy"], BinaryAccuracy)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="num_classes"):
        SimpleModule(nn.Linear(2, 2), task="classification")
    with pytest.raises(ValueError, match="unknown optimizer"):
        SimpleModule.regression(nn.Linear(2, 1), optimizer="Rmsprop")
    with pytest.raises(ValueError, match="unknown metric 'accuracy'"):
        SimpleModule.regression(nn.Linear(2, 1), metrics=["accuracy"])


def test_metrics_are_submodules_one_copy_per_stage():
    module = SimpleModule.regression(nn.Linear(4, 1), metrics=["r2"])
    names = dict(module.named_modules())
    for stage in ("train", "valid", "test"):
        assert f"{stage}_metrics.r2" in names and f"{stage}_loss" in names
    assert module.train_metrics["r2"] is not module.valid_metrics["r2"] is not module.test_metrics["r2"]
    module.to(torch.float64)  # any .to() reaches the metrics too, as it would to cuda or mps
    assert module.valid_metrics["r2"].sum_squared_error.dtype == torch.float64


def test_optimizer_by_name_and_book_default():
    module = SimpleModule.regression(nn.Linear(4, 1))
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.RMSprop) and optimizer.defaults["lr"] == 0.01
    module = SimpleModule.regression(nn.Linear(4, 1), optimizer="SGD", lr=0.1, optimizer_kwargs={"momentum": 0.9})
    optimizer = module.configure_optimizers()
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.9


def _validate(module: SimpleModule, datamodule: SimpleDataModule, tmp_path) -> dict[str, float]:
    trainer = make_trainer("t", "m", max_epochs=1, accelerator="cpu", log_dir=tmp_path, enable_progress_bar=False)
    (figures,) = trainer.validate(module, datamodule=datamodule, verbose=False)
    return figures


def test_whole_set_regression_figures_equal_sklearn(tmp_path):
    torch.manual_seed(0)
    X, y = regression_tensors(203)
    network = nn.Linear(4, 1)
    # batches of 16 over 203 rows: a mean of batch R²s would differ from the whole-set R²
    datamodule = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation="test", batch_size=16)
    figures = _validate(SimpleModule.regression(network, metrics=["r2", "mae"]), datamodule, tmp_path)
    with torch.no_grad():
        predictions = network(X).flatten().numpy()
    assert figures["valid_r2"] == pytest.approx(r2_score(y.numpy(), predictions), rel=1e-5)
    assert figures["valid_mae"] == pytest.approx(mean_absolute_error(y.numpy(), predictions), rel=1e-5)
    assert figures["valid_loss"] == pytest.approx(((predictions - y.numpy()) ** 2).mean(), rel=1e-5)
    batch_r2 = [r2_score(y[i : i + 16].numpy(), predictions[i : i + 16]) for i in range(0, 203, 16)]
    assert abs(sum(batch_r2) / len(batch_r2) - figures["valid_r2"]) > 1e-3


def test_binary_accuracy_uses_probabilities_not_raw_logits(tmp_path):
    # logits all inside [0, 1]: read as probabilities they would all be "negative" below 0.5
    logits = torch.linspace(0.05, 0.95, 40)
    y = torch.ones(40)

    class Fixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.unused = nn.Parameter(torch.zeros(1))

        def forward(self, x):
            return x[:, 0]

    datamodule = SimpleDataModule(TensorDataset(logits[:, None], y), TensorDataset(logits[:, None], y), validation="test")
    figures = _validate(SimpleModule.binary_classification(Fixed()), datamodule, tmp_path)
    expected = accuracy_score(y.numpy(), (torch.sigmoid(logits) > 0.5).numpy())
    assert figures["valid_accuracy"] == pytest.approx(expected) == 1.0


def test_classification_figures_and_predict(tmp_path):
    torch.manual_seed(0)
    X = torch.randn(90, 5)
    y = torch.randint(0, 3, (90,))
    network = nn.Linear(5, 3)
    datamodule = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation="test", batch_size=7)
    module = SimpleModule.classification(network, num_classes=3)
    figures = _validate(module, datamodule, tmp_path)
    with torch.no_grad():
        logits = network(X)
    assert figures["valid_accuracy"] == pytest.approx(accuracy_score(y.numpy(), logits.argmax(1).numpy()))
    assert figures["valid_loss"] == pytest.approx(nn.functional.cross_entropy(logits, y).item(), rel=1e-5)
    trainer = make_trainer("t", "m", max_epochs=1, accelerator="cpu", log_dir=tmp_path, enable_progress_bar=False)
    probabilities = torch.cat(trainer.predict(module, datamodule=datamodule))
    assert probabilities.shape == (90, 3) and torch.allclose(probabilities.sum(1), torch.ones(90))


def test_checkpoint_reloads_hyperparameters_and_weights(tmp_path):
    X, y = regression_tensors(64)
    datamodule = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation="test")
    module = SimpleModule.regression(nn.Linear(4, 1), metrics=["mae"], lr=0.005)
    trainer = make_trainer("t", "m", max_epochs=2, accelerator="cpu", log_dir=tmp_path, enable_progress_bar=False)
    trainer.fit(module, datamodule=datamodule)
    checkpoint = tmp_path / "t" / "m" / "version_0" / "checkpoints" / "last.ckpt"
    reloaded = SimpleModule.load_from_checkpoint(checkpoint, model=nn.Linear(4, 1))
    assert reloaded.hparams.lr == 0.005 and reloaded.hparams.metrics == ["mae"]
    assert torch.equal(reloaded.model.weight, module.model.weight)


# -- a reader's mistakes: an error saying what to give ---------------------------------------------------------------
X = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
Y_REAL = torch.randn(100, generator=torch.Generator().manual_seed(1))
LABELS = torch.arange(100) % 10


def fit(module: SimpleModule, y: torch.Tensor) -> None:
    quiet_trainer().fit(module, datamodule=SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation=0.2))


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (lambda: SimpleDataModule.fromarrays(X.numpy(), np.zeros(120)),
         "fromarrays: .* array 1 of 2 has 100, array 2 of 2 has 120"),
        (lambda: SimpleModule.regression(nn.Linear(4, 1), loss=nn.CrossEntropyLoss()),
         r"loss=CrossEntropyLoss\(\) is a loss for classification .*not for regression"),
        (lambda: SimpleModule.classification(nn.Linear(4, 3), num_classes=3, loss=nn.MSELoss()),
         r"loss=MSELoss\(\) is a loss for regression"),
        (lambda: SimpleModule.binary_classification(nn.Linear(4, 1), loss=nn.BCELoss()),
         r"BCEWithLogitsLoss"),
        (lambda: fit(SimpleModule.binary_classification(nn.Linear(4, 1)), (LABELS % 2 + 1).float()),
         "first validation batch has targets 1, 2, but binary_classification needs 0 or 1"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 5), num_classes=5), LABELS),
         r"class labels from \d to 9, but num_classes=5 .* give num_classes=10"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=5), LABELS),
         "network gives 10 outputs per row but num_classes=5"),
        (lambda: fit(SimpleModule.regression(nn.Linear(4, 1)), LABELS),
         "torch.int64 targets, but a regression needs numbers"),
        (lambda: fit(SimpleModule.regression(nn.Linear(4, 10)), Y_REAL),
         r"outputs of shape \(\d+, 10\) for targets of shape \(\d+,\)"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), LABELS.float()),
         "torch.float32 targets, but classification needs class indices"),
        (lambda: SimpleDataModule(TensorDataset(X[:0], Y_REAL[:0]), TensorDataset(X, Y_REAL)),
         "train_dataset is empty"),
        (lambda: quiet_trainer().fit(SimpleModule.regression(nn.Linear(4, 1)), DataLoader(TensorDataset(X[:0], Y_REAL[:0]))),
         "the training data is empty"),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)),
                                      datamodule=SimpleDataModule(TensorDataset(X, Y_REAL), TensorDataset(X[:0], Y_REAL[:0]))),
         "the test set is empty"),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)),
                                      datamodule=SimpleDataModule.fromarrays(X, Y_REAL)),
         "the test set is empty .*fromarrays: test="),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)), DataLoader(TensorDataset(X[:0], Y_REAL[:0]))),
         "the test data is empty"),
    ],
    ids=["lengths", "regression-ce", "classification-mse", "bce", "binary-1-2", "labels-beyond",
         "outputs-vs-classes", "regression-int", "regression-10-outputs", "classification-float",
         "empty-train", "empty-train-loader", "empty-test", "fromarrays-no-test", "empty-test-loader"],
)
def test_a_readers_mistake_is_an_error_saying_what_to_give(attempt, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadArgumentError, match=expected) as caught:
            attempt()
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


def test_the_checks_leave_good_tasks_alone_and_run_once_per_stage_and_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    original = SimpleModule._check_batch

    def spy(self, stage, output, y):
        checked.append(stage)
        return original(self, stage, output, y)

    monkeypatch.setattr(SimpleModule, "_check_batch", spy)
    data = SimpleDataModule(TensorDataset(X, LABELS % 2), TensorDataset(X, LABELS % 2), validation=0.2, batch_size=10)
    trainer = quiet_trainer(max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(SimpleModule.binary_classification(nn.Linear(4, 1)), datamodule=data)
    assert checked == ["train", "valid", "train", "valid"]  # 8 training batches an epoch, one check each
    fit(SimpleModule.regression(nn.Linear(4, 1), loss=nn.L1Loss()), Y_REAL)
    fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), LABELS)
    ignored = LABELS.clone()
    ignored[::7] = -100  # CrossEntropyLoss's ignore_index is not a label out of range
    fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), ignored)


def test_an_optimizer_of_another_network_is_refused():
    with pytest.raises(ValueError, match="not the model's"):
        SimpleModule.regression(nn.Linear(3, 1), optimizer=RMSprop(nn.Linear(3, 1).parameters()))


# -- target checks: every batch of a stage, not only its first --------------------------------------------------
# SimpleModule's target checks: a label outside the task anywhere in a stage is refused, not only in its first batch.
#
# ``SimpleModule`` checks the first batch of each stage at once; every later batch's
# targets are checked at the end of the stage's epoch (no device sync per step), in the
# same words: a binary target 2 in the last test batch is refused, not tested on, and a
# class label 12 with ``num_classes=10`` is refused in one line where torch's loss would
# end in ``IndexError: Target 12 is out of bounds``. (The same refusal through ``islp-lab`` and under
# DDP: ``faults/test_stale_and_wrong_data.py``.)
ROWS, BATCH = 160, 16
LATE_X = torch.randn(ROWS, 4, generator=torch.Generator().manual_seed(0))

BINARY = "has targets 0, 1, 2, but binary_classification needs 0 or 1: recode them"


#: the stages as the messages name them
STAGE_NAMES = {"train": "training", "valid": "validation", "test": "test"}


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
    sets = {name: TensorDataset(LATE_X, bad if name == stage else y) for name in ("train", "valid", "test")}
    return SimpleDataModule(sets["train"], sets["test"], validation=sets["valid"], batch_size=BATCH,
                            eval_batch_size=BATCH)


def fit_and_test(module: SimpleModule, dm: SimpleDataModule, **kwargs) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        trainer = quiet_trainer(**({"max_epochs": 2} | kwargs))
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
