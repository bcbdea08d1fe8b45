"""The one place this project touches Lightning's non-public parts.

Resuming a run into the same ``metrics.csv`` needs three things Lightning does
not offer publicly: whether a CSV logger has opened its writer yet, a writer
that opens an existing version without deleting its ``metrics.csv`` (Lightning's
``_check_log_dir_exists`` deletes it, and warns that it will), and the
writer's list of columns (which it otherwise rebuilds).
Per-epoch seeding under the CLI needs the seed ``seed_everything`` set, which
Lightning keeps only in an environment variable. Reading a data module's
state (``LightningDataModule.state_dict``, public) back out of a checkpoint
file without a Trainer needs the key Lightning files it under, which is not
documented. ``SimpleModule``'s checks need the Trainer a module is attached to,
or None (the public ``trainer`` property raises when there is none); its steps
are quicker with the name of the hook Lightning is in (set around every hook
call) kept out of ``nn.Module.__setattr__``. The default callbacks cost one hook
call a training step, not 36, because Lightning skips a batch hook that is not
callable on the callback (:func:`skip_unused_batch_hooks`). Everything else uses
public APIs. ``tests/unit/test_lightning_internals.py`` fails loudly when an upgrade
of Lightning changes any of these (``tests/unit/test_trainer.py`` counts the hook calls).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.loggers.csv_logs import ExperimentWriter

#: where ``seed_everything`` leaves its seed
GLOBAL_SEED_VARIABLE = "PL_GLOBAL_SEED"
#: the attribute in which Lightning records the hook it is in (a string, or None between hooks)
HOOK_NAME_ATTRIBUTE = "_current_fx_name"


def csv_writer_opened(logger: CSVLogger) -> bool:
    """Has ``logger`` already created its experiment writer (and so dealt with an existing file)?"""
    return logger._experiment is not None


class _KeepingExperimentWriter(ExperimentWriter):
    """Lightning's CSV writer, less the check that deletes an existing ``metrics.csv`` when it opens a version."""

    def _check_log_dir_exists(self) -> None:
        pass


def open_csv_writer_keeping_its_file(logger: CSVLogger) -> Any:
    """Open ``logger``'s writer (as its ``experiment`` property would) without deleting or rewriting any file
    of its version folder, and without Lightning's warning that it will."""
    Path(logger.root_dir).mkdir(parents=True, exist_ok=True)
    logger._experiment = _KeepingExperimentWriter(log_dir=logger.log_dir)
    return logger._experiment


def set_csv_columns(writer: Any, columns: list[str]) -> None:
    """Make a CSV logger's writer append under ``columns`` (the header of the file it found)."""
    writer.metrics_keys = list(columns)


def global_seed(default: int = 0) -> int:
    """The seed the last ``seed_everything`` call set (``default`` when none did)."""
    return int(os.environ.get(GLOBAL_SEED_VARIABLE, default))


def datamodule_state(checkpoint: dict[str, Any], datamodule: type | object) -> dict[str, Any] | None:
    """The state ``datamodule``'s ``state_dict()`` gave the Trainer when it saved ``checkpoint`` (a loaded
    checkpoint dict), or ``None`` when it holds none. Lightning files it under the class's ``__qualname__``."""
    cls = datamodule if isinstance(datamodule, type) else type(datamodule)
    state = checkpoint.get(cls.__qualname__)
    return state if isinstance(state, dict) else None


def attached_trainer(module: LightningModule) -> Trainer | None:
    """The Trainer ``module`` is attached to, or None (where ``module.trainer`` would raise)."""
    return module._trainer


def setattr_hook_name_plainly(base: type[LightningModule]) -> Callable[[LightningModule, str, Any], None]:
    """A ``__setattr__`` for a subclass of ``base`` that sets Lightning's hook name as a plain attribute.

    Lightning records the hook it is in (:data:`HOOK_NAME_ATTRIBUTE`, a string) around every hook call:
    some 45 times a training step. ``nn.Module.__setattr__`` first looks for a parameter, module or buffer
    of that name (about 2 µs each time, 15 times a plain attribute's): for a small network, a few percent
    of its step. Every other name goes through ``base``'s ``__setattr__`` as before."""
    hook_name, set_plainly, set_as_base = HOOK_NAME_ATTRIBUTE, object.__setattr__, base.__setattr__

    def __setattr__(self: LightningModule, name: str, value: Any) -> None:
        if name == hook_name:
            set_plainly(self, name, value)
        else:
            set_as_base(self, name, value)

    return __setattr__


#: the hooks Lightning calls on every callback at every batch (six a training step), whether its class defines them
#: or not
BATCH_HOOKS = (
    "on_train_batch_start", "on_before_zero_grad", "on_before_backward", "on_after_backward",
    "on_before_optimizer_step", "on_train_batch_end", "on_validation_batch_start", "on_validation_batch_end",
    "on_test_batch_start", "on_test_batch_end", "on_predict_batch_start", "on_predict_batch_end",
)


def skip_unused_batch_hooks(callback: Callback) -> None:
    """Let Lightning skip the :data:`BATCH_HOOKS` that ``callback``'s class leaves to ``Callback`` (no-ops).

    Lightning calls each of them on every callback at every batch, one profiler
    context each, unless the callback's attribute of that name is not callable
    (``_call_callback_hooks``, not public: ``tests/unit/test_trainer.py`` counts the calls,
    and a Lightning that called None would fail at the first batch, never silently):
    those are set to None on this instance (the class, a subclass's overrides and
    ``super()`` calls are untouched). A training step of the default callbacks
    then calls one hook (:class:`ErrorTracker`'s), not 36. The callbacks here call
    this in ``__init__``.
    """
    for hook in BATCH_HOOKS:
        if getattr(type(callback), hook) is getattr(Callback, hook):
            setattr(callback, hook, None)
