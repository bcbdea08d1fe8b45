"""What the chapter's exercises (ISLP 10.10, 6 to 13) find, in words computed from their figures.

One home for the comparison each exercise asks for. An exercise's script
prints it and keeps it in its ``results.json`` as ``answer``; the chapter's
report computes it again from the figures it reads there (it never copies the
stored sentence), so the words always follow the numbers: given figures where
the month factor helps, exercise 9's answer says that it helps.

:func:`answer` takes an exercise's name and its ``results.json`` payload
(``models`` and the exercise's other keys) and returns a paragraph. A result
from stand-in data (``"synthetic": true``) gets no answer, only a line saying
so. Plain Python and numpy: nothing is trained or loaded here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

Results = Mapping[str, Any]

#: what a stand-in run of an exercise used instead of the real thing, and what the real thing is
STAND_INS: dict[str, tuple[str, str]] = {
    "exercise_08": ("a randomly initialized ResNet50", "with the pretrained weights"),
    "exercise_13": ("random reviews of IMDB's shapes", "on the IMDB reviews"),
}


def seed_values(row: Mapping[str, Any], figure: str) -> list[float]:
    """A model's ``figure`` per seed (one value for a single run or for a deterministic fit)."""
    return [float(run[figure]) for run in row.get("seeds") or [row]]


def spread(values: Sequence[float]) -> str:
    """``0.9752 (0.9751–0.9754 over 3 seeds)``; a single run's value alone."""
    mean = statistics.fmean(values)
    if len(values) == 1:
        return f"{mean:.4f}"
    return f"{mean:.4f} ({min(values):.4f}–{max(values):.4f} over {len(values)} seeds)"


def position(values: Sequence[float], reference: float, tolerance: float = 5e-4) -> str:
    """Where a network's figures over seeds lie against a reference figure: ``"above"`` (every seed higher),
    ``"below"`` (every seed lower) or ``"within"`` (the reference inside their range; for one seed, within
    ``tolerance`` of it)."""
    low, high = min(values), max(values)
    if len(values) == 1:
        low, high = low - tolerance, high + tolerance
    if low > reference:
        return "above"
    if high < reference:
        return "below"
    return "within"


def _every(values: Sequence[float]) -> str:
    return "on every seed" if len(values) > 1 else "(one seed)"


def _on_average(values: Sequence[float]) -> str:
    return " on average" if len(values) > 1 else ""


def _adds(difference: float) -> str:
    return f"adds {difference:.4f} to" if difference >= 0 else f"takes {-difference:.4f} from"


def _rows(difference: float, rows: int | None) -> str:
    return f" (about {abs(difference) * rows:.0f} of the {rows:,} test rows)" if rows else ""


# -- each exercise -------------------------------------------------------------------------------
def _exercise_06(results: Results) -> str:
    """Where each descent ends, whether it is a minimum, and whether it is the lowest on [−6, 6]."""
    lr = results.get("lr", 0.1)
    paths = sorted(results["models"].values(), key=lambda found: -found["start"])
    ends = "; ".join(
        f"from β⁰ = {found['start']:g}, {found['steps']} steps end at β = {found['final_beta']:.4f} "
        f"with R(β) = {found['final_R']:.4f}" for found in paths
    )
    slopes = [abs(math.cos(found["final_beta"]) + 0.1) for found in paths]
    minima = all(math.sin(found["final_beta"]) < 0 for found in paths)  # R'' = −sin β > 0
    where = ("a local minimum (R'' = −sin β > 0 there), the one downhill of its start" if minima
             else "a point where the slope vanishes")
    grid = np.linspace(-6, 6, 120_001)
    lowest = int(np.argmin(np.sin(grid) + grid / 10))
    best_beta, best_r = float(grid[lowest]), float(np.sin(grid[lowest]) + grid[lowest] / 10)
    reached = [f"{found['start']:g}" for found in paths if abs(found["final_beta"] - best_beta) < 1e-2]
    others = [f"{found['start']:g}" for found in paths if abs(found["final_beta"] - best_beta) >= 1e-2]
    if not reached:
        found_it = "no start reaches it"
    elif not others:
        found_it = "every start reaches it"
    else:
        found_it = (f"reached from β⁰ = {' and '.join(reached)} only; from {' and '.join(others)} the descent "
                    "settles in a higher local minimum: gradient descent finds the minimum nearest downhill, "
                    "not the lowest")
    return (
        f"Gradient descent at learning rate {lr:g}: {ends}. Each stops where dR/dβ = cos β + 1/10 vanishes "
        f"(|dR/dβ| ≤ {max(slopes):.1e} at the end), {where}. The lowest R on [−6, 6] is {best_r:.4f} at "
        f"β = {best_beta:.4f}: {found_it}."
    )


def _exercise_07(results: Results) -> str:
    """The network over seeds against logistic regression and the rule that always answers "No"."""
    models, rows = results["models"], results.get("test_rows")
    network = seed_values(models["mlp"], "test_accuracy")
    logistic, null = models["logistic_regression"]["test_accuracy"], models["always_no"]["test_accuracy"]
    gap = statistics.fmean(network) - logistic
    verdict = {
        "within": (f"logistic regression's {logistic:.4f} lies within the network's range: the two classify "
                   "equally well, and the hidden layer adds nothing a linear boundary misses"),
        "below": (f"logistic regression beats the network {_every(network)}, by {-gap:.4f}{_on_average(network)}"
                  f"{_rows(gap, rows)}: the hidden layer adds nothing a linear boundary misses"),
        "above": (f"the network beats logistic regression {_every(network)}, by {gap:.4f}{_on_average(network)}"
                  f"{_rows(gap, rows)}: the hidden layer finds something a linear boundary misses"),
    }[position(network, logistic)]
    rare = f" ({results['test_defaults'] / rows:.1%} of the test rows)" if rows and "test_defaults" in results else ""
    return (
        f"Test accuracy: the network {spread(network)}, logistic regression {logistic:.4f}, always answering "
        f"\"No\" {null:.4f}. {verdict[0].upper()}{verdict[1:]}. Both gain little over always answering \"No\": "
        f"{logistic - null:+.4f} for logistic regression{_rows(logistic - null, rows)}, as defaults are rare{rare}."
    )


def _exercise_08(results: Results) -> str:
    """The top class per image, the most and least confident, and whose photos they were."""
    top = {image: found["top_5"] for image, found in results["models"].items()}
    firsts = "; ".join(f"{image}: {classes[0]['label']} ({classes[0]['probability']:.2f})" for image, classes in top.items())
    surest = max(top, key=lambda image: top[image][0]["probability"])
    least = min(top, key=lambda image: top[image][0]["probability"])
    covered = statistics.fmean(sum(entry["probability"] for entry in classes) for classes in top.values())
    whose = ("" if results.get("own_images") else
             " These are ISLP's book images; the exercise asks for photos of your own: "
             "python scripts/exercise_08_pretrained_top5.py --images <your folder>.")
    return (
        f"The most probable class of each of the {len(top)} images: {firsts}. The network is surest of "
        f"{surest} ({top[surest][0]['probability']:.2f}) and least sure of {least} "
        f"({top[least][0]['probability']:.2f}); its five classes hold {covered:.0%} of the probability on "
        f"average.{whose}"
    )


def _exercise_09(results: Results) -> str:
    """Does the month factor help the linear AR (with and without the day of the week)?"""
    r2 = {name: row["test_r2"] for name, row in results["models"].items()}
    gain = r2["linear_ar_month"] - r2["linear_ar"]
    verdict = "it does not help" if gain <= 0 else "it barely helps" if gain < 0.01 else "it helps"
    words = f"The month factor changes the linear AR's test R² from {r2['linear_ar']:.4f} to {r2['linear_ar_month']:.4f} ({gain:+.4f}): {verdict}."
    if "linear_ar_day" in r2 and "linear_ar_day_month" in r2:
        with_days = r2["linear_ar_day_month"] - r2["linear_ar_day"]
        days = r2["linear_ar_day"] - r2["linear_ar"]
        larger = "the day of the week matters more than the month" if days > gain else "the month matters more than the day of the week"
        words += (f" With the day of the week as well: {r2['linear_ar_day']:.4f} to {r2['linear_ar_day_month']:.4f} "
                  f"({with_days:+.4f}); the day of the week alone adds {days:+.4f}: {larger}.")
    return words


def _exercise_10(results: Results) -> str:
    """The linear AR as a trained network against the same model fitted by least squares."""
    models = results["models"]
    network_row = models["linear_ar_network"]
    network = seed_values(network_row, "test_r2")
    least_squares = models["linear_ar"]["test_r2"]
    gap = statistics.fmean(network) - least_squares
    epochs = f"{network_row['epochs']} epochs of " if "epochs" in network_row else ""
    verdict = {
        "within": f"LinearRegression's {least_squares:.4f} lies within the network's range: trained, the network reaches the least-squares fit",
        "below": (f"the network stays below the least-squares fit {_every(network)}, by {-gap:.4f}{_on_average(network)}: "
                  f"{epochs}RMSprop steps stop short of the solution LinearRegression computes exactly"),
        "above": (f"the network scores above the least-squares fit {_every(network)}, by {gap:.4f}{_on_average(network)}: "
                  "least squares minimizes the training error, and the network, stopped short of it, does a "
                  "little better on the test years"),
    }[position(network, least_squares)]
    return (
        f"The network without a hidden layer reaches test R² {spread(network)} against LinearRegression's "
        f"{least_squares:.4f}: {verdict}. The same linear model, fitted two ways: LinearRegression exactly, at "
        "once and with nothing to tune; the network by stochastic gradient steps (a rate, epochs, a seed), with "
        "a hidden layer, dropout or a recurrent layer one line away."
    )


def _exercise_11(results: Results) -> str:
    """The nonlinear AR on the flattened sequences against the linear AR, and the lab's (with days)."""
    models = results["models"]
    network = seed_values(models["nonlinear_ar_flat"], "test_r2")
    linear = models["linear_ar"]["test_r2"]
    hidden = statistics.fmean(network) - linear
    where = {"above": "above the linear AR on every seed" if len(network) > 1 else "above the linear AR",
             "below": "below the linear AR on every seed" if len(network) > 1 else "below the linear AR",
             "within": "the linear AR within the network's range: no clear gain"}[position(network, linear)]
    words = (f"The nonlinear AR on the flattened sequences reaches test R² {spread(network)}: on the same 15 lags "
             f"the hidden layer {_adds(hidden)} the linear AR's {linear:.4f} ({where}).")
    book = results.get("book_nonlinear_ar_with_days")
    if book is not None:
        days = book - statistics.fmean(network)
        larger = "the day of the week" if days > hidden else "the hidden layer"
        words += (f" The lab's nonlinear AR, which also reads the day of the week, reaches the book's {book:.4f}, "
                  f"{days:+.4f} more: of its gain over the linear AR, {larger} brings the larger part.")
    return words


def _exercise_12(results: Results) -> str:
    """The RNN with the day of the week against the lab's RNN without it and the linear AR with it."""
    models = results["models"]
    network = seed_values(models["rnn_day"], "test_r2")
    mean = statistics.fmean(network)
    words = f"With the day of the week as an input the RNN reaches test R² {spread(network)}."
    without = results.get("book_rnn_without_days")
    if without is not None:
        verdict = {
            "above": f"the day of the week helps the RNN: ours is above it {_every(network)}",
            "within": ("no clear gain: it lies within our range" if len(network) > 1
                       else "no clear gain from one seed (--seeds 3 gives a range)"),
            "below": f"the day of the week does not help the RNN: ours is below it {_every(network)}",
        }[position(network, without)]
        words += f" The lab's RNN without it: the book's {without:.4f} ({mean - without:+.4f}); {verdict}."
    if "linear_ar_day" in models:
        linear = models["linear_ar_day"]["test_r2"]
        side = {"above": "above", "below": "below", "within": "level with"}[position(network, linear)]
        words += f" The RNN is {side} the linear AR with the day of the week ({linear:.4f}, {mean - linear:+.4f})."
    return words


def _exercise_13(results: Results) -> str:
    """Test accuracy by units per layer, without and with dropout; the best; the seeds' own spread."""
    accuracy: dict[tuple[int, bool], list[float]] = {}
    for name, row in results["models"].items():
        units, dropout = name.removeprefix("dense_").removesuffix("_dropout"), name.endswith("_dropout")
        accuracy[(int(units), dropout)] = seed_values(row, "test_accuracy")
    mean = {key: statistics.fmean(values) for key, values in accuracy.items()}
    widths = sorted({units for units, _ in accuracy})

    def by_width(dropout: bool) -> str:
        return ", ".join(f"{units} units {mean[(units, dropout)]:.4f}" for units in widths if (units, dropout) in mean)

    paired = [units for units in widths if (units, False) in mean and (units, True) in mean]
    effects = [mean[(units, True)] - mean[(units, False)] for units in paired]
    best = max(mean, key=mean.get)
    words = f"Test accuracy (mean over seeds) without dropout: {by_width(False)}; with 30% dropout: {by_width(True)}."
    if effects:
        helped = sum(effect > 0 for effect in effects)
        words += (f" Dropout changes it by {statistics.fmean(effects):+.4f} on average (up at {helped} of "
                  f"{len(effects)} widths).")
    if len(widths) > 1:
        low, high = widths[0], widths[-1]
        changes = [f"{mean[(high, d)] - mean[(low, d)]:+.4f} {'with' if d else 'without'} dropout"
                   for d in (False, True) if (low, d) in mean and (high, d) in mean]
        words += f" From {low} to {high} units: {' and '.join(changes)}."
    words += f" Best: {best[0]} units {'with' if best[1] else 'without'} dropout ({mean[best]:.4f})."
    ranges = [max(values) - min(values) for values in accuracy.values() if len(values) > 1]
    if ranges:
        words += (f" The seeds alone move a network's accuracy by up to {max(ranges):.4f}: a difference smaller "
                  "than that is not a finding.")
    else:
        words += " One seed each: a difference of a few thousandths may be the seed's (--seeds 3 gives a range)."
    book = results["models"].get("dense_16", {}).get("book_test_accuracy")
    if book is not None and (16, False) in mean:
        words += f" The lab's own network (16 units, no dropout): ours {mean[(16, False)]:.4f}, the book's {book:.4f}."
    return words


ANSWERS: dict[str, Callable[[Results], str]] = {
    "exercise_06": _exercise_06,
    "exercise_07": _exercise_07,
    "exercise_08": _exercise_08,
    "exercise_09": _exercise_09,
    "exercise_10": _exercise_10,
    "exercise_11": _exercise_11,
    "exercise_12": _exercise_12,
    "exercise_13": _exercise_13,
}


def stand_in_note(exercise: str) -> str:
    """Why a run of ``exercise`` on stand-in data answers nothing, and what does."""
    used, real = STAND_INS.get(exercise, ("synthetic stand-in data", "on the real data"))
    return f"this run used {used}, so its figures mean nothing; run the exercise {real} for the answer."


def answer(exercise: str, results: Results) -> str:
    """The comparison ``exercise`` asks for, in words computed from its ``results.json`` payload; for a run on
    stand-in data, a line saying there is no answer. Raises ``KeyError`` when a figure it needs is missing."""
    if results.get("synthetic"):
        return f"No answer: {stand_in_note(exercise)}"
    return ANSWERS[exercise](results)
