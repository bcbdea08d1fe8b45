"""Exercise 10.10.10: a linear AR fitted as a network on the RNN's flattened sequences, against the lab's LinearRegression.

The NYSE lab's RNN reads (days, 5 lags, 3 series); flattening each sequence and
leaving out the hidden layer gives the linear autoregression, here trained by
RMSprop as the lab trains its nonlinear AR, and fitted by least squares as the
lab fits it with ``LinearRegression``.

Run: python scripts/exercise_10_linear_ar_network.py [--max-epochs 50] [--seeds 5] [--log-dir logs]
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

LAB = "exercise_10"
NETWORK = NETWORKS["ex10_linear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def answer(network_r2: float, least_squares_r2: float) -> str:
    """The exercise's comparison, in words."""
    return (
        f"The network without a hidden layer reaches test R² {network_r2:.4f} against LinearRegression's "
        f"{least_squares_r2:.4f} ({network_r2 - least_squares_r2:+.4f}): the same linear model, fitted two ways. "
        "LinearRegression solves it exactly, at once and with nothing to tune; the network only approaches that "
        "solution by stochastic gradient steps (a rate, epochs, a seed), but the same code takes a hidden layer, "
        "dropout or a recurrent layer by changing one line."
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK).parse_args(argv)
    prepare(args)

    # The lab's linear AR: least squares on the 15 lagged columns (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat")
    least_squares = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar": {"test_r2": float(least_squares.score(arrays.X_test, arrays.y_test))}}

    # The network: each (5, 3) sequence flattened to 15 inputs -> one output, no hidden layer.
    print_summary(NETWORK.build_network(), input_size=(NETWORK.data.init_args["batch_size"], 5, 3))
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
        book = {"linear_ar": BOOK_BASELINES["nyse/linear_ar"]}
        words = answer(models[NETWORK.name]["test_r2"], models["linear_ar"]["test_r2"])
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
