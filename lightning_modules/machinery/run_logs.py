"""The run layer under ``make_trainer``: a run's log folder, owned, versioned and safe to resume into.

A reader never needs to open this module for an exercise. It holds what makes
``logs/<lab>/<network>/version_N/`` trustworthy: the version folders and which
of them has a run to resume (:func:`latest_version`), the lock that makes a
version belong to one running process (:func:`hold_run_lock`), Lightning's CSV
logger made safe to reopen and append to (:class:`ResumableCSVLogger`, built by
:func:`csv_logger`), and the end of a DDP run's process group
(:func:`end_distributed`).
"""

from __future__ import annotations

import atexit
import contextlib
import csv as csv_module
import io
import os
import sys
import tempfile
from argparse import Namespace
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.core.saving import save_hparams_to_yaml
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.utilities import rank_zero_only

from foundations.errors import LabError, WriteError
from foundations.files import (
    append_no_follow,
    disk_full,
    is_disk_full,
    open_no_follow,
    refuse_link,
    refuse_links,
    write_atomically,
)
from lightning_modules.machinery.lightning_internals import (
    csv_writer_opened,
    open_csv_writer_keeping_its_file,
    set_csv_columns,
)

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None


def has_checkpoint(version_dir: str | Path) -> bool:
    """Did the run logged in ``version_dir`` save a checkpoint (``checkpoints/*.ckpt``)?

    A version folder without one is not a run to resume: an empty folder left
    by a start that failed, or the logs of ``islp-lab test``/``predict``.
    """
    folder = Path(version_dir) / "checkpoints"
    return folder.is_dir() and any(path.is_file() for path in folder.glob("*.ckpt"))


def versions(save_dir: str | Path, name: str) -> list[int]:
    """The numbers of the ``version_N`` folders under ``save_dir/name``, in order."""
    folder = Path(save_dir) / name
    found = (p.name.split("_", 1)[1] for p in folder.glob("version_*") if p.is_dir())
    return sorted(int(number) for number in found if number.isdigit())


def latest_version(save_dir: str | Path, name: str) -> int | None:
    """The highest ``version_N`` under ``save_dir/name`` that has a checkpoint (a run to resume), or None."""
    runs = [number for number in versions(save_dir, name) if has_checkpoint(Path(save_dir) / name / f"version_{number}")]
    return runs[-1] if runs else None


#: the run locks this process holds, by version folder (a notebook may build several Trainers on one run)
_RUN_LOCKS: dict[Path, int] = {}


def hold_run_lock(version_dir: str | Path, below: str | Path | None = None) -> None:
    """Own ``version_dir`` for the life of this process: an exclusive lock on its ``.run.lock``.

    Files in a run's folder are written only by the run that owns it: a second
    process that opens the same version (``--resume`` while the run still
    trains) is refused with :class:`~foundations.errors.LabError` naming the
    running process, before it has written anything. The lock goes with the
    process (even ``kill -9``): a stopped run can always be resumed. While held,
    ``.run.lock`` holds the owner's process id; it is emptied again when the
    process exits, so a run that was only looked at (a refused ``--resume``)
    leaves every file of its folder as it was, byte for byte. Where ``fcntl``
    does not exist (Windows) runs are not locked.

    A run writes only files of its own: a symbolic link in ``version_dir`` (or
    ``version_dir`` itself, or a folder between ``below`` and it) is refused in one
    line naming it (:func:`~foundations.files.refuse_links`), before anything is
    written, and the lock is opened without following a link.
    """
    refuse_links(version_dir, below)
    folder = Path(version_dir).resolve()
    if folder in _RUN_LOCKS or fcntl is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".run.lock"
    # held through a read-only descriptor: a log folder that turns read-only under a running run (a remount)
    # then fails the run's next write with one line, rather than the remount itself
    try:
        descriptor = open_no_follow(lock, os.O_RDONLY | os.O_CREAT)
    except OSError as error:
        raise WriteError(f"can't open the run's lock file {lock}: {error.strerror or error}; it must be a file this "
                         "user can create and read (remove whatever else has its name)") from None
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise LabError(
            f"{version_dir} belongs to a run that is still going (process {holder}): wait for it to finish "
            "before --resume, or start a new run without --resume"
        ) from None
    _write_lock_owner(lock, str(os.getpid()))
    if not _RUN_LOCKS:
        atexit.register(release_run_locks)
    _RUN_LOCKS[folder] = descriptor


def _write_lock_owner(lock: Path, owner: str) -> None:
    """Put ``owner`` (a process id, or nothing) in ``lock`` (best effort: the folder may have turned read-only, or
    the lock been replaced by a link, never followed)."""
    with contextlib.suppress(OSError, WriteError):
        writer = open_no_follow(lock, os.O_WRONLY | os.O_TRUNC)
        try:
            os.write(writer, owner.encode())
        finally:
            os.close(writer)


def release_run_locks() -> None:
    """Empty every ``.run.lock`` this process holds (no owner any more), then let the locks go.

    Done at exit. A notebook whose runs are finished can call it to let another process (a ``--resume`` in a
    terminal) take one of them before the kernel ends."""
    for folder, descriptor in list(_RUN_LOCKS.items()):
        _write_lock_owner(folder / ".run.lock", "")
        with contextlib.suppress(OSError):
            os.close(descriptor)
        del _RUN_LOCKS[folder]


class ResumableCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger``, made safe to resume into.

    It writes each logged row at once (``flush_logs_every_n_steps=1``), so a
    killed run loses no completed epoch, and reopening an existing version
    keeps its ``metrics.csv`` (Lightning's writer would delete it) so a resumed
    run appends to the same file.
    A new version is claimed by creating its folder (``mkdir``, which fails for
    all but one), so two runs started at once into one folder never share one;
    a run that fails before it has logged or saved anything (its data missing)
    removes the folder it claimed again.

    Its files (``metrics.csv``, ``hparams.yaml``) are written by this class, never through a symbolic link:
    rows are appended with ``O_NOFOLLOW``, a whole file is replaced by
    :func:`~foundations.files.write_atomically`, and a link in the run's folder is
    refused when the run takes it (:func:`hold_run_lock`).

    Nothing in a reopened version is rewritten before the run is known to
    start: opening it, reading its header and Lightning's ``log_hyperparams``
    write nothing (the hyperparameters wait); only :meth:`begin_writing` (called
    by :class:`~lightning_modules.machinery.resume_log.ResumableCSVLog` once Lightning has
    restored the whole checkpoint, or by the first row logged) writes the held
    hyperparameters and drops a last line a kill or a full disk cut short. A
    resume refused on the way (another seed, fewer epochs than the run already
    has, another network) leaves the run's files byte for byte as they were.
    """

    def __init__(self, save_dir: str, name: str = "lightning_logs", version: int | str | None = None,
                 flush_logs_every_n_steps: int = 1, **kwargs: Any) -> None:
        self._chosen_version = version
        self._new_version = version is None  # claimed by this run (not a run reopened to resume)
        self._writing = version is None  # a new version has nothing to keep
        self._held_hyperparameters: list[Any] = []
        self._hyperparameters: dict[str, Any] = {}
        super().__init__(save_dir, name=name, version=version, flush_logs_every_n_steps=flush_logs_every_n_steps, **kwargs)
        if version is not None and rank_zero_only.rank == 0:  # reopening a run: refused at once if it is running
            hold_run_lock(self.log_dir, below=self.save_dir)

    @property
    def version(self) -> int | str:
        """This run's version; a new one is claimed by creating its folder, so runs started at once never share one."""
        if self._chosen_version is None:
            # other processes of a DDP run only compute it (rank zero's is the one that logs)
            self._chosen_version = self._claim_new_version() if rank_zero_only.rank == 0 else super().version
        return self._chosen_version

    def _claim_new_version(self) -> int:
        root = Path(self.root_dir)
        refuse_links(root, below=self.save_dir, inside=False)  # before a folder is made through a linked one
        root.mkdir(parents=True, exist_ok=True)
        existing = versions(self.save_dir, self.name)
        number = existing[-1] + 1 if existing else 0
        while True:
            try:
                (root / f"version_{number}").mkdir()
                hold_run_lock(root / f"version_{number}", below=self.save_dir)
                return number
            except FileExistsError:  # another run took it meanwhile
                number += 1

    @property
    def experiment(self) -> Any:
        """The CSV writer; opening it on an existing version deletes and rewrites nothing (it appends under the header)."""
        if csv_writer_opened(self) or rank_zero_only.rank != 0:
            return super().experiment
        writer = open_csv_writer_keeping_its_file(self)
        header = _csv_header(Path(writer.metrics_file_path))
        if header:
            set_csv_columns(writer, header)
        return writer

    def begin_writing(self) -> None:
        """The run has started: from now on its files may change (a no-op after the first call, and for a new version).

        Drops a last line of ``metrics.csv`` that a kill or a full disk cut short, and writes the
        hyperparameters Lightning logged before the run was known to start.
        """
        if self._writing:
            return
        self._writing = True
        if rank_zero_only.rank != 0:
            return
        csv = Path(self.log_dir) / "metrics.csv"
        if csv.is_file():
            data = csv.read_bytes()
            whole = data if not data or data.endswith(b"\n") else data[: data.rfind(b"\n") + 1]
            if whole != data:
                write_atomically(csv, whole)
                if csv_writer_opened(self):
                    set_csv_columns(self._experiment, _csv_header(csv))
        held, self._held_hyperparameters = self._held_hyperparameters, []
        for params in held:
            self._write_hyperparameters(params)

    @rank_zero_only
    def log_hyperparams(self, params: Any = None) -> None:
        if not self._writing:  # a reopened run that may yet be refused: keep them until it starts
            self._held_hyperparameters.append(params)
            return
        self._write_hyperparameters(params)

    def _write_hyperparameters(self, params: Any) -> None:
        """Lightning's ``hparams.yaml`` with ``params`` added: made by Lightning in a scratch folder, then put in
        the run's folder whole (:func:`~foundations.files.write_atomically`, never through a link)."""
        self._hyperparameters.update(vars(params) if isinstance(params, Namespace) else dict(params or {}))
        with tempfile.TemporaryDirectory() as scratch:
            made = Path(scratch) / "hparams.yaml"
            save_hparams_to_yaml(made, self._hyperparameters)
            write_atomically(Path(self.log_dir) / "hparams.yaml", made.read_bytes())

    @rank_zero_only
    def save(self) -> None:
        """Write the rows logged since the last save; a log folder that can no longer be written (turned
        read-only, its permissions changed, the disk full) ends the run with one line naming the file."""
        if csv_writer_opened(self) and self._experiment.metrics:  # rows to write: the run is under way
            self.begin_writing()
        try:
            self._write_rows()
        except OSError as error:
            csv = Path(self.log_dir) / "metrics.csv"
            kept = "the epochs logged before are kept, with the last checkpoint"
            if is_disk_full(error):
                raise disk_full(csv, kept=kept) from error
            raise WriteError(
                f"could not write {csv}: {error.strerror or error}; {kept}: make the folder writable again, then "
                "continue with --resume (--ckpt_path last for islp-lab)"
            ) from error

    def _write_rows(self) -> None:
        """The rows logged since the last save into ``metrics.csv``, as Lightning's writer lays them out, never
        through a link: appended under the file's header, or the whole file replaced when a column is new."""
        writer = self.experiment
        if not writer.metrics:
            return
        csv = Path(writer.metrics_file_path)
        refuse_link(csv)
        new = sorted(set().union(*writer.metrics) - set(writer.metrics_keys))
        if csv.is_file() and not new:
            append_no_follow(csv, _csv_rows(writer.metrics_keys, writer.metrics, header=False))
        else:
            columns = sorted([*writer.metrics_keys, *new])
            earlier = _csv_records(csv) if csv.is_file() else []
            write_atomically(csv, _csv_rows(columns, earlier + writer.metrics, header=True))
            set_csv_columns(writer, columns)
        writer.metrics = []

    @rank_zero_only
    def finalize(self, status: str) -> None:
        """Lightning's last call; a run that failed before it logged or saved anything (its data missing, say)
        takes back the new version folder it claimed, so no empty ``version_N`` is left to puzzle over."""
        super().finalize(status)
        if status == "failed" and self._new_version and self._chosen_version is not None:
            _discard_unused_version(Path(self.log_dir))
            folder, save_dir = Path(self.log_dir).parent, Path(self.save_dir)
            while folder != save_dir and save_dir in folder.parents:  # the model's folders, left empty
                try:
                    folder.rmdir()
                except OSError:
                    break
                folder = folder.parent


#: what a run's folder holds before its first epoch is logged: only these, and it was never used
_UNUSED_VERSION = {".run.lock", "hparams.yaml", "config.yaml", "checkpoints"}


def _discard_unused_version(folder: Path) -> None:
    """Remove the version folder ``folder`` of this process's run if it holds no log and no checkpoint."""
    try:
        names = {path.name for path in folder.iterdir()}
        checkpoints = folder / "checkpoints"
        if not names <= _UNUSED_VERSION or (checkpoints.is_dir() and any(checkpoints.iterdir())):
            return
        descriptor = _RUN_LOCKS.pop(folder.resolve(), None)
        if descriptor is not None:
            os.close(descriptor)
        for name in names - {"checkpoints"}:
            (folder / name).unlink()
        if checkpoints.is_dir():
            checkpoints.rmdir()
        folder.rmdir()
    except OSError:
        pass  # another process got in, or the folder is not ours to tidy: leave it


def _csv_rows(columns: list[str], rows: list[dict[str, Any]], header: bool) -> bytes:
    """``rows`` as CSV under ``columns`` (with the header line if ``header``), as Lightning's writer writes them."""
    text = io.StringIO()
    writer = csv_module.DictWriter(text, fieldnames=columns)
    if header:
        writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode()


def _csv_records(csv: Path) -> list[dict[str, str]]:
    """The rows of ``csv``, each a dict by column name."""
    with csv.open(newline="") as file:
        return list(csv_module.DictReader(file))


def _csv_header(csv: Path) -> list[str]:
    """The column names on the first line of ``csv`` (none if it is missing or empty)."""
    try:
        with csv.open(newline="") as file:
            return next(csv_module.reader(file), [])
    except FileNotFoundError:
        return []


def csv_logger(save_dir: str | Path, name: str, resume: bool = False) -> ResumableCSVLogger:
    """The lab's CSV logger; with ``resume`` it reopens the latest version that has a checkpoint (a run to continue).

    With ``resume`` and no such version, it says so (one line on stderr) and starts a new version: the
    run then trains from its first epoch, as without ``resume``.
    """
    version = latest_version(save_dir, name) if resume else None
    if resume and version is None:
        nothing_to_resume(Path(save_dir) / name, "--resume")
    return ResumableCSVLogger(save_dir=str(save_dir), name=name, version=version)


@rank_zero_only
def nothing_to_resume(folder: Path, option: str) -> None:
    """Say that ``option`` found no run with a checkpoint under ``folder`` and that a new run starts."""
    print(f"{option}: nothing to resume in {folder} (no version_N there has a checkpoint): starting a new run",
          file=sys.stderr, flush=True)


def end_distributed() -> None:
    """Close the process group of a DDP run before the interpreter exits.

    Left open, gloo's threads can still be running at exit and abort the
    process ("terminate called without an active exception").
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()
