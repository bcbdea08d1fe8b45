"""Exercise 10.10.9: the NYSE lab's lag-5 linear AR refitted with a 12-level month factor: does it help?

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_09_nyse_month.py [--log-dir logs]
"""

# %% [markdown]
# # Exercise 10.10.9: the linear AR with the month
#
# The NYSE lab (`scripts/lab_nyse.py`) fits its linear autoregression by least squares on the 15 lagged
# values, then again with the day of the week. Trading may also be busier in some months than in others:
# here each forecast day's month, read from the rows' dates, joins the inputs as twelve indicators, beside
# the lags alone and beside the lags with the day of the week. Fitted on the training years and scored by
# R² on the test years, as in the lab. Nothing is trained by gradient descent, so there are no epochs.

# %%
from sklearn.linear_model import LinearRegression

from datamodules.nyse import load_nyse
from lightning_modules.chapter.exercise_answers import answer
from lightning_modules.chapter.labs import BOOK_BASELINES
from lightning_modules.runner.results import results_table, write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run

# %% tags=["parameters"]
lags = 5  # the book's `for lag in range(1, 6)`
seed = 0  # not used: least squares draws nothing at random
log_dir = "logs"

# %% [markdown]
# The linear autoregressions, fitted by least squares on the flattened lags, each without and with the month.


# %%
def linear_autoregressions(lags: int) -> dict[str, dict]:
    """Test R² of the linear AR on the lags, without and with the day of the week, each without and with the month."""
    models = {}
    # the change: each of the lab's two fits again with the month's 12 indicators
    for name, day_of_week, month in (("linear_ar", False, False), ("linear_ar_month", False, True),
                                     ("linear_ar_day", True, False), ("linear_ar_day_month", True, True)):
        nyse = load_nyse(lags, "flat", day_of_week, month=month)  # the change: month=
        fitted = LinearRegression().fit(nyse.X_train, nyse.y_train)
        # the change: the inputs counted beside R² (15 lags, + 12 months, + 5 days)
        models[name] = {"test_r2": float(fitted.score(nyse.X_test, nyse.y_test)), "features": nyse.X_train.shape[1]}
    return models


# %% [markdown]
# The exercise as a whole: the four fits, then the table beside the book's two figures and the answer in
# words (`results.json`).


# %%
def flags():
    """The command line: the parameters above as defaults; no training flags, as nothing is trained."""
    parser = LabArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--log-dir", default=log_dir, help="results.json goes to <log-dir>/exercise_09/")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="not used: nothing is trained")
    return parser


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    check_log_dir(args.log_dir)
    models = linear_autoregressions(lags)

    book = {name: BOOK_BASELINES[f"nyse/{name}"] for name in ("linear_ar", "linear_ar_day")}  # the lab's two fits
    words = answer("exercise_09", {"models": models})
    results = write_results(args.log_dir, "exercise_09", models, book=book, figure="test_r2", answer=words)
    print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
    print(words)
    print(f"results: {results}")
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a test imports it
    models = run(main)
