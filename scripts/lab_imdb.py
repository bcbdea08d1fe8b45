"""Lab 10.9.5: IMDB sentiment from a bag of words, a two-layer network beside an L1-penalized logistic regression path.

Run: python scripts/lab_imdb.py [--max-epochs 30] [--data-dir data] [--synthetic] [--limit N] [--lasso-lambdas 50]
Then score reviews of your own with the trained network (nothing is retrained):
     python scripts/lab_imdb.py --predict "A wonderful film." --predict "Dull and far too long."
     python scripts/lab_imdb.py --predict-file my_reviews.txt      # one review per line
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pytorch_lightning import seed_everything

from datamodules.errors import CheckpointError, LabError
from datamodules.imdb import IMDBDataModule
from datamodules.imdb.datamodule import check_reviews, read_reviews_file
from lightning_modules import make_trainer
from lightning_modules.baselines import lasso_path, path_accuracy
from lightning_modules.checkpoints import read_checkpoint
from lightning_modules.curves import read_metrics, save_figure, summary_plot
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.lightning_internals import datamodule_state
from lightning_modules.module import SimpleModule
from lightning_modules.predictions import describe
from lightning_modules.results import (
    figure_errors,
    publish,
    results_table,
    save_model_curves,
    save_run_file,
    write_results,
)
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_folders, run_record, synthetic_notice
from lightning_modules.trainer import latest_version
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options, whole_number

LAB = "imdb"
DENSE = NETWORKS["imdb_dense"]  # the book's settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def accuracy_figure(path: pd.DataFrame, network_run: str, test_accuracy: float, output: Path) -> Path:
    """The book's figure: the lasso path's accuracies against −log(λ), then the network's by epoch."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(16, 8), sharey=True)
    for split, label, color in (("train", "Training", "black"), ("valid", "Validation", "red"), ("test", "Test", "blue")):
        axes[0].plot(
            path["minus_log_lambda"], path[f"{split}_accuracy"], ".--", color=color, markersize=13, linewidth=2, label=label
        )
    axes[0].legend()
    axes[0].set_xlabel(r"$-\log(\lambda)$", fontsize=20)
    axes[0].set_ylabel("Accuracy", fontsize=20)
    summary_plot(read_metrics(network_run), axes[1], col="accuracy", ylabel="Accuracy", fontsize=20)
    axes[1].axhline(test_accuracy, color="blue", linestyle="--", linewidth=3, label="Test")
    axes[1].legend()
    axes[1].set_ylim([0.5, 1])
    return save_figure(fig, output)


def latest_checkpoint(run_dir: Path) -> Path:
    """``last.ckpt`` of the newest ``version_N`` under ``run_dir`` that has one."""
    version = latest_version(run_dir.parent, run_dir.name)
    if version is None:
        raise LabError(
            f"no trained network in {run_dir}: train it first (python scripts/lab_imdb.py, same --log-dir), then --predict"
        )
    return run_dir / f"version_{version}" / "checkpoints" / "last.ckpt"


def score_reviews(args: argparse.Namespace, datamodule: IMDBDataModule) -> list[float]:
    """P(positive) of each ``--predict`` review by the latest trained network.

    The reviews are encoded with the vocabulary the network was trained with,
    which its checkpoint holds (the data module's state); ``--data-dir`` is not
    read, so data changed or moved since training cannot renumber the words.
    """
    checkpoint = latest_checkpoint(Path(args.log_dir) / LAB / DENSE.name)
    try:
        saved = read_checkpoint(checkpoint)
    except CheckpointError as error:
        raise LabError(f"{checkpoint} cannot be read as a checkpoint ({error.reason}): "
                       "train the network again (python scripts/lab_imdb.py, same --log-dir)") from None
    vocabulary = datamodule_state(saved, datamodule)
    if vocabulary is None:
        raise LabError(
            f"{checkpoint} holds no vocabulary (its network was trained before networks kept theirs), and the words "
            "could be numbered otherwise than it learned them: train it again (python scripts/lab_imdb.py, same "
            "--log-dir), then --predict"
        )
    datamodule.load_state_dict(vocabulary)  # refuses synthetic against real reviews, another num_words
    network = DENSE.network.build(input_size=datamodule.num_columns)
    module = SimpleModule.load_from_checkpoint(checkpoint, model=network, map_location="cpu").eval()
    with torch.no_grad():
        probabilities = module.predict_step((datamodule.encode(args.predict),), 0).tolist()
    print(f"network: {checkpoint} (with its vocabulary: {len(datamodule.word_index):,} words of {datamodule.source} reviews)")
    for text, probability in zip(args.predict, probabilities):
        print(f'{describe(probability, "binary")}  "{text}"')
    return probabilities


def main(argv: Sequence[str] | None = None) -> dict | list[float]:
    parser = lab_parser(__doc__.splitlines()[0], DENSE, data=True)
    parser.add_argument("--lasso-lambdas", type=whole_number(1), default=50, help="λ values on the lasso path (book: 50)")
    parser.add_argument("--predict", action="append", metavar="REVIEW",
                        help="score a review with the network already trained, with the vocabulary it was trained "
                        "with (kept in its checkpoint; repeatable; nothing is trained, --data-dir is not read)")
    parser.add_argument("--predict-file", metavar="FILE",
                        help="score the reviews in a UTF-8 text file, one review per line (blank lines skipped), as "
                        "--predict does: for many reviews, or reviews too long for one command-line argument")
    args = parser.parse_args(argv)
    if args.predict_file is not None:  # the file's reviews after any --predict ones
        args.predict = (args.predict or []) + read_reviews_file(args.predict_file, "--predict-file")
    check_reviews(args.predict, "--predict")  # before any work: each review must have words to score
    prepare(args)

    datamodule = DENSE.build_datamodule(
        data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=args.seed,
    )
    if args.predict:
        return score_reviews(args, datamodule)

    # The network: 10,003 binary word indicators -> 16 -> 16 -> one logit; RMSprop with lr 0.001.
    print_summary(DENSE.network.build(input_size=datamodule.num_columns), input_size=(datamodule.batch_size, datamodule.num_columns))
    runs = []
    for seed in seeds(args):
        seed_everything(seed, workers=True, verbose=False)
        reviews = datamodule if seed == args.seed else DENSE.build_datamodule(  # held-out reviews depend on the seed
            data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit, seed=seed
        )
        module = DENSE.build_module(DENSE.network.build(input_size=reviews.num_columns))
        trainer = make_trainer(LAB, "dense", seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=reviews, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=reviews, verbose=False)
        runs.append(run_record(trainer, test, seed))
    models = {"dense": over_seeds(runs)}

    if trainer.is_global_zero:
        book = book_figures(LAB)
        # The lasso path: L1-penalized logistic regressions on the same sparse training matrix.
        (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = (
            (x.matrix, y.numpy()) for x, y in (datamodule.train_data, datamodule.val_data, datamodule.test_data)
        )
        start = time.perf_counter()
        lambdas, coefs, intercepts = lasso_path(X_train, y_train, args.lasso_lambdas, args.seed)
        path = pd.DataFrame({
            "lambda": lambdas,
            "minus_log_lambda": -np.log(lambdas / X_train.shape[0]),  # the book's axis: λ per training review
            "nonzero_coefficients": (coefs != 0).sum(axis=1),
            "train_accuracy": path_accuracy(X_train, y_train, coefs, intercepts),
            "valid_accuracy": path_accuracy(X_valid, y_valid, coefs, intercepts),
            "test_accuracy": path_accuracy(X_test, y_test, coefs, intercepts),
        })
        best = path.loc[path["valid_accuracy"].idxmax()]
        models["lasso"] = {
            "best_valid_accuracy": float(best["valid_accuracy"]),
            "test_accuracy": float(best["test_accuracy"]),
            "lambda": float(best["lambda"]),
            "nonzero_coefficients": int(best["nonzero_coefficients"]),
            "lambdas": len(lambdas),
            "path_seconds": round(time.perf_counter() - start, 3),
        }

        # results first, then the path's table and the figures (each in the run's version folder, copied to the lab's)
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_accuracy", synthetic=args.synthetic)
        rows = [(name, "test accuracy", figures["test_accuracy"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        print(f"(lasso: at the λ of best validation accuracy, {best['lambda']:.4g}; book: the peak of its test curve)")
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        print(f"results: {results}")
        dense, run_dir = models["dense"], run_folders(models["dense"])[0]
        table = save_run_file(run_dir, "lasso_path.csv", path.to_csv(index=False).encode(), Path(args.log_dir) / LAB)
        curves = save_model_curves(dense, "accuracy", "Accuracy", f"{args.log_dir}/{LAB}/dense_curves.png")
        with figure_errors(Path(run_dir) / "imdb_accuracy.png"):
            own = accuracy_figure(path, run_dir, dense["test_accuracy"], Path(run_dir) / "imdb_accuracy.png")
        figure = publish(own, Path(args.log_dir) / LAB / "imdb_accuracy.png")
        print(f"lasso path: {table}\ncurves: {curves}\nfigure: {figure}")
    return models


if __name__ == "__main__":
    run(main)
