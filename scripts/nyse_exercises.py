"""Exercises 10 to 12: one network on the NYSE lab's data, against the lab's linear AR fitted by least squares.

Each exercise script names its network (its settings in ``lightning_modules/labs.py``)
and what to show beside it; this is the lab's run of it: the linear AR fitted
once, the network trained once per seed (``runs.train_one_seed``: seed, data
module, module, ``make_trainer``, fit, test), the results and the answer in words.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial

from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.exercise_answers import answer
from lightning_modules.labs import BOOK_BASELINES, BookNetwork
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import over_seeds, print_summary, train_one_seed
from scripts.command_line import lab_parser, prepare, seed_jobs, seeds, trainer_options


def network_against_linear_ar(
    argv: Sequence[str] | None,
    description: str,
    lab: str,
    network: BookNetwork,
    input_shape: tuple[int, ...],
    day_of_week: bool = False,
    lab_figure: tuple[str, str, float] | None = None,
) -> dict:
    """Run an exercise: ``network`` (a batch of it is ``input_shape``) trained per seed, beside the lab's
    linear AR on the 15 lags (and the day of the week, with ``day_of_week``). ``lab_figure``: a book figure
    of the lab to show beside ours, as (its key in results.json, what it is, its value)."""
    args = lab_parser(description, network, parallel_seeds=True).parse_args(argv)
    prepare(args)

    # The lab's linear AR (deterministic: fitted once).
    baseline = "linear_ar_day" if day_of_week else "linear_ar"
    arrays = load_nyse(lags=5, layout="flat", day_of_week=day_of_week)
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {baseline: {"test_r2": float(linear.score(arrays.X_test, arrays.y_test))}}

    print_summary(network.build_network(), input_size=(network.data.init_args["batch_size"], *input_shape))
    # seed_everything, the data module, the module, make_trainer, fit and test: the lab's steps, once per seed
    # (several at once on a CPU with cores to spare)
    train = partial(train_one_seed, network, lab, **trainer_options(args))
    models[network.name] = over_seeds(for_each_seed(train, seeds(args), **seed_jobs(args)))

    if rank_zero_only.rank == 0:
        book = {baseline: BOOK_BASELINES[f"nyse/{baseline}"]}
        extra = {lab_figure[0]: lab_figure[2]} if lab_figure else {}
        words = answer(lab, {"models": models, **extra})
        results = write_results(args.log_dir, lab, models, book=book, figure="test_r2", answer=words, **extra)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        if lab_figure:
            print(f"({lab_figure[1]}: the book's test R² {lab_figure[2]})")
        print(words)
        figure = save_model_curves(models[network.name], "r2", "R²", f"{args.log_dir}/{lab}/{network.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models
