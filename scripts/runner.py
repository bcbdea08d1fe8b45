"""What every lab script shares: its flags, fit-then-test, the results table and file, clean errors.

The runner of the scripts in this folder, not part of the library: it parses
flags and exits with a status. (The scripts find it on their own folder's path.)
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import torch
from pytorch_lightning import LightningDataModule, Trainer, seed_everything
from torch import nn

from lightning_modules.curves import read_metrics, save_figure, summary_plot
from lightning_modules.errors import USER_ERRORS, exit_status
from lightning_modules.labs import BookNetwork
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import ACCELERATORS, end_distributed, make_trainer


def lab_parser(description: str, settings: BookNetwork, data: bool = False) -> argparse.ArgumentParser:
    """The flags every lab script takes, defaults from the lab's book ``settings``;
    ``data`` adds ``--data-dir``, ``--synthetic`` and ``--limit``."""
    epochs, threads = settings.epochs, settings.threads
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--max-epochs", type=int, default=epochs, help=f"training epochs (book: {epochs})")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="where to train (default: auto)")
    parser.add_argument("--devices", default="auto", help="devices to use: a count, a list, or auto")
    parser.add_argument("--strategy", default="auto", help="Lightning strategy, e.g. ddp for several devices")
    parser.add_argument("--num-nodes", type=int, default=1, help="machines taking part (with ddp)")
    parser.add_argument("--log-dir", default="logs", help="where CSV logs, curves and results.json go (default: logs)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: 0, as in the book)")
    parser.add_argument(
        "--resume", action="store_true", help="continue the latest run from its last completed epoch (same log version)"
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=threads,
        help="CPU threads for torch (small networks run fastest on one)" + (f"; default {threads}" if threads else ""),
    )
    if data:
        parser.add_argument("--data-dir", default="data", help="where the data set is (or is downloaded to)")
        parser.add_argument(
            "--synthetic",
            action="store_true",
            help="train on random data of the real shapes (to try the code offline; the figures mean nothing)",
        )
        parser.add_argument("--limit", type=int, default=None, help="use only the first N training and test rows")
    return parser


def _devices(value: str) -> int | str | list[int]:
    if value.isdigit():
        return int(value)
    if "," in value:
        return [int(v) for v in value.split(",") if v]
    return value


def prepare(args: argparse.Namespace) -> None:
    """Seed everything (as the book does first) and set the thread count."""
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(args.seed, workers=True, verbose=False)


def trainer_for(args: argparse.Namespace, settings: BookNetwork, max_epochs: int | None = None, **kwargs: Any) -> Trainer:
    """The Trainer of one network of the lab, from the command-line flags (``max_epochs``: other than ``--max-epochs``)."""
    return make_trainer(
        settings.lab,
        settings.name,
        max_epochs=args.max_epochs if max_epochs is None else max_epochs,
        accelerator=args.accelerator,
        devices=_devices(str(args.devices)),
        strategy=args.strategy,
        num_nodes=args.num_nodes,
        log_dir=args.log_dir,
        seed=args.seed,
        resume=args.resume,
        **kwargs,
    )


def print_summary(network: nn.Module, input_size: Sequence[int], dtypes: list[torch.dtype] | None = None) -> None:
    """The network's layers and parameter counts (torchinfo), as the book prints them."""
    from torchinfo import summary

    print(summary(network, input_size=list(input_size), dtypes=dtypes, col_names=["input_size", "output_size", "num_params"], verbose=0))


def fit_and_test(module: SimpleModule, datamodule: LightningDataModule, trainer: Trainer) -> dict[str, Any]:
    """Train, then test; the test figures with the epoch count and the wall time of ``fit`` alone.

    A trainer made with ``resume`` logs into an existing version: if that run
    left a ``checkpoints/last.ckpt``, training continues from it.
    """
    last = Path(trainer.logger.log_dir) / "checkpoints" / "last.ckpt" if trainer.logger else None
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule, ckpt_path=str(last) if last and last.is_file() else None)
    fit_seconds = time.perf_counter() - start
    (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return {
        **{name: float(value) for name, value in test.items()},
        "epochs": trainer.current_epoch,
        "fit_seconds": round(fit_seconds, 3),
        "log_dir": trainer.logger.log_dir if trainer.logger else None,
        "accelerator": type(trainer.accelerator).__name__.replace("Accelerator", "").lower(),
    }


def save_curves(run_dir: str | Path, metric: str, ylabel: str, output: str | Path) -> Path:
    """The book's figure for one run: loss and ``metric`` by epoch, side by side."""
    import matplotlib.pyplot as plt

    results = read_metrics(run_dir)
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    summary_plot(results, axes[0], col="loss", ylabel="Loss", fontsize=14)
    summary_plot(results, axes[1], col=metric, ylabel=ylabel, fontsize=14)
    return save_figure(fig, output)


def synthetic_notice(data_name: str) -> str:
    """The line synthetic runs print, before training and beside their results."""
    return f"*** SYNTHETIC DATA, NOT {data_name}: these losses and accuracies mean nothing (and don't compare with the book's) ***"


def write_json(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write JSON through a temporary file and a rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, suffix=".tmp", delete=False) as handle:
        json.dump(payload, handle, indent=2)
    os.replace(handle.name, path)
    return path


def write_results(
    log_dir: str | Path,
    lab: str,
    models: dict[str, dict[str, Any]],
    book: dict[str, float] | None = None,
    figure: str | None = None,
    **extra: Any,
) -> Path:
    """Write ``<log_dir>/<lab>/results.json`` atomically (a crash never leaves half a file).

    ``book`` gives the book's value of ``figure`` (e.g. ``test_mae``) per model;
    it is stored beside ours as ``book_<figure>`` for the chapter's report.
    """
    models = {
        name: {**figures, **({f"book_{figure}": book[name]} if book and figure and name in book else {})}
        for name, figures in models.items()
    }
    return write_json(Path(log_dir) / lab / "results.json", {"lab": lab, **extra, "models": models})


def results_table(rows: Sequence[tuple[str, str, float, float | None]]) -> str:
    """A plain-text table of ``(model, figure, ours, book)`` with the difference."""
    lines = [f"{'model':<20} {'figure':<14} {'ours':>10} {'book':>10} {'diff':>10}"]
    for model, figure, ours, book in rows:
        book_text = f"{book:>10.4g}" if book is not None else f"{'-':>10}"
        diff_text = f"{ours - book:>+10.3g}" if book is not None else ""
        lines.append(f"{model:<20} {figure:<14} {ours:>10.4g} {book_text} {diff_text}")
    return "\n".join(lines)


def run(main: Callable[[Sequence[str] | None], Any], argv: Sequence[str] | None = None) -> None:
    """Run a lab's ``main``; a user's mistake ends with one clear line and exit status 1
    (3 when the lab's data or weights are not available, which the chapter run reports as skipped)."""
    matplotlib.use("Agg")  # figures go to files; no window, even where there is a display
    try:
        main(argv)
    except USER_ERRORS as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(exit_status(error))
    except KeyboardInterrupt:
        print("interrupted: completed epochs are in the log folder; --resume continues from the last", file=sys.stderr)
        sys.exit(130)
    finally:
        end_distributed()
