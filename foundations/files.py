"""Files written whole: at every instant a file's name holds its previous content or the new one.

Every file the project writes (checkpoints, results, figures, caches) goes
through :func:`write_atomically`: the bytes go to a temporary file beside the
final name (same folder, same filesystem), are flushed to the disk (fsync),
renamed over the old file (``os.replace``, atomic), and the folder is fsynced so
the rename survives a power cut. Files are created with the user's umask
(readable by the group and others where the umask allows, as ``open`` does).

Nothing is ever written through a symbolic link, or over one: on a shared log
folder a link planted at a file's name (``.run.lock`` -> someone's file) would
otherwise have that file truncated or overwritten. The rule lives here, in one
place: :func:`refuse_link` refuses a link at a name in one line naming it,
:func:`write_atomically` checks its final name (its temporary file is created
with ``O_EXCL``, so never through a link), :func:`open_no_follow` opens a file
in place (a lock, an append) with ``O_NOFOLLOW``, and :func:`refuse_links`
checks a whole run folder when a run takes it, before the run writes anything.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from foundations.errors import DiskFullError, LabError, WriteError

#: errors of a filesystem that has no room left (a full disk, or the user's quota)
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)

#: how much one ``os.write`` call hands the kernel
_CHUNK = 1 << 20


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


def refuse_link(path: str | Path) -> None:
    """Refuse (:class:`WriteError`, one line naming it) a symbolic link at ``path``: nothing is written through one."""
    path = Path(path)
    if path.is_symlink():
        raise _link_refused(path)


def refuse_links(folder: str | Path, below: str | Path | None = None, inside: bool = True) -> None:
    """Refuse a symbolic link in a run's ``folder``: the folder itself, each folder between ``below`` and it,
    and (``inside``) everything in it, not following links. A folder that does not exist yet passes."""
    folder = Path(folder)
    if below is not None and folder.is_relative_to(below):
        path = Path(below)
        for part in folder.relative_to(below).parts:
            path = path / part
            refuse_link(path)
    refuse_link(folder)
    if not inside:
        return
    for root, folders, files in os.walk(folder):  # followlinks=False: a linked folder is listed, never entered
        for name in (*folders, *files):
            refuse_link(Path(root) / name)


def open_no_follow(path: str | Path, flags: int, mode: int = 0o666) -> int:
    """``os.open(path, flags, mode)`` that never follows a symbolic link at ``path`` (refused in one line instead)."""
    refuse_link(path)  # where O_NOFOLLOW does not exist (Windows), this is the check
    try:
        return os.open(path, flags | getattr(os, "O_NOFOLLOW", 0), mode)
    except OSError as error:
        if error.errno == errno.ELOOP and Path(path).is_symlink():  # a link put there since the check above
            raise _link_refused(Path(path)) from None
        raise


def append_no_follow(path: str | Path, data: bytes) -> None:
    """Append ``data`` to the file ``path`` (which must exist), never through a symbolic link."""
    descriptor = open_no_follow(path, os.O_WRONLY | os.O_APPEND)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(descriptor, view) :]
    finally:
        os.close(descriptor)


def _link_refused(path: Path) -> WriteError:
    try:
        target = f" (to {os.readlink(path)})"
    except OSError:
        target = ""
    return WriteError(
        f"{path} is a symbolic link{target}: this project writes its files itself, never through a link; "
        f"remove the link (rm '{path}'), then run the command again"
    )


def _temporary_names(path: Path) -> str:
    return f".{path.name}."


def remove_leftovers(path: str | Path) -> None:
    """Delete temporary files a killed writer left beside ``path`` (they never replace it, so they are junk)."""
    path = Path(path)
    for leftover in path.parent.glob(f"{_temporary_names(path)}*.tmp"):
        with contextlib.suppress(OSError):
            leftover.unlink()


def write_atomically(
    path: str | Path, data: bytes | memoryview | Callable[[BinaryIO], object], kept: str = ""
) -> Path:
    """Write ``data`` to ``path`` so that ``path`` is always either its old content or ``data``, whole.

    ``data`` is the bytes, or a function that writes them to the binary file
    it is given (for content too large to hold at once, or a library that
    writes to files). The bytes go to a temporary file in ``path``'s own
    folder (so the rename never crosses filesystems), are fsynced, renamed
    over ``path``, and the folder is fsynced. A full disk removes the
    temporary file, keeps the old ``path`` and raises :class:`DiskFullError`
    (``kept`` says what the user still has); another error of the filesystem
    (a folder not writable) raises :class:`WriteError`, naming ``path``;
    anything else (an interrupt, an error of ``data``'s function that is no
    ``OSError``) removes the temporary file and re-raises. A symbolic link at
    ``path`` is refused (:func:`refuse_link`): its target is never written.
    """
    path = Path(path)
    refuse_link(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor, temporary = tempfile.mkstemp(dir=path.parent, prefix=_temporary_names(path), suffix=".tmp")
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it 0600; a new file follows the user's umask
    except OSError as error:
        raise _write_error(path, error, kept) from error
    try:
        try:
            if callable(data):
                with os.fdopen(descriptor, "wb", closefd=False) as file:
                    data(file)
            else:
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


def _umask() -> int:
    """This process's umask (read by setting it and putting it back at once)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def outside_folder(path: Path, folder: Path) -> Path | None:
    """Where ``path`` really is when that is outside ``folder`` (a link out, or ``..``); ``None`` when inside.

    ``folder`` itself may be a link (a data set kept elsewhere and linked in): its files are compared with
    where it resolves to.
    """
    target = Path(path).resolve()
    return None if target.is_relative_to(Path(folder).resolve()) else target
