"""What exercises 10 to 12 share besides what they teach: the report of a network beside the lab's linear AR.

Each exercise script is the NYSE lab (``scripts/lab_nyse.py``) with its change, trained as the lab trains it;
this writes its ``results.json`` with the answer in words, prints the table and saves the curves.
"""

from __future__ import annotations

import argparse

from pytorch_lightning.utilities import rank_zero_only

from lightning_modules.chapter.exercise_answers import answer
from lightning_modules.chapter.labs import BOOK_BASELINES
from lightning_modules.curves import show_figure
from lightning_modules.runner.results import results_table, save_model_curves, write_results


def report_against_linear_ar(args: argparse.Namespace, exercise: str, models: dict, network: str,
                             lab_figure: tuple[str, str, float] | None = None) -> None:
    """Write and print an exercise's ``models``: the lab's linear AR (its first entry, whose book figure is
    shown beside ours) and the ``network`` trained per seed. ``lab_figure``: a book figure of the lab to show
    beside ours, as (its key in results.json, what it is, its value)."""
    if rank_zero_only.rank != 0:
        return
    baseline = next(iter(models))
    book = {baseline: BOOK_BASELINES[f"nyse/{baseline}"]}
    extra = {lab_figure[0]: lab_figure[2]} if lab_figure else {}
    words = answer(exercise, {"models": models, **extra})
    results = write_results(args.log_dir, exercise, models, book=book, figure="test_r2", answer=words, **extra)
    print(results_table([(name, "test R²", figures["test_r2"], book.get(name)) for name, figures in models.items()]))
    if lab_figure:
        print(f"({lab_figure[1]}: the book's test R² {lab_figure[2]})")
    print(words)
    figure = save_model_curves(models[network], "r2", "R²", f"{args.log_dir}/{exercise}/{network}_curves.png")
    print(f"results: {results}\ncurves: {figure}")
    show_figure(figure)
