"""The book's own code for one network of the chapter, run on a set of helpers of your choice.

The lab's cells hand a data set to ``SimpleDataModule``, build the network and an
``RMSprop`` optimizer, wrap them with ``SimpleModule.regression`` (or
``classification``, ``binary_classification``) and fit with a plain ``Trainer``
and ``ErrorTracker``. :func:`run_book_code` makes those calls on ``ISLP.torch``
or on ``lightning_modules`` (``helpers("islp")``, ``helpers("ours")``): the same
lines, only the import differs. What the lab sets (data, batch size, network,
learning rate, metric, epochs) comes from :mod:`lightning_modules.chapter.labs`.

``scripts/benchmark.py`` uses it to time the book's code on both helpers, and
``--book-sections`` to set their test figures beside the book's::

    from lightning_modules.chapter.book_code import helpers, run_book_code
    from lightning_modules.chapter.labs import NETWORKS

    run = run_book_code(helpers("islp"), NETWORKS["hitters"], epochs=50, log_dir="logs/book")
    print(run.figure, run.fit_seconds)
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import torch

from lightning_modules.chapter.labs import BookNetwork

#: the helpers the book's code runs on, by short name
HELPERS = {"islp": "ISLP.torch", "ours": "lightning_modules"}


def helpers(name: str) -> ModuleType:
    """``ISLP.torch`` (``islp``) or ``lightning_modules`` (``ours``): the package the book's code imports its names from."""
    return importlib.import_module(HELPERS[name])


def lab_datamodule(settings: BookNetwork, data_dir: str = "data", limit: int | None = None) -> Any:
    """The lab's data module: its real data where the files are (nothing is downloaded), else the
    shape-identical synthetic stand-in (its ``synthetic`` attribute says which)."""
    from foundations.errors import DataUnavailableError

    run_args: dict[str, Any] = {"limit": limit} if limit else {}
    if "data_dir" not in settings.data.parameters():  # ships with ISLP
        return settings.build_datamodule(**run_args)
    datamodule = settings.build_datamodule(**run_args, data_dir=data_dir)
    try:
        datamodule.setup("fit")
    except DataUnavailableError:
        datamodule = settings.build_datamodule(**run_args, data_dir=data_dir, synthetic=True)
    return datamodule


def is_synthetic(datamodule: Any) -> bool:
    return bool(getattr(datamodule, "synthetic", False))


def as_input(rows: Any) -> torch.Tensor:
    """What a network eats: uint8 images become floats in [0, 1], sparse rows become dense."""
    if hasattr(rows, "to_dense") and not isinstance(rows, torch.Tensor):
        return rows.to_dense()
    if isinstance(rows, torch.Tensor) and rows.dtype == torch.uint8:
        return rows.float() / 255
    return rows


def book_datasets(settings: BookNetwork, datamodule: Any, data_dir: str = "data",
                  limit: int | None = None) -> tuple[Any, Any, Any]:
    """``(train, test, validation)`` as the book hands them to ``SimpleDataModule``: real MNIST through
    torchvision with ``ToTensor`` (decoded per sample), everything else as in-memory ``TensorDataset``s;
    ``limit`` keeps the first rows of each set (a validation count then shrinks as our data modules'
    does)."""
    from torch.utils.data import Subset, TensorDataset

    from datamodules.splitting import limited_validation

    if settings.data.class_path.endswith("MNISTDataModule") and not is_synthetic(datamodule):
        from torchvision.datasets import MNIST
        from torchvision.transforms import ToTensor

        train, test = (MNIST(root=data_dir, train=flag, transform=ToTensor()) for flag in (True, False))
        if limit:
            train, test = (Subset(split, range(min(limit, len(split)))) for split in (train, test))
        return train, test, datamodule.validation
    train, test = datamodule.load()
    if limit:
        train, test = (tuple(t[:limit] for t in split) for split in (train, test))
    train, test = (TensorDataset(*(as_input(t) for t in split)) for split in (train, test))
    validation = datamodule.validation
    if validation == "test":
        validation = test
    elif limit and isinstance(validation, (int, float)):
        validation = limited_validation(validation, len(train))
    return train, test, validation


@dataclass
class BookRun:
    """What one run of the book's code gave."""

    fit_seconds: float  # wall seconds of ``trainer.fit`` (validation included)
    figure: float  # the test figure the book reports (``settings.figure``)
    synthetic: bool  # trained and tested on the synthetic stand-in, not the lab's data
    log_dir: str  # the CSVLogger's version folder (metrics.csv, and the curve when drawn)


def run_book_code(
    api: ModuleType,
    settings: BookNetwork,
    epochs: int | None = None,
    log_dir: str | Path = "logs/book",
    data_dir: str = "data",
    limit: int | None = None,
    accelerator: str = "cpu",
    curve: bool = False,
) -> BookRun:
    """Run the book's code for one network on the helpers ``api`` (``ISLP.torch`` or ``lightning_modules``).

    Seeded as the lab seeds (``seed_everything(0)``, deterministic algorithms); ``epochs`` default to the
    book's. With ``curve`` the run's CSV log is read back and drawn with ``summary_plot``, as the lab does,
    into ``<metric>.png`` beside it. Logs go under ``log_dir/<api>/<lab>_<network>/``.
    """
    from pytorch_lightning import Trainer, seed_everything
    from pytorch_lightning.loggers import CSVLogger
    from torch.optim import RMSprop

    from lightning_modules.module import build_metric

    seed_everything(0, workers=True, verbose=False)
    torch.use_deterministic_algorithms(True, warn_only=True)
    ours = lab_datamodule(settings, data_dir, limit)
    train, test, validation = book_datasets(settings, ours, data_dir, limit)

    datamodule = api.SimpleDataModule(
        train, test, batch_size=ours.batch_size, num_workers=min(4, api.rec_num_workers()), validation=validation
    )
    network = settings.build_network()
    optimizer = RMSprop(network.parameters(), lr=settings.lr)
    if settings.task == "regression":
        metrics = {settings.metric: build_metric(settings.metric, settings.task)}
        module = api.SimpleModule.regression(network, optimizer=optimizer, metrics=metrics)
    elif settings.task == "binary":
        module = api.SimpleModule.binary_classification(network, optimizer=optimizer)
    else:
        module = api.SimpleModule.classification(network, num_classes=settings.num_classes, optimizer=optimizer)
    logger = CSVLogger(log_dir, name=f"{api.__name__}/{settings.lab}_{settings.name}")
    trainer = Trainer(
        deterministic=True, max_epochs=epochs or settings.epochs, logger=logger, callbacks=[api.ErrorTracker()],
        accelerator=accelerator, default_root_dir=log_dir, enable_progress_bar=False, enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    (figures,) = trainer.test(module, datamodule=datamodule, verbose=False)
    if curve:
        draw_curve(logger.experiment.metrics_file_path, settings.metric, Path(logger.log_dir) / f"{settings.metric}.png")
    return BookRun(fit_seconds, float(figures[settings.figure]), is_synthetic(ours), str(logger.log_dir))


def draw_curve(metrics_csv: str | Path, metric: str, output: Path) -> None:
    """The lab's figure of a run: training and validation ``metric`` by epoch (``summary_plot``)."""
    import pandas as pd
    from matplotlib.figure import Figure  # no pyplot: the caller's backend and open figures stay as they are

    from lightning_modules.curves import summary_plot  # ISLP.torch has none: the lab writes its own, the same

    fig = Figure(figsize=(6, 6))
    ylabel = metric.upper() if len(metric) <= 3 else metric.title()
    summary_plot(pd.read_csv(metrics_csv), fig.subplots(), col=metric, ylabel=ylabel)
    fig.tight_layout()
    fig.savefig(output)
