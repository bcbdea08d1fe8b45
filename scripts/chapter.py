"""Run the chapter's labs (and its exercises) one after another and write ``<log-dir>/report.md``.

    python scripts/chapter.py                 # every lab, the book's settings
    python scripts/chapter.py --exercises     # every lab, then the applied exercises (ISLP 10.10, 6 to 13)
    python scripts/chapter.py --labs exercises            # the exercises alone
    python scripts/chapter.py --quick         # a short tour: few epochs, small slices, synthetic data if needed
    python scripts/chapter.py --labs hitters,nyse,exercise_09 --accelerator cuda

A lab whose data is not on this machine (and can't be downloaded) is reported
as skipped, with the reason and how to provide the data; the others still run.
The exercises run as the labs do, from their settings in ``lightning_modules/chapter/labs.py``
(``EXERCISES``): exercise 13 needs the IMDB reviews (``--quick``: synthetic
ones, labelled); exercise 8 needs the pretrained ResNet50's weights and has no
stand-in (a random network's top five classes answer nothing), so without them
it is skipped, even with ``--quick``, with the file to put where.

Each lab's figures in the report are the ``results.json`` that lab wrote in
this run: a lab that fails, or is stopped, is reported as such and never with
an older run's figures. Ctrl-C (or SIGTERM, or SIGHUP) stops the running lab at a safe
point (``--resume`` continues it), writes the report of what finished (the
rest marked not run) and exits 130 (143, 129); if no lab had finished, the
previous report is kept. A second Ctrl-C kills the running lab at once.

Exit status: 0 when every selected lab finished, or was skipped because its
data is not on this machine (normal offline; the report says which); 1 when a
lab failed or was stopped on its own (killed, a timeout); 2 for a bad
argument (an empty or unknown ``--labs``: the existing report is kept);
130 or 143 when the chapter run itself was interrupted.
"""

from __future__ import annotations

import argparse
import collections
import json
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from foundations.errors import DATA_UNAVAILABLE_EXIT, USER_ERROR_EXIT, UserError
from lightning_modules.chapter.labs import EXERCISES as BOOK_EXERCISES
from lightning_modules.chapter.labs import LABS as BOOK_LABS
from lightning_modules.chapter.labs import Lab
from lightning_modules.machinery.signals import INTERRUPTED_EXIT
from lightning_modules.trainer import ACCELERATORS
from scripts import report
from scripts.command_line import LabArgumentParser, check_log_dir, seed_list
from scripts.report import LabReport

SCRIPTS = Path(__file__).resolve().parent


@dataclass
class ChapterLab:
    name: str  # folder under the log dir, and results.json's "lab"
    script: str  # in scripts/ (or an absolute path)
    title: str
    uses_data_dir: bool = False  # takes --data-dir
    quick: list[str] = field(default_factory=list)  # flags for --quick
    stand_in: list[str] = field(default_factory=lambda: ["--synthetic"])  # --quick's flags when the data is missing
    # (empty: no stand-in, so --quick reports it skipped as the full run does)
    trains: bool = True  # trains networks (and so takes --resume)
    seeds: int = 1  # seeds per network unless --seeds says
    quick_seeds: int = 1  # the same with --quick


def chapter_labs(sections: dict[str, Lab]) -> list[ChapterLab]:
    """The chapter run's view of the labs (or exercises) of ``lightning_modules/chapter/labs.py``, in its order: titles,
    scripts, --quick flags, stand-ins and seeds all from there."""
    return [
        ChapterLab(name, lab.script, lab.title, uses_data_dir=lab.downloads, quick=list(lab.quick),
                   stand_in=list(lab.stand_in), trains=bool(lab.networks), seeds=lab.seeds, quick_seeds=lab.quick_seeds)
        for name, lab in sections.items()
    ]


#: the chapter's labs in the book's order
LABS = chapter_labs(BOOK_LABS)
#: the chapter's applied exercises (ISLP 10.10, 6 to 13), run like the labs: ``--exercises``, or by name in ``--labs``
EXERCISES = chapter_labs(BOOK_EXERCISES)
#: what ``--labs`` takes besides single names: every lab, every exercise
GROUPS = {"labs": LABS, "exercises": EXERCISES}


@dataclass
class Outcome:
    lab: ChapterLab
    status: str  # done, synthetic, skipped, failed, interrupted, not run
    seconds: float
    message: str = ""
    results: dict[str, Any] | None = None  # the results.json this lab wrote in this run (done and synthetic only)
    curves: list[Path] = field(default_factory=list)  # the figures it wrote in this run


#: statuses of a lab that did not finish, or was not run
UNFINISHED = ("skipped", "failed", "interrupted", "not run")


class ChapterInterrupted(BaseException):
    """Ctrl-C, SIGTERM or SIGHUP reached the chapter run."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class _Signals:
    """The chapter run's handling of SIGINT, SIGTERM and SIGHUP: the first stops the running lab (it gets the same signal,
    finishes its batch and says how to --resume) and then the chapter; another one kills the lab at once."""

    def __init__(self) -> None:
        self.signum: int | None = None
        self.lab: subprocess.Popen | None = None
        self.stopping = False  # the labs are over: a signal is recorded, not raised

    def handler(self, signum: int, frame: Any) -> None:
        if self.signum is None:
            self.signum = signum
            if not self.stopping:
                raise ChapterInterrupted(signum)
        if self.lab is not None and self.lab.poll() is None:
            print(f"--- {signal.Signals(signum).name} again: killing the running lab", file=sys.stderr, flush=True)
            self.lab.kill()


SIGNALS = _Signals()


def _file_state(path: Path) -> tuple[int, int, int] | None:
    """What identifies one version of a file (inode, size, modification time), or None when there is none."""
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_ino, stat.st_size, stat.st_mtime_ns


def lab_command(lab: ChapterLab, args: argparse.Namespace, extra: list[str]) -> list[str]:
    """The command line that runs ``lab`` as the chapter run does."""
    command = [sys.executable, str(SCRIPTS / lab.script), "--log-dir", args.log_dir, "--accelerator", args.accelerator]
    if lab.uses_data_dir:
        command += ["--data-dir", args.data_dir]
    seeds = lab_seeds(lab, args)
    if seeds is not None:
        command += ["--seeds", seeds]
    return command + (lab.quick if args.quick else []) + extra


def lab_seeds(lab: ChapterLab, args: argparse.Namespace) -> str | None:
    """The lab's ``--seeds``: the chapter's own, else its default spread (from labs.py), else None (one run)."""
    if not lab.trains:
        return None
    if args.seeds is not None:
        return ",".join(map(str, args.seeds)) if isinstance(args.seeds, list) else str(args.seeds)
    count = lab.quick_seeds if args.quick else lab.seeds
    return str(count) if count > 1 else None


def continue_alone(lab: ChapterLab, args: argparse.Namespace) -> str:
    """How to finish an interrupted lab by itself."""
    script = lab.script if Path(lab.script).is_absolute() else f"{SCRIPTS.name}/{lab.script}"
    command = ["python", script, *lab_command(lab, args, [])[2:]]
    return "continue it alone: " + " ".join(command + (["--resume"] if lab.trains else []))


def run_lab(lab: ChapterLab, args: argparse.Namespace, extra: list[str]) -> tuple[int, str]:
    """Run one lab script, its output shown as it comes; the exit status and its last ``error:`` line.

    If the chapter run is interrupted meanwhile, the lab gets the same signal,
    and :class:`ChapterInterrupted` is raised once it has stopped.
    """
    command = lab_command(lab, args, extra)
    last_lines: collections.deque[str] = collections.deque(maxlen=50)

    def forward(process: subprocess.Popen) -> None:  # show stderr live and keep its tail
        for line in process.stderr:
            sys.stderr.write(line)
            last_lines.append(line.rstrip())

    process = SIGNALS.lab = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
    reader = threading.Thread(target=forward, args=(process,), daemon=True)
    interrupted: ChapterInterrupted | None = None
    try:
        reader.start()
        status = process.wait()
    except ChapterInterrupted as stop:
        interrupted = stop
        if reader.ident is None:
            reader.start()
        if process.poll() is None:
            process.send_signal(stop.signum)  # it stops at a safe point (a terminal's Ctrl-C may have reached it too)
        status = process.wait()
    finally:
        SIGNALS.lab = None
    reader.join()
    lines = list(last_lines)
    starts = [i for i, line in enumerate(lines) if line.startswith("error: ")]
    if starts:  # the message, which may go on over several lines
        message = "\n".join(lines[starts[-1] :])[len("error: ") :]
    else:
        message = next((line for line in reversed(lines) if line.startswith("interrupted")), lines[-1] if lines else "")
    if interrupted is not None:
        interrupted.message = message
        raise interrupted
    return status, message


def run_chapter(labs: list[ChapterLab], args: argparse.Namespace) -> list[Outcome]:
    """Run the labs in turn. Interrupted (``SIGNALS.signum`` says by what), it stops there: the
    running lab is reported interrupted, the rest not run."""
    outcomes: list[Outcome] = []
    SIGNALS.stopping = False
    chapter_start = time.perf_counter()
    for number, lab in enumerate(labs, 1):
        start = time.perf_counter()
        try:
            print(f"\n=== [{number}/{len(labs)}] {lab.title} (chapter elapsed {start - chapter_start:.0f} s)", flush=True)
            outcomes.append(_run_and_judge(lab, args, start))
        except ChapterInterrupted as stop:
            message = "\n".join(filter(None, [getattr(stop, "message", ""), continue_alone(lab, args)]))
            outcomes.append(Outcome(lab, "interrupted", time.perf_counter() - start, message))
            print(f"--- {lab.name}: interrupted after {outcomes[-1].seconds:.0f} s", flush=True)
            outcomes += [Outcome(later, "not run", 0.0, "the chapter run was interrupted first") for later in labs[number:]]
            break
        print(f"--- {lab.name}: {outcomes[-1].status} in {outcomes[-1].seconds:.0f} s", flush=True)
    SIGNALS.stopping = True  # from here a signal is only recorded: the report of what ran is written first
    return outcomes


def _run_and_judge(lab: ChapterLab, args: argparse.Namespace, start: float) -> Outcome:
    """Run one lab (on stand-in data too, with --quick, if its data is missing) and judge how it ended."""
    results_file = Path(args.log_dir) / lab.name / "results.json"
    before, started_at = _file_state(results_file), time.time()
    status, message = run_lab(lab, args, [])
    outcome = "done"
    if status == DATA_UNAVAILABLE_EXIT and args.quick and not lab.stand_in:
        message += "\n(--quick has no stand-in for it: it is skipped as in the full run)"
    elif status == DATA_UNAVAILABLE_EXIT and args.quick:
        print(f"--- {lab.name}: data not available; --quick runs it on stand-in data ({' '.join(lab.stand_in)})", flush=True)
        status, message = run_lab(lab, args, lab.stand_in)
        outcome = "synthetic"
    results = None
    if status == DATA_UNAVAILABLE_EXIT:
        outcome = "skipped"
    elif status < 0:
        outcome, message = "interrupted", f"killed by {_signal_name(-status)}\n{continue_alone(lab, args)}"
    elif status in INTERRUPTED_EXIT.values():
        outcome, message = "interrupted", f"{message}\n{continue_alone(lab, args)}"
    elif status != 0:
        outcome = "failed"
    elif _file_state(results_file) in (None, before):  # it says it finished, but wrote no results.json in this run
        outcome, message = "failed", f"exited 0 but wrote no {results_file}"
    else:
        try:
            results = json.loads(results_file.read_text())
        except (OSError, ValueError) as error:
            outcome, message = "failed", f"{results_file} can't be read: {error}"
    curves = [] if results is None else sorted(
        path for path in results_file.parent.glob("*.png") if path.stat().st_mtime >= started_at - 2  # of this run
    )
    return Outcome(lab, outcome, time.perf_counter() - start, message if outcome in UNFINISHED else "", results, curves)


def _signal_name(signum: int) -> str:
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


def write_report(outcomes: list[Outcome], log_dir: Path, quick: bool) -> Path:
    """``report.md`` from what each lab wrote in this run (:mod:`report`): a lab that did not
    finish is listed with its status and message, never with older figures."""
    return report.write_report(
        [LabReport(o.lab.name, o.status, o.seconds, o.message, o.results, o.curves) for o in outcomes], log_dir, quick
    )


def chapter_status(outcomes: list[Outcome], signum: int | None) -> int:
    """0 when every lab finished or was skipped for its data; 1 when one failed or was stopped; 128 + the
    signal when the chapter run itself was interrupted."""
    if signum is not None:
        return INTERRUPTED_EXIT.get(signum, 128 + int(signum))
    return USER_ERROR_EXIT if any(o.status in ("failed", "interrupted") for o in outcomes) else 0


def parse_args(argv: list[str] | None = None) -> tuple[argparse.Namespace, list[ChapterLab]]:
    """The options and the labs they select; a bad one ends with one line and status 2 (before anything runs)."""
    by_name = {lab.name: lab for lab in LABS + EXERCISES}
    parser = LabArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few epochs and small slices; synthetic data where the real is missing")
    parser.add_argument(
        "--labs", default="labs", metavar="NAMES",
        help="comma-separated labs and exercises to run, in that order: "
        f"{', '.join(lab.name for lab in LABS)}; {', '.join(lab.name for lab in EXERCISES)}; "
        "or 'labs' (every lab) and 'exercises' (every exercise) (default: labs)",
    )
    parser.add_argument(
        "--exercises", action="store_true",
        help="run the chapter's applied exercises (ISLP 10.10, 6 to 13) after the labs: the whole chapter "
        "(--labs exercises runs them alone)",
    )
    parser.add_argument("--log-dir", default="logs", help="where the labs log and the report is written (default: logs)")
    parser.add_argument("--data-dir", default="data", help="where downloaded data sets live (default: data)")
    parser.add_argument("--accelerator", default="auto", choices=ACCELERATORS, help="where the labs train (default: auto)")
    parser.add_argument(
        "--seeds", type=seed_list, default=None, metavar="K or S1,S2,...",
        help=f"train every lab's networks once per seed (a count, or a list); default: "
        f"{', '.join(f'{lab.seeds} for {lab.name}' for lab in LABS + EXERCISES if lab.seeds > 1)} "
        f"(with --quick: {', '.join(f'{lab.quick_seeds} for {lab.name}' for lab in LABS + EXERCISES if lab.quick_seeds > 1)}), "
        "one run for the others",
    )
    args = parser.parse_args(argv)
    named = [name.strip() for name in args.labs.split(",") if name.strip()]
    choices = f"choose from {', '.join(by_name)}, or {' or '.join(GROUPS)}"
    if not named:
        parser.error(f"--labs {args.labs!r} selects no lab; {choices}")
    unknown = [name for name in named if name not in by_name and name not in GROUPS]
    if unknown:
        parser.error(f"unknown lab(s): {', '.join(unknown)}; {choices}")
    wanted = [lab.name for name in named for lab in GROUPS.get(name, [by_name.get(name)])]
    if args.exercises:  # the exercises after what --labs selects (those it names already run where it puts them)
        wanted += [lab.name for lab in EXERCISES if lab.name not in wanted]
    duplicates = sorted({name for name in wanted if wanted.count(name) > 1})
    if duplicates:
        parser.error(f"--labs names {', '.join(duplicates)} more than once")
    try:
        check_log_dir(args.log_dir)
    except ValueError as error:
        parser.error(str(error))
    return args, [by_name[name] for name in wanted]


def main(argv: list[str] | None = None) -> int:
    args, labs = parse_args(argv)
    SIGNALS.__init__()
    handled = tuple(INTERRUPTED_EXIT)  # SIGINT, SIGTERM and SIGHUP (a closed terminal)
    previous = {signum: signal.getsignal(signum) for signum in handled}
    for signum in handled:
        signal.signal(signum, SIGNALS.handler)
    try:
        outcomes = run_chapter(labs, args)
        log_dir = Path(args.log_dir)
        if any(outcome.status not in ("interrupted", "not run") for outcome in outcomes):
            try:
                report_file = write_report(outcomes, log_dir, args.quick)
            except UserError as error:  # a full disk, a folder no longer writable: the labs' own results stand
                print(f"error: the report could not be written: {error}", file=sys.stderr)
                return max(USER_ERROR_EXIT, chapter_status(outcomes, SIGNALS.signum))
            print(f"\nreport: {report_file}")
            print(report_file.read_text())
        else:  # nothing finished: an earlier report is worth more than a list of labs that did not run
            kept = " (the previous report.md is kept)" if (log_dir / "report.md").is_file() else ""
            print(f"\nno lab finished; report not written{kept}")
            for outcome in outcomes:
                print(f"- {outcome.lab.name}: {outcome.status}" + (f": {outcome.message}" if outcome.message else ""))
            exercises = {lab.name for lab in EXERCISES}
            if not any(lab.name in exercises for lab in labs):  # a printed report ends with this hint itself
                print(f"\n{report.EXERCISES_NOT_RUN}")
        if SIGNALS.signum is not None:
            print(f"chapter run interrupted by {signal.Signals(SIGNALS.signum).name}", file=sys.stderr)
        return chapter_status(outcomes, SIGNALS.signum)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)


if __name__ == "__main__":
    sys.exit(main())
