"""Exercise 10.10.6: gradient descent on R(β) = sin β + β/10, from β⁰ = 2.3 and from β⁰ = 1.4, learning rate 0.1.

(a) R on [−6, 6]; (b) its derivative, dR/dβ = cos β + 1/10; (c), (d) gradient
descent from each start, every iterate marked on the plot, and where it ends.
The derivative is torch's autograd and each step ``torch.optim.SGD``'s
(``lightning_modules/chapter/gradient_descent.py``), as when a network is trained.

A script and a notebook (percent format: open it with Jupyter and jupytext, or in VS Code):
    python scripts/exercise_06_gradient_descent.py [--lr 0.1] [--starts 2.3 1.4] [--log-dir logs]
"""

# %% [markdown]
# # Exercise 10.10.6: gradient descent on one parameter
#
# R(β) = sin β + β/10 has many local minima. Gradient descent takes steps of the learning rate times
# the slope, downhill, until the slope is flat; from β⁰ = 2.3 and from β⁰ = 1.4 it settles in
# different valleys. The slope comes from torch's autograd and each step from `torch.optim.SGD`, as
# when a network is trained.

# %%
import argparse
import math
from pathlib import Path

import numpy as np

from lightning_modules.chapter.exercise_answers import answer
from lightning_modules.chapter.gradient_descent import gradient_descent, objective
from lightning_modules.curves import save_figure, show_figure
from lightning_modules.runner.results import figure_errors, write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run

# %% tags=["parameters"]
lr = 0.1  # the exercise's learning rate ρ
starts = [2.3, 1.4]  # the exercise's starting values β⁰
seed = 0  # not used: the descent draws nothing at random
log_dir = "logs"

# %%
LAB = "exercise_06"
#: the most starts one figure tells apart (one colour and one legend line each)
MAX_STARTS = 20


def finite_number(text: str) -> float:
    """An argparse ``type``: a finite number (``inf`` and ``nan`` cannot start or scale a descent)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


def start_colours(count: int) -> list[tuple[float, float, float]]:
    """``count`` distinct colours: matplotlib's ten-colour cycle, else hues evenly round the colour wheel."""
    from matplotlib.colors import hsv_to_rgb, to_rgb

    if count <= 10:
        return [to_rgb(f"tab:{name}") for name in
                ("red", "blue", "green", "purple", "orange", "brown", "pink", "gray", "olive", "cyan")][:count]
    return [tuple(hsv_to_rgb((index / count, 0.85, 0.8))) for index in range(count)]


def plot_paths(paths: dict[float, np.ndarray], output: Path) -> Path:
    """R(β) on [−6, 6] with each descent path, every iterate marked, its last one circled."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    grid = np.linspace(-6, 6, 500)
    ax.plot(grid, objective(grid), color="black", label=r"$R(\beta) = \sin\beta + \beta/10$")
    for (start, path), color in zip(paths.items(), start_colours(len(paths))):
        ax.plot(path, objective(path), ".", color=color, markersize=7,
                label=rf"from $\beta^0 = {start}$: {len(path) - 1} steps, ends at $\beta = {path[-1]:.4f}$")
        ax.plot(path[-1], objective(path[-1]), "o", color=color, markersize=14, fillstyle="none")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$R(\beta)$")
    ax.legend(loc="upper left")
    return save_figure(fig, output)


# %%
def main(argv=None) -> dict:
    parser = LabArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=finite_number, default=lr, help=f"the learning rate ρ, above 0 (default: {lr})")
    parser.add_argument("--starts", type=finite_number, nargs="+", default=list(starts),
                        help=f"starting values β⁰, each once, at most {MAX_STARTS} (default: {' '.join(map(str, starts))})")
    parser.add_argument("--log-dir", default=log_dir, help="results.json and the figure go to <log-dir>/exercise_06/")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="not used: nothing is trained")
    args = parser.parse_args(argv)
    if not args.lr > 0:
        parser.error(f"--lr must be above 0, got {args.lr}")
    if len(args.starts) > MAX_STARTS:
        parser.error(f"--starts: at most {MAX_STARTS} starts (one colour each in the figure), got {len(args.starts)}")
    repeated = next((start for index, start in enumerate(args.starts) if start in args.starts[:index]), None)
    if repeated is not None:
        parser.error(f"--starts: {repeated:g} is given twice; give each start once")
    check_log_dir(args.log_dir)

    # a descent that gives no answer (β overflows, never moves, never settles) ends here in one line, exit status 2
    paths = {start: gradient_descent(start, lr=args.lr) for start in args.starts}
    models = {
        f"start_{start}": {"start": start, "steps": len(path) - 1, "final_beta": float(path[-1]),
                           "final_R": float(objective(path[-1])), "iterates": path.tolist()}
        for start, path in paths.items()
    }
    words = answer(LAB, {"models": models, "lr": args.lr})
    results = write_results(args.log_dir, LAB, models, lr=args.lr, derivative="dR/dβ = cos β + 1/10", answer=words)
    print("dR/dβ = cos β + 1/10")
    for name, path in zip(models, paths.values()):
        found = models[name]
        first = ", ".join(f"β{'¹²'[step - 1]} = {path[step]:.4f}" for step in range(1, min(len(path), 3)))
        print(f"β⁰ = {found['start']}: {found['steps']} steps of lr {args.lr}: β = {found['final_beta']:.4f}, "
              f"R(β) = {found['final_R']:.4f}  ({first}, ...)")
    print(words)
    figure = Path(args.log_dir) / LAB / "gradient_descent.png"
    with figure_errors(figure):
        plot_paths(paths, figure)
    print(f"results: {results}\nfigure: {figure}")
    show_figure(figure)
    return models


# %%
if __name__ == "__main__":  # as a script, and in a notebook; not when a test imports it
    models = run(main)
