"""Checks on a checkpoint before a run continues from it: nothing is loaded unsafely, nothing is rewritten.

``--resume`` (and ``fit(ckpt_path=...)``) continues a run from its ``last.ckpt``.
Lightning loads the file first and only then finds out what is wrong with it,
with a traceback: torch's advice to load it with ``weights_only=False`` (which
would run code from the file), ``Error(s) in loading state_dict`` for another
network, or a refusal of ``max_epochs`` after part of the run's log was
already rewritten. :func:`check_resume` reads the checkpoint the safe way
(tensors and plain values only: no code from the file runs) and refuses, in
one line naming the file, a checkpoint that is damaged, that cannot be read
safely, of another seed, or of a run that already has more epochs than asked
for; :func:`~lightning_modules.machinery.checks.network_difference` says in words how a checkpoint's network
differs from the one it would load into (the CLI's ``--ckpt_path`` check, and
:class:`~lightning_modules.module.SimpleModule`'s own when Lightning restores one).

What a resume uses from the file is read in one place, :func:`read_resume_state`,
and checked whole before anything is loaded or written: the types, the ranges
and the agreement of Lightning's ``epoch``, ``global_step``, ``loops``,
``state_dict``, optimizer and callback states, and of this project's saved log
rows and seed. A checkpoint that fails any check is refused in one line naming
the file and the field (:class:`CheckpointError`, exit 1), so a damaged or forged
file, or one written by other code, never rewrites a run's ``metrics.csv``.
"""

from __future__ import annotations

import io
import math
import pickle
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from packaging.version import InvalidVersion, Version
from pytorch_lightning import Trainer
from pytorch_lightning.callbacks import ModelCheckpoint

from foundations.errors import MAX_SEED, BadArgumentError, CheckpointError, CurvesError
from lightning_modules.machinery.checkpoints import describe_damage, read_checkpoint

#: how a refused checkpoint ends: what the user can do instead
#: the key under which a checkpoint carries the log rows of its epoch
#: (:class:`~lightning_modules.machinery.resume_log.ResumableCSVLog` writes them)
SAVED_ROWS_KEY = "islp_last_epoch_rows"

START_OVER = "start a new run instead (without --resume or --ckpt_path), or give another checkpoint"


#: why a checkpoint that only an unsafe load would read is refused
UNSAFE = ("it holds Python objects besides tensors and plain values, which only a load that can run code from the "
          "file would read (it was not loaded)")


def read_checkpoint_safely(path: str | Path) -> dict[str, Any]:
    """``path``'s contents read with ``weights_only`` (no code from the file runs), or :class:`CheckpointError`
    in one line: damaged (empty, cut short, not a checkpoint), or holding objects only an unsafe load would read.
    The error's ``reason`` says why alone, and ``unsafe`` whether it is the latter."""
    try:
        return read_checkpoint(path)
    except CheckpointError as error:
        damage = describe_damage(path) if Path(path).is_file() else "it does not exist"
        unsafe = damage is None and isinstance(error.__context__, pickle.UnpicklingError)
        reason = damage or (UNSAFE if unsafe else error.reason)
        failure = CheckpointError(
            f"checkpoint {path} {'cannot be loaded safely' if unsafe else 'cannot be read'}: {reason}; {START_OVER}"
        )
        failure.reason, failure.unsafe = reason, unsafe
        raise failure from None


def check_resume(path: str | Path, trainer: Trainer, option: str = "--resume",
                 epochs_flag: str = "--max-epochs") -> dict[str, Any]:
    """Refuse, before Lightning loads anything or a file is rewritten, a checkpoint ``trainer`` can't continue.

    Damaged, unsafe, or with a field that fails :func:`read_resume_state`'s checks (a weights-only checkpoint
    among them): :class:`CheckpointError` (exit 1); a ``metrics.csv`` beside it that can't be continued
    (edited by hand): :class:`~foundations.errors.CurvesError` (exit 1). Of a run that already
    trained more epochs than ``trainer.max_epochs``, or of another seed than the
    trainer's (``--resume --seed 7`` on seed 0's run): :class:`BadArgumentError`
    (exit 2). Returns the checkpoint's contents. ``option`` and ``epochs_flag`` name the flags in the messages
    (``islp-lab``: ``--ckpt_path``, ``--trainer.max_epochs``).
    """
    saved = read_checkpoint_safely(path)
    state = read_resume_state(path, saved, trainer)
    max_epochs = trainer.max_epochs
    if max_epochs is not None and max_epochs >= 0 and state.epoch >= max_epochs:
        raise BadArgumentError(
            f"{option}: the run to continue ({_run_folder(path)}) has already trained {state.epoch + 1} epochs, more "
            f"than the {max_epochs} asked for: resume it with {epochs_flag} {state.epoch + 1} or more, or start a new "
            f"run without {option}"
        )
    if trainer.logger is not None and trainer.is_global_zero and getattr(trainer.logger, "log_dir", None):
        read_resumed_log(Path(trainer.logger.log_dir) / "metrics.csv")  # one that was edited by hand: said now
    if state.seed is not None:
        for callback in trainer.callbacks:
            if type(callback).__name__ == "SeedEachEpoch":
                callback.load_state_dict({"seed": state.seed})  # refuses another seed; sets nothing
    return saved


@dataclass(frozen=True)
class ResumeState:
    """What a resume uses from a checkpoint, every field checked (:func:`read_resume_state`)."""

    #: Lightning's ``epoch``, counting from 0 as metrics.csv does: the epoch at whose end the checkpoint was taken
    #: (or, for one taken during an epoch or after a fit, the epoch a resume starts)
    epoch: int
    #: optimizer steps taken up to it (Lightning's ``global_step``)
    global_step: int
    #: this project's saved log rows of that epoch (:class:`~lightning_modules.machinery.resume_log.ResumableCSVLog`), if any
    rows: dict[str, Any] | None
    #: the seed the run was trained with (:class:`~lightning_modules.trainer.SeedEachEpoch`), if saved
    seed: int | None


class _Refused(Exception):
    """A field of a checkpoint that fails a check: ``field`` names it, the message says why."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(reason)
        self.field = field


#: where Lightning keeps the training state a resume needs, besides the weights
TRAINING_STATE = ("loops", "optimizer_states")


def read_resume_state(path: str | Path, saved: Mapping[str, Any], trainer: Trainer,
                      rows_needed: bool = False) -> ResumeState:
    """Everything a resume of ``saved`` (the contents of checkpoint ``path``) by ``trainer`` uses, checked whole.

    Checked: ``state_dict`` (names to tensors); the training state (``loops`` and
    ``optimizer_states``: a checkpoint of weights only is refused, with what it
    can be used for); ``epoch`` and ``global_step`` (whole numbers from 0);
    ``loops['fit_loop']`` (the shape of ``trainer``'s own, counts that agree with
    each other, with ``epoch`` and with ``global_step``); the optimizer and
    scheduler states (lists of mappings); ``callbacks`` (a mapping of mappings; the
    checkpoint callback's and the seed's states); this project's saved log rows
    (of the checkpoint's epoch and step, with numbers for figures), required with ``rows_needed`` (what
    :class:`~lightning_modules.machinery.resume_log.ResumableCSVLog` asks once Lightning has checked the network: a
    checkpoint of another network, written by other code, is first refused as such). Anything else:
    :class:`CheckpointError`, one line naming ``path`` and the field.
    """
    try:
        return _read_resume_state(path, saved, trainer, rows_needed)
    except _Refused as refused:
        raise CheckpointError(f"checkpoint {path} cannot be resumed: {refused.field} {refused}; {START_OVER}") from None
    except _WeightsOnly as weights_only:
        raise CheckpointError(
            f"checkpoint {path} cannot be resumed: it holds a network's weights but no training state (no "
            f"{weights_only}, as in one written with ModelCheckpoint(save_weights_only=True) or by other code), so "
            f"it cannot continue a run; its weights can still be tested or used to predict (islp-lab test "
            f"--ckpt_path {path}, or SimpleModule.load_from_checkpoint(path, model=network)); to train, start a new "
            "run (without --resume or --ckpt_path)"
        ) from None


class _WeightsOnly(Exception):
    """A checkpoint without the training state a resume needs (the message lists the fields missing)."""


def _read_resume_state(path: str | Path, saved: Mapping[str, Any], trainer: Trainer,
                       rows_needed: bool) -> ResumeState:
    if "state_dict" not in saved and saved and all(isinstance(value, torch.Tensor) for value in saved.values()):
        raise _Refused("state_dict", "is missing: the file holds bare weights (as torch.save(network.state_dict()) "
                                     "writes), no Lightning checkpoint; load them with network.load_state_dict(...), "
                                     "they can't continue a run")
    weights = _field(saved, "state_dict", Mapping, "a mapping of names to tensors")
    if not weights:
        raise _Refused("state_dict", "is empty (no weights)")
    for name, tensor in weights.items():  # (a module's extra state, ``..._extra_state``, may be any plain value)
        if not isinstance(name, str) or not (isinstance(tensor, torch.Tensor) or name.endswith("_extra_state")):
            raise _Refused("state_dict", f"maps {_describe(name)} to {_describe(tensor)}, not a name to a tensor")
    missing = [key for key in TRAINING_STATE if key not in saved]
    if missing:
        raise _WeightsOnly(" or ".join(missing))
    version = _field(saved, "pytorch-lightning_version", str, "a version number")
    try:
        Version(version)
    except InvalidVersion:
        raise _Refused("pytorch-lightning_version", f"is {_describe(version)}, not a version number") from None
    epoch = _whole(saved.get("epoch"), "epoch", present="epoch" in saved)
    global_step = _whole(saved.get("global_step"), "global_step", present="global_step" in saved)
    finished = _check_loops(saved, trainer, epoch, global_step)
    _check_optimizers(saved, global_step)
    seed = _check_callbacks(saved, trainer, Path(path))
    rows = _check_rows(saved, epoch, global_step, finished)
    if rows is None and rows_needed:
        raise _Refused(SAVED_ROWS_KEY, "is missing: it holds no saved log rows (it was not written by "
                                                  "make_trainer or islp-lab), so metrics.csv can't be continued")
    if rows is not None and seed is None and any(type(c).__name__ == "SeedEachEpoch" for c in trainer.callbacks):
        raise _Refused("callbacks['SeedEachEpoch']", "is missing: the seed the run was trained with is unknown")
    return ResumeState(epoch=epoch, global_step=global_step, rows=rows, seed=seed)


def _describe(value: Any) -> str:
    """``value`` in a few words, for a one-line message."""
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}" if value.dim() else f"a tensor ({value.item()!r})"
    if isinstance(value, Mapping):
        return f"a mapping of {len(value)} entries"
    if isinstance(value, list | tuple):
        return f"a {type(value).__name__} of {len(value)} values"
    if value is None or isinstance(value, bool | int | float):
        return repr(value)
    text = repr(value) if isinstance(value, str) else type(value).__name__
    return text if len(text) <= 40 else f"{text[:37]}..."


def _field(saved: Mapping[str, Any], key: str, kind: type | tuple[type, ...], what: str, where: str = "") -> Any:
    """``saved[key]``, which must be of ``kind`` (``what`` in words); ``where``: the field's own name, if longer."""
    where = where or key
    if key not in saved:
        raise _Refused(where, "is missing")
    value = saved[key]
    if not isinstance(value, kind):
        raise _Refused(where, f"is {_describe(value)}, not {what}")
    return value


def _whole(value: Any, where: str, low: int = 0, high: int | None = None, present: bool = True) -> int:
    """``value``, which must be a Python int (not a bool, float, string or tensor) from ``low`` to ``high``."""
    if not present:
        raise _Refused(where, "is missing")
    if isinstance(value, bool) or not isinstance(value, int):
        raise _Refused(where, f"is {_describe(value)}, not a whole number")
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"from {low} up"
        raise _Refused(where, f"is {value}, not a whole number {span}")
    return value


def _check_loops(saved: Mapping[str, Any], trainer: Trainer, epoch: int, global_step: int) -> bool:
    """``loops['fit_loop']``: the shape of ``trainer``'s own, counts in order, agreeing with ``epoch`` and
    ``global_step`` (Lightning restores the run's progress from it, not from those two). Returns whether the
    checkpoint was taken at the end of epoch ``epoch`` (its training done), as the project's checkpoints are."""
    loops = _field(saved, "loops", Mapping, "a mapping")
    fit_loop = _field(loops, "fit_loop", Mapping, "a mapping", "loops['fit_loop']")
    _same_shape(fit_loop, trainer.fit_loop.state_dict(), "loops['fit_loop']")
    where = "loops['fit_loop']['epoch_progress']['current']"
    epochs = fit_loop["epoch_progress"]["current"]
    if epochs["completed"] != epoch:
        raise _Refused(where, f"counts {epochs['completed']} epochs completed, but epoch is {epoch}")
    begun, processed = epochs["ready"], epochs["processed"]
    if epochs["started"] != begun or begun not in (epoch, epoch + 1) or processed not in (epoch, begun):
        raise _Refused(where, f"counts epochs that disagree with epoch {epoch} ({dict(epochs)})")
    automatic = fit_loop["epoch_loop.automatic_optimization.optim_progress"]["optimizer"]["step"]["total"]["completed"]
    manual = fit_loop["epoch_loop.manual_optimization.optim_step_progress"]["total"]["completed"]
    if global_step not in (automatic, manual):
        raise _Refused("global_step", f"is {global_step}, but the loops count {automatic or manual} optimizer steps")
    stepped = fit_loop["epoch_loop.state_dict"]["_batches_that_stepped"]
    if manual == 0 and stepped != global_step:  # the step metrics.csv's rows are logged at
        raise _Refused("loops['fit_loop']['epoch_loop.state_dict']['_batches_that_stepped']",
                       f"is {stepped}, but global_step is {global_step}")
    return processed == epoch + 1


def _same_shape(value: Any, template: Any, where: str) -> None:
    """``value`` has every key of ``template`` (a loop's state), with a value of the same kind: a mapping, a
    bool, or a whole number from 0; progress counts in Lightning's order (ready >= started >= processed >=
    completed), the total's no smaller than the current's."""
    if isinstance(template, Mapping):
        if not isinstance(value, Mapping):
            raise _Refused(where, f"is {_describe(value)}, not a mapping")
        for key, part in template.items():
            if key not in value:
                raise _Refused(f"{where}[{key!r}]", "is missing")
            _same_shape(value[key], part, f"{where}[{key!r}]")
        counts = [value[key] for key in ("ready", "started", "processed", "completed") if key in template]
        if counts != sorted(counts, reverse=True):
            raise _Refused(where, f"holds counts out of order ({dict(value)})")
        if "total" in template and "current" in template and isinstance(template["current"], Mapping):
            behind = [key for key in template["current"] if value["total"][key] < value["current"][key]]
            if behind:
                raise _Refused(where, f"counts fewer in total than in the current run ({behind[0]})")
    elif isinstance(template, bool):
        if not isinstance(value, bool):
            raise _Refused(where, f"is {_describe(value)}, not True or False")
    elif isinstance(template, int):
        _whole(value, where)


def _check_optimizers(saved: Mapping[str, Any], global_step: int) -> None:
    """``optimizer_states``: one state per optimizer, each torch's ``{'state': ..., 'param_groups': [...]}`` (a
    state once a step was taken); ``lr_schedulers``: a list of mappings."""
    states = _field(saved, "optimizer_states", list, "a list of optimizer states")
    if not states:
        raise _Refused("optimizer_states", "is empty (the optimizer's state would start afresh)")
    for index, state in enumerate(states):
        where = f"optimizer_states[{index}]"
        if not isinstance(state, Mapping):
            raise _Refused(where, f"is {_describe(state)}, not a mapping")
        held = _field(state, "state", Mapping, "a mapping", f"{where}['state']")
        groups = _field(state, "param_groups", list, "a list", f"{where}['param_groups']")
        params: set[Any] = set()
        for number, group in enumerate(groups):
            if not isinstance(group, Mapping):
                raise _Refused(f"{where}['param_groups'][{number}]", f"is {_describe(group)}, not a mapping")
            ids = _field(group, "params", list, "a list", f"{where}['param_groups'][{number}]['params']")
            params.update(_whole(i, f"{where}['param_groups'][{number}]['params']") for i in ids)
        if not params:
            raise _Refused(f"{where}['param_groups']", "names no parameters")
        stray = [key for key in held if key not in params or not isinstance(held[key], Mapping)]
        if stray:
            raise _Refused(f"{where}['state']", f"holds {_describe(stray[0])}, not the state of a parameter listed")
        if global_step and not held:
            raise _Refused(f"{where}['state']", f"is empty after {global_step} steps (the optimizer would start afresh)")
        for key, values in held.items():
            for name, value in values.items():
                if isinstance(value, bool) or not isinstance(value, torch.Tensor | int | float):
                    raise _Refused(f"{where}['state'][{key!r}][{name!r}]", f"is {_describe(value)}, not a number")
    schedulers = _field(saved, "lr_schedulers", list, "a list of scheduler states")
    for index, scheduler in enumerate(schedulers):
        if not isinstance(scheduler, Mapping):
            raise _Refused(f"lr_schedulers[{index}]", f"is {_describe(scheduler)}, not a mapping")


def _check_callbacks(saved: Mapping[str, Any], trainer: Trainer, path: Path) -> int | None:
    """``callbacks``: a mapping of each callback's state (a mapping); the checkpoint callbacks' states as
    Lightning reads them (the checkpoints they name, which the next save may delete: none but ``path`` itself in
    its folder, none remote); returns the seed saved (a whole number), or None when none is."""
    states = _field(saved, "callbacks", Mapping, "a mapping of callback states")
    for key, state in states.items():
        if not isinstance(key, str) or not isinstance(state, Mapping):
            raise _Refused("callbacks", f"maps {_describe(key)} to {_describe(state)}, not a name to a state")
    seed = None
    for callback in trainer.callbacks:
        key = getattr(callback, "state_key", None)
        state = states.get(key) if isinstance(key, str) else None
        if not state:
            continue
        where = f"callbacks[{key!r}]"
        if isinstance(callback, ModelCheckpoint):
            for name in ("best_model_path", "best_model_score"):
                if name not in state:
                    raise _Refused(f"{where}[{name!r}]", "is missing")
            for name in ("best_model_path", "last_model_path", "kth_best_model_path", "dirpath"):
                if state.get(name) is not None and not isinstance(state[name], str):
                    raise _Refused(f"{where}[{name!r}]", f"is {_describe(state[name])}, not a path")
                if name != "dirpath" and state.get(name) and _names_another_checkpoint(state[name], path):
                    raise _Refused(f"{where}[{name!r}]", f"names {_describe(state[name])}, a file the next save "
                                                         f"would delete (not {path.name} itself)")
            if not isinstance(state.get("best_k_models", {}), Mapping):
                raise _Refused(f"{where}['best_k_models']", f"is {_describe(state['best_k_models'])}, not a mapping")
        elif type(callback).__name__ == "SeedEachEpoch" and "seed" in state:
            seed = _whole(state["seed"], f"{where}['seed']", high=MAX_SEED)
    return seed


def _names_another_checkpoint(named: str, path: Path) -> bool:
    """Does ``named`` (a path a checkpoint callback's state holds) point at a remote file, or at a file in
    ``path``'s folder other than ``path``? (Lightning deletes the one it held when it saves the next.)"""
    if "://" in named:
        return True
    named_path, folder = Path(named).absolute(), path.absolute().parent
    return folder in named_path.parents and named_path != path.absolute()


def _check_rows(saved: Mapping[str, Any], epoch: int, global_step: int, finished: bool) -> dict[str, Any] | None:
    """This project's saved log rows (:class:`~lightning_modules.machinery.resume_log.ResumableCSVLog`), if the checkpoint
    has them: those of ``epoch`` (the checkpoint's, ``finished``), at its last step, training and validation
    figures (numbers)."""
    key = SAVED_ROWS_KEY
    if key not in saved:
        return None
    rows = _field(saved, key, Mapping, "a mapping")
    _whole(rows.get("epoch"), f"{key}['epoch']", present="epoch" in rows)
    if rows["epoch"] != epoch:
        raise _Refused(f"{key}['epoch']", f"is {rows['epoch']}, but the checkpoint's epoch is {epoch}: they would "
                                          "put rows of another epoch in metrics.csv")
    if not finished:
        raise _Refused(f"{key}['epoch']", f"is {epoch}, an epoch the checkpoint had not finished (taken "
                                          "during it, or after the fit)")
    step = _whole(rows.get("step"), f"{key}['step']", low=-1, present="step" in rows)
    if step != global_step - 1:
        raise _Refused(f"{key}['step']", f"is {step}, but the checkpoint's last step is {global_step - 1}")
    figures = _field(rows, "figures", Mapping, "a mapping of figures", f"{key}['figures']")
    for name, value in figures.items():
        if not isinstance(name, str) or not name.startswith(("train_", "valid_")):
            raise _Refused(f"{key}['figures']", f"holds {_describe(name)}, not a training or validation figure")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _Refused(f"{key}['figures'][{name!r}]", f"is {_describe(value)}, not a number")
    seconds = rows.get("fit_seconds", 0.0)
    if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not (math.isfinite(seconds) and seconds >= 0):
        raise _Refused(f"{key}['fit_seconds']", f"is {_describe(seconds)}, not a number of seconds")
    return dict(rows)


def _run_folder(path: str | Path) -> Path:
    """``version_N`` of ``version_N/checkpoints/last.ckpt`` (the path itself otherwise)."""
    path = Path(path)
    return path.parent.parent if path.parent.name == "checkpoints" else path


def read_resumed_log(csv: Path) -> pd.DataFrame:
    """The ``metrics.csv`` of a run about to be resumed (less a last line cut short; empty if there is none), or
    :class:`~foundations.errors.CurvesError` in one line when it is not a log this project can continue (edited by
    hand: a header without ``epoch``, rows of another width, words where numbers belong)."""
    if not csv.is_file() or not csv.stat().st_size:
        return pd.DataFrame(columns=["epoch", "step"])
    advice = "restore it (or remove it), or start a new run without --resume"
    try:
        frame = pd.read_csv(io.StringIO(complete_lines(csv.read_text())), float_precision="round_trip")
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError, ValueError) as error:
        reason = " ".join(str(error).split())[:120]
        raise CurvesError(f"{csv} is not a metrics log that can be continued ({reason}): {advice}") from None
    missing = [column for column in ("epoch", "step") if column not in frame.columns]
    not_numbers = [str(column) for column in frame.columns if not pd.api.types.is_numeric_dtype(frame[column])]
    if missing or not_numbers:
        reason = (f"no {' or '.join(missing)} column in its header" if missing
                  else f"values that are not numbers in {', '.join(not_numbers[:3])}")
        raise CurvesError(f"{csv} is not a metrics log that can be continued ({reason}; edited by hand?): {advice}")
    return frame


def complete_lines(text: str) -> str:
    """``text`` without a last line cut short (a write that a kill or a full disk interrupted)."""
    return text if not text or text.endswith("\n") else text[: text.rfind("\n") + 1]
