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
for; :func:`network_difference` says in words how a checkpoint's network
differs from the one it would load into (the CLI's ``--ckpt_path`` check, and
:class:`~lightning_modules.module.SimpleModule`'s own when Lightning restores one).
"""

from __future__ import annotations

import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pytorch_lightning import Trainer

from datamodules.errors import BadArgumentError, CheckpointError
from lightning_modules.callbacks import read_resumed_log
from lightning_modules.checkpoints import describe_damage, read_checkpoint

#: how a refused checkpoint ends: what the user can do instead
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

    Damaged or unsafe: :class:`CheckpointError` (exit 1); a ``metrics.csv`` beside it that can't be continued
    (edited by hand): :class:`~datamodules.errors.CurvesError` (exit 1). Of a run that already
    trained more epochs than ``trainer.max_epochs``, or of another seed than the
    trainer's (``--resume --seed 7`` on seed 0's run): :class:`BadArgumentError`
    (exit 2). Returns the checkpoint's contents. ``option`` and ``epochs_flag`` name the flags in the messages
    (``islp-lab``: ``--ckpt_path``, ``--trainer.max_epochs``).
    """
    saved = read_checkpoint_safely(path)
    epoch, max_epochs = saved.get("epoch"), trainer.max_epochs
    if isinstance(epoch, int) and max_epochs is not None and max_epochs >= 0 and epoch >= max_epochs:
        raise BadArgumentError(
            f"{option}: the run to continue ({_run_folder(path)}) has already trained {epoch + 1} epochs, more than "
            f"the {max_epochs} asked for: resume it with {epochs_flag} {epoch + 1} or more, or start a new run "
            f"without {option}"
        )
    if trainer.logger is not None and trainer.is_global_zero and getattr(trainer.logger, "log_dir", None):
        read_resumed_log(Path(trainer.logger.log_dir) / "metrics.csv")  # one that was edited by hand: said now
    states = saved.get("callbacks") if isinstance(saved.get("callbacks"), Mapping) else {}
    for callback in trainer.callbacks:
        state = states.get(getattr(callback, "state_key", None))
        if state is not None and type(callback).__name__ == "SeedEachEpoch":
            callback.load_state_dict(state)  # refuses another seed; sets nothing
    return saved


def _run_folder(path: str | Path) -> Path:
    """``version_N`` of ``version_N/checkpoints/last.ckpt`` (the path itself otherwise)."""
    path = Path(path)
    return path.parent.parent if path.parent.name == "checkpoints" else path


def _shape(value: Any) -> str:
    shape = tuple(getattr(value, "shape", ()))
    return "x".join(map(str, shape)) or "a scalar"


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
