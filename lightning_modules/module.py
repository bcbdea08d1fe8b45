"""One generic LightningModule for every lab: regression, classification, binary classification.

What differs between the labs is the network, the loss, the metrics and the
optimizer; everything else (steps, whole-set metrics per stage, logging) is
written once here. The checks it makes, a reader's mistakes refused in one
line, are in :mod:`lightning_modules.machinery.checks`, one call per place.

Metrics are torchmetrics objects, one copy per stage (train/valid/test), held
as submodules so they move with the model to cpu, cuda or mps and are
synchronised across processes under DDP. Each step only updates them; they
are computed and logged once per epoch, over the whole epoch (so the
validation R² is the R² of the whole validation set, not a mean of batch R²s).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection, R2Score

from foundations.errors import BadArgumentError
from lightning_modules.machinery import checks
from lightning_modules.machinery.lightning_internals import setattr_hook_name_plainly

Task = Literal["regression", "classification", "binary"]
#: metrics as the constructors take them: short names, or torchmetrics objects by name
Metrics = list[str] | dict[str, Metric] | None

#: the loss of each task (its default)
TASK_LOSSES: dict[str, type[nn.Module]] = {
    "regression": nn.MSELoss,
    "classification": nn.CrossEntropyLoss,
    "binary": nn.BCEWithLogitsLoss,
}


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
    raise BadArgumentError(f"unknown metric {name!r} for a {task} task; choose from "
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
        # in place (as ``+=`` is, to the bit) without assigning the attributes again, which goes
        # through nn.Module's ``__setattr__``: a cost on every step
        self.total.add_(loss.detach().float() * rows)
        self.rows.add_(rows)

    def compute(self) -> Tensor:
        return self.total / self.rows


class SimpleModule(LightningModule):
    """A network trained for one task, with the book's constructors.

    Built the book's way (``SimpleModule.classification(model, num_classes=10,
    optimizer=RMSprop(model.parameters(), lr=0.001), metrics={'accuracy': Accuracy(...)})``)
    or by names, as the CLI's YAML does (``SimpleModule(model, task="classification",
    num_classes=10, lr=0.001, metrics=["accuracy"])``).

    Args:
        model: the network; it maps a batch of features to predictions (one output per row for
            regression and binary tasks, logits for classification).
        loss: the loss module (default: the task's: MSE, cross-entropy, BCE with logits).
        optimizer: an optimizer built on ``model.parameters()``, or the name of a ``torch.optim``
            class (default RMSprop, as in the book) used with ``lr``.
        metrics: a dict of torchmetrics objects (logged under its keys), or short names (``mae``,
            ``mse``, ``r2``, ``accuracy``). Each stage (train/valid/test) gets its own copy, logged as
            ``train_<name>_epoch``, ``valid_<name>`` and ``test_<name>``, over the whole epoch's data.
            Classification tasks always log ``accuracy``.
        on_epoch: log training figures once per epoch over the whole epoch (default); with
            ``False``, the figures of every training batch instead.
        pre_process_y_for_metrics: applied to the targets before the metrics see them.
        task: ``regression``, ``classification`` or ``binary``; when not given, implied by ``loss``
            (cross-entropy: classification, BCE: binary), else regression.
        num_classes: number of classes (classification only).
        lr: learning rate of an optimizer given by name (the book's default is RMSprop's 0.01).
        optimizer_kwargs: further keyword arguments of an optimizer given by name.

    A reader's mistakes (a loss made for another task, targets that do not suit the task, an empty
    training or test set, a checkpoint of another network) are refused with a :class:`BadArgumentError`
    saying what to give instead, not trained on silently: :mod:`lightning_modules.machinery.checks` lists them.

    ``module.loss`` is the loss and ``module.metrics`` the metrics as given (the template of each
    stage's copy). A checkpoint reloads with ``SimpleModule.load_from_checkpoint(path, model=network)``;
    a module built with metric objects logs them again when they are passed too (``metrics=``).
    """

    def __init__(
        self, model: nn.Module, loss: nn.Module | None = None, optimizer: str | torch.optim.Optimizer | None = "RMSprop",
        metrics: list[str] | dict[str, Metric] | None = None, on_epoch: bool = True,
        pre_process_y_for_metrics: Callable[[Tensor], Tensor] | None = None, task: Task | None = None,
        num_classes: int | None = None, lr: float = 0.01, optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        checks.check_model(model)
        task = checks.check_loss(loss, task)
        num_classes = checks.check_num_classes(task, num_classes)
        optimizer_name, lr = checks.check_optimizer(optimizer, lr, model)
        self.model = model
        self.task = task
        self.loss = loss if loss is not None else TASK_LOSSES[task]()
        self._optimizer = optimizer if isinstance(optimizer, torch.optim.Optimizer) else None
        self.on_epoch = on_epoch
        self.pre_process_y_for_metrics = pre_process_y_for_metrics
        self._targets = checks.TargetWatch.for_loss(task, num_classes, self.loss)  # every batch's targets, checked
        self.metrics = nn.ModuleDict(_metrics_as_given(metrics, task, num_classes))
        for stage in ("train", "valid", "test"):
            setattr(self, f"{stage}_metrics", MetricCollection(copy.deepcopy(dict(self.metrics)), compute_groups=False))
            setattr(self, f"{stage}_loss", MeanLoss())
        # what rebuilds it from a checkpoint (the network passed again): the objects' names, not the objects
        self.save_hyperparameters({
            "task": task, "num_classes": num_classes, "metrics": list(metrics) if isinstance(metrics, (list, tuple)) else None,
            "optimizer": optimizer_name, "lr": lr, "optimizer_kwargs": optimizer_kwargs, "on_epoch": on_epoch,
        })

    # -- the book's constructors ---------------------------------------------
    # ``device`` is accepted for the book's code and not needed: the metrics are
    # submodules and follow the module to whatever device the Trainer uses.
    @classmethod
    def regression(cls, model: nn.Module, metrics: Metrics = None, device: Any = None, **kwargs: Any) -> SimpleModule:
        return cls(model, metrics=metrics, task="regression", **kwargs)

    @classmethod
    def classification(cls, model: nn.Module, num_classes: int, metrics: Metrics = None, device: Any = None,
                       **kwargs: Any) -> SimpleModule:
        return cls(model, metrics=metrics, task="classification", num_classes=num_classes, **kwargs)

    @classmethod
    def binary_classification(cls, model: nn.Module, metrics: Metrics = None, device: Any = None,
                              **kwargs: Any) -> SimpleModule:
        return cls(model, metrics=metrics, task="binary", **kwargs)

    # -- steps ---------------------------------------------------------------
    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _loss_and_metric_inputs(self, batch: tuple[Tensor, ...], stage: str = "train",
                                first: bool = False) -> tuple[Tensor, Tensor, Tensor]:
        """The batch's loss, and the predictions and targets its metrics are updated with. On the stage's
        ``first`` batch the targets and outputs are checked against the task first (:meth:`_check_batch`);
        every batch's targets at the end of the stage's epoch (:class:`~lightning_modules.machinery.checks.TargetWatch`)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            checks.refuse_batch(batch)
        x, y = batch
        output = self(x)
        if first:
            self._check_batch(stage, output, y)
        y = self._targets.watch(stage, y)
        if self.task != "classification" and output.shape != y.shape and output.numel() == y.numel():
            output = output.reshape(y.shape)  # (N, 1) against (N,): never broadcast to (N, N)
        if self.task == "binary":
            loss = self.loss(output, y.to(output.dtype))
            # probabilities, not logits: torchmetrics would guess from the value range
            predictions, targets = torch.sigmoid(output), y.int()
        else:
            loss, predictions, targets = self.loss(output, y), output, y
        if self.pre_process_y_for_metrics is not None:
            targets = self.pre_process_y_for_metrics(y)
        return loss, predictions.detach(), targets

    def _step(self, stage: str, batch: tuple[Tensor, ...], batch_idx: int = 0) -> Tensor:
        loss, predictions, targets = self._loss_and_metric_inputs(batch, stage, first=batch_idx == 0)
        metrics: MetricCollection = getattr(self, f"{stage}_metrics")
        if stage == "train" and not self.on_epoch:  # the book's per-batch figures
            self.log("train_loss", loss, on_step=True, on_epoch=False)
            self.log_dict({f"train_{name}": value for name, value in metrics(predictions, targets).items()})
            return loss
        # weighted by rows, so the epoch's mean equals the loss over the whole set
        getattr(self, f"{stage}_loss").update(loss, rows=targets.shape[0])
        for metric in metrics.values(copy_state=False):  # MetricCollection.update, less its per-step kwargs filter
            metric.update(predictions, targets)
        return loss

    def training_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> Tensor:
        return self._step("train", batch, batch_idx)

    def validation_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        self._step("valid", batch, batch_idx)

    def test_step(self, batch: tuple[Tensor, ...], batch_idx: int) -> None:
        self._step("test", batch, batch_idx)

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
        # logging the metric objects lets Lightning compute them over the whole epoch (synchronised), log, reset
        self.log(f"{stage}_loss{suffix}", loss_metric, on_step=False, on_epoch=True)
        self.log_dict({f"{stage}_{name}{suffix}": metric for name, metric in metrics.items()}, on_step=False, on_epoch=True)

    def on_train_start(self) -> None:
        # a sanity check or an earlier validate() may have left figures in the validation metrics
        self.valid_loss.reset()
        self.valid_metrics.reset()

    def on_train_epoch_start(self) -> None:
        self._targets.start("train")

    def on_validation_epoch_start(self) -> None:
        self._targets.start("valid")

    def on_test_epoch_start(self) -> None:
        self._targets.start("test")

    def on_train_epoch_end(self) -> None:
        self._targets.refuse_bad("train", self.all_gather, self.device)
        if self.on_epoch:
            self._log_epoch("train")
        else:
            self.train_metrics.reset()

    def on_validation_epoch_end(self) -> None:
        if self.trainer.state.fn == "fit" and not self.trainer.sanity_checking:  # before this epoch is checkpointed
            self._targets.refuse_bad("train", self.all_gather, self.device)
        self._targets.refuse_bad("valid", self.all_gather, self.device)
        self._log_epoch("valid")

    def on_test_epoch_end(self) -> None:
        self._targets.refuse_bad("test", self.all_gather, self.device)
        self._log_epoch("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        if self._optimizer is not None:  # built by the caller on the model's parameters
            return self._optimizer
        optimizer_class = getattr(torch.optim, self.hparams.optimizer)
        return optimizer_class(self.parameters(), lr=self.hparams.lr, **(self.hparams.optimizer_kwargs or {}))

    # -- a reader's mistakes, refused in one line (lightning_modules.machinery.checks) ---
    def _check_batch(self, stage: str, output: Tensor, y: Tensor) -> None:  # the first batch of a stage's epoch
        checks.check_first_batch(stage, output, y, self.task, self.hparams.num_classes, self.loss)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:  # before Lightning tries its weights
        checks.refuse_other_network(self, checkpoint)

    def on_fit_end(self) -> None:  # an empty training set is an error, not a fit of zero steps
        checks.refuse_empty_fit(self)

    def teardown(self, stage: str) -> None:  # an empty test set is an error, not an empty result
        checks.refuse_empty_test(self, stage)

    __setattr__ = setattr_hook_name_plainly(LightningModule)  # quicker for the hook name Lightning sets 45 times a step


def _metrics_as_given(metrics: list[str] | dict[str, Metric] | None, task: Task, num_classes: int | None) -> dict[str, Metric]:
    """Metric objects by name: a dict's objects as they are, names built; accuracy added for classifiers."""
    if isinstance(metrics, dict):
        given = {name: metric if isinstance(metric, Metric) else build_metric(metric, task, num_classes)
                 for name, metric in metrics.items()}
    elif isinstance(metrics, str):
        raise BadArgumentError(f"metrics must be a list of names or a dict of metrics, got the string {metrics!r}")
    else:
        given = {name: build_metric(name, task, num_classes) for name in metrics or []}
    if task != "regression" and "accuracy" not in given:  # as the book's constructors do
        given["accuracy"] = build_metric("accuracy", task, num_classes)
    return given
