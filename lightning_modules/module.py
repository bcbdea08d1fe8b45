"""One generic LightningModule for every lab: regression, classification, binary classification.

What differs between the labs is the network, the loss, the metrics and the
optimizer; everything else (steps, whole-set metrics per stage, logging) is
written once here.

Metrics are torchmetrics objects, one copy per stage (train/valid/test), held
as submodules so they move with the model to cpu, cuda or mps and are
synchronised across processes under DDP. Each step only updates them; they
are computed and logged once per epoch, over the whole epoch (so the
validation R² is the R² of the whole validation set, not a mean of batch R²s).
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection, R2Score

Task = Literal["regression", "classification", "binary"]
STAGES = ("train", "valid", "test")


def build_metric(name: str, task: Task, num_classes: int | None = None) -> Metric:
    """A torchmetrics object from its short name (``mae``, ``mse``, ``r2``, ``accuracy``)."""
    if name == "accuracy":
        # no per-update checks of the values: they would force a device sync at every step
        if task == "binary":
            return Accuracy(task="binary", validate_args=False)
        if task == "classification":
            return Accuracy(task="multiclass", num_classes=num_classes, validate_args=False)
    elif task == "regression":
        regression_metrics = {"mae": MeanAbsoluteError, "mse": MeanSquaredError, "r2": R2Score}
        if name in regression_metrics:
            return regression_metrics[name]()
    raise ValueError(f"unknown metric {name!r} for a {task} task; choose from "
                     f"{['mae', 'mse', 'r2'] if task == 'regression' else ['accuracy']}")


class MeanLoss(Metric):
    """Mean of batch losses weighted by batch rows: the loss over the whole set.

    torchmetrics' ``MeanMetric`` checks every update for NaN, which forces a
    device sync per step; with that check disabled it drops the weights
    (torchmetrics 1.9). The loss is watched for NaN by ``ErrorTracker`` instead.
    """

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        # float32 states: mps has no float64
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")
        self.add_state("rows", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, loss: Tensor, rows: int) -> None:
        self.total += loss.detach().float() * rows
        self.rows += rows

    def compute(self) -> Tensor:
        return self.total / self.rows


class SimpleModule(LightningModule):
    """A network trained for one task, with the book's constructors.

    Args:
        model: the network; it maps a batch of features to predictions (one
            output per row for regression and binary tasks, logits for classification).
        task: ``regression`` (MSE loss), ``classification`` (cross-entropy) or
            ``binary`` (BCE with logits).
        metrics: short metric names, logged per stage as ``train_<name>_epoch``,
            ``valid_<name>`` and ``test_<name>``.
        num_classes: number of classes (classification only).
        optimizer: name of a ``torch.optim`` class (RMSprop as in the book).
        lr: learning rate (the book's default is RMSprop's 0.01).
        optimizer_kwargs: further keyword arguments of the optimizer.
    """

    def __init__(
        self,
        model: nn.Module,
        task: Task = "regression",
        metrics: list[str] | None = None,
        num_classes: int | None = None,
        optimizer: str = "RMSprop",
        lr: float = 0.01,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if task == "classification" and not num_classes:
            raise ValueError("a classification task needs num_classes")
        if not hasattr(torch.optim, optimizer):
            raise ValueError(f"unknown optimizer {optimizer!r}: use the name of a torch.optim class, e.g. RMSprop")
        # The network is saved in the checkpoint's weights; its construction is
        # recorded by the CLI's config (see `islp-lab`), so keep it out of hparams.
        self.save_hyperparameters(ignore=["model"])
        self.model = model
        self.task = task
        self.loss_fn: nn.Module = {
            "regression": nn.MSELoss(),
            "classification": nn.CrossEntropyLoss(),
            "binary": nn.BCEWithLogitsLoss(),
        }[task]
        metrics = list(metrics or (["accuracy"] if task != "regression" else []))
        collection = MetricCollection({name: build_metric(name, task, num_classes) for name in metrics})
        self.train_metrics = collection.clone()
        self.valid_metrics = collection.clone()
        self.test_metrics = collection.clone()
        self.train_loss = MeanLoss()
        self.valid_loss = MeanLoss()
        self.test_loss = MeanLoss()

    # -- the book's constructors ---------------------------------------------
    @classmethod
    def regression(cls, model: nn.Module, metrics: list[str] | None = None, **kwargs: Any) -> SimpleModule:
        return cls(model, task="regression", metrics=metrics, **kwargs)

    @classmethod
    def classification(
        cls, model: nn.Module, num_classes: int, metrics: list[str] | None = None, **kwargs: Any
    ) -> SimpleModule:
        return cls(model, task="classification", metrics=metrics, num_classes=num_classes, **kwargs)

    @classmethod
    def binary_classification(cls, model: nn.Module, metrics: list[str] | None = None, **kwargs: Any) -> SimpleModule:
        return cls(model, task="binary", metrics=metrics, **kwargs)

    # -- steps ---------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _loss_and_metric_inputs(self, batch: tuple[Tensor, ...]) -> tuple[Tensor, Tensor, Tensor]:
        """The batch's loss, and the predictions and targets its metrics are updated with."""
        x, y = batch
        output = self(x)
        if self.task == "classification":
            return self.loss_fn(output, y), output, y
        output = output.reshape(y.shape)
        if self.task == "binary":
            # probabilities, not logits: torchmetrics would guess from the value range
            return self.loss_fn(output, y.float()), torch.sigmoid(output), y.int()
        return self.loss_fn(output, y), output, y

    def _step(self, stage: str, batch: tuple[Tensor, ...]) -> Tensor:
        loss, metric_preds, metric_targets = self._loss_and_metric_inputs(batch)
        # weighted by rows, so the epoch's mean equals the loss over the whole set
        getattr(self, f"{stage}_loss").update(loss, rows=metric_targets.shape[0])
        getattr(self, f"{stage}_metrics").update(metric_preds.detach(), metric_targets)
        return loss

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._step("train", batch)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        self._step("valid", batch)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        self._step("test", batch)

    def predict_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        output = self(x)
        if self.task == "binary":
            return torch.sigmoid(output.reshape(-1))
        if self.task == "classification":
            return torch.softmax(output, dim=-1)
        return output.reshape(output.shape[0], -1).squeeze(-1)

    # -- once per epoch: compute over the whole set, log, reset ----------------
    def _log_epoch(self, stage: str) -> None:
        suffix = "_epoch" if stage == "train" else ""
        loss_metric: MeanLoss = getattr(self, f"{stage}_loss")
        metrics: MetricCollection = getattr(self, f"{stage}_metrics")
        if loss_metric.update_count == 0:  # nothing ran (e.g. no validation set)
            return
        # Logging the metric objects lets Lightning compute them over the whole
        # epoch (synchronised across processes), log once, and reset them.
        self.log(f"{stage}_loss{suffix}", loss_metric, on_step=False, on_epoch=True)
        self.log_dict({f"{stage}_{name}{suffix}": metric for name, metric in metrics.items()}, on_step=False, on_epoch=True)

    def on_train_epoch_end(self) -> None:
        self._log_epoch("train")

    def on_validation_epoch_end(self) -> None:
        self._log_epoch("valid")

    def on_test_epoch_end(self) -> None:
        self._log_epoch("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        optimizer_class = getattr(torch.optim, self.hparams.optimizer)
        return optimizer_class(self.parameters(), lr=self.hparams.lr, **(self.hparams.optimizer_kwargs or {}))
