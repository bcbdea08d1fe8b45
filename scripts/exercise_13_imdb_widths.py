"""Exercise 10.10.13: the IMDB bag-of-words network with 16, 32 and 64 units per layer, each with and without 30% dropout.

The network and training of lab 10.9.5 (two ReLU layers, RMSprop at lr 0.001,
30 epochs, batch 512, 2,000 reviews held out); only the width of the layers
and the dropout after each of them change. The 16 units without dropout are
the lab's own network.

Run: python scripts/exercise_13_imdb_widths.py [--max-epochs 30] [--data-dir data] [--synthetic] [--limit N] [--seeds K]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytorch_lightning import seed_everything

from lightning_modules import make_trainer
from lightning_modules.curves import save_figure
from lightning_modules.exercise_answers import answer
from lightning_modules.labs import EXERCISES, NETWORKS
from lightning_modules.results import figure_errors, results_table, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record, synthetic_notice
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

LAB = "exercise_13"
WIDTHS = [NETWORKS[key] for key in EXERCISES[LAB].networks]  # 16, 32, 64 units, without and with dropout (labs.py)
LAB_NETWORK = NETWORKS["imdb_dense"]  # the lab's: 16 units, no dropout


def units_and_dropout(settings) -> tuple[int, float]:
    return settings.network.init_args["hidden"], settings.network.init_args["dropout"]


def plot_accuracies(models: dict[str, dict], output: Path, synthetic: bool = False) -> Path:
    """Test accuracy against units per layer, one line without and one with dropout (each seed a dot)."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 5))
    for dropout, color in ((0.0, "black"), (0.3, "tab:red")):
        chosen = [settings for settings in WIDTHS if units_and_dropout(settings)[1] == dropout]
        units = [units_and_dropout(settings)[0] for settings in chosen]
        ax.plot(units, [models[s.name]["test_accuracy"] for s in chosen], "o-", color=color,
                label=f"dropout {dropout:.0%}" if dropout else "no dropout")
        for unit, settings in zip(units, chosen):
            runs = models[settings.name].get("seeds", [])
            ax.plot([unit] * len(runs), [r["test_accuracy"] for r in runs], ".", color=color, alpha=0.4)
    ax.axhline(LAB_NETWORK.book, color="gray", linestyle="--", label=f"book, 16 units: {LAB_NETWORK.book}")
    ax.set_xscale("log", base=2)
    ax.set_xticks([16, 32, 64], labels=["16", "32", "64"])
    ax.set_xlabel("Units per hidden layer")
    ax.set_ylabel("Test accuracy")
    if synthetic:
        ax.set_title("SYNTHETIC DATA, NOT IMDB: the accuracies mean nothing")
    ax.legend()
    return save_figure(fig, output)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], LAB_NETWORK, data=True).parse_args(argv)
    prepare(args)

    # the reviews once per seed (the 2,000 held out depend on it), shared by the six networks
    reviews = {seed: LAB_NETWORK.build_datamodule(data_dir=args.data_dir, synthetic=args.synthetic, limit=args.limit,
                                                  seed=seed) for seed in seeds(args)}
    columns = next(iter(reviews.values())).num_columns  # reads the reviews: missing, the run ends here (exit 3)
    models = {}
    for settings in WIDTHS:
        print_summary(settings.network.build(input_size=columns), input_size=(LAB_NETWORK.data.init_args["batch_size"], columns))
        runs = []
        for seed in seeds(args):
            seed_everything(seed, workers=True, verbose=False)
            module = settings.build_module(settings.network.build(input_size=columns))
            trainer = make_trainer(LAB, settings.name, seed=seed, **trainer_options(args))
            trainer.fit(module, datamodule=reviews[seed], ckpt_path=last_checkpoint(trainer))
            (test,) = trainer.test(module, datamodule=reviews[seed], verbose=False)
            runs.append(run_record(trainer, test, seed))
        models[settings.name] = over_seeds(runs)

    if trainer.is_global_zero:
        book = {"dense_16": LAB_NETWORK.book}
        with_book = {**models, "dense_16": {**models["dense_16"], "book_test_accuracy": LAB_NETWORK.book}}
        words = answer(LAB, {"models": with_book, "synthetic": args.synthetic})
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_accuracy", answer=words,
                                synthetic=args.synthetic)
        print(results_table([(name, "test accuracy", figures["test_accuracy"], book.get(name))
                             for name, figures in models.items()]))
        print(words)
        if args.synthetic:
            print(synthetic_notice("IMDB"))
        figure = Path(args.log_dir) / LAB / "accuracy_by_units.png"
        with figure_errors(figure):
            plot_accuracies(models, figure, synthetic=args.synthetic)
        print(f"results: {results}\nfigure: {figure}")
    return models


if __name__ == "__main__":
    run(main)
