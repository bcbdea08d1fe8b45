"""Lab 10.9.2: a multilayer network and multinomial logistic regression on the MNIST digits.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_mnist.py [--data-dir data] [--max-epochs 30] [--seeds 3 [--jobs 2]] [--accelerator cpu]
                                [--log-dir logs]
    python scripts/lab_mnist.py --synthetic --limit 2000 --max-epochs 2   (offline: the figures mean nothing)
"""

# %% [markdown]
# # 10.9.2 A multilayer network on the MNIST digits
#
# Each MNIST image is a handwritten digit, 28 × 28 grey levels scaled to [0, 1]; 60,000 of them train
# and 10,000 test. A network with two hidden layers (256 then 128 ReLU units, each followed by
# dropout) turns the 784 pixels into ten class scores, and is fitted by cross-entropy. Beside it, the
# same fit with no hidden layer at all: multinomial logistic regression, ten linear scores of the
# pixels. Both see the same split, a fifth of the training images held out to watch validation
# accuracy, and are compared by their accuracy on the test images.
#
# Run as a script, the flags of the parameters cell's names override it (`--max-epochs 2`,
# `--data-dir`, `--limit 2000`, `--synthetic`); `--seeds 3` trains each network once per seed and
# reports their mean.

# %%
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from torch.optim import RMSprop

from datamodules.mnist import MNISTDataModule
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import show_figure
from lightning_modules.networks import MNISTMLP, MNISTLogistic
from lightning_modules.runner.parallel import for_each_seed
from lightning_modules.runner.results import results_table, save_model_curves, write_results
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

# %% tags=["parameters"]
max_epochs = 30  # both networks': the book's `mnist_trainer = Trainer(max_epochs=30)` and `mlr_trainer`'s 30
seed = 0  # the book's `seed_everything(0)`
data_dir = "data"  # where MNIST is, or is downloaded to
limit = None  # the first N training and test images only (None: all of them)
synthetic = False  # random images of MNIST's shapes, to try the code offline (the figures then mean nothing)
log_dir = "logs"

# %% [markdown]
# The multilayer network: the image flattened to 784 values → 256 ReLU units, dropout 0.4 → 128 ReLU
# units, dropout 0.3 → 10 scores, one per digit.


# %%
def train_mlp(mnist_dm: MNISTDataModule, seed: int, args) -> dict:
    """The multilayer network trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    # Flatten, Linear(784, 256), ReLU, Dropout(0.4), Linear(256, 128), ReLU, Dropout(0.3), Linear(128, 10)
    mnist_model = MNISTMLP()
    if seed == seeds(args)[0]:
        print_summary(mnist_model, input_size=(256, 1, 28, 28))
    # the book gives `mnist_module` no optimizer: RMSprop at its default rate, 0.01
    mnist_module = SimpleModule.classification(mnist_model, num_classes=10, metrics=["accuracy"],
                                               optimizer=RMSprop(mnist_model.parameters(), lr=0.01))
    trainer = make_trainer("mnist", "mlp", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(mnist_module, datamodule=mnist_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(mnist_module, datamodule=mnist_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# Multinomial logistic regression: the 784 pixels → 10 linear scores, fitted the same way on the same
# split.


# %%
def train_mlr(mnist_dm: MNISTDataModule, seed: int, args) -> dict:
    """Multinomial logistic regression trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    mlr_model = MNISTLogistic()  # Flatten, Linear(784, 10)
    if seed == seeds(args)[0]:
        print_summary(mlr_model, input_size=(256, 1, 28, 28))
    # the book gives `mlr_module` no optimizer: RMSprop at its default rate, 0.01
    mlr_module = SimpleModule.classification(mlr_model, num_classes=10, metrics=["accuracy"],
                                             optimizer=RMSprop(mlr_model.parameters(), lr=0.01))
    trainer = make_trainer("mnist", "mlr", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(mlr_module, datamodule=mnist_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(mlr_module, datamodule=mnist_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# Both networks with one seed, on one split of the data (a top-level function: it runs in a worker
# process too when seeds train side by side).


# %%
def train_one_seed(seed: int, args) -> dict[str, dict]:
    """Both networks trained and tested once, with ``seed``, on the same split."""
    # 60,000 training images, the book's 20% of them held out for validation, and 10,000 test images;
    # the book's `mnist_dm = SimpleDataModule(..., validation=0.2, batch_size=256)`
    mnist_dm = MNISTDataModule(args.data_dir, batch_size=256, validation=0.2, seed=seed,
                               synthetic=args.synthetic, limit=args.limit)
    return {"mlp": train_mlp(mnist_dm, seed, args), "mlr": train_mlr(mnist_dm, seed, args)}


# %% [markdown]
# The lab as a whole: both networks once per seed, then the table beside the book's figures
# (`results.json`) and each network's learning curves.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    return lab_parser(__doc__, max_epochs=max_epochs, data=MNISTDataModule, parallel_seeds=True, seed=seed,
                      log_dir=log_dir, data_dir=data_dir, synthetic=synthetic, limit=limit)


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    if args.synthetic:
        print(synthetic_notice("MNIST"), flush=True)
    runs = for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    models = {name: over_seeds([run[name] for run in runs]) for name in ("mlp", "mlr")}

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures("mnist")
        results = write_results(args.log_dir, "mnist", models, book=book, figure="test_accuracy",
                                synthetic=args.synthetic)
        rows = [(name, "test accuracy", figures["test_accuracy"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        if args.synthetic:
            print(synthetic_notice("MNIST"))
        print(f"results: {results}")
        for name in models:
            figure = save_model_curves(models[name], "accuracy", "Accuracy", f"{args.log_dir}/mnist/{name}_curves.png")
            print(f"curves: {figure}")
            show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
