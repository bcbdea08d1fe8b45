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

import copy
import math
import numbers
from collections.abc import Callable
from typing import Any, Literal

import torch
from pytorch_lightning import LightningModule
from torch import Tensor, nn
from torchmetrics import Accuracy, MeanAbsoluteError, MeanSquaredError, Metric, MetricCollection, R2Score

from datamodules.arguments import whole_number
from datamodules.errors import BadArgumentError
from lightning_modules.checks import CONSTRUCTORS as _CONSTRUCTORS
from lightning_modules.checks import STAGE_NAMES, TargetWatch, binary_targets_message, class_labels_message

Task = Literal["regression", "classification", "binary"]


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


#: the loss of each task, and the task a given loss module implies
TASK_LOSSES: dict[str, type[nn.Module]] = {
    "regression": nn.MSELoss,
    "classification": nn.CrossEntropyLoss,
    "binary": nn.BCEWithLogitsLoss,
}
_LOSS_TASKS: dict[type[nn.Module], Task] = {
    nn.MSELoss: "regression",
    nn.L1Loss: "regression",
    nn.SmoothL1Loss: "regression",
    nn.HuberLoss: "regression",
    nn.PoissonNLLLoss: "regression",
    nn.CrossEntropyLoss: "classification",
    nn.NLLLoss: "classification",
    nn.MultiMarginLoss: "classification",
    nn.BCEWithLogitsLoss: "binary",
}
_EXAMPLE_LOSSES = {
    "regression": "nn.MSELoss() (the default) or nn.L1Loss()",
    "classification": "nn.CrossEntropyLoss() (the default)",
    "binary": "nn.BCEWithLogitsLoss() (the default)",
}


def _loss_task(loss: Any) -> Task | None:
    """The task a loss module is made for (``None``: a loss of the reader's own, taken on trust)."""
    for kind in type(loss).__mro__:
        if kind in _LOSS_TASKS:
            return _LOSS_TASKS[kind]
    return None


def _check_loss(loss: Any, task: Task | None) -> Task:
    """The task, given or implied by ``loss``; a loss made for another task is refused, naming ``loss``."""
    if loss is not None:
        if isinstance(loss, type):
            raise BadArgumentError(f"loss={loss.__name__} is a class: give a loss object, e.g. loss={loss.__name__}()")
        if not callable(loss):
            raise BadArgumentError(f"loss must be a loss module or function, e.g. nn.MSELoss(), got {loss!r}")
        if isinstance(loss, nn.BCELoss):  # the module hands the loss logits (and its metrics sigmoid(logits))
            raise BadArgumentError(
                "loss=BCELoss() takes probabilities, but the network's outputs here are logits: give "
                "loss=nn.BCEWithLogitsLoss() (the default of binary_classification) and no final Sigmoid"
            )
    implied = _loss_task(loss)
    task = task or implied or "regression"
    if task not in TASK_LOSSES:
        raise BadArgumentError(f"unknown task {task!r}: choose regression, classification or binary")
    if implied is not None and implied != task:
        name = type(loss).__name__
        raise BadArgumentError(
            f"loss={name}() is a loss for {implied} ({_CONSTRUCTORS[implied]}), not for {task}: give "
            f"{_CONSTRUCTORS[task]} a {task} loss, e.g. {_EXAMPLE_LOSSES[task]}, or build the module with "
            f"{_CONSTRUCTORS[implied]}"
        )
    return task


class SimpleModule(LightningModule):
    """A network trained for one task, with the book's constructors.

    Built the book's way (``SimpleModule.classification(model, num_classes=10,
    optimizer=RMSprop(model.parameters(), lr=0.001), metrics={'accuracy':
    Accuracy(...)})``) or by names, as the CLI's YAML does
    (``SimpleModule(model, task="classification", num_classes=10, lr=0.001,
    metrics=["accuracy"])``).

    Args:
        model: the network; it maps a batch of features to predictions (one
            output per row for regression and binary tasks, logits for classification).
        loss: the loss module (default: the task's: MSE, cross-entropy, BCE with logits).
        optimizer: an optimizer built on ``model.parameters()``, or the name of a
            ``torch.optim`` class (default RMSprop, as in the book) used with ``lr``.
        metrics: a dict of torchmetrics objects (logged under its keys), or short
            names (``mae``, ``mse``, ``r2``, ``accuracy``). Each stage
            (train/valid/test) gets its own copy, logged as ``train_<name>_epoch``,
            ``valid_<name>`` and ``test_<name>``, over the whole epoch's data.
            Classification tasks always log ``accuracy``.
        on_epoch: log training figures once per epoch over the whole epoch
            (default); with ``False``, the figures of every training batch instead.
        pre_process_y_for_metrics: applied to the targets before the metrics see them.
        task: ``regression``, ``classification`` or ``binary``; when not given,
            implied by ``loss`` (cross-entropy: classification, BCE: binary), else regression.
        num_classes: number of classes (classification only).
        lr: learning rate of an optimizer given by name (the book's default is RMSprop's 0.01).
        optimizer_kwargs: further keyword arguments of an optimizer given by name.

    A reader's mistakes are refused with a :class:`BadArgumentError` saying what
    to give instead, not trained on silently: a loss made for another task
    (``regression(model, loss=nn.CrossEntropyLoss())``) when the module is built;
    targets that do not suit the task at the first batch of each stage of each
    epoch (regression: float targets, one output per target; classification:
    whole-number labels in ``0..num_classes-1``, ``num_classes`` outputs per
    row; binary: targets 0 or 1, one logit per row), and the targets of every
    later batch, at the end of the stage's epoch (no device sync per step:
    :class:`~lightning_modules.checks.TargetWatch`); and an empty training or
    test set (fitting zero steps, or testing nothing, is an error, not an
    empty result).

    ``module.loss`` is the loss and ``module.metrics`` the metrics as given (the
    template of each stage's copy). A checkpoint reloads with
    ``SimpleModule.load_from_checkpoint(path, model=network)``; a module built
    with metric objects logs them again when they are passed too (``metrics=``).
    """

    def __init__(
        self,
        model: nn.Module,
        loss: nn.Module | None = None,
        optimizer: str | torch.optim.Optimizer | None = "RMSprop",
        metrics: list[str] | dict[str, Metric] | None = None,
        on_epoch: bool = True,
        pre_process_y_for_metrics: Callable[[Tensor], Tensor] | None = None,
        task: Task | None = None,
        num_classes: int | None = None,
        lr: float = 0.01,
        optimizer_kwargs: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(model, nn.Module):
            what = f"the class {model.__name__}: build the network first, e.g. {model.__name__}(...)" if isinstance(model, type) \
                else f"a {type(model).__name__}"
            raise BadArgumentError(f"model must be a network (an nn.Module), got {what}")
        task = _check_loss(loss, task)
        if task == "classification":
            if num_classes is None:
                raise BadArgumentError(f"a classification task needs num_classes, got {num_classes!r}")
            num_classes = whole_number(num_classes, "num_classes", 2, "the number of classes, e.g. 10 for MNIST")
        optimizer = optimizer or "RMSprop"
        if isinstance(optimizer, str):
            if not isinstance(getattr(torch.optim, optimizer, None), type):
                raise BadArgumentError(f"unknown optimizer {optimizer!r}: use the name of a torch.optim class, e.g. RMSprop")
            if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
                raise BadArgumentError(f"the learning rate must be a number above 0, e.g. lr=0.001, got lr={lr!r}")
            lr = float(lr)
            optimizer_name = optimizer
        else:
            _check_optimizer_owns(optimizer, model)
            optimizer_name, lr = type(optimizer).__name__, optimizer.param_groups[0]["lr"]
        self.model = model
        self.task = task
        self.loss = loss if loss is not None else TASK_LOSSES[task]()
        self._optimizer = None if isinstance(optimizer, str) else optimizer
        self.on_epoch = on_epoch
        self.pre_process_y_for_metrics = pre_process_y_for_metrics
        ignore_index = getattr(self.loss, "ignore_index", None)  # CrossEntropyLoss skips these targets (-100)
        self._targets = TargetWatch(task, num_classes, ignore_index if isinstance(ignore_index, int) else None)
        self.metrics = nn.ModuleDict(_metrics_as_given(metrics, task, num_classes))
        for stage in ("train", "valid", "test"):
            setattr(self, f"{stage}_metrics", MetricCollection(copy.deepcopy(dict(self.metrics)), compute_groups=False))
            setattr(self, f"{stage}_loss", MeanLoss())
        # What rebuilds this module from a checkpoint (with the network passed again): objects
        # (the network, the loss, an optimizer, metric objects) stay out, their names go in.
        self.save_hyperparameters({
            "task": task,
            "num_classes": num_classes,
            "metrics": list(metrics) if isinstance(metrics, (list, tuple)) else None,
            "optimizer": optimizer_name,
            "lr": lr,
            "optimizer_kwargs": optimizer_kwargs,
            "on_epoch": on_epoch,
        })

    # -- the book's constructors ---------------------------------------------
    # ``device`` is accepted for the book's code and not needed: the metrics are
    # submodules and follow the module to whatever device the Trainer uses.
    @classmethod
    def regression(
        cls, model: nn.Module, metrics: list[str] | dict[str, Metric] | None = None, device: Any = None, **kwargs: Any
    ) -> SimpleModule:
        return cls(model, metrics=metrics, task="regression", **kwargs)

    @classmethod
    def classification(
        cls,
        model: nn.Module,
        num_classes: int,
        metrics: list[str] | dict[str, Metric] | None = None,
        device: Any = None,
        **kwargs: Any,
    ) -> SimpleModule:
        return cls(model, metrics=metrics, task="classification", num_classes=num_classes, **kwargs)

    @classmethod
    def binary_classification(
        cls, model: nn.Module, metrics: list[str] | dict[str, Metric] | None = None, device: Any = None, **kwargs: Any
    ) -> SimpleModule:
        return cls(model, metrics=metrics, task="binary", **kwargs)

    # -- steps ---------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        # Lightning records the hook it is in (``_current_fx_name``, a string) around every hook call: some 45
        # times a training step. nn.Module's ``__setattr__`` first looks for a parameter, module or buffer of that
        # name (about 2 µs each time, 15 times a plain attribute's): for a small network, a few percent of its step.
        if name == "_current_fx_name":
            object.__setattr__(self, name, value)
        else:
            super().__setattr__(name, value)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)

    def _loss_and_metric_inputs(
        self, batch: tuple[Tensor, ...], stage: str = "train", first: bool = False
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The batch's loss, and the predictions and targets its metrics are updated with.

        On the stage's ``first`` batch the targets and outputs are checked against the
        task first (:meth:`_check_batch`); every batch's targets are checked at the end
        of the stage's epoch (:class:`~lightning_modules.checks.TargetWatch`)."""
        if not isinstance(batch, (tuple, list)) or len(batch) != 2:
            got = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}"
            raise BadArgumentError(
                f"each batch must be (features, targets), got {got}: give the data module data sets of "
                "(X, y) pairs, e.g. TensorDataset(X, y)"
            )
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

    def _check_batch(self, stage: str, output: Tensor, y: Tensor) -> None:
        """Refuse targets (and network outputs) that do not suit the task: a :class:`BadArgumentError`
        saying what to give instead, where the loss would otherwise train on them silently (a regression
        on class labels, labels beyond ``num_classes``, binary targets that are not 0/1).

        Run on the first batch of each stage in each epoch, not on every batch:
        reading a value of a tensor on a GPU waits for the device (a sync), and one
        per epoch costs nothing next to the epoch, where one per step would slow
        training. All values needed are read together, in one sync. The targets of
        the other batches are checked at the stage's end (:class:`~lightning_modules.checks.TargetWatch`).
        """
        where = f"the first {STAGE_NAMES.get(stage, stage)} batch"
        if not isinstance(y, Tensor) or not isinstance(output, Tensor):
            raise BadArgumentError(f"{where}: targets and network outputs must be tensors, got "
                                   f"{type(y).__name__} targets and {type(output).__name__} outputs")
        rows = y.shape[0] if y.dim() else 1
        if output.dim() == 0 or output.shape[0] != rows:
            raise BadArgumentError(
                f"{where}: the network gives outputs of shape {tuple(output.shape)} for {rows} targets: it must "
                "give one row of outputs per row of features"
            )
        if self.task == "regression":
            if not y.is_floating_point():
                raise BadArgumentError(
                    f"{where} has {y.dtype} targets, but a regression needs numbers: give float targets "
                    f"(y.float(), or torch.tensor(y, dtype=torch.float32)); for class labels use "
                    f"{_CONSTRUCTORS['classification']}"
                )
            if output.numel() != y.numel():
                raise BadArgumentError(
                    f"{where}: the network gives outputs of shape {tuple(output.shape)} for targets of shape "
                    f"{tuple(y.shape)}: a regression network gives one output per target (end it in nn.Linear(..., 1)); "
                    f"for class labels use {_CONSTRUCTORS['classification']}"
                )
            return
        if self.task == "binary":
            if output.numel() != y.numel():
                raise BadArgumentError(
                    f"{where}: the network gives outputs of shape {tuple(output.shape)} for {y.numel()} targets: a "
                    "binary classifier gives one logit per target (end it in nn.Linear(..., 1)); for more classes use "
                    f"{_CONSTRUCTORS['classification']}"
                )
            bad = (y != 0) & (y != 1)
            if bool(bad.any()):  # the one sync
                seen = sorted({float(v) for v in y.unique()[:6].tolist()})
                raise BadArgumentError(binary_targets_message(where, seen, y.unique().numel() > 6))
            return
        num_classes = self.hparams.num_classes
        if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
            raise BadArgumentError(
                f"{where} has {y.dtype} targets, but classification needs class indices, whole numbers from 0 to "
                f"{num_classes - 1}: convert them (y.long()); for a numeric target use {_CONSTRUCTORS['regression']}"
            )
        if output.dim() < 2 or output.shape[1] != num_classes:
            given = output.shape[1] if output.dim() >= 2 else 1
            raise BadArgumentError(
                f"{where}: the network gives {given} output{'s' if given != 1 else ''} per row but "
                f"num_classes={num_classes}: give num_classes={given} if there are {given} classes, or end the "
                f"network in nn.Linear(..., {num_classes})"
            )
        if y.numel():
            ignore = getattr(self.loss, "ignore_index", None)  # CrossEntropyLoss skips these targets (-100)
            counted = y != ignore if isinstance(ignore, int) else torch.ones_like(y, dtype=torch.bool)
            # masks, not boolean indexing: indexing by a mask would be a sync of its own
            low, high, any_counted = torch.stack([
                torch.where(counted, y, num_classes).min(), torch.where(counted, y, -1).max(), counted.any().long()
            ]).tolist()  # the one sync
            if any_counted and (low < 0 or high >= num_classes):
                raise BadArgumentError(class_labels_message(where, low, high, num_classes))

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
        # Logging the metric objects lets Lightning compute them over the whole
        # epoch (synchronised across processes), log once, and reset them.
        self.log(f"{stage}_loss{suffix}", loss_metric, on_step=False, on_epoch=True)
        self.log_dict({f"{stage}_{name}{suffix}": metric for name, metric in metrics.items()}, on_step=False, on_epoch=True)

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        """Refuse, in one line, a checkpoint of another network (before Lightning tries its weights and fails
        with a traceback): weights of other shapes always, other names when a Trainer loads it strictly
        (``load_from_checkpoint(..., strict=False)`` and ``strict_loading=False`` take what fits, as Lightning's do)."""
        from lightning_modules.resuming import network_difference

        weights = checkpoint.get("state_dict")
        if not isinstance(weights, dict):
            return
        trainer = self._trainer
        strict = trainer is not None and self.strict_loading
        difference = network_difference(weights, self.state_dict(), here="this network", names=strict)
        if difference is not None:
            path = f"checkpoint {trainer.ckpt_path}" if trainer is not None and trainer.ckpt_path else "the checkpoint"
            raise BadArgumentError(f"{path} {difference}; resume or load a checkpoint of this network, or start a new "
                                   "run (without --resume or --ckpt_path)")

    def on_train_start(self) -> None:
        # a sanity check or an earlier validate() may have left figures in the validation metrics
        self.valid_loss.reset()
        self.valid_metrics.reset()

    def on_fit_end(self) -> None:
        """An empty training set (loaders passed to ``fit`` directly) is an error, not a fit of zero steps."""
        trainer = self.trainer
        if trainer.global_step == 0 and trainer.num_training_batches == 0 and trainer.limit_train_batches != 0:
            raise BadArgumentError(
                "the training data is empty (0 batches): trainer.fit ran no step and the network is untrained; "
                "give training data with rows"
            )

    def teardown(self, stage: str) -> None:
        """An empty test set (a loader passed to ``test`` directly) is an error: ``trainer.test`` would
        return ``[]``, which reads as if testing had run. (Our data modules refuse one themselves.)"""
        trainer = self._trainer
        if (stage == "test" and trainer is not None and trainer.limit_test_batches != 0 and not trainer.interrupted
                and sum(trainer.num_test_batches) == 0):
            raise BadArgumentError("the test data is empty (0 batches): there is nothing to test on; "
                                   "give test data with rows")

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


def _check_optimizer_owns(optimizer: torch.optim.Optimizer, model: nn.Module) -> None:
    """An optimizer given as an object must have been built on this model's parameters."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise BadArgumentError(f"optimizer must be a torch.optim optimizer or its name, got {type(optimizer).__name__}")
    own = {id(parameter) for parameter in model.parameters()}
    if any(id(parameter) not in own for group in optimizer.param_groups for parameter in group["params"]):
        raise BadArgumentError(
            "the optimizer was built on parameters that are not the model's: build it from this model, "
            "e.g. RMSprop(model.parameters(), lr=0.001)"
        )
