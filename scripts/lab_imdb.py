"""Lab 10.9.5: IMDB sentiment from a bag of words, a two-layer network beside an L1-penalized logistic regression path.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_imdb.py [--max-epochs 30] [--data-dir data] [--synthetic] [--limit N] [--lasso-lambdas 50]
Then score reviews of your own with the trained network (nothing is retrained):
    python scripts/lab_imdb.py --predict "A wonderful film." --predict "Dull and far too long."
    python scripts/lab_imdb.py --predict-file my_reviews.txt      # one review per line
"""

# %% [markdown]
# # 10.9.5 Document classification: IMDB movie reviews
#
# Is a movie review positive or negative? Each review becomes a bag of words: one 0/1 indicator for
# each of the 10,000 most frequent words of the training reviews (plus three reserved columns), a
# sparse row of 10,003 features. A network with two hidden layers of 16 ReLU units reads it and
# outputs one logit; 2,000 training reviews are held out for validation and 25,000 reviews test it.
# Beside it, the lasso's answer to the same question: L1-penalised logistic regressions along a
# path of 50 penalties, each scored on the same held-out and test reviews.
#
# Run as a script, the flags of the parameters cell's names override it (`--max-epochs 2`,
# `--limit 3000`, `--synthetic` without the reviews); `--predict "..."` then scores reviews of
# your own with the trained network.

# %%
import time
from itertools import chain
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from torch.optim import RMSprop

from datamodules.imdb import IMDBDataModule
from datamodules.imdb.datamodule import check_reviews
from datamodules.imdb.reviews import ReviewsFile
from foundations.errors import CheckpointError, LabError
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.baselines import lasso_path, path_accuracy
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import read_metrics, save_figure, show_figure, summary_plot
from lightning_modules.machinery.checkpoints import read_checkpoint
from lightning_modules.machinery.lightning_internals import datamodule_state
from lightning_modules.machinery.run_logs import latest_version
from lightning_modules.networks import IMDBDense
from lightning_modules.predictions import print_scores
from lightning_modules.runner.results import (
    figure_errors,
    publish,
    results_table,
    save_model_curves,
    save_run_file,
    write_results,
)
from lightning_modules.runner.runs import (
    last_checkpoint,
    over_seeds,
    print_summary,
    run_folders,
    run_record,
    synthetic_notice,
)
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options, whole_number

# %% tags=["parameters"]
max_epochs = 30  # the book's `imdb_trainer = Trainer(max_epochs=30)`
seed = 0  # the book's `seed_everything(0)`
lasso_lambdas = 50  # the book's path of 50 λ values
data_dir = "data"  # where the reviews are (aclImdb/), or are downloaded to
limit = None  # the first N training and test reviews only (None: all of them)
synthetic = False  # random reviews of IMDB's shapes, to try the code offline (the figures then mean nothing)
log_dir = "logs"

# %% [markdown]
# The reviews as the book reads them (its `load_tensor`'s data): binary bags of the 10,000 most
# frequent words, 2,000 training reviews held out, batches of 512.


# %%
def imdb_reviews(args, seed: int) -> IMDBDataModule:
    """The lab's data module; the held-out reviews depend on ``seed``."""
    # the book's `imdb_dm = SimpleDataModule(..., validation=2000, batch_size=512)` on 10,000 words
    return IMDBDataModule(args.data_dir, features="bag_of_words", num_words=10_000, batch_size=512, validation=2000,
                          seed=seed, synthetic=args.synthetic, limit=args.limit)


# %% [markdown]
# The network: 10,003 word indicators → 16 ReLU units → 16 ReLU units → one logit, fitted by binary
# cross-entropy with RMSprop at the book's rate 0.001.


# %%
def train_one_seed(imdb_dm: IMDBDataModule, seed: int, args) -> dict:
    """The network trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    imdb_model = IMDBDense(input_size=imdb_dm.num_columns)  # Linear(10003, 16), ReLU, Linear(16, 16), ReLU, Linear(16, 1)
    if seed == seeds(args)[0]:
        print_summary(imdb_model, input_size=(imdb_dm.batch_size, imdb_dm.num_columns))
    imdb_optimizer = RMSprop(imdb_model.parameters(), lr=0.001)  # the book's `imdb_optimizer`
    imdb_module = SimpleModule.binary_classification(imdb_model, metrics=["accuracy"], optimizer=imdb_optimizer)
    trainer = make_trainer("imdb", "dense", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(imdb_module, datamodule=imdb_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(imdb_module, datamodule=imdb_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# The lasso path: L1-penalised logistic regressions on the same sparse training matrix, each scored
# on the held-out and test reviews; the one of best validation accuracy is the lasso's answer.


# %%
def lasso_on(imdb_dm: IMDBDataModule, lambdas: int, seed: int) -> tuple[pd.DataFrame, dict]:
    """The path's accuracies at each λ, and the lasso's record at the λ of best validation accuracy."""
    (X_train, y_train), (X_valid, y_valid), (X_test, y_test) = (
        (x.matrix, y.numpy()) for x, y in (imdb_dm.train_data, imdb_dm.val_data, imdb_dm.test_data)
    )
    start = time.perf_counter()
    lambda_values, coefs, intercepts = lasso_path(X_train, y_train, lambdas, seed)
    path = pd.DataFrame({
        "lambda": lambda_values,
        "minus_log_lambda": -np.log(lambda_values / X_train.shape[0]),  # the book's axis: λ per training review
        "nonzero_coefficients": (coefs != 0).sum(axis=1),
        "train_accuracy": path_accuracy(X_train, y_train, coefs, intercepts),
        "valid_accuracy": path_accuracy(X_valid, y_valid, coefs, intercepts),
        "test_accuracy": path_accuracy(X_test, y_test, coefs, intercepts),
    })
    best = path.loc[path["valid_accuracy"].idxmax()]
    return path, {
        "best_valid_accuracy": float(best["valid_accuracy"]),
        "test_accuracy": float(best["test_accuracy"]),
        "lambda": float(best["lambda"]),
        "nonzero_coefficients": int(best["nonzero_coefficients"]),
        "lambdas": len(lambda_values),
        "path_seconds": round(time.perf_counter() - start, 3),
    }


# %%
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


def score_reviews(args) -> list[float]:
    """P(positive) of each ``--predict`` review, then of each review in ``--predict-file``, by the latest trained network.

    The reviews are encoded with the vocabulary the network was trained with,
    which its checkpoint holds (the data module's state); ``--data-dir`` is not
    read, so data changed or moved since training cannot renumber the words.
    Nothing is written, so the log folder only has to be readable; the file is
    checked whole first, then scored a batch at a time as it is read again.
    """
    reviews_file = ReviewsFile.checked(args.predict_file, "--predict-file") if args.predict_file is not None else None
    check_reviews(args.predict, "--predict")  # before any work: each review must have words to score
    if args.threads:
        torch.set_num_threads(args.threads)
    datamodule = imdb_reviews(args, args.seed)
    checkpoint = latest_checkpoint(Path(args.log_dir) / "imdb" / "dense")
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
    network = IMDBDense(input_size=datamodule.num_columns)
    module = SimpleModule.load_from_checkpoint(checkpoint, model=network, map_location="cpu").eval()
    print(f"network: {checkpoint} (with its vocabulary: {len(datamodule.word_index):,} words of {datamodule.source} reviews)")
    return print_scores(module, datamodule.encode, chain(args.predict or [], reviews_file or []), datamodule.eval_batch_size)


# %% [markdown]
# The lab as a whole (or, with `--predict`, scoring reviews with the network it trained): the network
# once per seed, the lasso path once, then the table beside the book's figures (`results.json`),
# the learning curves and the book's figure of both.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    parser = lab_parser(__doc__, max_epochs=max_epochs, data=IMDBDataModule, seed=seed, log_dir=log_dir,
                        data_dir=data_dir, synthetic=synthetic, limit=limit)
    parser.add_argument("--lasso-lambdas", type=whole_number(1), default=lasso_lambdas,
                        help=f"λ values on the lasso path (default: {lasso_lambdas}, the book's)")
    parser.add_argument("--predict", action="append", metavar="REVIEW",
                        help="score a review with the network already trained, with the vocabulary it was trained "
                        "with (kept in its checkpoint; repeatable; nothing is trained, --data-dir is not read)")
    parser.add_argument("--predict-file", metavar="FILE",
                        help="score the reviews in a UTF-8 text file, one review per line (blank lines skipped; lines "
                        "end at \\n, \\r\\n or \\r), as --predict does: for many reviews (read a batch at a time), or "
                        "reviews too long for one command-line argument; a regular file, not a pipe or device")
    return parser


def main(argv=None) -> dict | list[float]:
    args = flags().parse_args(argv)
    if args.predict or args.predict_file is not None:  # scoring writes nothing: no log folder to write, no data to read
        return score_reviews(args)
    prepare(args)
    runs = []
    for seed in seeds(args):
        imdb_dm = imdb_reviews(args, seed)
        runs.append(train_one_seed(imdb_dm, seed, args))
        if seed == args.seed:
            lasso_dm = imdb_dm  # the lasso path is fitted once, on the first seed's split
    models = {"dense": over_seeds(runs)}

    if rank_zero_only.rank == 0:
        book = book_figures("imdb")
        path, models["lasso"] = lasso_on(lasso_dm, args.lasso_lambdas, args.seed)
        best = models["lasso"]

        # results first, then the path's table and the figures (each in the run's version folder, copied to the lab's)
        results = write_results(args.log_dir, "imdb", models, book=book, figure="test_accuracy", synthetic=args.synthetic)
        rows = [(name, "test accuracy", figures["test_accuracy"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        print(f"(lasso: at the λ of best validation accuracy, {best['lambda']:.4g}; book: the peak of its test curve)")
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        print(f"results: {results}")
        dense, run_dir = models["dense"], run_folders(models["dense"])[0]
        table = save_run_file(run_dir, "lasso_path.csv", path.to_csv(index=False).encode(), Path(args.log_dir) / "imdb")
        curves = save_model_curves(dense, "accuracy", "Accuracy", f"{args.log_dir}/imdb/dense_curves.png")
        with figure_errors(Path(run_dir) / "imdb_accuracy.png"):
            own = accuracy_figure(path, run_dir, dense["test_accuracy"], Path(run_dir) / "imdb_accuracy.png")
        figure = publish(own, Path(args.log_dir) / "imdb" / "imdb_accuracy.png")
        print(f"lasso path: {table}\ncurves: {curves}\nfigure: {figure}")
        show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
