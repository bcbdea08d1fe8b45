"""Exercise 10.10.11: a nonlinear AR on the RNN's flattened sequences, against the linear AR and the lab's nonlinear AR.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_11_nonlinear_ar_flat.py [--max-epochs 20] [--seeds 5 [--jobs 2]] [--log-dir logs]
"""

# %% [markdown]
# # Exercise 10.10.11: the nonlinear AR on the RNN's inputs
#
# The NYSE lab's nonlinear AR (`scripts/lab_nyse.py`) reads the 15 lagged values and the five day-of-week
# indicators. Here it reads what the lab's RNN reads, the sequences of 5 days of 3 series, flattened to 15
# inputs, and nothing of the day of the week; the network (32 ReLU units, dropout 0.5) and its training
# (RMSprop at lr 0.001, batch 64, 20 epochs) are the lab's. How does it fare against the linear AR on the same
# lags (the book's R² 0.4129), and against the lab's own nonlinear AR with the days (the book's 0.4649)?

# %%
from functools import partial

from pytorch_lightning import seed_everything
from torch.optim import RMSprop

from datamodules.nyse import NYSEDataModule
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.labs import book_figures
from lightning_modules.networks import NonLinearAR
from lightning_modules.runner.parallel import for_each_seed
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options
from scripts.lab_nyse import linear_autoregressions
from scripts.nyse_exercises import report_against_linear_ar

# %% tags=["parameters"]
max_epochs = 20  # the lab's nonlinear AR: the book's `nl_trainer = Trainer(max_epochs=20)`
seed = 0
log_dir = "logs"


# %%
def train_one_seed(seed: int, args) -> dict:
    """The lab's nonlinear AR on the RNN's flattened sequences, trained and tested once with ``seed``."""
    seed_everything(seed, workers=True, verbose=False)
    # the change: the RNN's sequences (5 days of 3 series), without the day of the week; the lab's batch 64
    nyse_dm = NYSEDataModule(layout="sequence", lags=5, batch_size=64, seed=seed)
    nl_model = NonLinearAR(input_size=15)  # the change: Flatten, Linear(15, 32), ReLU, Dropout(0.5), Linear(32, 1)
    if seed == seeds(args)[0]:
        print_summary(nl_model, input_size=(64, 5, 3))
    nl_optimizer = RMSprop(nl_model.parameters(), lr=0.001)  # the book's `nl_optimizer`
    nl_module = SimpleModule.regression(nl_model, metrics=["r2"], optimizer=nl_optimizer)
    trainer = make_trainer("exercise_11", "nonlinear_ar_flat", max_epochs=args.max_epochs, seed=seed,
                           **trainer_options(args))
    trainer.fit(nl_module, datamodule=nyse_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(nl_module, datamodule=nyse_dm, verbose=False)
    return run_record(trainer, test, seed)


# %%
def main(argv=None) -> dict:
    args = lab_parser(__doc__, max_epochs=max_epochs, threads=1, parallel_seeds=True, seed=seed,
                      log_dir=log_dir).parse_args(argv)
    prepare(args)
    models = {"linear_ar": linear_autoregressions(lags=5)["linear_ar"]}  # the lab's, without the days
    models["nonlinear_ar_flat"] = over_seeds(
        for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    )
    lab_ar = ("book_nonlinear_ar_with_days", "the lab's nonlinear AR, with the day of the week",
              book_figures("nyse")["nonlinear_ar"])
    report_against_linear_ar(args, "exercise_11", models, "nonlinear_ar_flat", lab_figure=lab_ar)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
