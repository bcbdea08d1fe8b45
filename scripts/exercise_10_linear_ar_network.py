"""Exercise 10.10.10: a linear AR fitted as a network on the RNN's flattened sequences, against the lab's LinearRegression.

The NYSE lab's RNN reads (days, 5 lags, 3 series); flattening each sequence and
leaving out the hidden layer gives the linear autoregression, here trained by
RMSprop as the lab trains its nonlinear AR, and fitted by least squares as the
lab fits it with ``LinearRegression``.

Run: python scripts/exercise_10_linear_ar_network.py [--max-epochs 50] [--seeds 5] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence

from lightning_modules.labs import NETWORKS
from scripts.command_line import run
from scripts.nyse_exercises import network_against_linear_ar

LAB = "exercise_10"
NETWORK = NETWORKS["ex10_linear_ar"]  # its settings: data, network, optimizer, epochs (lightning_modules/labs.py)


def main(argv: Sequence[str] | None = None) -> dict:
    # each (5, 3) sequence flattened to 15 inputs -> one output, no hidden layer
    return network_against_linear_ar(argv, __doc__.splitlines()[0], LAB, NETWORK, input_shape=(5, 3))


if __name__ == "__main__":
    run(main)
