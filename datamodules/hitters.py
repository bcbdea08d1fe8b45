"""Hitters: predict a baseball player's salary from 19 career and season statistics."""

from __future__ import annotations

import warnings

import numpy as np
from sklearn.model_selection import train_test_split

from datamodules.base import DesignArrays, InMemoryDataModule
from datamodules.batching import Tensors


def load_hitters(test_size: float = 1 / 3, random_state: int = 1) -> DesignArrays:
    """ISLP's Hitters without missing salaries; all columns but Salary through ``ModelSpec``.

    The categorical League, Division and NewLeague become one indicator column
    each (19 features), split as in the book: a third held out, ``random_state=1``.
    """
    from ISLP import load_data
    from ISLP.models import ModelSpec

    hitters = load_data("Hitters").dropna()
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="ModelSpec will move")
        design = ModelSpec(hitters.columns.drop("Salary"), intercept=False).fit_transform(hitters)
    X = design.to_numpy(dtype=np.float64)
    y = hitters["Salary"].to_numpy(dtype=np.float64)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=test_size, random_state=random_state)
    return DesignArrays(X_train, X_test, y_train, y_test, list(design.columns))


class HittersDataModule(InMemoryDataModule):
    """Hitters as float32 tensors; the test set doubles as the validation set, as in the book.

    ``eval_batch_size``: the 88 test players are evaluated in one batch (less per-step overhead).
    """

    def __init__(self, batch_size: int = 32, eval_batch_size: int = 4096, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, validation="test", eval_batch_size=eval_batch_size, seed=seed)

    def load(self) -> tuple[Tensors, Tensors]:
        return load_hitters().tensors()
