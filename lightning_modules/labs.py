"""Every lab's book settings, written once.

For each network of the chapter: its data module and the data's settings, the
network, the task, the metric reported, the optimizer, learning rate and
epochs, and the book's own test figure. The lab scripts, the CLI's YAML
configs (``scripts/configs/``, generated from here by ``scripts/write_configs.py``),
the benchmark and the chapter run all take them from here, so changing a
batch size is one line in this file.

Classes are named by import path (as LightningCLI's ``class_path`` does), so
reading this file imports nothing heavy.
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pytorch_lightning import LightningDataModule
    from torch import nn

    from lightning_modules.module import SimpleModule


@dataclass(frozen=True)
class Component:
    """A class by its import path and the book's arguments for it (LightningCLI's ``class_path`` and ``init_args``)."""

    class_path: str
    init_args: dict[str, Any] = field(default_factory=dict)

    def resolve(self) -> type:
        module_name, class_name = self.class_path.rsplit(".", 1)
        return getattr(importlib.import_module(module_name), class_name)

    def build(self, **overrides: Any) -> Any:
        """An instance with the book's arguments, ``overrides`` on top."""
        return self.resolve()(**{**self.init_args, **overrides})

    def parameters(self) -> list[str]:
        """The names the class's constructor takes."""
        return list(inspect.signature(self.resolve()).parameters)

    def config(self) -> dict[str, Any]:
        return {"class_path": self.class_path, **({"init_args": dict(self.init_args)} if self.init_args else {})}


@dataclass(frozen=True)
class BookNetwork:
    """One network of a lab with the book's settings for its data and training."""

    lab: str  # the lab's folder under the log dir
    name: str  # the network's folder under it
    network: Component
    data: Component
    task: str  # regression, classification or binary
    metric: str  # the test figure the book reports: mae, r2 or accuracy
    epochs: int
    lr: float = 0.01  # RMSprop's default, as the book leaves it unless it says otherwise
    optimizer: str = "RMSprop"
    num_classes: int | None = None
    threads: int | None = None  # torch threads that run it fastest on a CPU (None: torch's default)
    book: float | None = None  # the book's test figure (its stored notebook)

    @property
    def figure(self) -> str:
        """The logged name of the figure the book reports, e.g. ``test_mae``."""
        return f"test_{self.metric}"

    def build_network(self) -> nn.Module:
        return self.network.build()

    def build_datamodule(self, **overrides: Any) -> LightningDataModule:
        """The lab's data module with the book's settings; ``overrides`` for the run's own (data_dir, seed, limit...)."""
        return self.data.build(**overrides)

    def module_args(self) -> dict[str, Any]:
        """:class:`~lightning_modules.module.SimpleModule`'s arguments besides the network."""
        return {
            "task": self.task,
            **({"num_classes": self.num_classes} if self.num_classes else {}),
            "metrics": [self.metric],
            "optimizer": self.optimizer,
            "lr": self.lr,
        }

    def build_module(self, network: nn.Module | None = None) -> SimpleModule:
        """The generic module around ``network`` (default: a fresh one), trained as the book trains it."""
        from lightning_modules.module import SimpleModule

        return SimpleModule(network if network is not None else self.build_network(), **self.module_args())


@dataclass(frozen=True)
class Lab:
    """A section of the chapter's lab: its script and its networks."""

    title: str
    script: str  # in scripts/
    networks: tuple[str, ...]  # keys of NETWORKS
    downloads: bool = False  # its data is downloaded (the script takes --data-dir, --synthetic, --limit)


# -- the data, as each lab loads it ----------------------------------------------------------
HITTERS = Component("datamodules.hitters.HittersDataModule", {"batch_size": 32})
MNIST = Component("datamodules.mnist.MNISTDataModule", {"batch_size": 256, "validation": 0.2})
CIFAR100 = Component("datamodules.cifar100.CIFAR100DataModule", {"batch_size": 128, "validation": 0.2})
IMDB_BAG_OF_WORDS = Component(
    "datamodules.imdb.IMDBDataModule",
    {"features": "bag_of_words", "num_words": 10_000, "batch_size": 512, "validation": 2000},
)
IMDB_SEQUENCES = Component(
    "datamodules.imdb.IMDBDataModule",
    {"features": "sequence", "num_words": 10_000, "max_length": 500, "batch_size": 300, "validation": 2000},
)
NYSE_SEQUENCES = Component("datamodules.nyse.NYSEDataModule", {"layout": "sequence", "lags": 5, "batch_size": 64})
NYSE_FLAT_WITH_DAYS = Component(
    "datamodules.nyse.NYSEDataModule", {"layout": "flat", "lags": 5, "day_of_week": True, "batch_size": 64}
)


def _network(name: str, **init_args: Any) -> Component:
    return Component(f"lightning_modules.networks.{name}", init_args)


# -- every network of the chapter ------------------------------------------------------------
NETWORKS: dict[str, BookNetwork] = {
    "hitters": BookNetwork(
        "hitters", "mlp", _network("HittersMLP", input_size=19), HITTERS,
        task="regression", metric="mae", epochs=50, threads=1, book=221.8,
    ),
    "mnist_mlp": BookNetwork(
        "mnist", "mlp", _network("MNISTMLP"), MNIST,
        task="classification", num_classes=10, metric="accuracy", epochs=30, book=0.9648,
    ),
    "mnist_mlr": BookNetwork(
        "mnist", "mlr", _network("MNISTLogistic"), MNIST,
        task="classification", num_classes=10, metric="accuracy", epochs=30, book=0.9219,
    ),
    "cifar100_cnn": BookNetwork(
        "cifar100", "cnn", _network("CIFARCNN"), CIFAR100,
        task="classification", num_classes=100, metric="accuracy", epochs=30, lr=0.001, book=0.4303,
    ),
    "imdb_dense": BookNetwork(
        "imdb", "dense", _network("IMDBDense", input_size=10_003), IMDB_BAG_OF_WORDS,
        task="binary", metric="accuracy", epochs=30, lr=0.001, book=0.8474,
    ),
    "imdb_lstm": BookNetwork(
        "imdb_lstm", "lstm", _network("IMDBLSTM", num_words=10_003), IMDB_SEQUENCES,
        task="binary", metric="accuracy", epochs=20, book=0.8488,
    ),
    "nyse_rnn": BookNetwork(
        "nyse", "rnn", _network("NYSERNN"), NYSE_SEQUENCES,
        task="regression", metric="r2", epochs=200, lr=0.001, threads=1, book=0.4136,
    ),
    "nyse_ar": BookNetwork(
        "nyse", "nonlinear_ar", _network("NonLinearAR", input_size=20), NYSE_FLAT_WITH_DAYS,
        task="regression", metric="r2", epochs=20, threads=1, book=0.4649,
    ),
}

# -- the chapter's sections, in the book's order ----------------------------------------------
LABS: dict[str, Lab] = {
    "hitters": Lab("10.9.1 Hitters: a single-layer network", "lab_hitters.py", ("hitters",)),
    "mnist": Lab(
        "10.9.2 MNIST: MLP and multinomial logistic regression", "lab_mnist.py", ("mnist_mlp", "mnist_mlr"), downloads=True
    ),
    "cifar100": Lab("10.9.3 CIFAR100: a convolutional network", "lab_cifar100.py", ("cifar100_cnn",), downloads=True),
    "pretrained": Lab("10.9.4 A pretrained ResNet50 on the book's images", "lab_pretrained.py", ()),
    "imdb": Lab("10.9.5 IMDB: bag of words and the lasso path", "lab_imdb.py", ("imdb_dense",), downloads=True),
    "imdb_lstm": Lab("10.9.6 IMDB: an LSTM on word sequences", "lab_imdb_lstm.py", ("imdb_lstm",), downloads=True),
    "nyse": Lab("10.9.6 NYSE: RNN and autoregression", "lab_nyse.py", ("nyse_rnn", "nyse_ar")),
}

#: the book's figures of the baselines the lab scripts fit beside the networks
BOOK_BASELINES: dict[str, float] = {
    "hitters/linear_regression": 259.72,
    "hitters/lasso": 257.24,
    "hitters/lasso_scaled": 235.68,
    "imdb/lasso": 0.88,  # the peak of the book's lasso-path test curve, read off its figure
    "nyse/linear_ar": 0.4129,
    "nyse/linear_ar_day": 0.4596,
}


def book_figures(lab: str) -> dict[str, float]:
    """The book's test figure of every model of ``lab`` (networks and baselines), by model name."""
    figures = {NETWORKS[key].name: NETWORKS[key].book for key in LABS[lab].networks if NETWORKS[key].book is not None}
    figures.update({name.split("/", 1)[1]: value for name, value in BOOK_BASELINES.items() if name.startswith(f"{lab}/")})
    return figures


#: data-module arguments that belong to a run, not to the book, shown in the CLI configs with these values
RUN_DEFAULTS: dict[str, Any] = {"data_dir": "data", "synthetic": False}


def cli_config(key: str) -> dict[str, Any]:
    """The ``islp-lab`` config of one network: what ``scripts/configs/<key>.yaml`` holds."""
    settings = NETWORKS[key]
    config: dict[str, Any] = {"seed_everything": 0}
    if settings.threads:
        config["torch_threads"] = settings.threads
    config["trainer"] = {
        "max_epochs": settings.epochs,
        "logger": {
            "class_path": "lightning_modules.trainer.ResumableCSVLogger",
            "init_args": {"save_dir": f"logs/{settings.lab}", "name": settings.name},
        },
    }
    config["model"] = {"model": settings.network.config(), **settings.module_args()}
    config["data"] = settings.data.config()
    # where a data set is downloaded to, and the synthetic stand-in, shown so a user sees them
    accepted = settings.data.parameters()
    config["data"]["init_args"].update({name: value for name, value in RUN_DEFAULTS.items() if name in accepted})
    return config
