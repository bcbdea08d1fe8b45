"""The chapter's report: every network's figure over seeds beside the book's, the baselines, pictures.

``write_report`` turns what each lab left in ``<log-dir>/<lab>/results.json``
into ``<log-dir>/report.md``: per network the mean, standard deviation, min
and max over its seeds and whether the book's value lies in that range, in a
sentence a reader understands; the baselines (deterministic: one run); each
lab's learning curves over seeds and one figure of the whole chapter, both
embedded as images; skipped, failed and interrupted labs with their reasons;
which figures come from synthetic data. The chapter's exercises (ISLP 10.10,
``lightning_modules.chapter.labs.EXERCISES``) get a section each: their figures over
seeds in the same table, the comparison the exercise asks for in words
computed from those figures (:mod:`lightning_modules.chapter.exercise_answers`; a
stand-in run gets no answer), and their own figures.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from foundations.files import write_atomically
from lightning_modules.chapter.exercise_answers import answer, stand_in_note
from lightning_modules.chapter.labs import EXERCISES, NETWORKS
from lightning_modules.curves import save_figure

#: how a figure reads in words
FIGURE_NAMES = {"test_mae": "test MAE", "test_r2": "test R²", "test_accuracy": "test accuracy"}


@dataclass
class LabReport:
    """What the report needs of one lab of the run."""

    name: str
    status: str  # done, synthetic, skipped, failed, interrupted, not run
    seconds: float = 0.0
    message: str = ""
    results: dict[str, Any] | None = None  # its results.json, when this run wrote one
    figures: list[Path] = field(default_factory=list)  # the figures it wrote in this run (its curves...)


@dataclass
class Spread:
    """One network's test figure over its seeds."""

    lab: str
    model: str
    figure: str
    values: list[float]
    book: float | None
    fit_seconds: float | None
    accelerator: str
    synthetic: bool

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def sd(self) -> float | None:
        return statistics.stdev(self.values) if len(self.values) > 1 else None

    def sentence(self) -> str:
        """The book's value against ours, in words."""
        name = f"{self.lab}/{self.model}: {FIGURE_NAMES.get(self.figure, self.figure)}"
        if self.book is None:
            return f"{name} {number(self.mean)} (no book value)"
        if len(self.values) == 1:
            return (f"{name}: book {number(self.book)}, ours {number(self.values[0])} from one seed "
                    "(--seeds 5 gives a range)")
        low, high = min(self.values), max(self.values)
        where = "inside" if low <= self.book <= high else ("above" if self.book > high else "below")
        spread = f"our range {number(low)}–{number(high)} over {len(self.values)} seeds"
        detail = f"(mean {number(self.mean)}, sd {number(self.sd)})"
        sentence = f"{name}: book {number(self.book)} {where} {spread} {detail}"
        network = book_section_of(self.lab, self.model)
        if where != "inside" and not self.synthetic and network is not None:  # a measurement to run, not a reason
            sentence += (f"; the book's own code on ISLP's helpers and on ours, side by side: "
                         f"`python scripts/benchmark.py --book-sections --labs {network}`")
        return sentence


def book_section_of(lab: str, model: str) -> str | None:
    """The name ``benchmark.py --book-sections`` knows a lab's network by (``nyse``/``rnn`` -> ``nyse_rnn``)."""
    return next((key for key, settings in NETWORKS.items() if (settings.lab, settings.name) == (lab, model)), None)


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def model_spreads(lab: LabReport) -> list[tuple[Spread, bool]]:
    """Each model of a finished lab with a test figure, in its results' order: its figure over its seeds,
    and whether it is a baseline (fitted once by scikit-learn, not trained)."""
    if lab.results is None:
        return []
    synthetic = bool(lab.results.get("synthetic")) or lab.status == "synthetic"
    found = []
    for model, row in lab.results.get("models", {}).items():
        figure = _figure_of(row)
        if figure is None:
            continue
        seeds = row.get("seeds") or [row]
        baseline = "fit_seconds" not in row
        found.append((Spread(
            lab.name, model, figure, [float(seed[figure]) for seed in seeds], row.get(f"book_{figure}"),
            None if baseline else _mean([seed.get("fit_seconds") for seed in seeds]), row.get("accelerator", ""),
            synthetic,
        ), baseline))
    return found


def spreads(labs: Sequence[LabReport]) -> tuple[list[Spread], list[tuple[str, str, str, float, float | None, bool]]]:
    """The networks (trained, with seeds) and the baselines (one deterministic fit) of every finished lab."""
    networks, baselines = [], []
    for lab in labs:
        for spread, baseline in model_spreads(lab):
            if baseline:
                baselines.append((lab.name, spread.model, spread.figure, spread.values[0], spread.book, spread.synthetic))
            else:
                networks.append(spread)
    return networks, baselines


def _figure_of(row: dict[str, Any]) -> str | None:
    """The figure the book reports for a model: the one with a book value, else its first test figure."""
    books = [key[len("book_"):] for key in row if key.startswith("book_")]
    if books:
        return books[0]
    return next((key for key in row if key.startswith("test_") and key != "test_loss"), None)


def _mean(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.fmean(present) if present else None


def spread_figure(networks: Sequence[Spread], output: Path) -> Path:
    """One panel per network: each seed's figure, their mean and range, and the book's value."""
    columns = min(4, len(networks))
    rows = -(-len(networks) // columns)
    fig, axes = plt.subplots(rows, columns, figsize=(3.2 * columns, 3.4 * rows), squeeze=False)
    for ax, spread in zip(axes.flat, networks):
        ax.scatter([0] * len(spread.values), spread.values, color="black", alpha=0.6, label="seeds", zorder=3)
        ax.errorbar([0], [spread.mean], yerr=[[spread.mean - min(spread.values)], [max(spread.values) - spread.mean]],
                    fmt="o", color="black", capsize=8, markersize=9, label="mean, range")
        if spread.book is not None:
            ax.scatter([0.35], [spread.book], marker="*", s=220, color="red", label="book", zorder=4)
        ax.set_xlim(-0.6, 0.9)
        ax.set_xticks([])
        title = f"{spread.lab}/{spread.model}" + (" (SYNTHETIC)" if spread.synthetic else "")
        ax.set_title(f"{title}\n{len(spread.values)} seed{'s' * (len(spread.values) > 1)}", fontsize=10)
        ax.set_ylabel(FIGURE_NAMES.get(spread.figure, spread.figure))
    for ax in list(axes.flat)[len(networks):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=8, loc="best")
    fig.suptitle("Each network's test figure over seeds, beside the book's", fontsize=12)
    return save_figure(fig, output)


#: how to run the chapter's exercises: the closing note of a chapter run without them
EXERCISES_NOT_RUN = (
    "The chapter's exercises (ISLP 10.10, 6 to 13) were not part of this run. `./run_chapter.sh --exercises` runs "
    "the labs and then the exercises, `./run_chapter.sh --labs exercises` the exercises alone, "
    "`--labs exercise_09,exercise_12` some of them (add `--quick` for a short tour); each also runs as its own "
    "script, `python scripts/<exercise's script> --help` (README: \"The chapter's exercises\")."
)


def exercise_table(lab: LabReport) -> list[str]:
    """The exercise's figures as a Markdown table: per model its figure over seeds (mean, sd, range), a
    baseline's one fit; exercise 6's descents and exercise 8's top five classes per image in their own shape."""
    models = lab.results.get("models", {})
    synthetic = bool(lab.results.get("synthetic")) or lab.status == "synthetic"
    data = "SYNTHETIC (figures mean nothing)" if synthetic else "real"
    if lab.name == "exercise_06":
        lines = ["| start β⁰ | steps | final β | R(β) there | dR/dβ there |", "|---|---|---|---|---|"]
        for found in models.values():
            slope = math.cos(found["final_beta"]) + 0.1
            lines.append(f"| {found['start']:g} | {found['steps']} | {found['final_beta']:.4f} | {found['final_R']:.4f} "
                         f"| {slope:.1e} |")
        return lines
    if lab.name == "exercise_08":
        lines = ["| image | 1st | 2nd | 3rd | 4th | 5th | weights |", "|---|---|---|---|---|---|---|"]
        weights = "RANDOM (classes mean nothing)" if synthetic else lab.results.get("weights", "pretrained")
        for image, found in models.items():
            classes = " | ".join(f"{entry['label']} ({entry['probability']:.2f})" for entry in found["top_5"])
            lines.append(f"| {image} | {classes} | {weights} |")
        return lines
    lines = ["| model | figure | runs | mean | sd | min | max | book | data |", "|---|---|---|---|---|---|---|---|---|"]
    for s, baseline in model_spreads(lab):
        runs = "one fit" if baseline else f"{len(s.values)} seed{'s' * (len(s.values) > 1)}"
        lines.append(f"| {s.model} | {FIGURE_NAMES.get(s.figure, s.figure)} | {runs} | {number(s.mean)} | {number(s.sd)} "
                     f"| {number(min(s.values))} | {number(max(s.values))} | {number(s.book)} | {data} |")
    return lines


def exercise_words(lab: LabReport, quick: bool) -> str:
    """The comparison the exercise asks for, computed from its figures; a stand-in run's says there is none."""
    if bool(lab.results.get("synthetic")) or lab.status == "synthetic":
        return f"**No answer**: {stand_in_note(lab.name)}"
    try:
        words = answer(lab.name, lab.results)
    except (KeyError, TypeError, ValueError, statistics.StatisticsError) as error:
        return f"**No answer**: its results.json lacks a figure the comparison needs ({error!r})"
    if quick and EXERCISES[lab.name].networks:
        return f"**From a --quick run (few epochs, slices of the data), not the answer**: {words}"
    return f"**Answer** (computed from the figures above): {words}"


def exercise_sections(exercises: Sequence[LabReport], log_dir: Path, quick: bool) -> list[str]:
    """A section per exercise: its table, the comparison in words, its figures; or why it did not finish."""
    lines = ["## The chapter's exercises (ISLP 10.10)", "",
             "Each exercise changes one thing in a lab; the book prints no figures for them. The words under each "
             "table are computed from its figures.", ""]
    for lab in exercises:
        lines += [f"### {EXERCISES[lab.name].title}", "",
                  f"`{lab.name}` (`scripts/{EXERCISES[lab.name].script}`): {lab.status}, {lab.seconds:.0f} s", ""]
        if lab.results is None:
            message = (lab.message or "see the output above").replace("\n", "\n  ")
            lines += [f"**Not answered in this run** ({lab.status}): {message}", ""]
            continue
        lines += exercise_table(lab) + ["", exercise_words(lab, quick), ""]
        for path in lab.figures:
            lines += [f"![{lab.name} {path.stem}]({path.relative_to(log_dir)})", ""]
    return lines


def write_report(labs: Sequence[LabReport], log_dir: Path, quick: bool) -> Path:
    """Write ``<log_dir>/report.md`` (atomically) and the figures it shows."""
    log_dir = Path(log_dir)
    exercises = [lab for lab in labs if lab.name in EXERCISES]
    labs, everything = [lab for lab in labs if lab.name not in EXERCISES], labs
    networks, baselines = spreads(labs)
    lines = ["# ISLP chapter 10 with Lightning: results", ""]
    if quick:
        lines += ["**Quick mode**: few epochs on slices of the data; figures are not comparable with the book's.", ""]
    if any(lab.status == "interrupted" for lab in labs):
        lines += [("**Interrupted**: labs marked interrupted stopped before finishing, those marked not run never "
                   "started; `--resume` continues a lab from its last completed epoch."), ""]
    lines += ["| lab | status | seconds |", "|---|---|---|"]
    lines += [f"| {lab.name} | {lab.status} | {lab.seconds:.0f} |" for lab in everything] + [""]
    if networks:
        lines += [
            "## The networks, over seeds", "",
            "| lab | model | figure | seeds | mean | sd | min | max | book | book in our range | fit s (mean) | accelerator | data |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in networks:
            inside = "—" if s.book is None or len(s.values) == 1 else (
                "yes" if min(s.values) <= s.book <= max(s.values) else "no")
            data = "SYNTHETIC (figures mean nothing)" if s.synthetic else "real"
            lines.append(
                f"| {s.lab} | {s.model} | {FIGURE_NAMES.get(s.figure, s.figure)} | {len(s.values)} | {number(s.mean)} "
                f"| {number(s.sd)} | {number(min(s.values))} | {number(max(s.values))} | {number(s.book)} | {inside} "
                f"| {number(s.fit_seconds)} | {s.accelerator} | {data} |"
            )
        lines += [""] + [f"- {s.sentence()}" + (" — SYNTHETIC data" if s.synthetic else "") for s in networks] + [""]
        figure = spread_figure(networks, log_dir / "chapter_spread.png")
        lines += [f"![Each network's test figure over seeds beside the book's]({figure.relative_to(log_dir)})", ""]
    if baselines:
        lines += ["## The baselines (deterministic: one fit)", "",
                  "| lab | model | figure | ours | book | difference | data |", "|---|---|---|---|---|---|---|"]
        for lab, model, figure, ours, book, synthetic in baselines:
            difference = number(ours - book) if book is not None else "—"
            data = "SYNTHETIC" if synthetic else "real"
            lines.append(f"| {lab} | {model} | {FIGURE_NAMES.get(figure, figure)} | {number(ours)} | {number(book)} "
                         f"| {difference} | {data} |")
        lines.append("")
    labels = [(lab, image, top) for lab in labs if lab.results for image, top in lab.results.get("images", {}).items()]
    if labels:
        lines += ["## The pretrained network's labels", "", "| lab | image | top label |", "|---|---|---|"]
        lines += [f"| {lab.name} | {image} | {top[0]['label']} ({top[0]['probability']:.2f}) |" for lab, image, top in labels]
        lines.append("")
    pictured = [(lab, path) for lab in labs for path in lab.figures]
    if pictured:
        lines += ["## Learning curves", "",
                  "Each lab's figures from this run. A network trained with several seeds: thin lines each seed, "
                  "bold their mean; solid training, dashed validation.", ""]
        for lab, path in pictured:
            name = path.relative_to(log_dir)
            lines += [f"### {lab.name}: {path.stem.replace('_', ' ')}", "", f"![{lab.name} {path.stem}]({name})", ""]
    unfinished = [lab for lab in everything if lab.status not in ("done", "synthetic")]
    if unfinished:
        lines += ["## Skipped, failed, interrupted or not run", ""]
        for lab in unfinished:
            message = (lab.message or "see the output above").replace("\n", "\n  ")  # continued in the list item
            if lab in exercises:
                message = "see its section under the chapter's exercises"
            lines.append(f"- **{lab.name}** ({lab.status}): {message}")
        lines.append("")
    lines += exercise_sections(exercises, log_dir, quick) if exercises else [EXERCISES_NOT_RUN, ""]
    return write_atomically(log_dir / "report.md", "\n".join(lines).encode())
