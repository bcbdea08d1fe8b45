"""NYSE: forecast a day's trading volume from the five previous days (ISLP's ``NYSE``)."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pandas as pd
from sklearn.preprocessing import StandardScaler

from datamodules.base import DesignArrays, InMemoryDataModule
from datamodules.batching import Tensors
from foundations.errors import BadArgumentError

SERIES = ["DJ_return", "log_volume", "log_volatility"]
TARGET = "log_volume"


def check_layout(
    lags: int, layout: str, day_of_week: bool, month: bool = False, lagged_day_of_week: bool = False
) -> None:
    """Refuse (:class:`BadArgumentError`) lags below 1, an unknown layout, or indicators the layout can't take:
    the forecast day's (``day_of_week``, ``month``) go with the flat layout, the lagged days' with the sequence one."""
    if isinstance(lags, bool) or not isinstance(lags, int) or lags < 1:
        raise BadArgumentError(f"lags must be a whole number of days, at least 1, got {lags!r}")
    if layout not in ("sequence", "flat"):
        raise BadArgumentError(f"layout must be 'sequence' or 'flat', got {layout!r}")
    if day_of_week and layout == "sequence":
        raise BadArgumentError("day_of_week indicators go with the flat layout, not the sequence one")
    if month and layout == "sequence":
        raise BadArgumentError("month indicators go with the flat layout, not the sequence one")
    if lagged_day_of_week and layout == "flat":
        raise BadArgumentError(
            "lagged_day_of_week adds each lagged day's indicators to the steps of the sequence layout; "
            "for the flat layout use day_of_week (the forecast day's)"
        )


def month_indicators(dates: pd.Index) -> pd.DataFrame:
    """Twelve 0/1 columns ``month_1`` ... ``month_12``, one row per date (exercise 10.10.9's month factor)."""
    months = pd.Series(pd.to_datetime(dates).month, index=dates).astype(pd.CategoricalDtype(range(1, 13)))
    return pd.get_dummies(months, prefix="month").astype(np.float64)


def load_nyse(
    lags: int = 5,
    layout: Literal["sequence", "flat"] = "flat",
    day_of_week: bool = False,
    month: bool = False,
    lagged_day_of_week: bool = False,
) -> DesignArrays:
    """The three series standardized, with ``lags`` lagged copies each; target ``log_volume`` of the day.

    ``flat``: one row per day of ``3 * lags`` columns ordered lag 1 first
    (``DJ_return_1, log_volume_1, log_volatility_1, DJ_return_2, ...``), as the
    book's autoregression builds them, plus the forecast day's five day-of-week
    indicators if ``day_of_week`` and its twelve month indicators if ``month``.
    ``sequence``: ``(days, lags, 3)`` with the oldest lag first, the time order
    the RNN reads; ``lagged_day_of_week`` adds each lagged day's own five
    day-of-week indicators to its step: ``(days, lags, 8)``. Days without a
    full set of lags are dropped.
    """
    from ISLP import load_data

    check_layout(lags, layout, day_of_week, month, lagged_day_of_week)
    nyse = load_data("NYSE")
    # standardized over the whole series, as in the book
    series = pd.DataFrame(StandardScaler().fit_transform(nyse[SERIES]), columns=SERIES, index=nyse.index)
    days = pd.get_dummies(nyse["day_of_week"]).astype(np.float64)
    step_columns = SERIES + (list(days.columns) if lagged_day_of_week else [])
    inputs = series.join(days) if lagged_day_of_week else series
    lagged = {f"{col}_{lag}": inputs[col].shift(lag) for lag in range(1, lags + 1) for col in step_columns}
    frame = pd.DataFrame(lagged, index=nyse.index)
    if day_of_week:
        frame = frame.join(days)
    if month:
        frame = frame.join(month_indicators(nyse.index))
    keep = frame.notna().all(axis=1)
    frame, target, train = frame[keep], series[TARGET][keep], nyse["train"][keep].to_numpy(bool)
    if layout == "sequence":
        oldest_first = [f"{col}_{lag}" for lag in range(lags, 0, -1) for col in step_columns]
        X = frame[oldest_first].to_numpy(np.float64).reshape(-1, lags, len(step_columns))
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
        day_of_week: add the forecast day's five day-of-week indicators (flat layout only).
        month: add the forecast day's twelve month indicators (flat layout only; exercise 10.10.9).
        lagged_day_of_week: add each lagged day's five day-of-week indicators to its step
            (sequence layout only; exercise 10.10.12).
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
        month: bool = False,
        lagged_day_of_week: bool = False,
    ) -> None:
        check_layout(lags, layout, day_of_week, month, lagged_day_of_week)
        super().__init__(batch_size=batch_size, validation="test", eval_batch_size=eval_batch_size, seed=seed)
        self.layout, self.lags, self.day_of_week = layout, lags, day_of_week
        self.month, self.lagged_day_of_week = month, lagged_day_of_week

    def load(self) -> tuple[Tensors, Tensors]:
        return load_nyse(self.lags, self.layout, self.day_of_week, self.month, self.lagged_day_of_week).tensors()
