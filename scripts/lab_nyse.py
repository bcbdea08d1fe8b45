"""Lab 10.9.6: forecasting NYSE trading volume with an RNN and autoregressions.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_nyse.py [--max-epochs 200] [--ar-epochs 20] [--seeds 5 [--jobs 2]] [--accelerator cpu]
                               [--log-dir logs]
"""

# %% [markdown]
# # 10.9.6 Time series: forecasting the NYSE's trading volume
#
# Each day's log trading volume is forecast from the five days before it: their standardised Dow
# Jones return, log volume and log volatility. Four models, all fitted on the years up to 2008 and
# tested (by R²) on the later ones: a linear autoregression on the 15 lagged values, the same with
# the day of the week, a recurrent network reading the five days in order, and a nonlinear
# autoregression (a network with one hidden layer) on the flattened lags and the day of the week.

# %%
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression
from torch.optim import RMSprop

from datamodules.nyse import NYSEDataModule, load_nyse
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import show_figure
from lightning_modules.networks import NYSERNN, NonLinearAR
from lightning_modules.runner.parallel import for_each_seed
from lightning_modules.runner.results import results_table, save_model_curves, write_results
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options

# %% tags=["parameters"]
max_epochs = 200  # the RNN's: the book's `nyse_trainer = Trainer(max_epochs=200)`
ar_epochs = 20  # the nonlinear AR's: the book's `nl_trainer = Trainer(max_epochs=20)`
lags = 5  # the book's `for lag in range(1, 6)`
seed = 0  # the book's `seed_everything(0)`
log_dir = "logs"

# %% [markdown]
# The linear autoregressions, fitted by least squares on the flattened lags.


# %%
def linear_autoregressions(lags: int) -> dict[str, dict]:
    """Test R² of the linear AR on the lags, without and with the day of the week."""
    models = {}
    for name, day_of_week in (("linear_ar", False), ("linear_ar_day", True)):
        nyse = load_nyse(lags, "flat", day_of_week)
        fitted = LinearRegression().fit(nyse.X_train, nyse.y_train)
        models[name] = {"test_r2": float(fitted.score(nyse.X_test, nyse.y_test))}
    return models


# %% [markdown]
# The RNN reads each forecast's five days in time order: (days, 5 lags, 3 series) → 12 hidden units →
# the next day's volume. The test years double as the validation set, as in the book.


# %%
def train_rnn(seed: int, args) -> dict:
    """The RNN trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    nyse_dm = NYSEDataModule(layout="sequence", lags=args.lags, batch_size=64, seed=seed)  # the book's batch 64
    nyse_model = NYSERNN(input_size=3)  # RNN(3, 12), Dropout(0.1), Linear(12, 1) on the last step
    if seed == seeds(args)[0]:
        print_summary(nyse_model, input_size=(64, args.lags, 3))
    nyse_optimizer = RMSprop(nyse_model.parameters(), lr=0.001)  # the book's `nyse_optimizer`
    nyse_module = SimpleModule.regression(nyse_model, metrics=["r2"], optimizer=nyse_optimizer)
    trainer = make_trainer("nyse", "rnn", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(nyse_module, datamodule=nyse_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(nyse_module, datamodule=nyse_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# The nonlinear autoregression: the 15 lagged values and five day-of-week indicators → 32 ReLU units
# with dropout 0.5 → the next day's volume.


# %%
def train_nonlinear_ar(seed: int, args) -> dict:
    """The nonlinear AR trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    day_dm = NYSEDataModule(layout="flat", lags=args.lags, day_of_week=True, batch_size=64, seed=seed)
    nl_model = NonLinearAR(input_size=3 * args.lags + 5)  # Linear(20, 32), ReLU, Dropout(0.5), Linear(32, 1)
    if seed == seeds(args)[0]:
        print_summary(nl_model, input_size=(64, 3 * args.lags + 5))
    nl_optimizer = RMSprop(nl_model.parameters(), lr=0.001)  # the book's `nl_optimizer`
    nl_module = SimpleModule.regression(nl_model, metrics=["r2"], optimizer=nl_optimizer)
    trainer = make_trainer("nyse", "nonlinear_ar", max_epochs=args.ar_epochs, seed=seed, **trainer_options(args))
    trainer.fit(nl_module, datamodule=day_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(nl_module, datamodule=day_dm, verbose=False)
    return run_record(trainer, test, seed)


NETWORKS = {"rnn": train_rnn, "nonlinear_ar": train_nonlinear_ar}


def train_network(name_and_seed: tuple[str, int], args) -> dict:
    """One of the two networks, by name, with one seed (a top-level function: it runs in a worker process too)."""
    name, seed = name_and_seed
    return NETWORKS[name](seed, args)


# %% [markdown]
# The lab as a whole: the linear models once, each network once per seed, then the table beside the
# book's figures (`results.json`) and the learning curves.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    parser = lab_parser(__doc__, max_epochs=max_epochs, threads=1, parallel_seeds=True, seed=seed, log_dir=log_dir)
    parser.add_argument("--ar-epochs", type=int, default=ar_epochs,
                        help=f"epochs of the nonlinear AR network (default: {ar_epochs}, the book's)")
    parser.add_argument("--lags", type=int, default=lags,
                        help=f"previous days each forecast sees (default: {lags}, the book's)")
    return parser


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    models = linear_autoregressions(args.lags)
    runs = [(name, seed) for name in NETWORKS for seed in seeds(args)]
    records = for_each_seed(partial(train_network, args=args), runs, **seed_jobs(args))
    for name in NETWORKS:
        models[name] = over_seeds([record for (run_name, _), record in zip(runs, records) if run_name == name])

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures("nyse")
        results = write_results(args.log_dir, "nyse", models, book=book, figure="test_r2")
        print(results_table([(name, "test R²", figures["test_r2"], book[name]) for name, figures in models.items()]))
        print(f"results: {results}")
        for name in NETWORKS:
            figure = save_model_curves(models[name], "r2", "R²", f"{args.log_dir}/nyse/{name}_curves.png")
            print(f"curves: {figure}")
            show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
