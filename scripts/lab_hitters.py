"""Lab 10.9.1: a single-layer network on the Hitters data, beside linear regression and the lasso.

Run: python scripts/lab_hitters.py [--max-epochs 50] [--seeds 5 [--jobs 2]] [--accelerator cpu] [--log-dir logs]
                                   [--lasso-lambdas 100]
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression

from datamodules.hitters import load_hitters
from lightning_modules import make_trainer
from lightning_modules.baselines import cross_validated_lasso, mean_absolute_error
from lightning_modules.labs import NETWORKS, book_figures
from lightning_modules.parallel import for_each_seed
from lightning_modules.results import results_table, save_model_curves, write_results
from lightning_modules.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options, whole_number

LAB = "hitters"
MLP = NETWORKS["hitters"]  # the book's settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def train_one_seed(seed: int, args: argparse.Namespace) -> dict:
    """The network trained and tested once, with ``seed``: the book's lab as it reads."""
    seed_everything(seed, workers=True, verbose=False)
    datamodule = MLP.build_datamodule(seed=seed)
    module = MLP.build_module()
    trainer = make_trainer(LAB, "mlp", seed=seed, **trainer_options(args))
    trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
    return run_record(trainer, test, seed)


def main(argv: Sequence[str] | None = None) -> dict:
    # one seed at a time by default: a fit takes under 2 s, less than a worker process takes to start (importing
    # torch and Lightning); measured on 2 cores, 5 seeds took 31 s one after another and 45 s two at a time
    parser = lab_parser(__doc__.splitlines()[0], MLP, parallel_seeds=True, jobs=1)
    parser.add_argument("--lasso-lambdas", type=whole_number(1), default=100,
                        help="λ values in the lasso's cross-validated grid (book: 100)")
    args = parser.parse_args(argv)
    prepare(args)

    # The book's linear baselines on the same split (deterministic: fitted once).
    arrays = load_hitters()
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_regression": {"test_mae": mean_absolute_error(arrays.y_test, linear.predict(arrays.X_test))}}
    for name, scaled in (("lasso", False), ("lasso_scaled", True)):
        search = cross_validated_lasso(arrays.X_train, arrays.y_train, scaled, args.lasso_lambdas)
        models[name] = {
            "test_mae": mean_absolute_error(arrays.y_test, search.best_estimator_.predict(arrays.X_test)),
            "scaled": scaled,
        }

    # The network: 19 features -> 50 ReLU units with dropout -> salary; MSE loss, MAE reported.
    print_summary(MLP.build_network(), input_size=(MLP.data.init_args["batch_size"], arrays.X_train.shape[1]))
    # once per seed (several at once on a CPU with cores to spare: lightning_modules/parallel.py)
    runs = for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    models["mlp"] = over_seeds(runs)

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures(LAB)
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_mae")
        print(results_table([(name, "test MAE", figures["test_mae"], book[name]) for name, figures in models.items()]))
        print("(lasso: the book's run, unscaled features; lasso_scaled: with StandardScaler)")
        figure = save_model_curves(models["mlp"], "mae", "Mean absolute error", f"{args.log_dir}/{LAB}/mlp_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
