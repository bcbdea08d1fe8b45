"""The book's record of the chapter: what each lab's cells set, and the figures they print.

For each network of the chapter: its data module and the data's settings, the
network, the task, the metric reported, the optimizer, learning rate and
epochs, each with the book's cell it comes from, and the book's own test figure.
A reader changes a setting in its lab or exercise script (``scripts/``), where
it is used; the CLI's YAML configs (``scripts/configs/``) and this record are
copies that ``tests/unit/test_labs.py`` checks against the scripts, naming both
places where they differ. The benchmark and the chapter run read this record.

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
class Timing:
    """How the benchmark times a network: enough epochs for a steady figure per epoch (not always the book's)."""

    epochs: int
    quick_epochs: int
    quick_limit: int | None = None  # --quick keeps only the first rows of the training and test sets


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
    parameters: int | None = None  # "Total params" of the book's printed summary of the network
    timing: Timing | None = None  # how scripts/benchmark.py times it (None: not timed)

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
    seeds: int = 1  # seeds per network in the full chapter run (a spread where a seed costs little)
    quick: tuple[str, ...] = ()  # the script's flags in the chapter's --quick tour: few epochs, slices of the data
    quick_seeds: int = 1  # seeds per network in the --quick tour
    stand_in: tuple[str, ...] = ("--synthetic",)  # --quick's flags where the lab's data is not on this machine


# -- the data, as each lab loads it ----------------------------------------------------------
# (where each number is in the book's lab: Ch10-deeplearning-lab.ipynb of intro-stat-learning/ISLP_labs)
# batch 32, the test set as validation: the book's `hit_dm = SimpleDataModule(..., batch_size=32, validation=hit_test)`
HITTERS = Component("datamodules.hitters.HittersDataModule", {"batch_size": 32})
# batch 256, 20% of the training images held out: `mnist_dm = SimpleDataModule(..., validation=0.2, batch_size=256)`
MNIST = Component("datamodules.mnist.MNISTDataModule", {"batch_size": 256, "validation": 0.2})
# batch 128, 20% held out: `cifar_dm = SimpleDataModule(..., validation=0.2, batch_size=128)`
CIFAR100 = Component("datamodules.cifar100.CIFAR100DataModule", {"batch_size": 128, "validation": 0.2})
# 10,000 words (`load_tensor`'s data), 2,000 held out, batch 512: `imdb_dm = SimpleDataModule(..., validation=2000, batch_size=512)`
IMDB_BAG_OF_WORDS = Component(
    "datamodules.imdb.IMDBDataModule",
    {"features": "bag_of_words", "num_words": 10_000, "batch_size": 512, "validation": 2000},
)
# the last 500 words (`load_sequential`), 2,000 held out, batch 300: `imdb_seq_dm = SimpleDataModule(..., validation=2000, batch_size=300)`
IMDB_SEQUENCES = Component(
    "datamodules.imdb.IMDBDataModule",
    {"features": "sequence", "num_words": 10_000, "max_length": 500, "batch_size": 300, "validation": 2000},
)
# 5 lags (`for lag in range(1, 6)`), batch 64, the test years as validation: `nyse_dm = SimpleDataModule(..., validation=nyse_test, batch_size=64)`
NYSE_SEQUENCES = Component("datamodules.nyse.NYSEDataModule", {"layout": "sequence", "lags": 5, "batch_size": 64})
# the 15 lags and 5 day-of-week indicators of `X_day`, batch 64, test as validation: `day_dm = SimpleDataModule(...)`
NYSE_FLAT_WITH_DAYS = Component(
    "datamodules.nyse.NYSEDataModule", {"layout": "flat", "lags": 5, "day_of_week": True, "batch_size": 64}
)


def _network(name: str, **init_args: Any) -> Component:
    return Component(f"lightning_modules.networks.{name}", init_args)


# -- every network of the chapter ------------------------------------------------------------
# Each comment names the book's cell a number comes from. ``book=`` is the test figure the stored notebook
# prints for that network; ``threads`` is measured on this project's CPUs, not the book's.
NETWORKS: dict[str, BookNetwork] = {
    # 50 epochs: `hit_trainer = Trainer(max_epochs=50)`; RMSprop's default 0.01: `hit_module` is given no optimizer
    "hitters": BookNetwork(
        "hitters", "mlp", _network("HittersMLP", input_size=19), HITTERS,
        task="regression", metric="mae", epochs=50, threads=1, book=221.8,
        timing=Timing(epochs=50, quick_epochs=10),
    ),
    # 30 epochs: `mnist_trainer = Trainer(max_epochs=30)`; RMSprop's default 0.01: `mnist_module` is given no optimizer
    "mnist_mlp": BookNetwork(
        "mnist", "mlp", _network("MNISTMLP"), MNIST,
        task="classification", num_classes=10, metric="accuracy", epochs=30, book=0.9648, parameters=235_146,
        timing=Timing(epochs=5, quick_epochs=1, quick_limit=20_000),
    ),
    # 30 epochs: `mlr_trainer = Trainer(max_epochs=30)`; RMSprop's default 0.01: `mlr_module` is given no optimizer
    "mnist_mlr": BookNetwork(
        "mnist", "mlr", _network("MNISTLogistic"), MNIST,
        task="classification", num_classes=10, metric="accuracy", epochs=30, book=0.9219, parameters=7_850,
        timing=Timing(epochs=5, quick_epochs=1, quick_limit=20_000),
    ),
    # 30 epochs: `cifar_trainer = Trainer(max_epochs=30)`; lr 0.001: `cifar_optimizer = RMSprop(..., lr=0.001)`
    "cifar100_cnn": BookNetwork(
        "cifar100", "cnn", _network("CIFARCNN"), CIFAR100,
        task="classification", num_classes=100, metric="accuracy", epochs=30, lr=0.001, book=0.4303,
        parameters=964_516,
        timing=Timing(epochs=2, quick_epochs=1, quick_limit=3_000),
    ),
    # 30 epochs: `imdb_trainer = Trainer(max_epochs=30)`; lr 0.001: `imdb_optimizer = RMSprop(..., lr=0.001)`
    "imdb_dense": BookNetwork(
        "imdb", "dense", _network("IMDBDense", input_size=10_003), IMDB_BAG_OF_WORDS,
        task="binary", metric="accuracy", epochs=30, lr=0.001, book=0.8474,
        timing=Timing(epochs=5, quick_epochs=1, quick_limit=5_000),
    ),
    # 20 epochs: `lstm_trainer = Trainer(max_epochs=20)`; RMSprop's default 0.01: `lstm_module` is given no optimizer
    "imdb_lstm": BookNetwork(
        "imdb_lstm", "lstm", _network("IMDBLSTM", num_words=10_003), IMDB_SEQUENCES,
        task="binary", metric="accuracy", epochs=20, book=0.8488,
        timing=Timing(epochs=2, quick_epochs=1, quick_limit=2_000),
    ),
    # 200 epochs: `nyse_trainer = Trainer(max_epochs=200)`; lr 0.001: `nyse_optimizer = RMSprop(..., lr=0.001)`
    "nyse_rnn": BookNetwork(
        "nyse", "rnn", _network("NYSERNN"), NYSE_SEQUENCES,
        task="regression", metric="r2", epochs=200, lr=0.001, threads=1, book=0.4136,
        timing=Timing(epochs=200, quick_epochs=20),
    ),
    # 20 epochs: `nl_trainer = Trainer(max_epochs=20)`; lr 0.001: the book's `nl_optimizer = RMSprop(..., lr=0.001)`
    "nyse_ar": BookNetwork(
        "nyse", "nonlinear_ar", _network("NonLinearAR", input_size=20), NYSE_FLAT_WITH_DAYS,
        task="regression", metric="r2", epochs=20, lr=0.001, threads=1, book=0.4649,
        timing=Timing(epochs=20, quick_epochs=5),
    ),
}

# -- the chapter's sections, in the book's order ----------------------------------------------
LABS: dict[str, Lab] = {
    "hitters": Lab("10.9.1 Hitters: a single-layer network", "lab_hitters.py", ("hitters",),
                   seeds=5, quick=("--max-epochs", "5"), quick_seeds=2),
    "mnist": Lab(
        "10.9.2 MNIST: MLP and multinomial logistic regression", "lab_mnist.py", ("mnist_mlp", "mnist_mlr"),
        downloads=True, seeds=3, quick=("--max-epochs", "2", "--limit", "6000"),
    ),
    "cifar100": Lab("10.9.3 CIFAR100: a convolutional network", "lab_cifar100.py", ("cifar100_cnn",),
                    downloads=True, quick=("--max-epochs", "1", "--limit", "2000")),
    "pretrained": Lab("10.9.4 A pretrained ResNet50 on the book's images", "lab_pretrained.py", (),
                      stand_in=("--weights", "none")),
    "imdb": Lab("10.9.5 IMDB: bag of words and the lasso path", "lab_imdb.py", ("imdb_dense",), downloads=True,
                quick=("--max-epochs", "2", "--limit", "3000", "--lasso-lambdas", "10")),
    "imdb_lstm": Lab("10.9.6 IMDB: an LSTM on word sequences", "lab_imdb_lstm.py", ("imdb_lstm",), downloads=True,
                     quick=("--max-epochs", "1", "--limit", "1000")),
    "nyse": Lab("10.9.6 NYSE: RNN and autoregression", "lab_nyse.py", ("nyse_rnn", "nyse_ar"),
                seeds=5, quick=("--max-epochs", "5", "--ar-epochs", "3"), quick_seeds=2),
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


# -- the chapter's applied exercises (ISLP 10.10, exercises 6 to 13) ---------------------------
# Each changes one thing in a lab, as its comment says; the rest (optimizer, rate, batch size,
# validation) is that lab's, from the cells named above. The book prints no figures for them.

# the Hitters lab's data module (`hit_dm`: batch 32, the test set as validation) on ISLP's Default
DEFAULT = Component("datamodules.default.DefaultDataModule", {"batch_size": 32})
# the RNN's sequences (`nyse_dm`), each day's step with its five day-of-week indicators beside its three series
NYSE_SEQUENCES_WITH_DAYS = Component(
    "datamodules.nyse.NYSEDataModule", {"layout": "sequence", "lags": 5, "lagged_day_of_week": True, "batch_size": 64}
)


def _exercise_13(units: int, dropout: float) -> BookNetwork:
    """The IMDB lab's dense network and training (30 epochs, lr 0.001) with ``units`` per layer and ``dropout``."""
    name = f"dense_{units}" + ("_dropout" if dropout else "")
    network = _network("IMDBDense", input_size=10_003, hidden=units, dropout=dropout)
    return BookNetwork("exercise_13", name, network, IMDB_BAG_OF_WORDS, task="binary", metric="accuracy", epochs=30, lr=0.001)


EXERCISE_NETWORKS: dict[str, BookNetwork] = {
    # 7: the Hitters lab's training (RMSprop's default 0.01, batch 32) with the exercise's 10 hidden units and a
    # binary target. Dropout 0.1, not Hitters' 0.4: measured, 0.4 on 10 units leaves the network answering "No"
    # to everyone (test accuracy 0.9667, the null rate, after 30 epochs at lr 0.01 or 0.001); 20 epochs: the
    # test accuracy stops moving after about 10
    "ex07_default": BookNetwork(
        "exercise_07", "mlp", _network("DefaultMLP", dropout=0.1), DEFAULT,
        task="binary", metric="accuracy", epochs=20, threads=1,
    ),
    # 10: the nonlinear AR's training (lr 0.001, `nl_optimizer`) on the RNN's sequences, without a hidden layer;
    # 50 epochs, not 20: at lr 0.001 the linear weights are still moving after 20
    "ex10_linear_ar": BookNetwork(
        "exercise_10", "linear_ar_network", _network("LinearAR", input_size=15), NYSE_SEQUENCES,
        task="regression", metric="r2", epochs=50, lr=0.001, threads=1,
    ),
    # 11: the lab's nonlinear AR (20 epochs, lr 0.001: `nl_trainer`, `nl_optimizer`) on the RNN's sequences
    # flattened: 15 inputs, without the day of the week
    "ex11_nonlinear_ar": BookNetwork(
        "exercise_11", "nonlinear_ar_flat", _network("NonLinearAR", input_size=15), NYSE_SEQUENCES,
        task="regression", metric="r2", epochs=20, lr=0.001, threads=1,
    ),
    # 12: the lab's RNN (200 epochs, lr 0.001: `nyse_trainer`, `nyse_optimizer`) reading 3 + 5 inputs per day
    "ex12_rnn_day": BookNetwork(
        "exercise_12", "rnn_day", _network("NYSERNN", input_size=8), NYSE_SEQUENCES_WITH_DAYS,
        task="regression", metric="r2", epochs=200, lr=0.001, threads=1,
    ),
    # 13: 16, 32 and 64 units per layer, each without and with 30% dropout
    **{
        f"ex13_dense_{units}" + ("_dropout" if dropout else ""): _exercise_13(units, dropout)
        for units in (16, 32, 64)
        for dropout in (0.0, 0.3)
    },
}
# the exercises' networks are the chapter's too: the CLI configs and the agreement tests cover them
NETWORKS.update(EXERCISE_NETWORKS)

#: the exercises in the chapter's order, run like the labs
EXERCISES: dict[str, Lab] = {
    "exercise_06": Lab("10.10.6 Gradient descent on R(β) = sin β + β/10", "exercise_06_gradient_descent.py", (),
                       stand_in=()),
    "exercise_07": Lab("10.10.7 Default: a network against logistic regression", "exercise_07_default.py",
                       ("ex07_default",), seeds=3, quick=("--max-epochs", "3")),
    # no stand-in: a random network's top five classes answer nothing (the pretrained lab's --quick already runs
    # the same code with --weights none), so without the weights it is skipped, saying which file to put where
    "exercise_08": Lab("10.10.8 A pretrained ResNet50's top five classes per photo", "exercise_08_pretrained_top5.py",
                       (), stand_in=()),
    "exercise_09": Lab("10.10.9 NYSE: the linear AR with a month factor", "exercise_09_nyse_month.py", (),
                       stand_in=()),
    "exercise_10": Lab("10.10.10 NYSE: a linear AR as a network on the flattened sequences",
                       "exercise_10_linear_ar_network.py", ("ex10_linear_ar",), seeds=5, quick=("--max-epochs", "3")),
    "exercise_11": Lab("10.10.11 NYSE: a nonlinear AR on the flattened sequences", "exercise_11_nonlinear_ar_flat.py",
                       ("ex11_nonlinear_ar",), seeds=5, quick=("--max-epochs", "3")),
    "exercise_12": Lab("10.10.12 NYSE: the RNN with the day of the week", "exercise_12_rnn_day_of_week.py",
                       ("ex12_rnn_day",), seeds=3, quick=("--max-epochs", "5")),
    "exercise_13": Lab("10.10.13 IMDB: 16, 32 and 64 units per layer, with and without dropout",
                       "exercise_13_imdb_widths.py", tuple(key for key in EXERCISE_NETWORKS if key.startswith("ex13_")),
                       downloads=True, quick=("--max-epochs", "1", "--limit", "3000")),
}
