"""Lab 10.9.1: a single-layer network on the Hitters data, beside linear regression and the lasso.

Run: python scripts/lab_hitters.py [--max-epochs 50] [--accelerator cpu] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import Lasso, LinearRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

from datamodules.hitters import HittersDataModule, load_hitters
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
from lightning_modules.networks import HittersMLP

LAB = "hitters"
#: the book's stored-notebook test mean absolute errors
BOOK = {"linear_regression": 259.72, "lasso": 257.24, "lasso_scaled": 235.68, "mlp": 221.8}


def mean_absolute_error(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.abs(y - predicted).mean())


def cross_validated_lasso(X_train: np.ndarray, y_train: np.ndarray, scaled: bool) -> GridSearchCV:
    """The lab's lasso: 100 λ on a log grid from λmax to 0.01·λmax, chosen by 10-fold CV on MAE.

    λmax is computed on standardized features in both cases, as the book does;
    the book's own run (``scaled=False``) then fits the lasso on raw features.
    """
    X_standardized = StandardScaler().fit_transform(X_train)
    lambda_max = np.fabs(X_standardized.T.dot(y_train - y_train.mean())).max() / X_train.shape[0]
    lasso = Lasso(warm_start=True, max_iter=30000)
    estimator = Pipeline([("scaler", StandardScaler()), ("lasso", lasso)]) if scaled else lasso
    grid_name = "lasso__alpha" if scaled else "alpha"
    grid = {grid_name: np.exp(np.linspace(0, np.log(0.01), 100)) * lambda_max}
    search = GridSearchCV(
        estimator, grid, cv=KFold(10, shuffle=True, random_state=1), scoring="neg_mean_absolute_error"
    )
    return search.fit(X_train, y_train)


def main(argv: Sequence[str] | None = None) -> dict:
    args = lab_parser(__doc__.splitlines()[0], epochs=50, threads=1).parse_args(argv)
    prepare(args)

    # The book's linear baselines on the same split.
    arrays = load_hitters()
    linear = LinearRegression().fit(arrays.X_train, arrays.y_train)
    models = {"linear_regression": {"test_mae": mean_absolute_error(arrays.y_test, linear.predict(arrays.X_test))}}
    for name, scaled in (("lasso", False), ("lasso_scaled", True)):
        search = cross_validated_lasso(arrays.X_train, arrays.y_train, scaled)
        models[name] = {
            "test_mae": mean_absolute_error(arrays.y_test, search.best_estimator_.predict(arrays.X_test)),
            "scaled": scaled,
        }

    # The network.
    datamodule = HittersDataModule(batch_size=32, seed=args.seed)
    network = HittersMLP(input_size=arrays.X_train.shape[1])
    print_summary(network, input_size=(32, arrays.X_train.shape[1]))
    module = SimpleModule.regression(network, metrics=["mae"])
    trainer = trainer_for(args, LAB, "mlp")
    models["mlp"] = fit_and_test(module, datamodule, trainer)

    if trainer.is_global_zero:
        figure = save_curves(models["mlp"]["log_dir"], "mae", "Mean absolute error", f"{args.log_dir}/{LAB}/mlp_curves.png")
        rows = [(name, "test MAE", figures["test_mae"], BOOK[name]) for name, figures in models.items()]
        print(results_table(rows))
        print("(lasso: the book's run, unscaled features; lasso_scaled: with StandardScaler)")
        results = write_results(args.log_dir, LAB, models, book=BOOK, figure="test_mae")
        print(f"curves: {figure}\nresults: {results}")
    return models


if __name__ == "__main__":
    run(main)
