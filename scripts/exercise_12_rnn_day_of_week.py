"""Exercise 10.10.12: the NYSE lab's RNN with the day of the week as an input.

Each of the five days the RNN reads carries its five day-of-week indicators
beside its three series: sequences of (5 lags, 8 inputs), RNN(8, 12), the rest
as in the lab (dropout 0.1, 200 epochs at lr 0.001).

Run: python scripts/exercise_12_rnn_day_of_week.py [--max-epochs 200] [--seeds 3] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.exercise_answers import answer
from lightning_modules.labs import BOOK_BASELINES, NETWORKS
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import over_seeds, print_summary, train_one_seed
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

LAB = "exercise_12"
NETWORK = NETWORKS["ex12_rnn_day"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_RNN = NETWORKS["nyse_rnn"]  # the lab's RNN without the day of the week: the book's figure beside ours


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK, parallel_seeds=True).parse_args(argv)
    prepare(args)

    # The lab's linear AR with the day of the week, for comparison (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat", day_of_week=True)
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar_day": {"test_r2": float(linear.score(arrays.X_test, arrays.y_test))}}

    # The RNN: (days, 5 lags, 3 series + 5 day indicators) -> 12 hidden units -> the next day's volume.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], 5, 8))
    # seed_everything, the data module, the module, make_trainer, fit and test: the lab's steps, once per seed
    # (several at once on a CPU with cores to spare)
    train = partial(train_one_seed, NETWORK, LAB, **trainer_options(args))
    models[NETWORK.name] = over_seeds(for_each_seed(train, seeds(args), **seed_jobs(args)))

    if rank_zero_only.rank == 0:
        book = {"linear_ar_day": BOOK_BASELINES["nyse/linear_ar_day"]}
        lab_figure = {"book_rnn_without_days": LAB_RNN.book}
        words = answer(LAB, {"models": models, **lab_figure})
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words, **lab_figure)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(f"(the lab's RNN, without the day of the week: the book's test R² {LAB_RNN.book})")
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
