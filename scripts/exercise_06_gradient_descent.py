"""Exercise 10.10.6: gradient descent on R(β) = sin β + β/10, from β⁰ = 2.3 and from β⁰ = 1.4, learning rate 0.1.

(a) R on [−6, 6]; (b) its derivative, dR/dβ = cos β + 1/10; (c), (d) gradient
descent from each start, every iterate marked on the plot, and where it ends.
The derivative is torch's autograd and each step ``torch.optim.SGD``'s
(``lightning_modules/gradient_descent.py``), as when a network is trained.

Run: python scripts/exercise_06_gradient_descent.py [--lr 0.1] [--starts 2.3 1.4] [--log-dir logs]
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lightning_modules.curves import save_figure
from lightning_modules.exercise_answers import answer
from lightning_modules.gradient_descent import gradient_descent, objective
from lightning_modules.results import figure_errors, write_results
from lightning_modules.trainer import ACCELERATORS
from scripts.command_line import LabArgumentParser, check_log_dir, run

LAB = "exercise_06"


def plot_paths(paths: dict[float, np.ndarray], output: Path) -> Path:
    """R(β) on [−6, 6] with each descent path, every iterate marked, its last one circled."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 6))
    grid = np.linspace(-6, 6, 500)
    ax.plot(grid, objective(grid), color="black", label=r"$R(\beta) = \sin\beta + \beta/10$")
    for (start, path), color in zip(paths.items(), ("tab:red", "tab:blue", "tab:green", "tab:purple")):
        ax.plot(path, objective(path), ".", color=color, markersize=7,
                label=rf"from $\beta^0 = {start}$: {len(path) - 1} steps, ends at $\beta = {path[-1]:.4f}$")
        ax.plot(path[-1], objective(path[-1]), "o", color=color, markersize=14, fillstyle="none")
    ax.set_xlabel(r"$\beta$")
    ax.set_ylabel(r"$R(\beta)$")
    ax.legend(loc="upper left")
    return save_figure(fig, output)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = LabArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr", type=float, default=0.1, help="the learning rate ρ (exercise: 0.1)")
    parser.add_argument("--starts", type=float, nargs="+", default=[2.3, 1.4], help="starting values β⁰ (exercise: 2.3 1.4)")
    parser.add_argument("--log-dir", default="logs", help="results.json and the figure go to <log-dir>/exercise_06/")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="not used: nothing is trained")
    args = parser.parse_args(argv)
    if not args.lr > 0:
        parser.error(f"--lr must be above 0, got {args.lr}")
    check_log_dir(args.log_dir)

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
        print(f"β⁰ = {found['start']}: {found['steps']} steps of lr {args.lr}: β = {found['final_beta']:.4f}, "
              f"R(β) = {found['final_R']:.4f}  (β¹ = {path[1]:.4f}, β² = {path[2]:.4f}, ...)")
    print(words)
    figure = Path(args.log_dir) / LAB / "gradient_descent.png"
    with figure_errors(figure):
        plot_paths(paths, figure)
    print(f"results: {results}\nfigure: {figure}")
    return models


if __name__ == "__main__":
    run(main)
