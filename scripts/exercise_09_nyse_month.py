"""Exercise 10.10.9: the NYSE lab's lag-5 linear AR refitted with a 12-level month factor: does it help?

The month of each forecast day, read from the rows' dates, enters as twelve
indicators beside the 15 lagged columns (and, in a second pair of fits, beside
the lab's five day-of-week indicators too). Least squares on the training years,
test R² on the test years, as in the lab; nothing is trained by SGD.

Run: python scripts/exercise_09_nyse_month.py [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.exercise_answers import answer
from lightning_modules.labs import BOOK_BASELINES
from lightning_modules.results import results_table, write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run

LAB = "exercise_09"


def main(argv: Sequence[str] | None = None) -> dict:
    parser = LabArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", default="logs", help="results.json goes to <log-dir>/exercise_09/")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="not used: nothing is trained")
    args = parser.parse_args(argv)
    check_log_dir(args.log_dir)

    models = {}
    for name, day_of_week, month in (("linear_ar", False, False), ("linear_ar_month", False, True),
                                     ("linear_ar_day", True, False), ("linear_ar_day_month", True, True)):
        arrays = load_nyse(lags=5, layout="flat", day_of_week=day_of_week, month=month)
        fitted = LinearRegression().fit(arrays.X_train, arrays.y_train)
        models[name] = {"test_r2": float(fitted.score(arrays.X_test, arrays.y_test)), "features": arrays.X_train.shape[1]}

    book = {name: BOOK_BASELINES[f"nyse/{name}"] for name in ("linear_ar", "linear_ar_day")}
    words = answer(LAB, {"models": models})
    results = write_results(args.log_dir, LAB, models, book=book, figure="test_r2", answer=words)
    print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
    print(words)
    print(f"results: {results}")
    return models


if __name__ == "__main__":
    run(main)
