"""Exercise 10.10.10: a linear AR fitted as a network on the RNN's flattened sequences, against the lab's LinearRegression.

The NYSE lab's RNN reads (days, 5 lags, 3 series); flattening each sequence and
leaving out the hidden layer gives the linear autoregression, here trained by
RMSprop as the lab trains its nonlinear AR, and fitted by least squares as the
lab fits it with ``LinearRegression``.

Run: python scripts/exercise_10_linear_ar_network.py [--max-epochs 50] [--seeds 5] [--log-dir logs]
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

LAB = "exercise_10"
NETWORK = NETWORKS["ex10_linear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK, parallel_seeds=True).parse_args(argv)
    prepare(args)

    # The lab's linear AR: least squares on the 15 lagged columns (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat")
    least_squares = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar": {"test_r2": float(least_squares.score(arrays.X_test, arrays.y_test))}}

    # The network: each (5, 3) sequence flattened to 15 inputs -> one output, no hidden layer.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], 5, 3))
    # seed_everything, the data module, the module, make_trainer, fit and test: the lab's steps, once per seed
    # (several at once on a CPU with cores to spare)
    train = partial(train_one_seed, NETWORK, LAB, **trainer_options(args))
    models[NETWORK.name] = over_seeds(for_each_seed(train, seeds(args), **seed_jobs(args)))

    if rank_zero_only.rank == 0:
        book = {"linear_ar": BOOK_BASELINES["nyse/linear_ar"]}
        words = answer(LAB, {"models": models})
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
