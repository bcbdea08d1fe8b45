"""Lab 10.9.6: forecasting NYSE trading volume with an RNN and autoregressions.

Run: python scripts/lab_nyse.py [--max-epochs 200] [--ar-epochs 20] [--accelerator cpu] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.labs import NETWORKS, book_figures
from runner import (
    fit_seeds,
    is_global_zero,
    lab_parser,
    prepare,
    results_table,
    run,
    save_model_curves,
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
    # (once per seed with --seeds; the linear ones above are deterministic: fitted once)
    models["rnn"] = fit_seeds(
        args, RNN, lambda seed: (RNN.build_module(), RNN.build_datamodule(lags=args.lags, seed=seed)),
        summary_input=(RNN.data.init_args["batch_size"], args.lags, 3),
    )

    # The nonlinear AR: the flattened lags plus day-of-week indicators.
    def nonlinear_ar(seed: int):
        network = NONLINEAR_AR.network.build(input_size=3 * args.lags + 5)
        return NONLINEAR_AR.build_module(network), NONLINEAR_AR.build_datamodule(lags=args.lags, seed=seed)

    models["nonlinear_ar"] = fit_seeds(
        args, NONLINEAR_AR, nonlinear_ar, max_epochs=args.ar_epochs,
        summary_input=(NONLINEAR_AR.data.init_args["batch_size"], 3 * args.lags + 5),
    )

    if is_global_zero():
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures(LAB)
        results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2")
        rows = [(name, "test R²", figures["test_r2"], book[name]) for name, figures in models.items()]
        print(results_table(rows))
        print(f"results: {results}")
        for name in ("rnn", "nonlinear_ar"):
            figure = save_model_curves(models[name], "r2", "R²", f"{args.log_dir}/{LAB}/{name}_curves.png")
            print(f"curves: {figure}")
    return models


if __name__ == "__main__":
    run(main)
