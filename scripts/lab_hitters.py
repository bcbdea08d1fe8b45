"""Lab 10.9.1: a single-layer network on the Hitters data, beside linear regression and the lasso.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/lab_hitters.py [--max-epochs 50] [--seeds 5 [--jobs 2]] [--accelerator cpu] [--log-dir logs]
                                  [--lasso-lambdas 100]
"""

# %% [markdown]
# # 10.9.1 A single-layer network on the Hitters data
#
# We predict a baseball player's salary from 19 statistics of his career and last season, with a
# network of one hidden layer, and compare its mean absolute error on the held-out third of the
# players with two linear models fitted to the same split: least squares and the lasso.
#
# Run as a script, the flags of the parameters cell's names override it (`--max-epochs 5`);
# `--seeds 5` trains the network once per seed and reports their mean.

# %%
from functools import partial

from pytorch_lightning import seed_everything
from pytorch_lightning.utilities import rank_zero_only
from sklearn.linear_model import LinearRegression
from torch.optim import RMSprop

from datamodules.hitters import HittersDataModule, load_hitters
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.chapter.baselines import cross_validated_lasso, mean_absolute_error
from lightning_modules.chapter.labs import book_figures
from lightning_modules.curves import show_figure
from lightning_modules.networks import HittersMLP
from lightning_modules.runner.parallel import for_each_seed
from lightning_modules.runner.results import results_table, save_model_curves, write_results
from lightning_modules.runner.runs import last_checkpoint, over_seeds, print_summary, run_record
from scripts.command_line import lab_parser, prepare, run, seed_jobs, seeds, trainer_options, whole_number

# %% tags=["parameters"]
max_epochs = 50  # the book's `Trainer(max_epochs=50)`
seed = 0  # the book's `seed_everything(0)`
lasso_lambdas = 100  # the book's grid of 100 λ for the cross-validated lasso
log_dir = "logs"

# %% [markdown]
# The linear models: least squares, and the lasso with its λ chosen by 10-fold cross-validation,
# on the features as they are (the book's run) and standardised.


# %%
def linear_baselines(lambdas: int) -> dict[str, dict]:
    """Test MAE of linear regression and the lasso (unscaled and scaled) on the book's split."""
    hitters = load_hitters()  # 19 features, a third of the players held out (random_state=1)
    linear = LinearRegression().fit(hitters.X_train, hitters.y_train)
    models = {"linear_regression": {"test_mae": mean_absolute_error(hitters.y_test, linear.predict(hitters.X_test))}}
    for name, scaled in (("lasso", False), ("lasso_scaled", True)):
        search = cross_validated_lasso(hitters.X_train, hitters.y_train, scaled, lambdas)
        test_mae = mean_absolute_error(hitters.y_test, search.best_estimator_.predict(hitters.X_test))
        models[name] = {"test_mae": test_mae, "scaled": scaled}
    return models


# %% [markdown]
# The network: 19 inputs, 50 ReLU units with dropout 0.4, one output; mean squared error as the loss,
# mean absolute error reported. The test players double as the validation set, as in the book.


# %%
def train_one_seed(seed: int, args) -> dict:
    """The network trained and tested once, with ``seed``: the book's cells in order."""
    seed_everything(seed, workers=True, verbose=False)
    hit_dm = HittersDataModule(batch_size=32, seed=seed)  # the book's batch 32; the test set as validation
    hit_model = HittersMLP(input_size=19)  # Linear(19, 50), ReLU, Dropout(0.4), Linear(50, 1)
    if seed == seeds(args)[0]:
        print_summary(hit_model, input_size=(32, 19))
    # the book gives `hit_module` no optimizer: RMSprop at its default rate, 0.01
    hit_module = SimpleModule.regression(hit_model, metrics=["mae"], optimizer=RMSprop(hit_model.parameters(), lr=0.01))
    trainer = make_trainer("hitters", "mlp", max_epochs=args.max_epochs, seed=seed, **trainer_options(args))
    trainer.fit(hit_module, datamodule=hit_dm, ckpt_path=last_checkpoint(trainer))
    (test,) = trainer.test(hit_module, datamodule=hit_dm, verbose=False)
    return run_record(trainer, test, seed)


# %% [markdown]
# The lab as a whole: the linear models once, the network once per seed, then the table beside the
# book's figures (`results.json`) and the learning curves.


# %%
def flags():
    """The command line: the parameters above as defaults."""
    # seeds one at a time by default: a fit takes under 2 s, less than a worker process takes to start
    # (measured on 2 cores: 5 seeds took 31 s one after another, 45 s two at a time)
    parser = lab_parser(__doc__, max_epochs=max_epochs, threads=1, parallel_seeds=True, jobs=1, seed=seed,
                        log_dir=log_dir)
    parser.add_argument("--lasso-lambdas", type=whole_number(1), default=lasso_lambdas,
                        help=f"λ values in the lasso's cross-validated grid (default: {lasso_lambdas}, the book's)")
    return parser


def main(argv=None) -> dict:
    args = flags().parse_args(argv)
    prepare(args)
    models = linear_baselines(args.lasso_lambdas)
    runs = for_each_seed(partial(train_one_seed, args=args), seeds(args), **seed_jobs(args))
    models["mlp"] = over_seeds(runs)

    if rank_zero_only.rank == 0:
        # results first: a figure that fails to save (a full disk) then loses none of them
        book = book_figures("hitters")
        results = write_results(args.log_dir, "hitters", models, book=book, figure="test_mae")
        print(results_table([(name, "test MAE", figures["test_mae"], book[name]) for name, figures in models.items()]))
        print("(lasso: the book's run, unscaled features; lasso_scaled: with StandardScaler)")
        figure = save_model_curves(models["mlp"], "mae", "Mean absolute error", f"{args.log_dir}/hitters/mlp_curves.png")
        print(f"results: {results}\ncurves: {figure}")
        show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a worker process or a test imports it
    models = run(main)
