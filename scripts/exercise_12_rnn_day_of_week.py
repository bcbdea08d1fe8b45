"""Exercise 10.10.12: the NYSE lab's RNN with the day of the week as an input.

Each of the five days the RNN reads carries its five day-of-week indicators
beside its three series: sequences of (5 lags, 8 inputs), RNN(8, 12), the rest
as in the lab (dropout 0.1, 200 epochs at lr 0.001).

Run: python scripts/exercise_12_rnn_day_of_week.py [--max-epochs 200] [--seeds 3] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from pytorch_lightning import seed_everything
from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules import make_trainer
from lightning_modules.labs import BOOK_BASELINES, NETWORKS
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seeds, trainer_options

LAB = "exercise_12"
NETWORK = NETWORKS["ex12_rnn_day"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_RNN = NETWORKS["nyse_rnn"]  # the lab's RNN without the day of the week: the book's figure beside ours


def answer(rnn_day_r2: float, rnn_book: float, linear_day_r2: float) -> str:
    """The exercise's answer, in words."""
    return (
        f"With the day of the week the RNN reaches test R² {rnn_day_r2:.4f}, against the book's {rnn_book:.4f} "
        f"for the lab's RNN without it ({rnn_day_r2 - rnn_book:+.4f}) and {linear_day_r2:.4f} for the linear AR "
        f"with the day of the week ({rnn_day_r2 - linear_day_r2:+.4f})."
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK).parse_args(argv)
    prepare(args)

    # The lab's linear AR with the day of the week, for comparison (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat", day_of_week=True)
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar_day": {"test_r2": float(linear.score(arrays.X_test, arrays.y_test))}}

    # The RNN: (days, 5 lags, 3 series + 5 day indicators) -> 12 hidden units -> the next day's volume.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], 5, 8))
    runs = []
    for seed in seeds(args):
        seed_everything(seed, workers=True, verbose=False)
        datamodule = NETWORK.build_datamodule(seed=seed)
        module = NETWORK.build_module()
        trainer = make_trainer(LAB, NETWORK.name, seed=seed, **trainer_options(args))
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
        runs.append(run_record(trainer, test, seed))
    models[NETWORK.name] = over_seeds(runs)

    if trainer.is_global_zero:
        book = {"linear_ar_day": BOOK_BASELINES["nyse/linear_ar_day"]}
        words = answer(models[NETWORK.name]["test_r2"], LAB_RNN.book, models["linear_ar_day"]["test_r2"])
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words,
                                book_rnn_without_days=LAB_RNN.book)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(f"(the lab's RNN, without the day of the week: the book's test R² {LAB_RNN.book})")
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
