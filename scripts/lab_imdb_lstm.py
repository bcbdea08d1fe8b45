"""Lab 10.9.6: IMDB sentiment from word sequences, an LSTM reading the last 500 words of each review.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_imdb_lstm.py [--max-epochs 20] [--data-dir data] [--synthetic] [--limit N]
"""

# %% [markdown]
# # 10.9.6 An LSTM on the IMDB reviews, word by word
#
# The bag-of-words network of lab 10.9.5 forgets the order of the words. Here each review is kept as
# a sequence: its last 500 words, each as its index among the 10,000 most frequent words (shorter
# reviews padded with zeros in front). A learned embedding turns each index into 32 numbers, an LSTM
# with 32 units reads them in order, and its state after the last word gives one logit: positive or
# negative. 2,000 of the 25,000 training reviews are held out to watch validation accuracy; the
# figure is the accuracy on the 25,000 test reviews.
#
# Run as a script, the flags of the parameters cell's names override it (`--max-epochs 1`,
# `--data-dir`, `--limit 1000`, `--synthetic`); `--seeds 3` trains the network once per seed and
# reports their mean.

# %%
import torch
from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from torch.optim import RMSprop

from datamodules.imdb import IMDBDataModule
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import show_figure
from lightning_modules.networks import IMDBLSTM
from lightning_modules.runner.results import results_table, save_model_curves, write_results
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

# %% tags=["parameters"]
max_epochs = 20  # the book's `lstm_trainer = Trainer(max_epochs=20)`
seed = 0  # the book's `seed_everything(0)`
data_dir = "data"  # where the IMDB reviews are, or are downloaded to
limit = None  # the first N training and test reviews only (None: all of them)
synthetic = False  # random reviews of IMDB's shapes, to try the code offline (the figures then mean nothing)
log_dir = "logs"

# %% [markdown]
# The network: Embedding(10,003 indices, 32) → LSTM(32) → one logit from the last word's state, fitted
# by binary cross-entropy with RMSprop.


# %%
def train_one_seed(seed: int, args) -> dict:
    """The LSTM trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    # each review as its last 500 word indices (10,000 words), zero pre-padded; the book's
    # `imdb_seq_dm = SimpleDataModule(..., validation=2000, batch_size=300)`
    imdb_seq_dm = IMDBDataModule(args.data_dir, features="sequence", num_words=10_000, max_length=500,
                                 batch_size=300, validation=2000, seed=seed, synthetic=args.synthetic, limit=args.limit)
    # Embedding(10003, 32), LSTM(32, 32), Linear(32, 1) on the last step: 10,003 = the 10,000 words and 3 reserved
    lstm_model = IMDBLSTM(num_words=imdb_seq_dm.num_columns)
    if seed == seeds(args)[0]:
        print_summary(lstm_model, input_size=(300, 500), dtypes=[torch.int64])
    # the book gives `lstm_module` no optimizer: RMSprop at its default rate, 0.01
    lstm_module = SimpleModule.binary_classification(lstm_model, metrics=["accuracy"],
                                                     optimizer=RMSprop(lstm_model.parameters(), lr=0.01))
    trainer = make_trainer("imdb_lstm", "lstm", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(lstm_module, datamodule=imdb_seq_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(lstm_module, datamodule=imdb_seq_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# The lab as a whole: the network once per seed, then the table beside the book's figure
# (`results.json`) and the learning curves.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    return lab_parser(__doc__, max_epochs=max_epochs, data=IMDBDataModule, seed=seed, log_dir=log_dir,
                      data_dir=data_dir, synthetic=synthetic, limit=limit)


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    models = {"lstm": over_seeds([train_one_seed(seed, args) for seed in seeds(args)])}

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures("imdb_lstm")
        results = write_results(args.log_dir, "imdb_lstm", models, book=book, figure="test_accuracy",
                                synthetic=args.synthetic)
        print(results_table([("lstm", "test accuracy", models["lstm"]["test_accuracy"], book["lstm"])]))
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        print(f"results: {results}")
        figure = save_model_curves(models["lstm"], "accuracy", "Accuracy", f"{args.log_dir}/imdb_lstm/lstm_curves.png")
        print(f"curves: {figure}")
        show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
