"""Time the labs four ways, side by side in one run: ours, the book's code on ours, ISLP 0.6's helpers, a hand-written loop.

    python scripts/benchmark.py                    # every lab
    python scripts/benchmark.py --labs nyse_rnn    # one lab
    python scripts/benchmark.py --quick            # a few epochs each, a couple of minutes

Each (lab, implementation) runs in a fresh Python process, so start-up, peak
memory (max RSS) and thread settings don't leak between them. "book" and
"islp" run the very same code (the book's calls), one on ``lightning_modules``,
the other on ``ISLP.torch``: their ratio is what a reader gains by changing
the import line. All four use the same data, batch size, optimizer and epochs
(the book's settings, from ``lightning_modules/labs.py``); the figures are wall-clock
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
from dataclasses import dataclass
from pathlib import Path

import torch

from lightning_modules.labs import NETWORKS, BookNetwork

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Options:
    """What every implementation of a lab is given (the same for all four)."""

    epochs: int
    log_dir: str
    data_dir: str
    limit: int | None  # keep only the first rows of the training and test sets
    accelerator: str = "cpu"  # cpu or cuda, for all four


@dataclass(frozen=True)
class Timing:
    """How long to time a lab: enough epochs for a steady figure per epoch (not always the book's)."""

    epochs: int
    quick_epochs: int
    quick_limit: int | None = None  # --quick keeps only the first rows of the training and test sets


#: the labs timed, by their key in lightning_modules.labs.NETWORKS (which holds their book settings)
TIMINGS: dict[str, Timing] = {
    "hitters": Timing(epochs=50, quick_epochs=10),
    "mnist_mlp": Timing(epochs=5, quick_epochs=1, quick_limit=20_000),
    "mnist_mlr": Timing(epochs=5, quick_epochs=1, quick_limit=20_000),
    "cifar100_cnn": Timing(epochs=2, quick_epochs=1, quick_limit=3_000),
    "imdb_dense": Timing(epochs=5, quick_epochs=1, quick_limit=5_000),
    "imdb_lstm": Timing(epochs=2, quick_epochs=1, quick_limit=2_000),
    "nyse_rnn": Timing(epochs=200, quick_epochs=20),
    "nyse_ar": Timing(epochs=20, quick_epochs=5),
}


def build_datamodule(settings: BookNetwork, options: Options) -> object:
    """The lab's data module: real data where its files are (nothing is downloaded), else synthetic, which the table says."""
    from datamodules.base import DataUnavailableError

    run_args: dict = {"limit": options.limit} if options.limit else {}
    if "data_dir" not in settings.data.parameters():  # ships with ISLP
        return settings.build_datamodule(**run_args)
    run_args["data_dir"] = options.data_dir
    datamodule = settings.build_datamodule(**run_args)
    try:
        datamodule.setup("fit")
    except DataUnavailableError:
        datamodule = settings.build_datamodule(**run_args, synthetic=True)
    return datamodule


def as_input(rows: object) -> torch.Tensor:
    """What a network eats: uint8 images become floats in [0, 1], sparse rows become dense."""
    if hasattr(rows, "to_dense") and not isinstance(rows, torch.Tensor):
        return rows.to_dense()
    if isinstance(rows, torch.Tensor) and rows.dtype == torch.uint8:
        return rows.float() / 255
    return rows


# -- the four implementations (each runs in its own process) ----------------------------
def run_ours(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """Our data module, module and trainer, as the lab scripts use them."""
    from lightning_modules.trainer import make_trainer
    from runner import fit_and_test

    datamodule = build_datamodule(settings, options)
    datamodule.setup("fit")  # load before the clock starts, as the others do (setup is idempotent)
    trainer = make_trainer(
        "benchmark", "ours", max_epochs=options.epochs, accelerator=options.accelerator, log_dir=options.log_dir,
        enable_progress_bar=False,
    )
    figures = fit_and_test(settings.build_module(), datamodule, trainer)
    return figures["fit_seconds"], figures[settings.figure], getattr(datamodule, "synthetic", False)


def book_datasets(settings: BookNetwork, options: Options, datamodule: object) -> tuple[object, object, object]:
    """The data as the book hands it to ``SimpleDataModule``: real MNIST through torchvision
    with ToTensor (decoded per sample), everything else as in-memory TensorDatasets."""
    from torch.utils.data import Subset, TensorDataset

    if type(datamodule).__name__ == "MNISTDataModule" and not datamodule.synthetic:
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


def run_book_api(api: object, settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """The book's lab code as printed, on ``api``: ISLP 0.6's ``ISLP.torch`` or our ``lightning_modules``
    (num_workers as the book picks them, an optimizer object, metric objects, a plain Trainer)."""
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger

    from lightning_modules.module import build_metric

    ours = build_datamodule(settings, options)
    train, test, validation = book_datasets(settings, options, ours)
    datamodule = api.SimpleDataModule(
        train, test, batch_size=ours.batch_size, num_workers=min(4, api.rec_num_workers()), validation=validation
    )
    network = settings.build_network()
    optimizer = torch.optim.RMSprop(network.parameters(), lr=settings.lr)
    if settings.task == "regression":
        metrics = {settings.metric: build_metric(settings.metric, "regression")}
        module = api.SimpleModule.regression(network, optimizer=optimizer, metrics=metrics)
    elif settings.task == "binary":
        module = api.SimpleModule.binary_classification(network, optimizer=optimizer)
    else:
        module = api.SimpleModule.classification(network, num_classes=settings.num_classes, optimizer=optimizer)
    trainer = Trainer(
        deterministic=True, max_epochs=options.epochs, callbacks=[api.ErrorTracker()], accelerator=options.accelerator,
        logger=CSVLogger(options.log_dir, name=api.__name__), enable_progress_bar=False, enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    (figures,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return fit_seconds, figures[settings.figure], getattr(ours, "synthetic", False)


def run_islp(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """ISLP 0.6's helpers as the book's labs use them."""
    import ISLP.torch

    return run_book_api(ISLP.torch, settings, options)


def run_book(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """The same book code with ``ISLP.torch`` replaced by ``lightning_modules``."""
    import lightning_modules

    return run_book_api(lightning_modules, settings, options)


def run_loop(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """A plain PyTorch loop: shuffled slices of in-memory tensors, one validation pass per epoch."""
    from lightning_modules.module import TASK_LOSSES, build_metric

    datamodule = build_datamodule(settings, options)
    datamodule.setup("fit")
    (X, y), (X_valid, y_valid), (X_test, y_test) = datamodule.train_data, datamodule.val_data, datamodule.test_data
    device = torch.device("cuda" if options.accelerator == "cuda" else "cpu")
    network = settings.build_network().to(device)
    optimizer = torch.optim.RMSprop(network.parameters(), lr=settings.lr)
    loss_fn = TASK_LOSSES[settings.task]()
    classification = settings.task == "classification"

    def evaluate(X_eval: object, y_eval: torch.Tensor) -> float:
        network.eval()
        with torch.no_grad():
            output = torch.cat([network(as_input(X_eval[i : i + 1024]).to(device)) for i in range(0, len(y_eval), 1024)]).cpu()
        network.train()
        metric = build_metric(settings.metric, settings.task, settings.num_classes)
        if settings.task == "binary":
            return float(metric(torch.sigmoid(output.reshape(y_eval.shape)), y_eval.int()))
        return float(metric(output if classification else output.reshape(y_eval.shape), y_eval))

    start = time.perf_counter()
    for _ in range(options.epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), datamodule.batch_size):
            rows = order[i : i + datamodule.batch_size]
            optimizer.zero_grad()
            output = network(as_input(X[rows]).to(device))
            target = (y[rows] if classification else y[rows].float()).to(device)
            loss = loss_fn(output if classification else output.reshape(target.shape), target)
            loss.backward()
            optimizer.step()
        evaluate(X_valid, y_valid)
    fit_seconds = time.perf_counter() - start
    return fit_seconds, evaluate(X_test, y_test), getattr(datamodule, "synthetic", False)


IMPLEMENTATIONS = {"ours": run_ours, "book": run_book, "islp": run_islp, "loop": run_loop}
#: whose thread count is the lab script's (the rest run with the book's: torch's default)
LAB_THREADS = ("ours", "loop")


def child(job: dict) -> None:
    """Run one implementation of one lab and print its figures as JSON (the last line)."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    if job["threads"] > 0:
        torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    settings = NETWORKS[job["lab"]]
    fit_seconds, figure, synthetic = IMPLEMENTATIONS[job["implementation"]](settings, Options(**job["options"]))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fit_seconds": fit_seconds, "figure": figure, "peak_mb": peak_mb,
                      "threads": torch.get_num_threads(), "synthetic": synthetic}))


def measure(lab: str, implementation: str, options: Options, threads: int) -> dict:
    """One implementation of one lab in a fresh process: its figures, or the last line of its error."""
    job = json.dumps({"lab": lab, "implementation": implementation, "options": vars(options), "threads": threads})
    result = subprocess.run([sys.executable, __file__, "--child", job], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_lab(lab: str, implementations: list[str], args: argparse.Namespace) -> dict:
    """Every implementation of one lab, side by side; their figures by name, with the epochs."""
    settings, timing = NETWORKS[lab], TIMINGS[lab]
    epochs = args.epochs or (timing.quick_epochs if args.quick else timing.epochs)
    options = Options(epochs, args.log_dir, args.data_dir, timing.quick_limit if args.quick else None, args.accelerator)
    book_threads = args.islp_threads
    rows = {
        name: measure(lab, name, options, (settings.threads or 0) if name in LAB_THREADS else book_threads)
        for name in implementations
    }
    return {"epochs": epochs, "limit": options.limit, **rows}


def format_row(lab: str, figures: dict, implementations: list[str]) -> str:
    """One line of the table: seconds per epoch, the ratios, our memory, the test figures."""
    epochs = figures["epochs"]
    rows = {name: figures[name] for name in implementations}
    per_epoch = {name: row["fit_seconds"] / epochs for name, row in rows.items() if "fit_seconds" in row}

    def ratio(a: str, b: str) -> str:
        return f"{per_epoch[a] / per_epoch[b]:>10.2f}x" if a in per_epoch and b in per_epoch else f"{'-':>11}"

    cells = "".join(f"{per_epoch[name]:>13.4f}" if name in per_epoch else f"{'failed':>13}" for name in implementations)
    memory = f"{rows['ours']['peak_mb']:>9.0f}" if "peak_mb" in rows.get("ours", {}) else f"{'-':>9}"
    values = " / ".join(f"{row['figure']:.4g}" if "figure" in row else "-" for row in rows.values())
    threads = "/".join(str(row.get("threads", "-")) for row in rows.values())
    data = "synthetic" if any(row.get("synthetic") for row in rows.values()) else "real"
    limit = f", first {figures['limit']} rows" if figures["limit"] else ""
    line = (f"{lab:<13}{epochs:>7}{cells}{ratio('islp', 'ours')}{ratio('islp', 'book')}{ratio('ours', 'loop')}{memory}"
            f"  {NETWORKS[lab].metric}: {values}  ({data} data{limit}; threads {threads})")
    errors = [f"    {name} failed: {row['error']}" for name, row in rows.items() if "error" in row]
    return "\n".join([line, *errors])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default=",".join(TIMINGS), help=f"comma-separated, from: {', '.join(TIMINGS)}")
    parser.add_argument(
        "--implementations", default=",".join(IMPLEMENTATIONS),
        help="comma-separated, from: ours (our data modules and lab settings), book (the book's code on our modules), "
        "islp (the book's code on ISLP 0.6's helpers), loop (plain PyTorch)",
    )
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every lab (default: each lab's own)")
    parser.add_argument("--quick", action="store_true", help="a few epochs per lab")
    parser.add_argument("--log-dir", default="logs/benchmark", help="where the runs' CSV logs go")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    parser.add_argument("--islp-threads", type=int, default=0,
                        help="torch threads for the book's code, on ISLP and on ours (default: torch's own)")
    parser.add_argument("--data-dir", default="data", help="where MNIST, CIFAR100 and IMDB are looked for (else synthetic)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "cuda"], help="where all four train (default: cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.labs = [name.strip() for name in args.labs.split(",") if name.strip()]
    args.implementations = [name.strip() for name in args.implementations.split(",") if name.strip()]
    for kind, names, known in (("lab", args.labs, TIMINGS), ("implementation", args.implementations, IMPLEMENTATIONS)):
        unknown = [name for name in names if name not in known]
        if unknown:
            parser.error(f"unknown {kind}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    where = torch.cuda.get_device_name() if args.accelerator == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"benchmark on {where}, torch {torch.__version__}; seconds per epoch (training + validation)")
    header = f"{'lab':<13}{'epochs':>7}" + "".join(f"{name + ' s/ep':>13}" for name in args.implementations)
    header += f"{'islp/ours':>11}{'islp/book':>11}{'ours/loop':>11}{'ours MB':>9}  test figures ({' / '.join(args.implementations)})"
    print(header, flush=True)
    table = {}
    for lab in args.labs:
        table[lab] = time_lab(lab, args.implementations, args)
        print(format_row(lab, table[lab], args.implementations), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
