"""Lab 10.9.6: forecasting NYSE trading volume with an RNN and autoregressions.

Run: python scripts/lab_nyse.py [--max-epochs 200] [--ar-epochs 20] [--accelerator cpu] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.labs import NETWORKS, book_figures
from runner import (
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

LAB = "nyse"
# the book's settings: data, networks, optimizer, epochs (lightning_modules/labs.py)
RNN, NONLINEAR_AR = NETWORKS["nyse_rnn"], NETWORKS["nyse_ar"]


def main(argv: Sequence[str] | None = None) -> dict:
    parser = lab_parser(__doc__.splitlines()[0], RNN)
    parser.add_argument(
        "--ar-epochs", type=int, default=NONLINEAR_AR.epochs,
        help=f"epochs of the nonlinear AR network (book: {NONLINEAR_AR.epochs})",
    )
    book_lags = RNN.data.init_args["lags"]
    parser.add_argument("--lags", type=int, default=book_lags, help=f"previous days each forecast sees (book: {book_lags})")
    args = parser.parse_args(argv)
    prepare(args)

    # Linear autoregressions, with and without the day of the week.
    models = {}
    for name, day_of_week in (("linear_ar", False), ("linear_ar_day", True)):
        arrays = load_nyse(args.lags, "flat", day_of_week)
        fitted = LinearRegression().fit(arrays.X_train, arrays.y_train)
        models[name] = {"test_r2": float(fitted.score(arrays.X_test, arrays.y_test))}

    # The RNN reads the lags in time order: (days, lags, 3 series).
    datamodule = RNN.build_datamodule(lags=args.lags, seed=args.seed)
    rnn = RNN.build_network()
    print_summary(rnn, input_size=(datamodule.batch_size, args.lags, 3))
    module = RNN.build_module(rnn)
    models["rnn"] = fit_and_test(module, datamodule, trainer_for(args, RNN))

    # The nonlinear AR: the flattened lags plus day-of-week indicators.
    datamodule = NONLINEAR_AR.build_datamodule(lags=args.lags, seed=args.seed)
    nonlinear = NONLINEAR_AR.network.build(input_size=3 * args.lags + 5)
    print_summary(nonlinear, input_size=(datamodule.batch_size, 3 * args.lags + 5))
    module = NONLINEAR_AR.build_module(nonlinear)
    trainer = trainer_for(args, NONLINEAR_AR, max_epochs=args.ar_epochs)
    models["nonlinear_ar"] = fit_and_test(module, datamodule, trainer)

    if trainer.is_global_zero:
        for name in ("rnn", "nonlinear_ar"):
            save_curves(models[name]["log_dir"], "r2", "R²", f"{args.log_dir}/{LAB}/{name}_curves.png")
        book = book_figures(LAB)
        rows = [(name, "test R²", figures["test_r2"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2")
        print(f"curves: {args.log_dir}/{LAB}/*_curves.png\nresults: {results}")
    return models


if __name__ == "__main__":
    run(main)
