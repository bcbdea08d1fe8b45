"""A reader's mistakes, refused in one line each: what ``SimpleModule`` is given and what it meets.

``SimpleModule`` calls in here, one line per place, and so shows its job
(steps, metrics, logging, optimizer) first. Each check raises a
:class:`BadArgumentError` saying what to give instead, where training would
otherwise go on silently or fail with a traceback:

- its arguments, when it is built: a network, a loss made for its task,
  ``num_classes``, an optimizer (its name and learning rate, or one built on
  the network's parameters): :func:`check_model`, :func:`check_loss`,
  :func:`check_num_classes`, :func:`check_optimizer`;
- the first batch of each stage in each epoch, at once and with one device sync
  (:func:`check_first_batch`); a bad label further on (a binary target 2, a class
  label 12 with ``num_classes=10``) without a sync per step: :class:`TargetWatch`
  keeps each batch's targets (a reference, no copy, no device work) and checks
  them all once, at the end of the stage's epoch, in the same words. A class
  label out of range would make the loss fail first (``IndexError`` on a CPU, a
  device-side assert on a GPU), so the loss gets :func:`loss_safe_labels` meanwhile;
- what the Trainer's hooks meet: a checkpoint of another network
  (:func:`refuse_other_network`), an empty training or test set
  (:func:`refuse_empty_fit`, :func:`refuse_empty_test`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, NoReturn

import torch
from torch import Tensor, nn

from datamodules.arguments import whole_number
from foundations.errors import BadArgumentError
from lightning_modules.machinery.lightning_internals import attached_trainer

if TYPE_CHECKING:
    from pytorch_lightning import LightningModule

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
#: the task a given loss module implies
_LOSS_TASKS: dict[type[nn.Module], str] = {
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


# -- the arguments, when the module is built ---------------------------------------------------------------------
def check_model(model: Any) -> None:
    """The network must be an ``nn.Module`` object (not its class)."""
    if not isinstance(model, nn.Module):
        what = f"the class {model.__name__}: build the network first, e.g. {model.__name__}(...)" if isinstance(model, type) \
            else f"a {type(model).__name__}"
        raise BadArgumentError(f"model must be a network (an nn.Module), got {what}")


def loss_task(loss: Any) -> str | None:
    """The task a loss module is made for (``None``: a loss of the reader's own, taken on trust)."""
    for kind in type(loss).__mro__:
        if kind in _LOSS_TASKS:
            return _LOSS_TASKS[kind]
    return None


def check_loss(loss: Any, task: str | None) -> str:
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
    implied = loss_task(loss)
    task = task or implied or "regression"
    if task not in CONSTRUCTORS:
        raise BadArgumentError(f"unknown task {task!r}: choose regression, classification or binary")
    if implied is not None and implied != task:
        name = type(loss).__name__
        raise BadArgumentError(
            f"loss={name}() is a loss for {implied} ({CONSTRUCTORS[implied]}), not for {task}: give "
            f"{CONSTRUCTORS[task]} a {task} loss, e.g. {_EXAMPLE_LOSSES[task]}, or build the module with "
            f"{CONSTRUCTORS[implied]}"
        )
    return task


def check_num_classes(task: str, num_classes: Any) -> int | None:
    """``num_classes`` as an ``int`` of at least 2 for a classification task (as given for the others)."""
    if task != "classification":
        return num_classes
    if num_classes is None:
        raise BadArgumentError(f"a classification task needs num_classes, got {num_classes!r}")
    return whole_number(num_classes, "num_classes", 2, "the number of classes, e.g. 10 for MNIST")


def check_optimizer(optimizer: str | torch.optim.Optimizer | None, lr: Any, model: nn.Module) -> tuple[str, float]:
    """The optimizer's name and learning rate: a ``torch.optim`` class's name (default RMSprop) with a learning
    rate above 0, or an optimizer object built on ``model``'s parameters (its own name and first group's rate)."""
    optimizer = optimizer or "RMSprop"
    if isinstance(optimizer, str):
        if not isinstance(getattr(torch.optim, optimizer, None), type):
            raise BadArgumentError(f"unknown optimizer {optimizer!r}: use the name of a torch.optim class, e.g. RMSprop")
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not 0 < lr < math.inf:
            raise BadArgumentError(f"the learning rate must be a number above 0, e.g. lr=0.001, got lr={lr!r}")
        return optimizer, float(lr)
    check_optimizer_owns(optimizer, model)
    return type(optimizer).__name__, optimizer.param_groups[0]["lr"]


def check_optimizer_owns(optimizer: Any, model: nn.Module) -> None:
    """An optimizer given as an object must have been built on this model's parameters."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise BadArgumentError(f"optimizer must be a torch.optim optimizer or its name, got {type(optimizer).__name__}")
    own = {id(parameter) for parameter in model.parameters()}
    if any(id(parameter) not in own for group in optimizer.param_groups for parameter in group["params"]):
        raise BadArgumentError(
            "the optimizer was built on parameters that are not the model's: build it from this model, "
            "e.g. RMSprop(model.parameters(), lr=0.001)"
        )


# -- the first batch of each stage in each epoch -----------------------------------------------------------------
def refuse_batch(batch: Any) -> NoReturn:
    """A batch that is not a ``(features, targets)`` pair (the step tests that itself, at no cost)."""
    got = f"a {type(batch).__name__} of {len(batch)}" if isinstance(batch, (tuple, list)) else f"a {type(batch).__name__}"
    raise BadArgumentError(
        f"each batch must be (features, targets), got {got}: give the data module data sets of "
        "(X, y) pairs, e.g. TensorDataset(X, y)"
    )


def check_first_batch(stage: str, output: Any, y: Any, task: str, num_classes: int | None, loss: Any) -> None:
    """Refuse targets (and network outputs) that do not suit the task: a :class:`BadArgumentError`
    saying what to give instead, where the loss would otherwise train on them silently (a regression
    on class labels, labels beyond ``num_classes``, binary targets that are not 0/1).

    Run on the first batch of each stage in each epoch, not on every batch:
    reading a value of a tensor on a GPU waits for the device (a sync), and one
    per epoch costs nothing next to the epoch, where one per step would slow
    training. All values needed are read together, in one sync. The targets of
    the other batches are checked at the stage's end (:class:`TargetWatch`).
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
    if task == "regression":
        if not y.is_floating_point():
            raise BadArgumentError(
                f"{where} has {y.dtype} targets, but a regression needs numbers: give float targets "
                f"(y.float(), or torch.tensor(y, dtype=torch.float32)); for class labels use "
                f"{CONSTRUCTORS['classification']}"
            )
        if output.numel() != y.numel():
            raise BadArgumentError(
                f"{where}: the network gives outputs of shape {tuple(output.shape)} for targets of shape "
                f"{tuple(y.shape)}: a regression network gives one output per target (end it in nn.Linear(..., 1)); "
                f"for class labels use {CONSTRUCTORS['classification']}"
            )
        return
    if task == "binary":
        if output.numel() != y.numel():
            raise BadArgumentError(
                f"{where}: the network gives outputs of shape {tuple(output.shape)} for {y.numel()} targets: a "
                "binary classifier gives one logit per target (end it in nn.Linear(..., 1)); for more classes use "
                f"{CONSTRUCTORS['classification']}"
            )
        bad = (y != 0) & (y != 1)
        if bool(bad.any()):  # the one sync
            seen = sorted({float(v) for v in y.unique()[:6].tolist()})
            raise BadArgumentError(binary_targets_message(where, seen, y.unique().numel() > 6))
        return
    if y.is_floating_point() or y.dtype == torch.bool or y.is_complex():
        raise BadArgumentError(
            f"{where} has {y.dtype} targets, but classification needs class indices, whole numbers from 0 to "
            f"{num_classes - 1}: convert them (y.long()); for a numeric target use {CONSTRUCTORS['regression']}"
        )
    if output.dim() < 2 or output.shape[1] != num_classes:
        given = output.shape[1] if output.dim() >= 2 else 1
        raise BadArgumentError(
            f"{where}: the network gives {given} output{'s' if given != 1 else ''} per row but "
            f"num_classes={num_classes}: give num_classes={given} if there are {given} classes, or end the "
            f"network in nn.Linear(..., {num_classes})"
        )
    if y.numel():
        ignore = getattr(loss, "ignore_index", None)  # CrossEntropyLoss skips these targets (-100)
        counted = y != ignore if isinstance(ignore, int) else torch.ones_like(y, dtype=torch.bool)
        # masks, not boolean indexing: indexing by a mask would be a sync of its own
        low, high, any_counted = torch.stack([
            torch.where(counted, y, num_classes).min(), torch.where(counted, y, -1).max(), counted.any().long()
        ]).tolist()  # the one sync
        if any_counted and (low < 0 or high >= num_classes):
            raise BadArgumentError(class_labels_message(where, low, high, num_classes))
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

    @classmethod
    def for_loss(cls, task: str, num_classes: int | None, loss: Any) -> TargetWatch:
        """A watch for ``loss``: the targets it skips (CrossEntropyLoss's ``ignore_index``, -100) are no labels."""
        ignore_index = getattr(loss, "ignore_index", None)
        return cls(task, num_classes, ignore_index if isinstance(ignore_index, int) else None)

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


# -- what the Trainer's hooks meet ------------------------------------------------------------------------------
def refuse_other_network(module: LightningModule, checkpoint: dict[str, Any]) -> None:
    """Refuse, in one line, a checkpoint of another network (before Lightning tries its weights and fails
    with a traceback): weights of other shapes always, other names when a Trainer loads it strictly
    (``load_from_checkpoint(..., strict=False)`` and ``strict_loading=False`` take what fits, as Lightning's do)."""
    weights = checkpoint.get("state_dict")
    if not isinstance(weights, dict):
        return
    trainer = attached_trainer(module)
    strict = trainer is not None and module.strict_loading
    difference = network_difference(weights, module.state_dict(), here="this network", names=strict)
    if difference is not None:
        path = f"checkpoint {trainer.ckpt_path}" if trainer is not None and trainer.ckpt_path else "the checkpoint"
        raise BadArgumentError(f"{path} {difference}; resume or load a checkpoint of this network, or start a new "
                               "run (without --resume or --ckpt_path)")


def network_difference(
    weights: Mapping[str, Any], network: Mapping[str, Any], here: str = "the network to load it into", names: bool = True
) -> str | None:
    """How checkpoint ``weights`` differ from a ``network``'s ``state_dict()`` (``here``: what to call that
    network), in words ("holds another network: ..."), or None when they agree. ``names=False`` compares only
    the shapes of the weights both have (a load that is not strict takes what fits)."""
    for name, tensor in network.items():
        if name not in weights:
            if not names:
                continue
            held = next(iter(weights), "nothing")
            return f"holds another network: {held}..., not {name}"
        if _shape(weights[name]) != _shape(tensor):
            return f"holds another network: {name} is {_shape(weights[name])} there, {_shape(tensor)} in {here}"
    extra = [name for name in weights if name not in network]
    if extra and names:
        return f"holds another network: it has {extra[0]}, {here} has not"
    return None


def _shape(value: Any) -> str:
    shape = tuple(getattr(value, "shape", ()))
    return "x".join(map(str, shape)) or "a scalar"


def refuse_empty_fit(module: LightningModule) -> None:
    """An empty training set (loaders passed to ``fit`` directly) is an error, not a fit of zero steps."""
    trainer = module.trainer
    if trainer.global_step == 0 and trainer.num_training_batches == 0 and trainer.limit_train_batches != 0:
        raise BadArgumentError(
            "the training data is empty (0 batches): trainer.fit ran no step and the network is untrained; "
            "give training data with rows"
        )


def refuse_empty_test(module: LightningModule, stage: str) -> None:
    """An empty test set (a loader passed to ``test`` directly) is an error: ``trainer.test`` would
    return ``[]``, which reads as if testing had run. (Our data modules refuse one themselves.)"""
    trainer = attached_trainer(module)
    if (stage == "test" and trainer is not None and trainer.limit_test_batches != 0 and not trainer.interrupted
            and sum(trainer.num_test_batches) == 0):
        raise BadArgumentError("the test data is empty (0 batches): there is nothing to test on; "
                               "give test data with rows")
