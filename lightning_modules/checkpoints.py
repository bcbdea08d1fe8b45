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
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from datamodules.errors import CheckpointError, DiskFullError, WriteError  # noqa: F401 (raised by the writer)
from datamodules.files import disk_full, fsync_directory, is_disk_full, remove_leftovers, write_atomically  # noqa: F401

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
    """

    def save_checkpoint(self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None) -> None:
        if storage_options is not None or not _is_local(path):
            super().save_checkpoint(checkpoint, path, storage_options)
            return
        path = Path(str(path).removeprefix("file://"))
        buffer = io.BytesIO()
        torch.save(checkpoint, buffer)
        remove_leftovers(path)
        kept = f"the previous {path.name} is kept" if path.is_file() else ""
        write_atomically(path, buffer.getbuffer(), kept=kept)

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
