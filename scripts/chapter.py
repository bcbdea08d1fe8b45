"""Run the chapter's labs one after another and write ``<log-dir>/report.md``.

    python scripts/chapter.py                 # every lab, the book's settings
    python scripts/chapter.py --quick         # a short tour: few epochs, small slices, synthetic data if needed
    python scripts/chapter.py --labs hitters,nyse --accelerator cuda

A lab whose data is not on this machine (and can't be downloaded) is reported
as skipped, with the reason and how to provide the data; the others still run.
"""

from __future__ import annotations

import argparse
import collections
import json
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from lightning_modules.errors import DATA_UNAVAILABLE_EXIT
from lightning_modules.labs import LABS as BOOK_LABS

SCRIPTS = Path(__file__).resolve().parent


@dataclass
class ChapterLab:
    name: str  # folder under the log dir, and results.json's "lab"
    script: str  # in scripts/ (or an absolute path)
    title: str
    uses_data_dir: bool = False  # takes --data-dir
    quick: list[str] = field(default_factory=list)  # flags for --quick
    stand_in: list[str] = field(default_factory=lambda: ["--synthetic"])  # --quick's flags when the data is missing


#: what --quick runs of each lab: few epochs, slices of the data
QUICK: dict[str, list[str]] = {
    "hitters": ["--max-epochs", "5"],
    "mnist": ["--max-epochs", "2", "--limit", "6000"],
    "cifar100": ["--max-epochs", "1", "--limit", "2000"],
    "imdb": ["--max-epochs", "2", "--limit", "3000", "--lasso-lambdas", "10"],
    "imdb_lstm": ["--max-epochs", "1", "--limit", "1000"],
    "nyse": ["--max-epochs", "5", "--ar-epochs", "3"],
}
#: --quick's stand-in where a lab's data is missing (default: --synthetic)
STAND_IN: dict[str, list[str]] = {"pretrained": ["--weights", "none"]}

#: the chapter's labs in the book's order (titles and scripts from lightning_modules/labs.py)
LABS = [
    ChapterLab(name, lab.script, lab.title, uses_data_dir=lab.downloads, quick=QUICK.get(name, []),
               stand_in=STAND_IN.get(name, ["--synthetic"]))
    for name, lab in BOOK_LABS.items()
]


@dataclass
class Outcome:
    lab: ChapterLab
    status: str  # done, synthetic, skipped, failed
    seconds: float
    message: str = ""


def run_lab(lab: ChapterLab, args: argparse.Namespace, extra: list[str]) -> tuple[int, str]:
    """Run one lab script, its output shown as it comes; the exit status and its last ``error:`` line."""
    command = [sys.executable, str(SCRIPTS / lab.script), "--log-dir", args.log_dir, "--accelerator", args.accelerator]
    if lab.uses_data_dir:
        command += ["--data-dir", args.data_dir]
    command += (lab.quick if args.quick else []) + extra
    process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    last_lines: collections.deque[str] = collections.deque(maxlen=50)

    def forward() -> None:  # show stderr live and keep its tail
        for line in process.stderr:
            sys.stderr.write(line)
            last_lines.append(line.rstrip())

    reader = threading.Thread(target=forward, daemon=True)
    reader.start()
    status = process.wait()
    reader.join()
    lines = list(last_lines)
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if starts:  # the message, which may go on over several lines
        return status, "\n".join(lines[starts[-1] :])[len("error: ") :]
    return status, lines[-1] if lines else ""


def run_chapter(labs: list[ChapterLab], args: argparse.Namespace) -> list[Outcome]:
    outcomes = []
    chapter_start = time.perf_counter()
    for number, lab in enumerate(labs, 1):
        print(f"\n=== [{number}/{len(labs)}] {lab.title} (chapter elapsed {time.perf_counter() - chapter_start:.0f} s)", flush=True)
        start = time.perf_counter()
        status, message = run_lab(lab, args, [])
        outcome = "done"
        if status == DATA_UNAVAILABLE_EXIT and args.quick:
            print(f"--- {lab.name}: data not available; --quick runs it on stand-in data ({' '.join(lab.stand_in)})", flush=True)
            status, _ = run_lab(lab, args, lab.stand_in)
            outcome = "synthetic"
        if status == DATA_UNAVAILABLE_EXIT:
            outcome = "skipped"
        elif status != 0:
            outcome = "failed"
        outcomes.append(Outcome(lab, outcome, time.perf_counter() - start, message if outcome in ("skipped", "failed") else ""))
        print(f"--- {lab.name}: {outcome} in {outcomes[-1].seconds:.0f} s", flush=True)
    return outcomes


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_report(outcomes: list[Outcome], log_dir: Path, quick: bool) -> Path:
    """``report.md``: every model's test figure beside the book's, fit times, accelerators, curves."""
    lines = ["# ISLP chapter 10 with Lightning: results", ""]
    if quick:
        lines += ["**Quick mode**: few epochs on slices of the data; figures are not comparable with the book's.", ""]
    lines += [
        "| lab | model | figure | ours | book | difference | fit s | accelerator | data |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    curves, skipped = [], []
    for outcome in outcomes:
        results_file = log_dir / outcome.lab.name / "results.json"
        if outcome.status in ("skipped", "failed") or not results_file.is_file():
            skipped.append(outcome)
            lines.append(f"| {outcome.lab.name} | — | {outcome.status} | | | | | | |")
            continue
        results = json.loads(results_file.read_text())
        synthetic = results.get("synthetic") or outcome.status == "synthetic"
        data = "SYNTHETIC (figures mean nothing)" if synthetic else "real"
        for image, top in results.get("images", {}).items():
            lines.append(f"| {outcome.lab.name} | {image} | top label | {top[0]['label']} ({top[0]['probability']:.2f}) | | | | | {data} |")
        for model, figures in results.get("models", {}).items():
            book_keys = [k for k in figures if k.startswith("book_")]
            figure = book_keys[0][len("book_") :] if book_keys else next((k for k in figures if k.startswith("test_") and k != "test_loss"), None)
            if figure is None:
                continue
            ours, book = figures.get(figure), figures.get(f"book_{figure}")
            difference = ours - book if isinstance(ours, (int, float)) and isinstance(book, (int, float)) else None
            lines.append(
                f"| {outcome.lab.name} | {model} | {figure} | {_cell(ours)} | {_cell(book)} | {_cell(difference)} "
                f"| {_cell(figures.get('fit_seconds'))} | {figures.get('accelerator', '—' if 'fit_seconds' not in figures else '')} | {data} |"
            )
        curves += sorted((log_dir / outcome.lab.name).glob("*.png"))
    if skipped:
        lines += ["", "## Skipped or failed", ""]
        for outcome in skipped:
            message = (outcome.message or "see the output above").replace("\n", "\n  ")  # continued in the list item
            lines.append(f"- **{outcome.lab.name}** ({outcome.status}): {message}")
    if curves:
        lines += ["", "## Learning curves", ""]
        lines += [f"- [{path.relative_to(log_dir)}]({path.relative_to(log_dir)})" for path in curves]
    lines += ["", "Lab run times: " + ", ".join(f"{o.lab.name} {o.seconds:.0f} s" for o in outcomes), ""]
    report = log_dir / "report.md"
    report.parent.mkdir(parents=True, exist_ok=True)
    temporary = report.with_suffix(".md.tmp")
    temporary.write_text("\n".join(lines))
    temporary.replace(report)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs and small slices; synthetic data where the real is missing")
    parser.add_argument("--labs", default=",".join(lab.name for lab in LABS), help="comma-separated labs to run")
    parser.add_argument("--log-dir", default="logs", help="where the labs log and the report is written (default: logs)")
    parser.add_argument("--data-dir", default="data", help="where downloaded data sets live (default: data)")
    parser.add_argument("--accelerator", default="auto", help="auto, cpu, cuda or mps")
    args = parser.parse_args(argv)
    by_name = {lab.name: lab for lab in LABS}
    wanted = [name.strip() for name in args.labs.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in by_name]
    if unknown:
        parser.error(f"unknown lab(s): {', '.join(unknown)}; choose from {', '.join(by_name)}")
    outcomes = run_chapter([by_name[name] for name in wanted], args)
    report = write_report(outcomes, Path(args.log_dir), args.quick)
    print(f"\nreport: {report}")
    print(report.read_text())
    return 1 if any(outcome.status == "failed" for outcome in outcomes) else 0


if __name__ == "__main__":
    sys.exit(main())
