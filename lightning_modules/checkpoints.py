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

import contextlib
import errno
import io
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.plugins.io import TorchCheckpointIO

from lightning_modules.errors import LabError

#: errors of a filesystem that has no room left (a full disk, or the user's quota)
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

#: how much one ``os.write`` call hands the kernel
_CHUNK = 1 << 20


class DiskFullError(LabError):
    """The disk (or quota) filled up while a file was written; the previous file is kept."""


class WriteError(LabError):
    """A file could not be written for a reason of the machine (a folder not writable, a name taken by a folder)."""


class CheckpointError(LabError):
    """A checkpoint file cannot be read: empty, cut short, or not a checkpoint at all."""


def is_disk_full(error: BaseException) -> bool:
    """Is ``error`` the filesystem saying it has no room left?"""
    return isinstance(error, OSError) and error.errno in NO_SPACE


def _free_space(folder: Path) -> str:
    try:
        free = shutil.disk_usage(folder).free
    except OSError:
        return "unknown"
    for unit in ("bytes", "KB", "MB", "GB"):
        if free < 1024 or unit == "GB":
            return f"{free:.0f} {unit}" if unit == "bytes" else f"{free:.1f} {unit}"
        free /= 1024
    return "unknown"  # pragma: no cover


def disk_full(path: str | Path, kept: str = "", then: str = "then --resume continues from the last checkpoint") -> DiskFullError:
    """The one-line error for a write to ``path`` that found the disk full (``kept``: what is still there,
    ``then``: how to go on once there is room)."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    kept_text = f"; {kept}" if kept else ""
    return DiskFullError(
        f"the disk is full: could not write {path} ({_free_space(folder)} free on that filesystem){kept_text}; "
        f"free some space or choose another --log-dir, {then}"
    )


def fsync_directory(folder: str | Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where folders can't be opened, as on Windows)."""
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some filesystems don't fsync folders; the rename itself is still atomic
    finally:
        os.close(descriptor)


def _temporary_names(path: Path) -> str:
    return f".{path.name}."


def remove_leftovers(path: str | Path) -> None:
    """Delete temporary files a killed writer left beside ``path`` (they never replace it, so they are junk)."""
    path = Path(path)
    for leftover in path.parent.glob(f"{_temporary_names(path)}*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def write_atomically(path: str | Path, data: bytes | memoryview, kept: str = "") -> Path:
    """Write ``data`` to ``path`` so that ``path`` is always either its old content or ``data``, whole.

    The bytes go to a temporary file in ``path``'s own folder (so the rename
    never crosses filesystems), are fsynced, renamed over ``path``, and the
    folder is fsynced. A full disk removes the temporary file, keeps the old
    ``path`` and raises :class:`DiskFullError` (``kept`` says what the user
    still has); another error of the filesystem (a folder not writable) raises
    :class:`WriteError`, naming ``path``; anything else (an interrupt) removes
    the temporary file and re-raises.
    """
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_names(path), suffix=".tmp")
    except OSError as error:
        raise _write_error(path, error, kept) from error
    try:
        try:
            view = memoryview(data).cast("B")
            for start in range(0, len(view), _CHUNK):
                chunk = view[start : start + _CHUNK]
                while chunk:
                    written = os.write(descriptor, chunk)
                    chunk = chunk[written:]
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        if isinstance(error, OSError):
            raise _write_error(path, error, kept) from error
        raise
    fsync_directory(path.parent)
    return path


def _write_error(path: Path, error: OSError, kept: str) -> LabError:
    if is_disk_full(error):
        return disk_full(path, kept)
    kept_text = f"; {kept}" if kept else ""
    return WriteError(f"could not write {path}: {error.strerror or error}{kept_text}; check the folder's permissions, and that no folder has that name")


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
