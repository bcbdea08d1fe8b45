"""Exercise 10.10.11: a nonlinear AR on the RNN's flattened sequences, against the linear AR and the lab's nonlinear AR.

The NYSE lab's nonlinear AR network (32 ReLU units, dropout 0.5, 20 epochs at
lr 0.001) reading the RNN's (days, 5 lags, 3 series) sequences flattened to 15
inputs: the lab's own nonlinear AR also had the five day-of-week indicators.

Run: python scripts/exercise_11_nonlinear_ar_flat.py [--max-epochs 20] [--seeds 5] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning_modules.labs import NETWORKS
from scripts.command_line import run
from scripts.nyse_exercises import network_against_linear_ar

LAB = "exercise_11"
NETWORK = NETWORKS["ex11_nonlinear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)
LAB_NONLINEAR_AR = NETWORKS["nyse_ar"]  # the lab's, with the day of the week: the book's figure beside ours


def main(argv: Sequence[str] | None = None) -> dict:
    # each (5, 3) sequence flattened to 15 inputs -> 32 ReLU units, dropout 0.5 -> one output
    lab_figure = ("book_nonlinear_ar_with_days", "the lab's nonlinear AR, with the day of the week", LAB_NONLINEAR_AR.book)
    return network_against_linear_ar(argv, __doc__.splitlines()[0], LAB, NETWORK, input_shape=(5, 3), lab_figure=lab_figure)


if __name__ == "__main__":
    run(main)
