"""The Trainer every lab uses: accelerator check, CSV logs, checkpoints, error tracking."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Callback, LightningModule, Trainer
from pytorch_lightning.loggers import CSVLogger
from pytorch_lightning.plugins.io import CheckpointIO
from pytorch_lightning.utilities import rank_zero_only

from datamodules.errors import AcceleratorUnavailableError, BadArgumentError, LabError
from lightning_modules.callbacks import EpochProgress, complete_lines
from lightning_modules.labs import Component
from lightning_modules.lightning_internals import csv_writer_opened, global_seed, set_csv_columns
from lightning_modules.signals import STOP

try:
    import fcntl
except ImportError:  # Windows: runs are not locked
    fcntl = None

ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")


class _NoAdvertising(logging.Filter):
    """Drops Lightning's "Tip: try installing ..." line; the rest of its start-up report stays."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "Tip:" not in record.getMessage()


_QUIET = _NoAdvertising()


def quiet_lightning() -> None:
    """Drop Lightning's advertising line and a deprecation inside Lightning that no user can act on.

    Called when this project builds a Trainer, never on import (a notebook's
    logging and warnings stay as its user set them).
    """
    logging.getLogger("pytorch_lightning.utilities.rank_zero").addFilter(_QUIET)  # adding it twice is a no-op
    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")


def available_accelerators() -> list[str]:
    """Accelerators this machine can run on, ``cpu`` always among them."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        found.append("mps")
    return found


def check_accelerator(accelerator: str) -> None:
    """Fail at once, naming what is available, if ``accelerator`` can't run here."""
    available = available_accelerators()
    if accelerator not in ACCELERATORS:
        raise AcceleratorUnavailableError(
            f"unknown accelerator {accelerator!r}: choose one of {', '.join(ACCELERATORS)}"
        )
    wanted_gpu = accelerator == "gpu" and len(available) == 1
    if wanted_gpu or (accelerator not in ("auto", "gpu") and accelerator not in available):
        raise AcceleratorUnavailableError(
            f"accelerator {accelerator!r} is not available on this machine; "
            f"available: {', '.join(available)} (or 'auto' to pick the best of them)"
        )


class SeedEachEpoch(Callback):
    """Reseed torch at the start of every training epoch from (seed, epoch, rank).

    Dropout masks of epoch ``e`` then depend only on the seed and ``e``, so a
    run resumed from a checkpoint repeats exactly what an uninterrupted run does.
    With ``seed=None`` the seed is the one ``seed_everything`` set (the CLI's
    ``--seed_everything``).
    """

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def _seed(self) -> int:
        return self.seed if self.seed is not None else global_seed()

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        torch.manual_seed(self._seed() * 1_000_003 + trainer.current_epoch * 1_009 + trainer.global_rank)

    def state_dict(self) -> dict[str, Any]:
        """The seed goes into every checkpoint: it is part of what identifies a run."""
        return {"seed": self._seed()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Refuse to continue a run of another seed (``--resume --seed 7`` on seed 0's run), before anything is
        rewritten: its figures would be neither seed's."""
        saved, wanted = state_dict.get("seed"), self._seed()
        if saved is not None and saved != wanted:
            raise BadArgumentError(
                f"--resume: the run to continue was trained with seed {saved}, not {wanted}: resume it with "
                f"--seed {saved}, or start a new run without --resume"
            )


#: the callbacks of every Trainer here (make_trainer builds them; islp-lab's config lists them):
#: the NaN watch, ``checkpoints/last.ckpt`` rewritten (atomically) after every epoch (what ``--ckpt_path last``
#: resumes), per-epoch seeding, a CSV log that survives resuming, a line per tenth of the run without a progress bar,
#: and a run stopped by a signal that ends as stopped (never as a success)
DEFAULT_CALLBACKS: tuple[Component, ...] = (
    Component("lightning_modules.callbacks.ErrorTracker"),
    Component("pytorch_lightning.callbacks.ModelCheckpoint",
              {"filename": "last", "save_top_k": 1, "enable_version_counter": False}),
    Component("lightning_modules.trainer.SeedEachEpoch"),
    Component("lightning_modules.callbacks.ResumableCSVLog"),
    Component("lightning_modules.callbacks.EpochProgress"),
    Component("lightning_modules.signals.StopOnSignal"),
)


#: the plugins of every Trainer here (make_trainer builds them; islp-lab's trainer defaults list them): a
#: checkpoint writer that keeps the previous ``last.ckpt`` whole through a kill at any instant or a full disk
DEFAULT_PLUGINS: tuple[Component, ...] = (Component("lightning_modules.checkpoints.AtomicCheckpointIO"),)


def default_plugins() -> list[Any]:
    """:data:`DEFAULT_PLUGINS`, built."""
    return [component.build() for component in DEFAULT_PLUGINS]


def _with_default_plugins(plugins: Any) -> list[Any]:
    """``plugins`` (one, a list, or None) with :data:`DEFAULT_PLUGINS`, unless they bring a checkpoint writer of their own."""
    given = [] if plugins is None else list(plugins) if isinstance(plugins, (list, tuple)) else [plugins]
    if any(isinstance(plugin, CheckpointIO) for plugin in given):
        return given
    return default_plugins() + given


def default_callbacks(seed: int | None = None, label: str = "") -> list[Callback]:
    """:data:`DEFAULT_CALLBACKS`, seeded with ``seed`` and with ``label`` on the progress lines."""
    arguments = {SeedEachEpoch: {"seed": seed}, EpochProgress: {"label": label}}
    callbacks = []
    for component in DEFAULT_CALLBACKS:
        callback_class = component.resolve()
        callbacks.append(component.build(**arguments.get(callback_class, {})))
    return callbacks


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


def hold_run_lock(version_dir: str | Path) -> None:
    """Own ``version_dir`` for the life of this process: an exclusive lock on its ``.run.lock``.

    Files in a run's folder are written only by the run that owns it: a second
    process that opens the same version (``--resume`` while the run still
    trains) is refused with :class:`~datamodules.errors.LabError` naming the
    running process, before it has written anything. The lock goes with the
    process (even ``kill -9``): a stopped run can always be resumed. Where
    ``fcntl`` does not exist (Windows) runs are not locked.
    """
    folder = Path(version_dir).resolve()
    if folder in _RUN_LOCKS or fcntl is None:
        return
    folder.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(folder / ".run.lock", os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        holder = os.read(descriptor, 64).decode(errors="replace").strip() or "unknown"
        os.close(descriptor)
        raise LabError(
            f"{version_dir} belongs to a run that is still going (process {holder}): wait for it to finish "
            "before --resume, or start a new run without --resume"
        ) from None
    os.ftruncate(descriptor, 0)
    os.write(descriptor, str(os.getpid()).encode())
    _RUN_LOCKS[folder] = descriptor


class ResumableCSVLogger(CSVLogger):
    """Lightning's ``CSVLogger``, made safe to resume into.

    It writes each logged row at once (``flush_logs_every_n_steps=1``), so a
    killed run loses no completed epoch, and reopening an existing version
    keeps its ``metrics.csv`` (Lightning's writer would delete it) so a resumed
    run appends to the same file (less a last line a kill or a full disk cut short).
    A new version is claimed by creating its folder (``mkdir``, which fails for
    all but one), so two runs started at once into one folder never share one.
    """

    def __init__(self, save_dir: str, name: str = "lightning_logs", version: int | str | None = None,
                 flush_logs_every_n_steps: int = 1, **kwargs: Any) -> None:
        self._chosen_version = version
        super().__init__(save_dir, name=name, version=version, flush_logs_every_n_steps=flush_logs_every_n_steps, **kwargs)
        if version is not None and rank_zero_only.rank == 0:  # reopening a run: refused at once if it is running
            hold_run_lock(self.log_dir)

    @property
    def version(self) -> int | str:
        """This run's version; a new one is claimed by creating its folder, so runs started at once never share one."""
        if self._chosen_version is None:
            # other processes of a DDP run only compute it (rank zero's is the one that logs)
            self._chosen_version = self._claim_new_version() if rank_zero_only.rank == 0 else super().version
        return self._chosen_version

    def _claim_new_version(self) -> int:
        root = Path(self.root_dir)
        root.mkdir(parents=True, exist_ok=True)
        existing = versions(self.save_dir, self.name)
        number = existing[-1] + 1 if existing else 0
        while True:
            try:
                (root / f"version_{number}").mkdir()
                hold_run_lock(root / f"version_{number}")
                return number
            except FileExistsError:  # another run took it meanwhile
                number += 1

    @property
    def experiment(self) -> Any:
        if csv_writer_opened(self) or rank_zero_only.rank != 0:
            return super().experiment
        csv = Path(self.log_dir) / "metrics.csv"
        previous = complete_lines(csv.read_text()) if csv.is_file() else ""
        writer = super().experiment  # opening the version folder removes metrics.csv
        if previous.strip():
            csv.write_text(previous)
            set_csv_columns(writer, previous.splitlines()[0].split(","))
        return writer


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


def make_trainer(
    lab: str,
    model_name: str,
    max_epochs: int,
    accelerator: str = "auto",
    devices: int | str = "auto",
    log_dir: str | Path = "logs",
    seed: int = 0,
    deterministic: bool = True,
    enable_progress_bar: bool | None = None,
    callbacks: list[Callback] | None = None,
    resume: bool = False,
    seed_folder: bool = False,
    **trainer_kwargs: Any,
) -> Trainer:
    """A Trainer logging to ``<log_dir>/<lab>/<model_name>/version_N/metrics.csv``.

    ``accelerator`` is one of auto/cpu/cuda/gpu/mps and is checked first. The
    progress bar shows on interactive terminals unless ``enable_progress_bar``
    says otherwise. ``resume`` logs into the latest version that has a checkpoint (fit it
    with ``ckpt_path="last"`` to continue from its last completed epoch; with none, a new
    version starts, saying so). ``seed_folder`` logs under ``<model_name>/seed_<seed>/`` instead
    (one of several seeds of a network). Checkpoints are written
    by :class:`~lightning_modules.checkpoints.AtomicCheckpointIO` (whole through a kill or
    a full disk). Further
    keyword arguments go to ``Trainer`` (``strategy``, ``num_nodes``,
    ``limit_train_batches``...).
    """
    check_accelerator(accelerator)
    STOP.raise_if_signalled()  # a signal that came after the previous Trainer's last check
    quiet_lightning()
    if seed_folder:
        model_name = f"{model_name}/seed_{seed}"
    if enable_progress_bar is None:
        enable_progress_bar = sys.stderr.isatty()
    callbacks = default_callbacks(seed, label=f"{lab}/{model_name}") + list(callbacks or [])
    STOP.log_dir = str(log_dir)
    return Trainer(
        accelerator=accelerator,
        devices=devices,
        max_epochs=max_epochs,
        deterministic=deterministic,
        logger=csv_logger(Path(log_dir) / lab, model_name, resume),
        callbacks=callbacks,
        plugins=_with_default_plugins(trainer_kwargs.pop("plugins", None)),
        enable_progress_bar=enable_progress_bar,
        enable_model_summary=False,  # the labs print torchinfo summaries instead
        num_sanity_val_steps=0,
        **trainer_kwargs,
    )
