"""NYSE: forecast a day's trading volume from the five previous days (ISLP's ``NYSE``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from datamodules.base import BadArgumentError, DesignArrays, InMemoryDataModule, Tensors

SERIES = ["DJ_return", "log_volume", "log_volatility"]
TARGET = "log_volume"


def check_layout(lags: int, layout: str, day_of_week: bool) -> None:
    """Refuse (:class:`BadArgumentError`) lags below 1, an unknown layout, or day-of-week columns in the sequence layout."""
    if isinstance(lags, bool) or not isinstance(lags, int) or lags < 1:
        raise BadArgumentError(f"lags must be a whole number of days, at least 1, got {lags!r}")
    if layout not in ("sequence", "flat"):
        raise BadArgumentError(f"layout must be 'sequence' or 'flat', got {layout!r}")
    if day_of_week and layout == "sequence":
        raise BadArgumentError("day_of_week indicators go with the flat layout, not the sequence one")


def load_nyse(lags: int = 5, layout: Literal["sequence", "flat"] = "flat", day_of_week: bool = False) -> DesignArrays:
    """The three series standardized, with ``lags`` lagged copies each; target ``log_volume`` of the day.

    ``flat``: one row per day of ``3 * lags`` columns ordered lag 1 first
    (``DJ_return_1, log_volume_1, log_volatility_1, DJ_return_2, ...``), as the
    book's autoregression builds them, plus five day-of-week indicators if
    ``day_of_week``. ``sequence``: ``(days, lags, 3)`` with the oldest lag first,
    the time order the RNN reads. Days without a full set of lags are dropped.
    """
    from ISLP import load_data

    check_layout(lags, layout, day_of_week)
    nyse = load_data("NYSE")
    # standardized over the whole series, as in the book
    series = pd.DataFrame(StandardScaler().fit_transform(nyse[SERIES]), columns=SERIES, index=nyse.index)
    lagged = {f"{col}_{lag}": series[col].shift(lag) for lag in range(1, lags + 1) for col in SERIES}
    frame = pd.DataFrame(lagged, index=nyse.index)
    if day_of_week:
        days = pd.get_dummies(nyse["day_of_week"]).astype(np.float64)
        frame = frame.join(days)
    keep = frame.notna().all(axis=1)
    frame, target, train = frame[keep], series[TARGET][keep], nyse["train"][keep].to_numpy(bool)
    if layout == "sequence":
        oldest_first = [f"{col}_{lag}" for lag in range(lags, 0, -1) for col in SERIES]
        X = frame[oldest_first].to_numpy(np.float64).reshape(-1, lags, len(SERIES))
        names = oldest_first
    elif layout == "flat":
        X, names = frame.to_numpy(np.float64), list(frame.columns)
    y = target.to_numpy(np.float64)
    return DesignArrays(X[train], X[~train], y[train], y[~train], names)


class NYSEDataModule(InMemoryDataModule):
    """NYSE lagged series as float32 tensors; the test years double as validation, as in the book.

    Args:
        layout: ``sequence`` (days, lags, 3) for the RNN, ``flat`` (days, 3·lags [+5]) for AR models.
        lags: how many previous days each prediction sees.
        day_of_week: add five day-of-week indicators (flat layout only).
        eval_batch_size: the 1,770 test days are evaluated in one batch (less per-step overhead).
    """

    def __init__(
        self,
        layout: Literal["sequence", "flat"] = "sequence",
        lags: int = 5,
        day_of_week: bool = False,
        batch_size: int = 64,
        eval_batch_size: int = 4096,
        seed: int = 0,
    ) -> None:
        check_layout(lags, layout, day_of_week)
        super().__init__(batch_size=batch_size, validation="test", eval_batch_size=eval_batch_size, seed=seed)
        self.layout, self.lags, self.day_of_week = layout, lags, day_of_week

    def load(self) -> tuple[Tensors, Tensors]:
        return load_nyse(self.lags, self.layout, self.day_of_week).tensors()
