"""Default: will a credit-card holder default on the next payment? (ISLP's ``Default``, exercise 10.10.7)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from datamodules.base import DesignArrays, InMemoryDataModule
from datamodules.batching import Tensors

FEATURES = ["student", "balance", "income"]


def load_default(test_size: float = 1 / 3, random_state: int = 1) -> DesignArrays:
    """ISLP's Default (10,000 card holders, 333 defaults): ``student`` as a 0/1 column, ``balance`` and
    ``income``, all three standardized with the training rows' means and deviations; target 1 for a default.

    Split as the Hitters lab splits its data (a third held out, ``random_state=1``), stratified by the
    target so that both parts keep the 3.33% default rate: 6,666 training and 3,334 test rows.
    """
    from ISLP import load_data

    default = load_data("Default")
    X = pd.get_dummies(default[FEATURES], drop_first=True, dtype=np.float64)  # student -> student_Yes
    y = (default["default"] == "Yes").to_numpy(np.float64)
    X_train, X_test, y_train, y_test = train_test_split(
        X.to_numpy(np.float64), y, test_size=test_size, random_state=random_state, stratify=y
    )
    scaler = StandardScaler().fit(X_train)
    return DesignArrays(scaler.transform(X_train), scaler.transform(X_test), y_train, y_test, list(X.columns))


class DefaultDataModule(InMemoryDataModule):
    """Default as float32 tensors; the test set doubles as the validation set, as in the Hitters lab.

    ``eval_batch_size``: the 3,334 test rows are evaluated in one batch (less per-step overhead).
    """

    def __init__(self, batch_size: int = 32, eval_batch_size: int = 4096, seed: int = 0) -> None:
        super().__init__(batch_size=batch_size, validation="test", eval_batch_size=eval_batch_size, seed=seed)

    def load(self) -> tuple[Tensors, Tensors]:
        return load_default().tensors()
