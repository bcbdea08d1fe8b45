"""The book's chapter-10 lab sections, run with ISLP's helpers and with ours, side by side.

    python scripts/book_sections.py --data-dir ../shared/data
    python scripts/book_sections.py --sections hitters,nyse --epochs-scale 0.1
    python scripts/book_sections.py --epochs hitters=50,nyse_rnn=50,mnist=5 --threads 2

Each section below is written once, in the lab's idiom, and takes the helpers
as an argument (``api.SimpleDataModule``, ``api.SimpleModule``,
``api.ErrorTracker``, ``api.rec_num_workers``, ``api.summary_plot``): the same
lines run on ``ISLP.torch`` and on ``lightning_modules``; only the import
differs. (``ISLP.torch`` has no ``summary_plot``: the lab defines one itself,
so the ISLP side gets :func:`lab_summary_plot`, written here.)

Every (section, helpers) pair runs in a fresh process of this script, so
timings share nothing. The script prints a Markdown table: each network's test
figure under both helpers and the wall seconds of its ``Trainer.fit``.

Exit status: 0 when every requested section ran under both helpers; 3 when a
section was skipped because its data is missing (MNIST not under
``--data-dir`` and not downloadable; set ``BOOK_SECTIONS_NO_DOWNLOAD=1`` to
skip instead of trying to download); 1 on any other failure; 2 on bad options.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import matplotlib

matplotlib.use("Agg")  # the plots are written to files

import numpy as np
import pandas as pd
import torch
from matplotlib.pyplot import close, subplots
from pytorch_lightning import Trainer, seed_everything
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.optim import RMSprop
from torch.utils.data import Subset, TensorDataset
from torchmetrics import MeanAbsoluteError, R2Score


# =============================================================================
# What every section shares: the settings of one run, and the lab's training steps
# =============================================================================
@dataclass
class Settings:
    epochs: dict[str, int]  # max_epochs of each network
    log_dir: str  # CSVLogger save_dir and Trainer default_root_dir
    data_dir: str = "data"  # MNIST's root
    limit: int | None = None  # MNIST: only the first images of the training and test sets


@dataclass
class Row:
    """One network's outcome under one set of helpers."""

    network: str
    figure: str  # test_mae, test_r2, test_accuracy
    value: float
    fit_seconds: float
    epochs: int


class DataMissing(RuntimeError):
    """A section's data is not here and could not be downloaded."""


def fit_and_test(api, module, datamodule, name: str, settings: Settings, col: str, ylabel: str, **trainer_args) -> Row:
    """Fit, test, read the CSV log back and plot it, as each section of the lab does."""
    logger = CSVLogger(settings.log_dir, name=name)
    trainer = Trainer(
        deterministic=True,
        max_epochs=settings.epochs[name],
        logger=logger,
        callbacks=[api.ErrorTracker()],
        default_root_dir=settings.log_dir,
        enable_progress_bar=False,  # the output goes to a log file
        **trainer_args,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    test_results = trainer.test(module, datamodule=datamodule)

    results = pd.read_csv(logger.experiment.metrics_file_path)
    fig, ax = subplots(1, 1, figsize=(6, 6))
    api.summary_plot(results, ax, col=col, ylabel=ylabel)
    fig.tight_layout()
    fig.savefig(Path(logger.log_dir) / f"{col}.png")
    close(fig)

    figure = f"test_{col}"
    return Row(name, figure, float(test_results[0][figure]), fit_seconds, settings.epochs[name])


def tensor_dataset(X, Y) -> TensorDataset:
    """Features and response as float32 tensors, as the lab builds them."""
    return TensorDataset(torch.tensor(np.asarray(X, dtype=np.float32)), torch.tensor(np.asarray(Y, dtype=np.float32)))


# =============================================================================
# Section 10.9.1: a single-layer network on the Hitters data
# =============================================================================
class HittersModel(nn.Module):
    """19 features -> 50 ReLU units with 40% dropout -> the salary."""

    def __init__(self, input_size: int):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_size, 50), nn.ReLU(), nn.Dropout(0.4), nn.Linear(50, 1))

    def forward(self, x):
        return torch.flatten(self.layers(x))


def hitters_section(api, settings: Settings) -> list[Row]:
    from ISLP import load_data
    from ISLP.models import ModelSpec as MS
    from sklearn.model_selection import train_test_split

    Hitters = load_data("Hitters").dropna()
    design = MS(Hitters.columns.drop("Salary"), intercept=False)
    X = design.fit_transform(Hitters).to_numpy()
    Y = Hitters["Salary"].to_numpy()
    X_train, X_test, Y_train, Y_test = train_test_split(X, Y, test_size=1 / 3, random_state=1)
    hit_train, hit_test = tensor_dataset(X_train, Y_train), tensor_dataset(X_test, Y_test)

    hit_dm = api.SimpleDataModule(
        hit_train, hit_test, batch_size=32, num_workers=min(4, api.rec_num_workers()), validation=hit_test
    )
    hit_model = HittersModel(X.shape[1])
    hit_module = api.SimpleModule.regression(hit_model, metrics={"mae": MeanAbsoluteError()})
    return [fit_and_test(api, hit_module, hit_dm, "hitters", settings, col="mae", ylabel="MAE", log_every_n_steps=5)]


# =============================================================================
# Section 10.9.6: time series prediction on the NYSE data (an RNN, then a nonlinear AR model)
# =============================================================================
class NYSEModel(nn.Module):
    """An RNN of 12 units over five days of three series; its last state, 10% dropout, one output."""

    def __init__(self):
        super().__init__()
        self.rnn = nn.RNN(3, 12, batch_first=True)
        self.dropout = nn.Dropout(0.1)
        self.dense = nn.Linear(12, 1)

    def forward(self, x):
        states, _ = self.rnn(x)
        return torch.flatten(self.dense(self.dropout(states[:, -1])))


class NonLinearARModel(nn.Module):
    """The 15 lagged values and 5 day-of-week indicators -> 32 ReLU units, 50% dropout -> one output."""

    def __init__(self, input_size: int = 20):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(input_size, 32), nn.ReLU(), nn.Dropout(0.5), nn.Linear(32, 1))

    def forward(self, x):
        return torch.flatten(self.layers(x))


def nyse_section(api, settings: Settings) -> list[Row]:
    from ISLP import load_data
    from sklearn.preprocessing import StandardScaler

    NYSE = load_data("NYSE")
    cols = ["DJ_return", "log_volume", "log_volatility"]
    standardized = pd.DataFrame(StandardScaler().fit_transform(NYSE[cols]), columns=cols, index=NYSE.index)
    # the three series on each of the five previous days; the first five days have no full history
    lagged = pd.DataFrame(
        {f"{col}_{lag}": standardized[col].shift(lag) for lag in range(1, 6) for col in cols}, index=NYSE.index
    )
    data = pd.concat([standardized, lagged, NYSE["train"]], axis=1).dropna()
    Y, train = data["log_volume"], data["train"].to_numpy(dtype=bool)
    X = data[lagged.columns]

    # the RNN reads the days in time order: earliest (lag 5) first, each day's three values together
    in_time_order = [f"{col}_{lag}" for lag in range(5, 0, -1) for col in cols]
    X_rnn = X[in_time_order].to_numpy().reshape((-1, 5, 3))
    nyse_train, nyse_test = (tensor_dataset(X_rnn[mask], Y[mask]) for mask in (train, ~train))
    nyse_dm = api.SimpleDataModule(
        nyse_train, nyse_test, num_workers=min(4, api.rec_num_workers()), validation=nyse_test, batch_size=64
    )
    nyse_model = NYSEModel()
    nyse_optimizer = RMSprop(nyse_model.parameters(), lr=0.001)
    nyse_module = api.SimpleModule.regression(nyse_model, optimizer=nyse_optimizer, metrics={"r2": R2Score()})
    rnn_row = fit_and_test(api, nyse_module, nyse_dm, "nyse_rnn", settings, col="r2", ylabel="R²")

    # the nonlinear AR model: the same lags, flat, with the day of the week
    X_day = X.join(pd.get_dummies(NYSE["day_of_week"]))
    day_train, day_test = (tensor_dataset(X_day[mask], Y[mask]) for mask in (train, ~train))
    day_dm = api.SimpleDataModule(
        day_train, day_test, num_workers=min(4, api.rec_num_workers()), validation=day_test, batch_size=64
    )
    nl_model = NonLinearARModel(X_day.shape[1])
    nl_optimizer = RMSprop(nl_model.parameters(), lr=0.001)
    nl_module = api.SimpleModule.regression(nl_model, optimizer=nl_optimizer, metrics={"r2": R2Score()})
    ar_row = fit_and_test(api, nl_module, day_dm, "nyse_ar", settings, col="r2", ylabel="R²")
    return [rnn_row, ar_row]


# =============================================================================
# Section 10.9.2: a multilayer network on the MNIST digits, and multiclass logistic regression
# =============================================================================
class MNISTModel(nn.Module):
    """784 pixels -> 256 ReLU units (40% dropout) -> 128 ReLU units (30% dropout) -> 10 digits."""

    def __init__(self):
        super().__init__()
        self.layer1 = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 256), nn.ReLU(), nn.Dropout(0.4))
        self.layer2 = nn.Sequential(nn.Linear(256, 128), nn.ReLU(), nn.Dropout(0.3))
        self.output = nn.Linear(128, 10)

    def forward(self, x):
        return self.output(self.layer2(self.layer1(x)))


class MNIST_MLR(nn.Module):
    """Multiclass logistic regression: the 784 pixels straight to 10 logits."""

    def __init__(self):
        super().__init__()
        self.linear = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def forward(self, x):
        return self.linear(x)


def mnist_data(root: str):
    """MNIST's training and test images as the lab loads them (downloaded into ``root`` when missing)."""
    from torchvision.datasets import MNIST
    from torchvision.transforms import ToTensor

    try:
        return [MNIST(root=root, train=train, download=True, transform=ToTensor()) for train in (True, False)]
    except (RuntimeError, OSError) as error:  # torchvision: "Error downloading ...", "Dataset not found ..."
        lines = [line.strip() for line in str(error).splitlines() if line.strip()] or [type(error).__name__]
        reason = lines[0] if len(lines) == 1 else f"{lines[0]} ... {lines[-1]}"
        raw = Path(root, "MNIST", "raw")
        raise DataMissing(f"MNIST is not under {raw} and could not be downloaded ({reason})") from error


def mnist_section(api, settings: Settings) -> list[Row]:
    mnist_train, mnist_test = mnist_data(settings.data_dir)
    if settings.limit:  # a quick trial: the first images of each set
        mnist_train, mnist_test = (
            Subset(data, range(min(settings.limit, len(data)))) for data in (mnist_train, mnist_test)
        )
    mnist_dm = api.SimpleDataModule(
        mnist_train, mnist_test, validation=0.2, num_workers=min(4, api.rec_num_workers()), batch_size=256
    )
    mnist_module = api.SimpleModule.classification(MNISTModel(), num_classes=10)
    mlp_row = fit_and_test(api, mnist_module, mnist_dm, "mnist_mlp", settings, col="accuracy", ylabel="Accuracy")

    mlr_module = api.SimpleModule.classification(MNIST_MLR(), num_classes=10)
    mlr_row = fit_and_test(api, mlr_module, mnist_dm, "mnist_mlr", settings, col="accuracy", ylabel="Accuracy")
    return [mlp_row, mlr_row]


# =============================================================================
# The two sets of helpers
# =============================================================================
def lab_summary_plot(
    results, ax, col="loss", valid_legend="Validation", training_legend="Training", ylabel="Loss", fontsize=20
):
    """The lab's own plotting function (ISLP.torch has none): training and validation ``col`` by epoch."""
    curves = ((f"train_{col}_epoch", "black", training_legend), (f"valid_{col}", "red", valid_legend))
    for column, color, label in curves:
        points = results[["epoch", column]].dropna()
        points.plot(x="epoch", y=column, label=label, marker="o", color=color, ax=ax)
    ax.set_xlabel("Epoch", fontsize=fontsize)
    ax.set_ylabel(ylabel, fontsize=fontsize)
    return ax


def helpers(name: str) -> SimpleNamespace:
    """The names each section uses, from ``ISLP.torch`` (``islp``) or from ``lightning_modules`` (``ours``)."""
    if name == "islp":
        from ISLP.torch import ErrorTracker, SimpleDataModule, SimpleModule, rec_num_workers

        summary_plot = lab_summary_plot
    else:
        from lightning_modules import ErrorTracker, SimpleDataModule, SimpleModule, rec_num_workers, summary_plot
    return SimpleNamespace(
        SimpleDataModule=SimpleDataModule,
        SimpleModule=SimpleModule,
        ErrorTracker=ErrorTracker,
        rec_num_workers=rec_num_workers,
        summary_plot=summary_plot,
    )


# =============================================================================
# The runner: each (section, helpers) pair in a process of its own, then the table
# =============================================================================
SECTIONS = {"hitters": hitters_section, "nyse": nyse_section, "mnist": mnist_section}
#: per network: its section, a description, the figure, the book's epochs and its figure at those epochs
NETWORKS = {
    "hitters": ("hitters", "Linear(19,50)-ReLU-Dropout(.4)-Linear(50,1)", "test MAE", 50, 221.8),
    "nyse_rnn": ("nyse", "RNN(3,12)-Dropout(.1)-Linear(12,1)", "test R²", 200, 0.414),
    "nyse_ar": ("nyse", "nonlinear AR Linear(20,32)-ReLU-Dropout(.5)-Linear(32,1)", "test R²", 20, 0.465),
    "mnist_mlp": ("mnist", "MLP 784-256-128-10", "test accuracy", 30, 0.965),
    "mnist_mlr": ("mnist", "MLR Flatten-Linear(784,10)", "test accuracy", 30, 0.92),
}
APIS = {"islp": "ISLP.torch", "ours": "lightning_modules"}
NO_DOWNLOAD = "BOOK_SECTIONS_NO_DOWNLOAD"
MNIST_FILES = [f"{part}-{kind}" for part in ("train", "t10k") for kind in ("images-idx3-ubyte", "labels-idx1-ubyte")]


def run_child(args: argparse.Namespace) -> int:
    """Run one section with one set of helpers; write its rows (or why it could not run) to ``--result``."""
    if args.threads:
        torch.set_num_threads(args.threads)
    seed_everything(0, workers=True)
    torch.use_deterministic_algorithms(True, warn_only=True)
    settings = Settings(json.loads(args.epochs_json), args.log_dir, data_dir=args.data_dir, limit=args.limit)
    outcome: dict = {"threads": torch.get_num_threads()}
    try:
        rows = SECTIONS[args.child](helpers(args.api), settings)
        outcome.update(status="ok", rows=[row.__dict__ for row in rows])
        status = 0
    except DataMissing as error:
        outcome.update(status="skipped", reason=str(error))
        status = 3
    except Exception as error:  # the traceback goes to the run's log; the parent reports one line
        traceback.print_exc()
        outcome.update(status="error", reason=f"{type(error).__name__}: {' '.join(str(error).split())[:300]}")
        status = 1
    Path(args.result).write_text(json.dumps(outcome))
    return status


def mnist_missing(data_dir: str) -> str | None:
    """Why MNIST cannot be had without a download, when downloads are switched off; else None."""
    raw = Path(data_dir, "MNIST", "raw")
    present = all((raw / name).is_file() or (raw / f"{name}.gz").is_file() for name in MNIST_FILES)
    if os.environ.get(NO_DOWNLOAD) and not present:
        return f"MNIST is not under {raw} and {NO_DOWNLOAD} is set: nothing is downloaded"
    return None


def run_pair(section: str, api: str, args: argparse.Namespace, epochs: dict[str, int], log_dir: Path) -> dict:
    """Run ``section`` with helpers ``api`` in a fresh process; its outcome (rows, or why it did not run)."""
    api_dir = log_dir / api
    api_dir.mkdir(parents=True, exist_ok=True)
    result = api_dir / f"{section}.json"
    command = [
        sys.executable, str(Path(__file__).resolve()), "--child", section, "--api", api, "--result", str(result),
        "--epochs-json", json.dumps(epochs), "--log-dir", str(api_dir), "--data-dir", args.data_dir,
    ]
    if args.threads:
        command += ["--threads", str(args.threads)]
    if args.limit:
        command += ["--limit", str(args.limit)]
    with open(api_dir / f"{section}.log", "w") as log:
        completed = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, check=False)
    if result.is_file():
        return json.loads(result.read_text())
    lines = (api_dir / f"{section}.log").read_text(errors="replace").strip().splitlines()
    return {"status": "error", "reason": f"exit status {completed.returncode}: {lines[-1] if lines else 'no output'}"}


def epochs_wanted(args: argparse.Namespace, parser: argparse.ArgumentParser) -> dict[str, int]:
    """Each network's epochs: the book's times ``--epochs-scale``, then ``--epochs`` overrides."""
    epochs = {name: max(1, round(spec[3] * args.epochs_scale)) for name, spec in NETWORKS.items()}
    for item in filter(None, (args.epochs or "").split(",")):
        key, _, value = item.rpartition("=")
        names = [n for n, spec in NETWORKS.items() if key in ("", n, spec[0])]
        if not names or not value.strip().isdigit() or int(value) < 1:
            parser.error(f"--epochs: cannot read {item!r}: give N, or NAME=N with NAME one of "
                         f"{', '.join(dict.fromkeys([*NETWORKS, *SECTIONS]))}")
        for name in names:
            epochs[name] = int(value)
    return epochs


def number(value: float | None, figure: str) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if figure == "test MAE" else f"{value:.4f}"


def table(outcomes: dict[tuple[str, str], dict], sections: list[str], epochs: dict[str, int]) -> str:
    header = ("section", "network", "epochs", "figure", "book (its epochs)", "ISLP helpers", "ours",
              "ISLP fit s", "ours fit s", "speed-up (ISLP s / ours s)")
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(["---"] * len(header)) + "|"]
    for name, (section, description, figure, book_epochs, book_value) in NETWORKS.items():
        if section not in sections:
            continue
        found = {api: next((r for r in outcomes.get((section, api), {}).get("rows", []) if r["network"] == name), None)
                 for api in APIS}
        values = [number(r and r["value"], figure) for r in found.values()]
        seconds = [f"{r['fit_seconds']:.1f}" if r else "—" for r in found.values()]
        both = all(found.values())
        speed_up = f"{found['islp']['fit_seconds'] / max(found['ours']['fit_seconds'], 1e-9):.2f}×" if both else "—"
        lines.append("| " + " | ".join([section, f"{name}: {description}", str(epochs[name]), figure,
                                         f"{book_value} ({book_epochs})", *values, *seconds, speed_up]) + " |")
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, argparse.ArgumentParser]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Networks: " + ", ".join(NETWORKS))
    add = parser.add_argument
    add("--sections", default="hitters,nyse,mnist", help="comma-separated: hitters, nyse, mnist (default: all)")
    add("--epochs-scale", type=float, default=1.0, help="run the book's epochs times this, at least one (default 1)")
    add("--epochs", default=None, help="N for every network, or NAME=N,... with a network or a section name "
        "(e.g. hitters=50,nyse_rnn=50,mnist=5); overrides --epochs-scale")
    add("--data-dir", default="data", help="MNIST's root, holding MNIST/raw (default: data)")
    add("--log-dir", default=None, help="where the CSV logs and plots go (default: a temporary folder, removed)")
    add("--threads", type=int, default=None, help="torch threads in every run (default: torch's)")
    add("--limit", type=int, default=None, help="MNIST: use only the first N training and N test images")
    # the child's side: one section, one set of helpers
    parser.add_argument("--child", choices=SECTIONS, help=argparse.SUPPRESS)
    parser.add_argument("--api", choices=APIS, help=argparse.SUPPRESS)
    parser.add_argument("--result", help=argparse.SUPPRESS)
    parser.add_argument("--epochs-json", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.epochs_scale <= 0:
        parser.error("--epochs-scale must be positive")
    if args.threads is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    if args.limit is not None and args.limit < 10:
        parser.error("--limit must be at least 10")
    return args, parser


def main(argv: list[str] | None = None) -> int:
    args, parser = parse_args(argv)
    if args.child:
        return run_child(args)
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in SECTIONS]
    if unknown or not sections:
        parser.error(f"--sections: unknown {', '.join(unknown) or '(none given)'}; choose from {', '.join(SECTIONS)}")
    epochs = epochs_wanted(args, parser)

    with tempfile.TemporaryDirectory(prefix="book_sections_") as temporary:
        log_dir = Path(args.log_dir or temporary).resolve()
        outcomes: dict[tuple[str, str], dict] = {}
        skipped, failed = [], []
        for section in sections:
            reason = mnist_missing(args.data_dir) if section == "mnist" else None
            if reason:
                skipped.append(f"{section} skipped: {reason}")
                continue
            for api, api_name in APIS.items():
                print(f"book_sections: {section} with {api_name} ...", end=" ", file=sys.stderr, flush=True)
                start = time.perf_counter()
                outcome = outcomes[section, api] = run_pair(section, api, args, epochs, log_dir)
                print(f"{outcome['status']} ({time.perf_counter() - start:.1f} s)", file=sys.stderr, flush=True)
                if outcome["status"] == "skipped":
                    skipped.append(f"{section} skipped: {outcome['reason']}")
                    break  # the other helpers would find the same data missing
                if outcome["status"] != "ok":
                    failed.append(f"{section} with {api_name} failed: {outcome['reason']}")
        ran = [s for s in sections if all(outcomes.get((s, api), {}).get("status") == "ok" for api in APIS)]
        threads = sorted({o["threads"] for o in outcomes.values() if "threads" in o})
        if ran:
            print(table(outcomes, ran, epochs))
            print(f"\ntorch threads: {', '.join(map(str, threads))}; fit s: wall seconds of Trainer.fit "
                  f"(validation included); logs: {'(temporary)' if not args.log_dir else log_dir}")
    for line in skipped + failed:
        print(f"book_sections: {line}", file=sys.stderr)
    return 1 if failed else 3 if skipped else 0


if __name__ == "__main__":
    sys.exit(main())
