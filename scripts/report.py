"""The chapter's report: every network's figure over seeds beside the book's, the baselines, pictures.

``write_report`` turns what each lab left in ``<log-dir>/<lab>/results.json``
into ``<log-dir>/report.md``: per network the mean, standard deviation, min
and max over its seeds and whether the book's value lies in that range, in a
sentence a reader understands; the baselines (deterministic: one run); each
lab's learning curves over seeds and one figure of the whole chapter, both
embedded as images; skipped, failed and interrupted labs with their reasons;
which figures come from synthetic data.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt

from datamodules.files import write_atomically
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
        return f"{name}: book {number(self.book)} {where} {spread} {detail}"


def number(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


def spreads(labs: Sequence[LabReport]) -> tuple[list[Spread], list[tuple[str, str, str, float, float | None, bool]]]:
    """The networks (trained, with seeds) and the baselines (one deterministic fit) of every finished lab."""
    networks, baselines = [], []
    for lab in labs:
        if lab.results is None:
            continue
        synthetic = bool(lab.results.get("synthetic")) or lab.status == "synthetic"
        for model, row in lab.results.get("models", {}).items():
            figure = _figure_of(row)
            if figure is None:
                continue
            book = row.get(f"book_{figure}")
            if "fit_seconds" not in row:  # fitted by scikit-learn, not trained
                baselines.append((lab.name, model, figure, row[figure], book, synthetic))
                continue
            seeds = row.get("seeds") or [row]
            networks.append(Spread(
                lab.name, model, figure, [float(seed[figure]) for seed in seeds], book,
                _mean([seed.get("fit_seconds") for seed in seeds]), row.get("accelerator", ""), synthetic,
            ))
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


def write_report(labs: Sequence[LabReport], log_dir: Path, quick: bool) -> Path:
    """Write ``<log_dir>/report.md`` (atomically) and the figures it shows."""
    log_dir = Path(log_dir)
    networks, baselines = spreads(labs)
    lines = ["# ISLP chapter 10 with Lightning: results", ""]
    if quick:
        lines += ["**Quick mode**: few epochs on slices of the data; figures are not comparable with the book's.", ""]
    if any(lab.status == "interrupted" for lab in labs):
        lines += [("**Interrupted**: labs marked interrupted stopped before finishing, those marked not run never "
                   "started; `--resume` continues a lab from its last completed epoch."), ""]
    lines += ["| lab | status | seconds |", "|---|---|---|"]
    lines += [f"| {lab.name} | {lab.status} | {lab.seconds:.0f} |" for lab in labs] + [""]
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
    unfinished = [lab for lab in labs if lab.status not in ("done", "synthetic")]
    if unfinished:
        lines += ["## Skipped, failed, interrupted or not run", ""]
        for lab in unfinished:
            message = (lab.message or "see the output above").replace("\n", "\n  ")  # continued in the list item
            lines.append(f"- **{lab.name}** ({lab.status}): {message}")
        lines.append("")
    return write_atomically(log_dir / "report.md", "\n".join(lines).encode())
