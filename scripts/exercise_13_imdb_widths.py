"""Exercise 10.10.13: the IMDB bag-of-words network with 16, 32 and 64 units per layer, each with and without 30% dropout.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_13_imdb_widths.py [--max-epochs 30] [--data-dir data] [--synthetic] [--limit N] [--seeds K]
"""

# %% [markdown]
# # Exercise 10.10.13: wider layers and dropout on the IMDB reviews
#
# The IMDB lab (`scripts/lab_imdb.py`) reads each review as 10,003 word indicators and classifies it with two
# hidden layers of 16 ReLU units. Here the width of both layers is swept over 16, 32 and 64 units, each width
# once without and once with 30% dropout after each hidden layer: six networks. Everything else is the lab's:
# RMSprop at lr 0.001, batch 512, 2,000 training reviews held out for validation, 30 epochs. The 16 units
# without dropout are the lab's own network (the book's test accuracy 0.8474). Do more units help, and does
# dropout?

# %%
from pathlib import Path

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from torch.optim import RMSprop

from datamodules.imdb import IMDBDataModule
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.exercise_answers import answer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import save_figure, show_figure
from lightning_modules.networks import IMDBDense
from lightning_modules.runner.results import figure_errors, results_table, write_results
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

# %% tags=["parameters"]
max_epochs = 30  # the lab's: the book's `imdb_trainer = Trainer(max_epochs=30)`
seed = 0  # the book's `seed_everything(0)`
data_dir = "data"  # where the reviews are, or are downloaded to
synthetic = False  # True: random reviews of the real shapes, to try the code offline (the figures mean nothing)
limit = None  # a number: only the first that many training and test reviews
log_dir = "logs"


# %%
def imdb_reviews(seed: int, args) -> IMDBDataModule:
    """The lab's reviews: the 2,000 held out for validation are drawn with ``seed``."""
    # the lab's 10,000 most frequent words (+ 3 reserved indices), batch 512, 2,000 reviews held out
    return IMDBDataModule(data_dir=args.data_dir, features="bag_of_words", num_words=10_000, batch_size=512,
                          validation=2000, synthetic=args.synthetic, limit=args.limit, seed=seed)


def train_one_seed(units: int, dropout: float, name: str, imdb_dm: IMDBDataModule, seed: int, args) -> dict:
    """The lab's network with ``units`` per hidden layer and ``dropout`` after each, trained and tested once."""
    seed_everything(seed, workers=True, verbose=False)
    # the change: `units` per hidden layer, not the lab's 16, and `dropout` after each, where the lab has none
    imdb_model = IMDBDense(input_size=10_003, hidden=units, dropout=dropout)
    if seed == seeds(args)[0]:
        print_summary(imdb_model, input_size=(512, 10_003))
    imdb_optimizer = RMSprop(imdb_model.parameters(), lr=0.001)  # the book's `imdb_optimizer`
    imdb_module = SimpleModule.binary_classification(imdb_model, metrics=["accuracy"], optimizer=imdb_optimizer)
    trainer = make_trainer("exercise_13", name, max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(imdb_module, datamodule=imdb_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(imdb_module, datamodule=imdb_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# The figure: test accuracy against the units per layer, one line without and one with dropout, each seed a
# dot, and the book's accuracy of the lab's network.


# %%
def plot_accuracies(swept: dict[tuple[int, float], dict], book: float, output: Path, synthetic: bool = False) -> Path:
    """Test accuracy against units per layer, one line per dropout (each seed a dot); ``swept``: the figures of
    each network by its (units, dropout)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    widths = sorted({units for units, _ in swept})
    for dropout, color in zip(sorted({dropout for _, dropout in swept}), ("black", "tab:red", "tab:blue", "tab:green")):
        units = [units for units in widths if (units, dropout) in swept]
        figures = [swept[width, dropout] for width in units]
        ax.plot(units, [found["test_accuracy"] for found in figures], "o-", color=color,
                label=f"dropout {dropout:.0%}" if dropout else "no dropout")
        for width, found in zip(units, figures):
            runs = found.get("seeds", [])
            ax.plot([width] * len(runs), [run["test_accuracy"] for run in runs], ".", color=color, alpha=0.4)
    ax.axhline(book, color="gray", linestyle="--", label=f"book, 16 units: {book}")
    ax.set_xscale("log", base=2)
    ax.set_xticks(widths, labels=[str(width) for width in widths])
    ax.set_xlabel("Units per hidden layer")
    ax.set_ylabel("Test accuracy")
    if synthetic:
        ax.set_title("SYNTHETIC DATA, NOT IMDB: the accuracies mean nothing")
    ax.legend()
    return save_figure(fig, output)


# %% [markdown]
# The exercise as a whole: the six networks, each once per seed, then the table, the answer in words
# (`results.json`) and the figure.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    return lab_parser(__doc__, max_epochs=max_epochs, threads=None, data=IMDBDataModule, seed=seed, log_dir=log_dir,
                      data_dir=data_dir, synthetic=synthetic, limit=limit)


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    reviews = {seed: imdb_reviews(seed, args) for seed in seeds(args)}  # read once per seed, for the six networks
    models, swept = {}, {}
    for units in (16, 32, 64):  # the change: the lab's 16 units per layer, then 32 and 64
        for dropout in (0.0, 0.3):  # the change: without dropout, as in the lab, then 30% after each layer
            name = f"dense_{units}" + ("_dropout" if dropout else "")  # its folder under exercise_13/
            runs = [train_one_seed(units, dropout, name, reviews[seed], seed, args) for seed in seeds(args)]
            models[name] = swept[units, dropout] = over_seeds(runs)

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = {"dense_16": book_figures("imdb")["dense"]}  # the lab's network
        with_book = {**models, "dense_16": {**models["dense_16"], "book_test_accuracy": book["dense_16"]}}
        words = answer("exercise_13", {"models": with_book, "synthetic": args.synthetic})
        results = write_results(args.log_dir, "exercise_13", models, book=book, figure="test_accuracy", answer=words,
                                synthetic=args.synthetic)
        print(results_table([(name, "test accuracy", figures["test_accuracy"], book.get(name))
                             for name, figures in models.items()]))
        print(words)
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        figure = Path(args.log_dir) / "exercise_13" / "accuracy_by_units.png"
        with figure_errors(figure):
            plot_accuracies(swept, book["dense_16"], figure, synthetic=args.synthetic)
        print(f"results: {results}\nfigure: {figure}")
        show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a test imports it
    models = run(main)
