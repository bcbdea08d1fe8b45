"""What a lab's training run leaves behind, for one seed and over several.

A lab script (or a notebook cell) trains a network the book's way and keeps
one small record of each run::

    runs = []
    for seed in (0, 1, 2):
        seed_everything(seed, workers=True)
        trainer = make_trainer("hitters", "mlp", max_epochs=50, seed=seed, seed_folder=True)
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule)
        runs.append(run_record(trainer, test, seed))
    figures = over_seeds(runs)

:func:`~lightning_modules.runner.results.write_results` then writes the records to
``results.json`` beside the book's figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning import Trainer
from torch import nn

from lightning_modules.machinery.resume_log import ResumableCSVLog
from lightning_modules.machinery.resuming import check_resume


def last_checkpoint(trainer: Trainer) -> str | None:
    """The checkpoint to continue from: ``checkpoints/last.ckpt`` of the trainer's log version, if it has one.

    A trainer made with ``resume=True`` logs into the latest version that has a
    checkpoint, so fitting from this path continues that run from its last
    completed epoch (a finished run is only tested again). A new version has
    none: fitting starts from the first epoch.

    The checkpoint is checked first, whole (:func:`~lightning_modules.machinery.resuming.check_resume`),
    before Lightning loads it or any file of the run changes: one that is damaged or
    can't be read safely, with a field that is missing, of the wrong kind, out of range or
    at odds with another, of weights only, of another seed, or of a run with more epochs
    than the trainer's ``max_epochs`` is refused in one line.
    """
    if trainer.logger is None or trainer.logger.log_dir is None:
        return None
    last = Path(trainer.logger.log_dir) / "checkpoints" / "last.ckpt"
    if not last.is_file():
        return None
    check_resume(last, trainer)
    return str(last)


def run_record(trainer: Trainer, test: dict[str, Any], seed: int | None = None) -> dict[str, Any]:
    """One run's figures: ``test`` (what ``trainer.test`` returned) with the epochs trained, the seconds spent
    fitting (over every attempt a resumed checkpoint covers), the seed, and the log version it is in."""
    timer = next((callback for callback in trainer.callbacks if isinstance(callback, ResumableCSVLog)), None)
    log_dir = Path(trainer.logger.log_dir) if trainer.logger is not None else None
    return {
        **{name: float(value) for name, value in test.items()},
        "epochs": trainer.current_epoch,
        "fit_seconds": round(timer.fit_seconds(), 3) if timer is not None else None,
        **({"seed": seed} if seed is not None else {}),
        "log_dir": str(log_dir) if log_dir else None,
        "version": trainer.logger.version if trainer.logger is not None else None,
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
    }


def over_seeds(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One network's figures over its runs of one or more seeds: the mean of each test figure, the total
    fitting time, and every run's own record under ``seeds``. A single run logged in the network's own
    folder (not under ``seed_<s>/``: trained without ``--seeds``) is its record as it is."""
    if len(runs) == 1 and not _in_seed_folder(runs[0]):
        return dict(runs[0])
    figures = [name for name in runs[0] if name.startswith("test_")]
    return {
        **{name: sum(run[name] for run in runs) / len(runs) for name in figures},
        "epochs": runs[0]["epochs"],
        "fit_seconds": round(sum(run["fit_seconds"] or 0.0 for run in runs), 3),
        "accelerator": runs[0]["accelerator"],
        "seeds": list(runs),
    }


def _in_seed_folder(run: dict[str, Any]) -> bool:
    return bool(run.get("log_dir")) and Path(run["log_dir"]).parent.name.startswith("seed_")


def run_folders(figures: dict[str, Any]) -> list[str]:
    """The log folders of one network's runs: one per seed, or the single run's."""
    runs = figures.get("seeds") or [figures]
    return [run["log_dir"] for run in runs if run.get("log_dir")]


def print_summary(network: nn.Module, input_size: Sequence[int], dtypes: list[torch.dtype] | None = None) -> None:
    """The network's layers and parameter counts (torchinfo), as the book prints them.

    The network it is given is the one trained after: torchinfo's trial batch is random, so the random state
    is put back afterwards and the network run in eval mode (no dropout draws), leaving the run's figures
    the same with or without the summary."""
    from torchinfo import summary

    with torch.random.fork_rng(devices=[]):
        print(summary(network, input_size=list(input_size), dtypes=dtypes, mode="eval",
                      col_names=["input_size", "output_size", "num_params"], verbose=0))


def synthetic_notice(data_name: str) -> str:
    """The line runs on synthetic data print, before training and beside their results."""
    return (f"*** SYNTHETIC DATA, NOT {data_name}: these losses and accuracies mean nothing "
            "(and don't compare with the book's) ***")
