"""Exercise 10.10.10: a linear AR fitted as a network on the RNN's flattened sequences, against the lab's LinearRegression.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_10_linear_ar_network.py [--max-epochs 50] [--seeds 5 [--jobs 2]] [--log-dir logs]
"""

# %% [markdown]
# # Exercise 10.10.10: the linear AR as a network
#
# The NYSE lab (`scripts/lab_nyse.py`) fits its linear autoregression by least squares, and trains its
# nonlinear one, a network, by RMSprop. A network with no hidden layer is a linear model too: here the
# lab's nonlinear AR loses its hidden layer, and reads the RNN's sequences (5 days of 3 series each)
# flattened to 15 inputs, without the day of the week. Trained by gradient descent, does it reach the
# R² that `LinearRegression` finds in closed form (the book's 0.4129)?

# %%
from functools import partial

from pytorch_lightning import seed_everything
from torch.optim import RMSprop

from datamodules.nyse import NYSEDataModule
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.networks import LinearAR
from lightning_modules.runner.parallel import for_each_seed
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options
from scripts.lab_nyse import linear_autoregressions
from scripts.nyse_exercises import report_against_linear_ar

# %% tags=["parameters"]
max_epochs = 50  # the change: not the nonlinear AR's 20: at lr 0.001 the linear weights are still moving after 20
seed = 0
log_dir = "logs"


# %%
def train_one_seed(seed: int, args) -> dict:
    """The lab's nonlinear AR without its hidden layer, on the RNN's sequences, trained and tested once with ``seed``."""
    seed_everything(seed, workers=True, verbose=False)
    # the change: the RNN's sequences (5 days of 3 series), without the day of the week; the lab's batch 64
    nyse_dm = NYSEDataModule(layout="sequence", lags=5, batch_size=64, seed=seed)
    ar_model = LinearAR(input_size=15)  # the change: Flatten, Linear(15, 1): no hidden layer
    if seed == seeds(args)[0]:
        print_summary(ar_model, input_size=(64, 5, 3))
    ar_optimizer = RMSprop(ar_model.parameters(), lr=0.001)  # the lab's `nl_optimizer`
    ar_module = SimpleModule.regression(ar_model, metrics=["r2"], optimizer=ar_optimizer)
    trainer = make_trainer("exercise_10", "linear_ar_network", max_epochs=args.max_epochs, seed=seed,
                           **trainer_options(args))
    trainer.fit(ar_module, datamodule=nyse_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(ar_module, datamodule=nyse_dm, verbose=False)
    return run_record(trainer, test, seed)


# %%
def main(argv=None) -> dict:
    args = lab_parser(__doc__, max_epochs=max_epochs, threads=1, parallel_seeds=True, seed=seed,
                      log_dir=log_dir).parse_args(argv)
    prepare(args)
    models = {"linear_ar": linear_autoregressions(lags=5)["linear_ar"]}  # the lab's, without the days
    models["linear_ar_network"] = over_seeds(
        for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    )
    report_against_linear_ar(args, "exercise_10", models, "linear_ar_network")
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
