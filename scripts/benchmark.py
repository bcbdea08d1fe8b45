"""Time the labs four ways, side by side in one run: ours, the book's code on ours, ISLP 0.6's helpers, a hand-written loop.

    python scripts/benchmark.py                    # every lab, the book's epochs
    python scripts/benchmark.py --labs nyse_rnn    # one lab
    python scripts/benchmark.py --quick            # a few epochs each, a couple of minutes

Each (lab, implementation) runs in a fresh Python process, so start-up, peak
memory (max RSS) and thread settings don't leak between them. "book" and
"islp" run the very same code (the book's calls), one on ``lightning_modules``,
the other on ``ISLP.torch``: their ratio is what a reader gains by changing
the import line. All four use
the same data, batch size, optimizer and epochs; the figures are wall-clock
seconds of training (validation each epoch included). Threads: ours and the
loop use the lab scripts' setting (one thread for the small networks); the
book's code (on ISLP or on ours) runs as the book runs it, with torch's default
(one per core) unless ``--islp-threads`` says otherwise. The table prints the thread counts used.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Options:
    """What every implementation of a lab is given (the same for all four)."""

    epochs: int
    log_dir: str
    data_dir: str
    limit: int | None  # keep only the first rows of the training and test sets
    accelerator: str = "cpu"  # cpu or cuda, for all four


@dataclass
class Lab:
    """How to build one lab's pieces; each implementation trains them its own way."""

    network: Callable[[], nn.Module]
    datamodule: Callable[[Options], object]  # our data module (its tensors feed all four)
    task: str  # regression / classification / binary
    metric: str
    epochs: int  # enough epochs for a steady per-epoch figure (not always the book's)
    quick_epochs: int
    batch_size: int
    lr: float = 0.01
    threads: int = 1  # torch threads for ours and the loop, as the lab script sets them (0: torch's default)
    num_classes: int | None = None
    quick_limit: int | None = None


def _datamodule(module_path: str, class_name: str, **kwargs) -> Callable[[Options], object]:
    def build(options: Options) -> object:
        import importlib

        from datamodules.base import DataUnavailableError

        data_class = getattr(importlib.import_module(module_path), class_name)
        if options.limit:
            kwargs["limit"] = options.limit
        if "data_dir" not in kwargs:  # ships with ISLP
            return data_class(**kwargs)
        # a downloaded data set: real where its files are (the data module itself says, and
        # nothing is downloaded here), else synthetic, which the table says
        datamodule = data_class(**{**kwargs, "data_dir": options.data_dir})
        try:
            datamodule.setup("fit")
        except DataUnavailableError:
            datamodule = data_class(**{**kwargs, "data_dir": options.data_dir, "synthetic": True})
        return datamodule

    return build


def _network(name: str, **kwargs) -> Callable[[], nn.Module]:
    def build() -> nn.Module:
        from lightning_modules import networks

        return getattr(networks, name)(**kwargs)

    return build


LABS: dict[str, Lab] = {
    "hitters": Lab(_network("HittersMLP"), _datamodule("datamodules.hitters", "HittersDataModule", batch_size=32),
                   "regression", "mae", 50, 10, 32),
    "mnist_mlp": Lab(_network("MNISTMLP"), _datamodule("datamodules.mnist", "MNISTDataModule", data_dir="", batch_size=256),
                     "classification", "accuracy", 5, 1, 256, threads=0, num_classes=10, quick_limit=20000),
    "mnist_mlr": Lab(_network("MNISTLogistic"), _datamodule("datamodules.mnist", "MNISTDataModule", data_dir="", batch_size=256),
                     "classification", "accuracy", 5, 1, 256, threads=0, num_classes=10, quick_limit=20000),
    "cifar100": Lab(_network("CIFARCNN"), _datamodule("datamodules.cifar100", "CIFAR100DataModule", data_dir="", batch_size=128),
                    "classification", "accuracy", 2, 1, 128, lr=0.001, threads=0, num_classes=100, quick_limit=3000),
    "imdb_dense": Lab(_network("IMDBDense"),
                      _datamodule("datamodules.imdb", "IMDBDataModule", data_dir="", features="bag_of_words", batch_size=512),
                      "binary", "accuracy", 5, 1, 512, lr=0.001, threads=0, quick_limit=5000),
    "imdb_lstm": Lab(_network("IMDBLSTM"),
                     _datamodule("datamodules.imdb", "IMDBDataModule", data_dir="", features="sequence", batch_size=300),
                     "binary", "accuracy", 2, 1, 300, threads=0, quick_limit=2000),
    "nyse_rnn": Lab(_network("NYSERNN"), _datamodule("datamodules.nyse", "NYSEDataModule", layout="sequence", batch_size=64),
                    "regression", "r2", 200, 20, 64, lr=0.001),
    "nyse_ar": Lab(_network("NonLinearAR", input_size=20),
                   _datamodule("datamodules.nyse", "NYSEDataModule", layout="flat", day_of_week=True, batch_size=64),
                   "regression", "r2", 20, 5, 64),
}


def as_input(rows: object) -> torch.Tensor:
    """What a network eats: uint8 images become floats in [0, 1], sparse rows become dense."""
    if hasattr(rows, "to_dense") and not isinstance(rows, torch.Tensor):
        return rows.to_dense()
    if isinstance(rows, torch.Tensor) and rows.dtype == torch.uint8:
        return rows.float() / 255
    return rows


def _figure(lab: Lab, output: torch.Tensor, y: torch.Tensor) -> float:
    from torchmetrics.functional import accuracy, mean_absolute_error, r2_score

    if lab.metric == "r2":
        return float(r2_score(output.reshape(y.shape), y))
    if lab.metric == "mae":
        return float(mean_absolute_error(output.reshape(y.shape), y))
    if lab.task == "binary":
        return float(accuracy(torch.sigmoid(output.reshape(y.shape)), y.int(), task="binary"))
    return float(accuracy(output, y, task="multiclass", num_classes=lab.num_classes))


# -- the four implementations (each runs in its own process) ----------------------------
def run_ours(lab: Lab, options: Options) -> tuple[float, float, bool]:
    from lightning_modules.labs import fit_and_test
    from lightning_modules.module import SimpleModule
    from lightning_modules.trainer import make_trainer

    datamodule = lab.datamodule(options)
    datamodule.setup("fit")  # load before the clock starts, as the other two do (setup is idempotent)
    module = SimpleModule(lab.network(), task=lab.task, metrics=[lab.metric], num_classes=lab.num_classes, lr=lab.lr)
    trainer = make_trainer(
        "benchmark", "ours", max_epochs=options.epochs, accelerator=options.accelerator, log_dir=options.log_dir,
        enable_progress_bar=False,
    )
    figures = fit_and_test(module, datamodule, trainer)
    return figures["fit_seconds"], figures[f"test_{lab.metric}"], getattr(datamodule, "synthetic", False)


def _islp_datasets(lab: Lab, options: Options, datamodule: object) -> tuple[object, object, object]:
    """The data as the book hands it to ISLP's SimpleDataModule: real MNIST through torchvision
    with ToTensor (decoded per sample), everything else as in-memory TensorDatasets."""
    from torch.utils.data import Subset, TensorDataset

    real_mnist = type(datamodule).__name__ == "MNISTDataModule" and not datamodule.synthetic
    if real_mnist:
        from torchvision.datasets import MNIST
        from torchvision.transforms import ToTensor

        train, test = (MNIST(root=options.data_dir, train=flag, transform=ToTensor()) for flag in (True, False))
        if options.limit:
            train, test = (Subset(split, range(min(options.limit, len(split)))) for split in (train, test))
        return train, test, datamodule.validation
    train, test = datamodule.load()
    if options.limit:
        train, test = (tuple(t[: options.limit] for t in split) for split in (train, test))
    train, test = (TensorDataset(*(as_input(t) for t in split)) for split in (train, test))
    validation = test if datamodule.validation == "test" else datamodule.validation
    if options.limit and isinstance(validation, int):  # the same cap as our data modules apply
        validation = min(validation, len(train) // 5)
    return train, test, validation


def run_book_api(api: object, lab: Lab, options: Options) -> tuple[float, float, bool]:
    """The book's lab code as printed, on ``api``: ISLP 0.6's ``ISLP.torch`` or our ``lightning_modules``
    (num_workers as the book picks them, an optimizer object, metric objects, a plain Trainer)."""
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger
    from torchmetrics import MeanAbsoluteError, R2Score

    ours = lab.datamodule(options)
    train, test, validation = _islp_datasets(lab, options, ours)
    datamodule = api.SimpleDataModule(
        train, test, batch_size=lab.batch_size, num_workers=min(4, api.rec_num_workers()), validation=validation
    )
    network = lab.network()
    optimizer = torch.optim.RMSprop(network.parameters(), lr=lab.lr)
    if lab.task == "regression":
        metric = {"mae": MeanAbsoluteError, "r2": R2Score}[lab.metric]()
        module = api.SimpleModule.regression(network, optimizer=optimizer, metrics={lab.metric: metric})
    elif lab.task == "binary":
        module = api.SimpleModule.binary_classification(network, optimizer=optimizer)
    else:
        module = api.SimpleModule.classification(network, num_classes=lab.num_classes, optimizer=optimizer)
    trainer = Trainer(
        deterministic=True, max_epochs=options.epochs, callbacks=[api.ErrorTracker()], accelerator=options.accelerator,
        logger=CSVLogger(options.log_dir, name=api.__name__), enable_progress_bar=False, enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    (figures,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return fit_seconds, figures[f"test_{lab.metric}"], getattr(ours, "synthetic", False)


def run_islp(lab: Lab, options: Options) -> tuple[float, float, bool]:
    """ISLP 0.6's helpers as the book's labs use them."""
    import ISLP.torch

    return run_book_api(ISLP.torch, lab, options)


def run_book(lab: Lab, options: Options) -> tuple[float, float, bool]:
    """The same book code with ``ISLP.torch`` replaced by ``lightning_modules``."""
    import lightning_modules

    return run_book_api(lightning_modules, lab, options)


def run_loop(lab: Lab, options: Options) -> tuple[float, float, bool]:
    """A plain PyTorch loop: shuffled slices of in-memory tensors, one validation pass per epoch."""
    datamodule = lab.datamodule(options)
    datamodule.setup("fit")
    (X, y), (X_valid, y_valid), (X_test, y_test) = datamodule.train_data, datamodule.val_data, datamodule.test_data
    device = torch.device("cuda" if options.accelerator == "cuda" else "cpu")
    network = lab.network().to(device)
    optimizer = torch.optim.RMSprop(network.parameters(), lr=lab.lr)
    loss_fn = {"regression": nn.MSELoss(), "binary": nn.BCEWithLogitsLoss(), "classification": nn.CrossEntropyLoss()}[lab.task]

    def evaluate(X_eval: object, y_eval: torch.Tensor) -> float:
        network.eval()
        with torch.no_grad():
            batches = [network(as_input(X_eval[i : i + 1024]).to(device)) for i in range(0, len(y_eval), 1024)]
        network.train()
        return _figure(lab, torch.cat(batches).cpu(), y_eval)

    start = time.perf_counter()
    for _ in range(options.epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), lab.batch_size):
            rows = order[i : i + lab.batch_size]
            optimizer.zero_grad()
            output = network(as_input(X[rows]).to(device))
            target = (y[rows] if lab.task == "classification" else y[rows].float()).to(device)
            loss = loss_fn(output if lab.task == "classification" else output.reshape(target.shape), target)
            loss.backward()
            optimizer.step()
        evaluate(X_valid, y_valid)
    fit_seconds = time.perf_counter() - start
    return fit_seconds, evaluate(X_test, y_test), getattr(datamodule, "synthetic", False)


IMPLEMENTATIONS = {"ours": run_ours, "book": run_book, "islp": run_islp, "loop": run_loop}


def child(lab_name: str, implementation: str, options: Options, threads: int) -> None:
    """Run one implementation of one lab and print its figures as JSON (the last line)."""
    import warnings

    import logging

    warnings.simplefilter("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    lab = LABS[lab_name]
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    fit_seconds, figure, synthetic = IMPLEMENTATIONS[implementation](lab, options)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    threads = torch.get_num_threads()
    print(json.dumps({"fit_seconds": fit_seconds, "figure": figure, "peak_mb": peak_mb, "threads": threads, "synthetic": synthetic}))


def measure(lab_name: str, implementation: str, options: Options, threads: int) -> dict:
    job = json.dumps({"lab": lab_name, "implementation": implementation, "options": vars(options), "threads": threads})
    command = [sys.executable, __file__, "--child", job]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default=",".join(LABS), help=f"comma-separated, from: {', '.join(LABS)}")
    parser.add_argument(
        "--implementations", default="ours,book,islp,loop",
        help="comma-separated, from: ours (our data modules and lab settings), book (the book's code on our modules), "
        "islp (the book's code on ISLP 0.6's helpers), loop (plain PyTorch)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every lab (default: the book's)")
    parser.add_argument("--quick", action="store_true", help="a few epochs per lab")
    parser.add_argument("--log-dir", default="logs/benchmark", help="where the runs' CSV logs go")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    parser.add_argument("--islp-threads", type=int, default=0, help="torch threads for ISLP's run (default: torch's own)")
    parser.add_argument("--data-dir", default="data", help="where MNIST, CIFAR100 and IMDB are looked for (else synthetic)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "cuda"], help="where all four train (default: cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        job = json.loads(args.child)
        child(job["lab"], job["implementation"], Options(**job["options"]), job["threads"])
        return 0

    labs = [name.strip() for name in args.labs.split(",") if name.strip()]
    unknown = [name for name in labs if name not in LABS]
    if unknown:
        parser.error(f"unknown lab(s) {', '.join(unknown)}; choose from {', '.join(LABS)}")
    implementations = [name.strip() for name in args.implementations.split(",")]
    where = torch.cuda.get_device_name() if args.accelerator == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"benchmark on {where}, torch {torch.__version__}; seconds per epoch (training + validation)")
    header = f"{'lab':<12}{'epochs':>7}" + "".join(f"{name + ' s/ep':>13}" for name in implementations)
    header += f"{'islp/ours':>11}{'islp/book':>11}{'ours/loop':>11}{'ours MB':>9}  test figures ({' / '.join(implementations)})"
    print(header, flush=True)
    table = {}
    for lab_name in labs:
        lab = LABS[lab_name]
        epochs = args.epochs or (lab.quick_epochs if args.quick else lab.epochs)
        options = Options(epochs, args.log_dir, args.data_dir, lab.quick_limit if args.quick else None, args.accelerator)
        rows = {
            name: measure(lab_name, name, options, args.islp_threads if name in ("islp", "book") else lab.threads)
            for name in implementations
        }
        table[lab_name] = {"epochs": epochs, **rows}
        per_epoch = {name: row["fit_seconds"] / epochs for name, row in rows.items() if "fit_seconds" in row}
        cells = "".join(f"{per_epoch[name]:>13.4f}" if name in per_epoch else f"{'failed':>13}" for name in implementations)
        ratio = lambda a, b: f"{per_epoch[a] / per_epoch[b]:>10.2f}x" if a in per_epoch and b in per_epoch else f"{'-':>11}"  # noqa: E731
        memory = f"{rows['ours']['peak_mb']:>9.0f}" if "peak_mb" in rows.get("ours", {}) else f"{'-':>9}"
        figures = " / ".join(f"{rows[name]['figure']:.4g}" if "figure" in rows[name] else "-" for name in implementations)
        threads = "/".join(str(rows[name].get("threads", "-")) for name in implementations)
        data = "synthetic" if any(row.get("synthetic") for row in rows.values()) else "real"
        rows_note = f", first {options.limit} rows" if options.limit else ""
        print(
            f"{lab_name:<12}{epochs:>7}{cells}{ratio('islp', 'ours')}{ratio('islp', 'book')}{ratio('ours', 'loop')}{memory}"
            f"  {lab.metric}: {figures}  ({data} data{rows_note}; threads {threads})",
            flush=True,
        )
        for name, row in rows.items():
            if "error" in row:
                print(f"    {name} failed: {row['error']}")
    if args.output:
        Path(args.output).write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
