"""The MNIST MLP (or the multinomial logistic regression) over seeds through ``make_trainer`` and through a
plain ``Trainer``, side by side.

Both paths train the lab's network (``--network mlp`` or ``mlr``) (``scripts/lab_mnist.py``: the same data module, network, optimizer and
rate, seeded the same way); they differ only in the Trainer: the project's ``make_trainer`` (CSV log,
checkpoints, a reseed at each epoch, the error tracker) or the book's ``Trainer(max_epochs=30,
callbacks=[ErrorTracker()])``. Prints each seed's test accuracy and, per path, the mean, sd, min and max.

    python scripts/mnist_seed_bands.py --data-dir ../shared/data [--network mlr] [--seeds 5] [--max-epochs 30]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
from pytorch_lightning import Trainer, seed_everything
from pytorch_lightning.loggers import CSVLogger
from torch.optim import RMSprop

from datamodules.mnist import MNISTDataModule
from lightning_modules import ErrorTracker, SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.networks import MNISTMLP, MNISTLogistic
from lightning_modules.trainer import quiet_lightning


def test_accuracy(seed: int, path: str, args: argparse.Namespace, log_dir: str) -> float:
    """The network trained once with ``seed`` through ``path`` (``make_trainer`` or ``plain``), its test accuracy."""
    seed_everything(seed, workers=True, verbose=False)
    mnist_dm = MNISTDataModule(args.data_dir, batch_size=256, validation=0.2, seed=seed, limit=args.limit)
    seed_everything(seed, workers=True, verbose=False)
    mnist_model = MNISTMLP() if args.network == "mlp" else MNISTLogistic()
    mnist_module = SimpleModule.classification(mnist_model, num_classes=10, metrics=["accuracy"],
                                               optimizer=RMSprop(mnist_model.parameters(), lr=0.01))
    if path == "make_trainer":
        trainer = make_trainer("mnist_bands", args.network, max_epochs=args.max_epochs, accelerator="cpu", seed=seed,
                               seed_folder=True, log_dir=log_dir, enable_progress_bar=False)
    else:
        trainer = Trainer(max_epochs=args.max_epochs, deterministic=True, accelerator="cpu", callbacks=[ErrorTracker()],
                          logger=CSVLogger(log_dir, name=f"plain/{args.network}/seed_{seed}"), enable_progress_bar=False,
                          enable_model_summary=False, enable_checkpointing=False)
    trainer.fit(mnist_module, datamodule=mnist_dm)
    (test,) = trainer.test(mnist_module, datamodule=mnist_dm, verbose=False)
    return float(test["test_accuracy"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default="data")
    parser.add_argument("--network", choices=("mlp", "mlr"), default="mlp")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--max-epochs", type=int, default=30)
    parser.add_argument("--limit", type=int, default=None, help="the first N training and test images only")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the same for both paths)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    quiet_lightning()
    figures: dict[str, list[float]] = {"make_trainer": [], "plain": []}
    with tempfile.TemporaryDirectory() as log_dir:
        for seed in range(args.seeds):
            for path in figures:  # alternated, seed by seed
                start = time.perf_counter()
                figures[path].append(test_accuracy(seed, path, args, log_dir))
                print(f"seed {seed} {path:13s} test accuracy {figures[path][-1]:.4f} ({time.perf_counter() - start:.0f} s)",
                      flush=True)
    book = book_figures("mnist")[args.network]  # the chapter's record of the book's figures
    print(f"\n{args.network}: {'path':13s} {'mean':>7s} {'sd':>7s} {'min':>7s} {'max':>7s}   (book: {book})")
    for path, values in figures.items():
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        print(f"{args.network}: {path:13s} {statistics.mean(values):7.4f} {sd:7.4f} {min(values):7.4f} {max(values):7.4f}")


if __name__ == "__main__":
    main()
