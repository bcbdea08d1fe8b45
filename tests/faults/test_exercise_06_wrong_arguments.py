"""Exercise 6 refuses what it cannot answer in one line (exit status 2), and draws every start in its own colour.

Wrong arguments: a rate or start that overflows, a descent that never moves or never settles.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers import load_script
from matplotlib.colors import to_rgb

from foundations.errors import BadArgumentError
from lightning_modules.chapter.gradient_descent import FLAT, gradient_descent

REFUSED = {
    "lr 0": (["--lr", "0"], "--lr must be above 0, got 0.0"),
    "lr negative": (["--lr", "-0.1"], "--lr must be above 0, got -0.1"),
    "lr nan": (["--lr", "nan"], "argument --lr: must be a finite number, got nan"),
    "lr inf": (["--lr", "inf"], "argument --lr: must be a finite number, got inf"),
    "lr not a number": (["--lr", "fast"], "argument --lr: 'fast' is not a number"),
    "lr 1e-9": (["--lr", "1e-9"], "at learning rate 1e-09 does not settle in 10,000 steps"),
    "lr 3": (["--lr", "3"], "at learning rate 3 does not settle in 10,000 steps"),
    "lr 1e308": (["--lr", "1e308"], "at learning rate 1e+308 overflows at step"),
    "start nan": (["--starts", "2.3", "nan"], "argument --starts: must be a finite number, got nan"),
    "start -inf": (["--starts=-inf"], "argument --starts: must be a finite number, got -inf"),
    "start 1e17": (["--starts", "1e17"], "from β⁰ = 1e+17 at learning rate 0.1 never moves"),
    "start 1e308": (["--starts", "1e308"], "from β⁰ = 1e+308 at learning rate 0.1 never moves"),
    "start twice": (["--starts", "2.3", "1.4", "2.3"], "--starts: 2.3 is given twice"),
    "21 starts": (["--starts", *map(str, range(21))], "--starts: at most 20 starts"),
}


@pytest.mark.parametrize("case", REFUSED)
def test_what_cannot_be_answered_is_refused_in_one_line(tmp_path, capsys, case):
    args, message = REFUSED[case]
    exercise = load_script("exercise_06_gradient_descent")
    with pytest.raises(SystemExit) as exited:
        exercise.run(exercise.main, [*args, "--log-dir", str(tmp_path)])
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and err.count("\n") == 1 and message in err, err
    assert "Traceback" not in err and not (tmp_path / "exercise_06").exists()


def test_the_library_refuses_as_the_script_does():
    for start, lr in ((2.3, float("inf")), (float("nan"), 0.1), (2.3, 0.0), (2.3, -1.0)):
        with pytest.raises(BadArgumentError):
            gradient_descent(start, lr=lr)
    with pytest.raises(BadArgumentError, match="never moves"):
        gradient_descent(1e20)


def test_an_answer_ends_where_the_slope_is_flat():
    for start, lr in ((2.3, 0.1), (1.4, 0.1), (1e6, 0.1), (0.0, 0.5), (-4.0, 0.01)):
        path = gradient_descent(start, lr=lr)
        assert np.isfinite(path).all() and abs(np.cos(path[-1]) + 0.1) < FLAT
    start = 2 * np.pi - np.arccos(-0.1)  # a minimum: the descent stops after one step
    assert len(gradient_descent(start)) == 2


def test_a_start_at_a_minimum_is_answered_and_printed(tmp_path, capsys):
    start = f"{2 * np.pi - np.arccos(-0.1):.12f}"
    exercise = load_script("exercise_06_gradient_descent")
    models = exercise.main(["--starts", start, "--log-dir", str(tmp_path)])
    assert list(models.values())[0]["steps"] == 1
    assert f"β⁰ = {float(start)}: 1 steps" in capsys.readouterr().out


@pytest.mark.parametrize("count", [6, 11, 20])
def test_every_start_is_drawn_in_its_own_colour(tmp_path, monkeypatch, count):
    exercise = load_script("exercise_06_gradient_descent")
    drawn = {}

    def keep(fig, output):
        drawn["axes"] = fig.axes[0]
        return output

    monkeypatch.setattr(exercise, "save_figure", keep)
    starts = [f"{-5 + 10 * index / count:.3f}" for index in range(count)]
    exercise.main(["--starts", *starts, "--log-dir", str(tmp_path)])
    lines = drawn["axes"].get_lines()[1:]  # R(β) first, then the iterates and the circled end of each start
    assert len(lines) == 2 * count
    colours = [to_rgb(line.get_color()) for line in lines[::2]]
    assert len(set(colours)) == count
    assert [to_rgb(line.get_color()) for line in lines[1::2]] == colours  # each end circled in its start's colour
    results = json.loads((tmp_path / "exercise_06" / "results.json").read_text())
    assert len(results["models"]) == count
