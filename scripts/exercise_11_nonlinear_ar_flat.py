"""Exercise 10.10.11: a nonlinear AR on the RNN's flattened sequences, against the linear AR and the lab's nonlinear AR.

The NYSE lab's nonlinear AR network (32 ReLU units, dropout 0.5, 20 epochs at
lr 0.001) reading the RNN's (days, 5 lags, 3 series) sequences flattened to 15
inputs: the lab's own nonlinear AR also had the five day-of-week indicators.

Run: python scripts/exercise_11_nonlinear_ar_flat.py [--max-epochs 20] [--seeds 5] [--log-dir logs]
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

LAB = "exercise_11"
NETWORK = NETWORKS["ex11_nonlinear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_NONLINEAR_AR = NETWORKS["nyse_ar"]  # the lab's, with the day of the week: the book's figure beside ours


def answer(flat_r2: float, linear_r2: float, with_days_book: float) -> str:
    """The exercise's comparison, in words."""
    from_hidden_layer, from_days = flat_r2 - linear_r2, with_days_book - flat_r2
    larger = "the day of the week" if from_days > from_hidden_layer else "the hidden layer"
    return (
        f"The nonlinear AR on the flattened sequences reaches test R² {flat_r2:.4f}: on the same 15 lags the "
        f"hidden layer adds {from_hidden_layer:+.4f} to the linear AR's {linear_r2:.4f}, and the lab's nonlinear "
        f"AR, which also reads the day of the week, adds {from_days:+.4f} more (the book's {with_days_book:.4f}): "
        f"of the lab's gain over the linear AR, {larger} brings the larger part."
    )


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], NETWORK).parse_args(argv)
    prepare(args)

    # The lab's linear AR on the same 15 lags (deterministic: fitted once).
    arrays = load_nyse(lags=5, layout="flat")
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_ar": {"test_r2": float(linear.score(arrays.X_test, arrays.y_test))}}

    # The network: each (5, 3) sequence flattened to 15 inputs -> 32 ReLU units, dropout 0.5 -> one output.
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
        words = answer(models[NETWORK.name]["test_r2"], models["linear_ar"]["test_r2"], LAB_NONLINEAR_AR.book)
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words,
                                book_nonlinear_ar_with_days=LAB_NONLINEAR_AR.book)
        print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
        print(f"(the lab's nonlinear AR, with the day of the week: the book's test R² {LAB_NONLINEAR_AR.book})")
        print(words)
        figure = save_model_curves(models[NETWORK.name], "r2", "R²", f"{args.log_dir}/{LAB}/{NETWORK.name}_curves.png")
        print(f"results: {results}\ncurves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
