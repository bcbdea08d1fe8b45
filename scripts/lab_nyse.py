"""Lab 10.9.6: forecasting NYSE trading volume with an RNN and autoregressions.

Run: python scripts/lab_nyse.py [--max-epochs 200] [--ar-epochs 20] [--seeds 5 [--jobs 2]] [--accelerator cpu] [--log-dir logs]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression
from torch import nn

from datamodules.nyse import load_nyse
from lightning_modules import make_trainer
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

LAB = "nyse"
# the book's settings: data, networks, optimizer, epochs (lightning_modules/labs.py)
RNN, NONLINEAR_AR = NETWORKS["nyse_rnn"], NETWORKS["nyse_ar"]


def network(name: str, lags: int) -> nn.Module:
    """A fresh network. The RNN reads the lags in time order: (days, lags, 3 series) -> 12 hidden units -> the
    next day's volume. The nonlinear AR reads them flattened, with five day-of-week indicators -> 32 ReLU units."""
    return RNN.build_network() if name == "rnn" else NONLINEAR_AR.network.build(input_size=3 * lags + 5)


def train_one_seed(name_and_seed: tuple[str, int], args: argparse.Namespace) -> dict:
    """One network (``rnn`` or ``nonlinear_ar``) trained and tested once, with the seed: the book's lab as it reads."""
    name, seed = name_and_seed
    settings, epochs = (RNN, args.max_epochs) if name == "rnn" else (NONLINEAR_AR, args.ar_epochs)
    seed_everything(seed, workers=True, verbose=False)
    datamodule = settings.build_datamodule(lags=args.lags, seed=seed)
    module = settings.build_module(network(name, args.lags))
    trainer = make_trainer(LAB, name, seed=seed, **trainer_options(args, max_epochs=epochs))
    trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return run_record(trainer, test, seed)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = lab_parser(__doc__.splitlines()[0], RNN, parallel_seeds=True)
    parser.add_argument("--ar-epochs", type=int, default=NONLINEAR_AR.epochs,
                        help=f"epochs of the nonlinear AR network (book: {NONLINEAR_AR.epochs})")
    book_lags = RNN.data.init_args["lags"]
    parser.add_argument("--lags", type=int, default=book_lags, help=f"previous days each forecast sees (book: {book_lags})")
    args = parser.parse_args(argv)
    prepare(args)

    # Linear autoregressions, with and without the day of the week (deterministic: fitted once).
    models = {}
    for name, day_of_week in (("linear_ar", False), ("linear_ar_day", True)):
        arrays = load_nyse(args.lags, "flat", day_of_week)
        fitted = LinearRegression().fit(arrays.X_train, arrays.y_train)
        models[name] = {"test_r2": float(fitted.score(arrays.X_test, arrays.y_test))}

    names = ("rnn", "nonlinear_ar")
    for name, input_shape in zip(names, ((args.lags, 3), (3 * args.lags + 5,))):
        print_summary(network(name, args.lags), input_size=(RNN.data.init_args["batch_size"], *input_shape))
    # each network once per seed (several at once on a CPU with cores to spare: lightning_modules/parallel.py)
    runs = [(name, seed) for name in names for seed in seeds(args)]
    records = for_each_seed(partial(train_one_seed, args=args), runs, **seed_jobs(args))
    for name in names:
        models[name] = over_seeds([record for (run_name, _), record in zip(runs, records) if run_name == name])

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures(LAB)
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2")
        print(results_table([(name, "test R²", figures["test_r2"], book[name]) for name, figures in models.items()]))
        print(f"results: {results}")
        for name in ("rnn", "nonlinear_ar"):
            figure = save_model_curves(models[name], "r2", "R²", f"{args.log_dir}/{LAB}/{name}_curves.png")
            print(f"curves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
