"""Exercise 10.10.12: the NYSE lab's RNN with the day of the week as an input.

Each of the five days the RNN reads carries its five day-of-week indicators
beside its three series: sequences of (5 lags, 8 inputs), RNN(8, 12), the rest
as in the lab (dropout 0.1, 200 epochs at lr 0.001).

Run: python scripts/exercise_12_rnn_day_of_week.py [--max-epochs 200] [--seeds 3] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning_modules.labs import NETWORKS
from scripts.command_line import run
from scripts.nyse_exercises import network_against_linear_ar

LAB = "exercise_12"
NETWORK = NETWORKS["ex12_rnn_day"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_RNN = NETWORKS["nyse_rnn"]  # the lab's RNN without the day of the week: the book's figure beside ours


def main(argv: Sequence[str] | None = None) -> dict:
    # (days, 5 lags, 3 series + 5 day indicators) -> 12 hidden units -> the next day's volume
    lab_figure = ("book_rnn_without_days", "the lab's RNN, without the day of the week", LAB_RNN.book)
    return network_against_linear_ar(argv, __doc__.splitlines()[0], LAB, NETWORK, input_shape=(5, 8), day_of_week=True,
                                     lab_figure=lab_figure)


if __name__ == "__main__":
    run(main)
