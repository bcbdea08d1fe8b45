"""Time the labs three ways, side by side in one run: ours, ISLP 0.6's helpers, a hand-written loop.

    python scripts/benchmark.py                    # every lab, the book's epochs
    python scripts/benchmark.py --labs nyse_rnn    # one lab
    python scripts/benchmark.py --quick            # a few epochs each, a couple of minutes

Each (lab, implementation) runs in a fresh Python process, so start-up, peak
memory (max RSS) and thread settings don't leak between them. All three use
the same data, batch size, optimizer and epochs; the figures are wall-clock
seconds of training (validation each epoch included). Threads: ours and the
loop use the lab scripts' setting (one thread for the small networks); ISLP
runs as the book runs it, with torch's default (one per core) unless
``--islp-threads`` says otherwise. The table prints the thread counts used.
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
class Lab:
    """How to build one lab's pieces; each implementation trains them its own way."""

    network: Callable[[], nn.Module]
    datamodule: Callable[[], object]  # our data module (its tensors feed all three)
    task: str  # regression / classification / binary
    metric: str
    epochs: int
    quick_epochs: int
    batch_size: int
    lr: float = 0.01
    threads: int = 1
    num_classes: int | None = None


def _hitters() -> object:
    from datamodules.hitters import HittersDataModule

    return HittersDataModule(batch_size=32)


def _nyse(layout: str, day_of_week: bool) -> Callable[[], object]:
    def build() -> object:
        from datamodules.nyse import NYSEDataModule

        return NYSEDataModule(layout=layout, day_of_week=day_of_week, batch_size=64)

    return build


def _networks():
    from lightning_modules import networks

    return networks


LABS: dict[str, Lab] = {
    "hitters": Lab(lambda: _networks().HittersMLP(), _hitters, "regression", "mae", 50, 10, 32),
    "nyse_rnn": Lab(lambda: _networks().NYSERNN(), _nyse("sequence", False), "regression", "r2", 200, 20, 64, lr=0.001),
    "nyse_ar": Lab(lambda: _networks().NonLinearAR(20), _nyse("flat", True), "regression", "r2", 20, 5, 64),
}


# -- the three implementations (each runs in its own process) ----------------------------
def run_ours(lab: Lab, epochs: int, log_dir: str) -> tuple[float, float]:
    from lightning_modules.labs import fit_and_test
    from lightning_modules.module import SimpleModule
    from lightning_modules.trainer import make_trainer

    module = SimpleModule(lab.network(), task=lab.task, metrics=[lab.metric], num_classes=lab.num_classes, lr=lab.lr)
    trainer = make_trainer("benchmark", "ours", max_epochs=epochs, accelerator="cpu", log_dir=log_dir, enable_progress_bar=False)
    figures = fit_and_test(module, lab.datamodule(), trainer)
    return figures["fit_seconds"], figures[f"test_{lab.metric}"]


def run_islp(lab: Lab, epochs: int, log_dir: str) -> tuple[float, float]:
    """ISLP 0.6's helpers as the book's labs use them (num_workers as the book picks them)."""
    from ISLP.torch import ErrorTracker, SimpleDataModule, SimpleModule, rec_num_workers
    from pytorch_lightning import Trainer
    from pytorch_lightning.loggers import CSVLogger
    from torch.utils.data import TensorDataset
    from torchmetrics import Accuracy, MeanAbsoluteError, R2Score

    ours = lab.datamodule()
    ours.setup("fit")
    train, test = TensorDataset(*ours.train_data), TensorDataset(*ours.test_data)
    validation = test if ours.val_data is ours.test_data else TensorDataset(*ours.val_data)
    datamodule = SimpleDataModule(
        train, test, batch_size=lab.batch_size, num_workers=min(4, rec_num_workers()), validation=validation
    )
    network = lab.network()
    optimizer = torch.optim.RMSprop(network.parameters(), lr=lab.lr)
    metric = {"mae": MeanAbsoluteError, "r2": R2Score}.get(lab.metric, lambda: Accuracy("multiclass", num_classes=lab.num_classes))()
    if lab.task == "regression":
        module = SimpleModule.regression(network, optimizer=optimizer, metrics={lab.metric: metric})
    elif lab.task == "binary":
        module = SimpleModule.binary_classification(network, optimizer=optimizer)
    else:
        module = SimpleModule.classification(network, num_classes=lab.num_classes, optimizer=optimizer)
    trainer = Trainer(
        deterministic=True, max_epochs=epochs, callbacks=[ErrorTracker()], accelerator="cpu",
        logger=CSVLogger(log_dir, name="islp"), enable_progress_bar=False, enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=datamodule)
    fit_seconds = time.perf_counter() - start
    (figures,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return fit_seconds, figures[f"test_{lab.metric}"]


def run_loop(lab: Lab, epochs: int, log_dir: str) -> tuple[float, float]:
    """A plain PyTorch loop: shuffled slices, one whole-set validation per epoch."""
    from torchmetrics.functional import accuracy, mean_absolute_error, r2_score

    data = lab.datamodule()
    data.setup("fit")
    (X, y), (X_valid, y_valid), (X_test, y_test) = data.train_data, data.val_data, data.test_data
    network = lab.network()
    optimizer = torch.optim.RMSprop(network.parameters(), lr=lab.lr)
    loss_fn = {"regression": nn.MSELoss(), "binary": nn.BCEWithLogitsLoss(), "classification": nn.CrossEntropyLoss()}[lab.task]

    def figure(X_eval: torch.Tensor, y_eval: torch.Tensor) -> float:
        network.eval()
        with torch.no_grad():
            output = network(X_eval)
        network.train()
        if lab.metric == "r2":
            return float(r2_score(output.reshape(y_eval.shape), y_eval))
        if lab.metric == "mae":
            return float(mean_absolute_error(output.reshape(y_eval.shape), y_eval))
        return float(accuracy(output, y_eval, task="multiclass", num_classes=lab.num_classes))

    start = time.perf_counter()
    for _ in range(epochs):
        order = torch.randperm(len(X))
        for i in range(0, len(X), lab.batch_size):
            rows = order[i : i + lab.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(network(X[rows]).reshape(y[rows].shape), y[rows])
            loss.backward()
            optimizer.step()
        figure(X_valid, y_valid)
    fit_seconds = time.perf_counter() - start
    return fit_seconds, figure(X_test, y_test)


IMPLEMENTATIONS = {"ours": run_ours, "islp": run_islp, "loop": run_loop}


def child(lab_name: str, implementation: str, epochs: int, log_dir: str, threads: int) -> None:
    """Run one implementation of one lab and print its figures as JSON (the last line)."""
    import warnings

    import logging

    warnings.simplefilter("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    lab = LABS[lab_name]
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    fit_seconds, figure = IMPLEMENTATIONS[implementation](lab, epochs, log_dir)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"fit_seconds": fit_seconds, "figure": figure, "peak_mb": peak_mb, "threads": torch.get_num_threads()}))


def measure(lab_name: str, implementation: str, epochs: int, log_dir: str, threads: int) -> dict:
    command = [sys.executable, __file__, "--child", lab_name, implementation, str(epochs), log_dir, str(threads)]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default=",".join(LABS), help=f"comma-separated, from: {', '.join(LABS)}")
    parser.add_argument("--implementations", default="ours,islp,loop", help="comma-separated, from: ours, islp, loop")
    parser.add_argument("--epochs", type=int, default=None, help="epochs for every lab (default: the book's)")
    parser.add_argument("--quick", action="store_true", help="a few epochs per lab")
    parser.add_argument("--log-dir", default="logs/benchmark", help="where the runs' CSV logs go")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    parser.add_argument("--islp-threads", type=int, default=0, help="torch threads for ISLP's run (default: torch's own)")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        lab_name, implementation, epochs, log_dir, threads = args.child
        child(lab_name, implementation, int(epochs), log_dir, int(threads))
        return 0

    labs = [name.strip() for name in args.labs.split(",") if name.strip()]
    unknown = [name for name in labs if name not in LABS]
    if unknown:
        parser.error(f"unknown lab(s) {', '.join(unknown)}; choose from {', '.join(LABS)}")
    implementations = [name.strip() for name in args.implementations.split(",")]
    print(f"benchmark on {os.cpu_count()} CPU cores, torch {torch.__version__}; seconds per epoch (training + validation)")
    header = f"{'lab':<12}{'epochs':>7}" + "".join(f"{name + ' s/ep':>13}" for name in implementations)
    header += f"{'islp/ours':>11}{'ours/loop':>11}{'ours MB':>9}  test figures (ours / islp / loop)"
    print(header, flush=True)
    table = {}
    for lab_name in labs:
        lab = LABS[lab_name]
        epochs = args.epochs or (lab.quick_epochs if args.quick else lab.epochs)
        rows = {
            name: measure(lab_name, name, epochs, args.log_dir, args.islp_threads if name == "islp" else lab.threads)
            for name in implementations
        }
        table[lab_name] = {"epochs": epochs, **rows}
        per_epoch = {name: row["fit_seconds"] / epochs for name, row in rows.items() if "fit_seconds" in row}
        cells = "".join(f"{per_epoch[name]:>13.4f}" if name in per_epoch else f"{'failed':>13}" for name in implementations)
        ratio = lambda a, b: f"{per_epoch[a] / per_epoch[b]:>10.2f}x" if a in per_epoch and b in per_epoch else f"{'-':>11}"  # noqa: E731
        memory = f"{rows['ours']['peak_mb']:>9.0f}" if "peak_mb" in rows.get("ours", {}) else f"{'-':>9}"
        figures = " / ".join(f"{rows[name]['figure']:.4g}" if "figure" in rows[name] else "-" for name in implementations)
        threads = "/".join(str(rows[name].get("threads", "-")) for name in implementations)
        print(
            f"{lab_name:<12}{epochs:>7}{cells}{ratio('islp', 'ours')}{ratio('ours', 'loop')}{memory}"
            f"  {lab.metric}: {figures}  (threads {threads})",
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
