"""Exercise 10.10.11: a nonlinear AR on the RNN's flattened sequences, against the linear AR and the lab's nonlinear AR.

The NYSE lab's nonlinear AR network (32 ReLU units, dropout 0.5, 20 epochs at
lr 0.001) reading the RNN's (days, 5 lags, 3 series) sequences flattened to 15
inputs: the lab's own nonlinear AR also had the five day-of-week indicators.

Run: python scripts/exercise_11_nonlinear_ar_flat.py [--max-epochs 20] [--seeds 5] [--log-dir logs]
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

LAB = "exercise_11"
NETWORK = NETWORKS["ex11_nonlinear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_NONLINEAR_AR = NETWORKS["nyse_ar"]  # the lab's, with the day of the week: the book's figure beside ours


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK, parallel_seeds=True).parse_args(argv)
    prepare(args)

    # The lab's linear AR on the same 15 lags (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat")
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar": {"test_r2": float(linear.score(arrays.X_test, arrays.y_test))}}

    # The network: each (5, 3) sequence flattened to 15 inputs -> 32 ReLU units, dropout 0.5 -> one output.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], 5, 3))
    # seed_everything, the data module, the module, make_trainer, fit and test: the lab's steps, once per seed
    # (several at once on a CPU with cores to spare)
    train = partial(train_one_seed, NETWORK, LAB, **trainer_options(args))
    models[NETWORK.name] = over_seeds(for_each_seed(train, seeds(args), **seed_jobs(args)))

    if rank_zero_only.rank == 0:
        book = {"linear_ar": BOOK_BASELINES["nyse/linear_ar"]}
        lab_figure = {"book_nonlinear_ar_with_days": LAB_NONLINEAR_AR.book}
        words = answer(LAB, {"models": models, **lab_figure})
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words, **lab_figure)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(f"(the lab's nonlinear AR, with the day of the week: the book's test R² {LAB_NONLINEAR_AR.book})")
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
