"""The linear baselines the book fits beside its networks: the lasso of the Hitters lab, the L1 logistic path of the IMDB lab.

Plain scikit-learn, as the book uses it; the lab scripts report them beside the networks.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
import sklearn
from sklearn.linear_model import Lasso, LogisticRegression
from sklearn.model_selection import GridSearchCV, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler


def mean_absolute_error(y: np.ndarray, predicted: np.ndarray) -> float:
    return float(np.abs(y - predicted).mean())


def cross_validated_lasso(X_train: np.ndarray, y_train: np.ndarray, scaled: bool, lambdas: int = 100) -> GridSearchCV:
    """The lab's lasso: ``lambdas`` λ (the book's 100) on a log grid from λmax to 0.01·λmax, chosen by 10-fold CV on MAE.

    λmax is computed on standardized features in both cases, as the book does;
    the book's own run (``scaled=False``) then fits the lasso on raw features.
    """
    X_standardized = StandardScaler().fit_transform(X_train)
    lambda_max = np.fabs(X_standardized.T.dot(y_train - y_train.mean())).max() / X_train.shape[0]
    lasso = Lasso(warm_start=True, max_iter=30000)
    estimator = Pipeline([("scaler", StandardScaler()), ("lasso", lasso)]) if scaled else lasso
    grid_name = "lasso__alpha" if scaled else "alpha"
    grid = {grid_name: np.exp(np.linspace(0, np.log(0.01), lambdas)) * lambda_max}
    search = GridSearchCV(
        estimator, grid, cv=KFold(10, shuffle=True, random_state=1), scoring="neg_mean_absolute_error"
    )
    return search.fit(X_train, y_train)



def l1_logistic(seed: int) -> LogisticRegression:
    """The book's ``LogisticRegression(penalty="l1", solver="liblinear", warm_start=True)``.

    scikit-learn 1.8 deprecates ``penalty`` for ``l1_ratio=1`` (1.10 removes it);
    liblinear ignores ``warm_start`` (each λ starts afresh), kept as the book has it.
    """
    penalty = {"l1_ratio": 1.0} if tuple(map(int, sklearn.__version__.split(".")[:2])) >= (1, 8) else {"penalty": "l1"}
    return LogisticRegression(**penalty, solver="liblinear", warm_start=True, random_state=seed)



def lasso_path(
    X_train: sp.csr_matrix, y_train: np.ndarray, num_lambdas: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """λ, coefficients and intercepts of the lab's path: ``num_lambdas`` λ on a log grid from
    λmax down to 1e-4·λmax, each fitted with C = 1/λ.

    λmax = max |Xᵀ(y − ȳ)|, as the book computes it: about where the first words enter.
    """
    lambda_max = np.abs(X_train.T @ (y_train - y_train.mean())).max()
    lambdas = lambda_max * np.exp(np.linspace(np.log(1), np.log(1e-4), num_lambdas))
    logit = l1_logistic(seed)
    coefs, intercepts = [], []
    for lam in lambdas:
        logit.C = 1 / lam
        logit.fit(X_train, y_train)
        coefs.append(logit.coef_.ravel().copy())
        intercepts.append(float(logit.intercept_[0]))
    return lambdas, np.array(coefs), np.array(intercepts)



def path_accuracy(X: sp.csr_matrix, y: np.ndarray, coefs: np.ndarray, intercepts: np.ndarray) -> np.ndarray:
    """Accuracy of each λ's classifier (a review is positive where its linear predictor is)."""
    positive = (X @ coefs.T + intercepts) > 0
    return (positive == (y[:, None] > 0.5)).mean(axis=0)
