"""Lab 10.9.6: forecasting NYSE trading volume with an RNN and autoregressions.

Run: python scripts/lab_nyse.py [--max-epochs 200] [--ar-epochs 20] [--accelerator cpu] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LinearRegression

from datamodules.nyse import NYSEDataModule, load_nyse
from lightning_modules.labs import (
    fit_and_test,
    lab_parser,
    prepare,
    print_summary,
    results_table,
    run,
    save_curves,
    trainer_for,
    write_results,
)
from lightning_modules.module import SimpleModule
from lightning_modules.networks import NonLinearAR, NYSERNN

LAB = "nyse"
#: the book's stored-notebook test R²
BOOK = {"linear_ar": 0.4129, "linear_ar_day": 0.4596, "rnn": 0.4136, "nonlinear_ar": 0.4649}


def main(argv: Sequence[str] | None = None) -> dict:
    parser = lab_parser(__doc__.splitlines()[0], epochs=200, threads=1)
    parser.add_argument("--ar-epochs", type=int, default=20, help="epochs of the nonlinear AR network (book: 20)")
    parser.add_argument("--lags", type=int, default=5, help="previous days each forecast sees (book: 5)")
    args = parser.parse_args(argv)
    prepare(args)

    # Linear autoregressions, with and without the day of the week.
    models = {}
    for name, day_of_week in (("linear_ar", False), ("linear_ar_day", True)):
        arrays = load_nyse(args.lags, "flat", day_of_week)
        fitted = LinearRegression().fit(arrays.X_train, arrays.y_train)
        models[name] = {"test_r2": float(fitted.score(arrays.X_test, arrays.y_test))}

    # The RNN reads the lags in time order: (days, lags, 3 series).
    rnn = NYSERNN()
    print_summary(rnn, input_size=(64, args.lags, 3))
    module = SimpleModule.regression(rnn, metrics=["r2"], lr=0.001)
    datamodule = NYSEDataModule(layout="sequence", lags=args.lags, batch_size=64, seed=args.seed)
    models["rnn"] = fit_and_test(module, datamodule, trainer_for(args, LAB, "rnn"))

    # The nonlinear AR: the flattened lags plus day-of-week indicators.
    nonlinear = NonLinearAR(input_size=3 * args.lags + 5)
    print_summary(nonlinear, input_size=(64, 3 * args.lags + 5))
    module = SimpleModule.regression(nonlinear, metrics=["r2"])
    datamodule = NYSEDataModule(layout="flat", lags=args.lags, day_of_week=True, batch_size=64, seed=args.seed)
    args.max_epochs = args.ar_epochs
    trainer = trainer_for(args, LAB, "nonlinear_ar")
    models["nonlinear_ar"] = fit_and_test(module, datamodule, trainer)

    if trainer.is_global_zero:
        for name in ("rnn", "nonlinear_ar"):
            save_curves(models[name]["log_dir"], "r2", "R²", f"{args.log_dir}/{LAB}/{name}_curves.png")
        rows = [(name, "test R²", figures["test_r2"], BOOK[name]) for name, figures in models.items()]
        print(results_table(rows))
        results = write_results(args.log_dir, LAB, models, book=BOOK, figure="test_r2")
        print(f"curves: {args.log_dir}/{LAB}/*_curves.png\nresults: {results}")
    return models


if __name__ == "__main__":
    run(main)
