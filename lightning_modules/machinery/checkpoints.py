"""Checkpoints and results files that survive a kill at any instant and a full disk.

Lightning's own atomic save writes the checkpoint to a temporary file in the
system's temp folder and moves it into place. When that folder is on another
filesystem than the logs (a ``--log-dir`` on another mount), the move is a copy
into ``last.ckpt`` itself: a kill or a full disk during the copy leaves a cut
``last.ckpt`` and the previous one is gone. Here every file is written beside
its final name (same folder, same filesystem), flushed to the disk (fsync),
renamed over the old one (``os.replace``, atomic), and the folder itself is
fsynced so the rename survives a power cut. At every instant the final name
holds either the previous file or the new one, whole.

:class:`AtomicCheckpointIO` is the Trainer plugin (``Trainer(plugins=[...])``,
which :func:`~lightning_modules.trainer.make_trainer` and ``islp-lab`` pass);
:func:`write_atomically` is the same writer for any file (results.json).

Such a write costs milliseconds (tens on a busy disk): after every epoch it was
a quarter of a Hitters epoch. :class:`IntervalCheckpoint`, the checkpoint
callback of every Trainer here, writes ``last.ckpt`` at most once every
:data:`CHECKPOINT_INTERVAL` seconds, and keeps the epochs in between in memory
until the next write or the run's stop, whatever stops it.
"""

from __future__ import annotations

import contextlib
import copy
import io
import math
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import LightningModule, Trainer
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import TorchCheckpointIO

from foundations.errors import CheckpointError, DiskFullError, WriteError  # noqa: F401 (raised by the writer)
from foundations.files import disk_full, fsync_directory, is_disk_full, remove_leftovers, write_atomically  # noqa: F401
from lightning_modules.machinery.lightning_internals import skip_unused_batch_hooks

#: Seconds at least between two writes of a run's ``last.ckpt`` at the end of an epoch.
#:
#: Why: a checkpoint written whole (serialized, fsynced, renamed, its folder fsynced)
#: costs 5 to 20 ms (measured on 2 shared cores; more on a busy disk): written after
#: each of the tiny labs' epochs it was a quarter of a Hitters epoch and 5-13 % of an
#: NYSE RNN fit. Once every 5 s it is a fraction of a percent of any run. What it
#: risks: only a stop that runs no code (SIGKILL, a power cut) loses the epochs
#: completed since the last write, less than these 5 s of them (besides the epoch under
#: way, which every stop loses); every other stop (the end of ``fit``, SIGTERM, Ctrl-C,
#: SIGHUP, an error) writes the last completed epoch, held in memory
#: (:class:`IntervalCheckpoint`), and ``--resume`` continues exactly from what was
#: written. A run's first epoch is always written, and so is every epoch that ends this
#: long after the last write (each epoch of a run whose epochs are this long, as before).
CHECKPOINT_INTERVAL = 5.0


def _is_local(path: str | Path) -> bool:
    text = str(path)
    return "://" not in text or text.startswith("file://")


def describe_damage(path: str | Path) -> str | None:
    """Why ``path`` is not a readable checkpoint (None when it looks whole: the fault lies elsewhere)."""
    path = Path(path)
    size = path.stat().st_size
    if size == 0:
        return "it is empty (0 bytes: a write that was interrupted)"
    with path.open("rb") as handle:
        magic = handle.read(4)
    if magic == b"PK\x03\x04" and not zipfile.is_zipfile(path):
        return f"it is cut short ({size} bytes: a write that was interrupted or ran out of disk)"
    if magic != b"PK\x03\x04" and not magic.startswith(b"\x80"):
        return "it is not a checkpoint (not a file torch.save or Lightning wrote)"
    return None


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint file's contents, loaded as Lightning loads it: weights only, so no code from the file runs.

    A file that can't be read raises :class:`CheckpointError` whose ``reason``
    says why (empty, cut short, not a checkpoint, or torch's own first line).
    """
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 (torch raises a different error for every way a file can be wrong)
        reason = describe_damage(path)
        if reason is None:
            text = str(error).strip()
            reason = f"{type(error).__name__}: {text.splitlines()[0][:100] if text else ''}"
        failure = CheckpointError(f"{path} is not a checkpoint that can be read: {reason}")
        failure.reason = reason
        raise failure from None
    if not isinstance(checkpoint, dict):
        failure = CheckpointError(f"{path} is not a Lightning checkpoint (it holds no state_dict)")
        failure.reason = "it holds no state_dict"
        raise failure
    return checkpoint


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's ``torch.save`` checkpoints, written with :func:`write_atomically`, read with a clear error.

    Saving: the previous checkpoint of the same name stays whole and loadable
    after a kill at any instant, and after a full disk (which ends the run with
    one line saying so, :class:`DiskFullError`). Loading a file that is empty,
    cut short or not a checkpoint raises :class:`CheckpointError` naming it,
    instead of ``EOFError`` or a zip error. Remote paths (``s3://``...) go to
    Lightning's own writer.

    Within :meth:`at_most_every` (what :class:`IntervalCheckpoint` does at the
    end of each epoch), a save of a file written less than that many seconds
    ago is held instead: a copy of the checkpoint, in memory (on the device its
    tensors are on), which :meth:`write_held` writes and a later write of the
    same file replaces. Every other save is written at once, as before.
    """

    def __init__(self) -> None:
        super().__init__()
        #: inside :meth:`at_most_every`: the least seconds between two writes of one file
        self._interval: float | None = None
        #: ``time.monotonic()`` when each file (by its path) was last written by this writer
        self._written: dict[str, float] = {}
        #: saves not written yet, by path: (a copy of the checkpoint, its storage options)
        self._held: dict[str, tuple[dict[str, Any], Any]] = {}

    @contextlib.contextmanager
    def at_most_every(self, seconds: float) -> Iterator[None]:
        """Within: a save of a file that this writer wrote less than ``seconds`` ago is held, not written
        (the first save of each file is always written)."""
        previous, self._interval = self._interval, seconds
        try:
            yield
        finally:
            self._interval = previous

    @property
    def holds(self) -> bool:
        """Is a checkpoint held in memory that is not written yet?"""
        return bool(self._held)

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        key = str(path)
        if self._interval is not None and time.monotonic() - self._written.get(key, -math.inf) < self._interval:
            try:  # a copy: the live weights and optimizer state change from the next step on
                self._held[key] = (copy.deepcopy(checkpoint), storage_options)
                return
            except Exception:  # noqa: BLE001 (something in it that can't be copied): then it is written now
                pass
        self._held.pop(key, None)  # this write supersedes a held one
        self._write(checkpoint, path, storage_options)

    def write_held(self) -> None:
        """Write the checkpoints held in memory (each is dropped as its write starts: a failed write is not retried)."""
        while self._held:
            key = next(iter(self._held))
            checkpoint, storage_options = self._held.pop(key)
            self._write(checkpoint, key, storage_options)

    def remove_checkpoint(self, path: Any) -> None:
        self._held.pop(str(path), None)
        super().remove_checkpoint(path)

    def _write(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None) -> None:
        key = str(path)
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
        else:
            path = Path(key.removeprefix("file://"))
            buffer = io.BytesIO()
            torch.save(checkpoint, buffer)
            remove_leftovers(path)
            kept = f"the previous {path.name} is kept" if path.is_file() else ""
            write_atomically(path, buffer.getbuffer(), kept=kept)
        self._written[key] = time.monotonic()

    def load_checkpoint(
        self,
        path: Any,
        map_location: Callable | Any = lambda storage, loc: storage,
        weights_only: bool | None = None,
    ) -> dict[str, Any]:
        try:
            return super().load_checkpoint(path, map_location=map_location, weights_only=weights_only)
        except Exception as error:  # torch.load's errors for a damaged file vary: EOFError, zip, unpickler errors
            damage = describe_damage(path) if _is_local(path) and Path(str(path)).is_file() else None
            if damage is None:  # the file looks whole: the fault is elsewhere, keep its traceback
                raise
            raise CheckpointError(
                f"checkpoint {path} cannot be read: {damage}; start a new run instead "
                "(without --resume or --ckpt_path), or give another checkpoint"
            ) from error


class IntervalCheckpoint(ModelCheckpoint):
    """Lightning's ``ModelCheckpoint``, written at most once every ``interval`` seconds, and at every stop.

    At the end of each epoch the checkpoint is taken exactly as Lightning takes
    it. The :class:`AtomicCheckpointIO` writes it when ``interval`` seconds
    (:data:`CHECKPOINT_INTERVAL`) have passed since it last wrote that file, and
    always at the run's first epoch; otherwise it holds a copy in memory, which
    the next epoch's replaces. The held copy is written when the run stops,
    however it stops: at the end of ``fit`` (``max_epochs``, ``max_steps``, an
    early stop) and on any exception, which is also how Lightning ends a run on
    SIGTERM, Ctrl-C and SIGHUP (:mod:`lightning_modules.machinery.signals`). So
    ``last.ckpt`` is always a whole, completed epoch and, after any stop but a
    SIGKILL or a power cut, the last one: ``--resume`` continues exactly where
    the run stopped. Memory: one more copy of the weights and the optimizer's
    state, on their device, while a copy is held. With a checkpoint writer of
    another kind (a Trainer given its own ``CheckpointIO``), every save is
    written at once, as by ``ModelCheckpoint``.

    Two per-batch costs of ``ModelCheckpoint`` are gone: its ``state_key``,
    which Lightning formats at every hook call, is computed once, and with
    checkpoints at epoch ends only (no ``every_n_train_steps``, no
    ``train_time_interval``) Lightning calls none of its hooks at a batch
    (:func:`~lightning_modules.machinery.lightning_internals.skip_unused_batch_hooks`).
    """

    def __init__(self, *, interval: float = CHECKPOINT_INTERVAL, **kwargs: Any) -> None:
        self._state_key: str | None = None
        super().__init__(**kwargs)
        if not interval >= 0:
            raise ValueError(f"IntervalCheckpoint: interval must be 0 seconds or more, got {interval!r}")
        #: the least seconds between two writes of the checkpoint at epoch ends (0: every epoch)
        self.interval = float(interval)
        self._within_epochs = bool(kwargs.get("every_n_train_steps")) or kwargs.get("train_time_interval") is not None
        skip_unused_batch_hooks(self)
        if not self._within_epochs and type(self).on_train_batch_end is IntervalCheckpoint.on_train_batch_end:
            self.on_train_batch_end = None  # nothing to do after a batch: Lightning skips the hook

    @property
    def state_key(self) -> str:
        if self._state_key is None:
            self._state_key = super().state_key
        return self._state_key

    @staticmethod
    def _writer(trainer: Trainer) -> AtomicCheckpointIO | None:
        writer = trainer.strategy.checkpoint_io
        return writer if isinstance(writer, AtomicCheckpointIO) else None

    def _spaced(self, trainer: Trainer) -> contextlib.AbstractContextManager:
        writer = self._writer(trainer)
        return writer.at_most_every(self.interval) if writer is not None else contextlib.nullcontext()

    def write_held(self, trainer: Trainer) -> None:
        """Write the checkpoint held in memory, if one is (the stops below call it)."""
        writer = self._writer(trainer)
        if writer is not None:
            writer.write_held()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any, **kwargs: Any) -> None:
        if self._within_epochs:
            super().on_train_batch_end(trainer, pl_module, *args, **kwargs)

    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        with self._spaced(trainer):
            super().on_train_epoch_end(trainer, pl_module)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        with self._spaced(trainer):
            super().on_validation_end(trainer, pl_module)

    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.write_held(trainer)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        super().on_exception(trainer, pl_module, exception)
        self.write_held(trainer)
