"""Time the labs four ways, side by side in one run: ours, the book's code on ours, ISLP 0.6's helpers, a hand-written loop.

    python scripts/benchmark.py                    # every lab
    python scripts/benchmark.py --labs nyse_rnn    # one lab
    python scripts/benchmark.py --quick            # a few epochs each, a couple of minutes
    python scripts/benchmark.py --book-sections    # the book's figures: its code on ISLP's helpers and on ours
    python scripts/benchmark.py --profile --labs nyse_rnn   # where an epoch of ours goes, beside the loop's

Each (lab, implementation) runs in a fresh Python process, so start-up, peak
memory (max RSS) and thread settings don't leak between them. "book" and
"islp" run the very same code (the book's calls), one on ``lightning_modules``,
the other on ``ISLP.torch``: their ratio is what a reader gains by changing
the import line. All four use the same data, batch size, optimizer and epochs
(the book's settings, from ``lightning_modules/chapter/labs.py``); the figures are wall-clock
seconds of training (validation each epoch included). Threads: ours and the
loop use the lab scripts' setting (one thread for the small networks); the
book's code (on ISLP or on ours) runs as the book runs it, with torch's default
(one per core) unless ``--islp-threads`` says otherwise. The table prints the thread counts used.

``--book-sections`` runs the book's code of the Hitters, NYSE and MNIST sections (or ``--labs``) on
ISLP's helpers and on ours for the book's epochs, and prints a Markdown table of their test figures and
fit times beside the book's figures; each run's curve (``summary_plot``) is drawn into its log folder.
Its exit status is 1 when a run failed. The book's code itself is
:func:`lightning_modules.chapter.book_code.run_book_code`, the same for both uses.

``--profile`` trains ours under a Lightning profiler and prints, per epoch, the
time of each of Lightning's actions (a training step, the backward pass, the
optimizer step, fetching a batch, the validation loop, each callback's hook)
beside the whole epoch of the plain loop: where ours spends the time the loop
does not.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch
from pytorch_lightning.profilers import Profiler

from lightning_modules.chapter.book_code import HELPERS, as_input, helpers, is_synthetic, lab_datamodule, run_book_code
from lightning_modules.chapter.labs import LABS, NETWORKS, BookNetwork

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Options:
    """What every implementation of a lab is given (the same for all four)."""

    epochs: int
    log_dir: str
    data_dir: str
    limit: int | None  # keep only the first rows of the training and test sets
    accelerator: str = "cpu"  # cpu or cuda, for all four
    curves: bool = False  # the book's code also draws its run's curve (summary_plot) into the log folder
    profile: bool = False  # ours records the time of each of Lightning's actions (--profile)


class ActionTimes(Profiler):
    """A Lightning profiler that keeps, per action, its total seconds and number of calls (for ``--profile``).

    Lightning names an action per hook and loop stage (``run_training_epoch``, ``run_training_batch``,
    ``[Strategy]SingleDeviceStrategy.backward``, ``[Callback]...on_train_epoch_end``...); they nest, so
    the totals overlap (an epoch contains its batches)."""

    def __init__(self) -> None:
        super().__init__()
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = {}
        self.calls: dict[str, int] = {}

    def start(self, action_name: str) -> None:
        self.started[action_name] = time.perf_counter()

    def stop(self, action_name: str) -> None:
        elapsed = time.perf_counter() - self.started.pop(action_name)
        self.seconds[action_name] = self.seconds.get(action_name, 0.0) + elapsed
        self.calls[action_name] = self.calls.get(action_name, 0) + 1

    def summary(self) -> str:
        return ""  # nothing printed at the end of fit: --profile prints its own table (format_profile)


#: the labs timed, by their key in lightning_modules.chapter.labs.NETWORKS (which holds their book settings and timings)
TIMED = [key for key, settings in NETWORKS.items() if settings.timing is not None]
#: the networks of the sections --book-sections runs by default
BOOK_SECTIONS = [key for lab in ("hitters", "nyse", "mnist") for key in LABS[lab].networks]


def build_datamodule(settings: BookNetwork, options: Options) -> object:
    """The lab's data module: real data where its files are (nothing is downloaded), else synthetic, which the table says."""
    return lab_datamodule(settings, options.data_dir, options.limit)


# -- the four implementations (each runs in its own process) ----------------------------
#: what ActionTimes recorded in this (child) process, by implementation: run_job hands it on with the figures
PROFILES: dict[str, dict] = {}


def run_ours(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """Our data module, module and trainer, as the lab scripts use them."""
    from lightning_modules.runner.runs import run_record
    from lightning_modules.trainer import make_trainer

    datamodule = build_datamodule(settings, options)
    datamodule.setup("fit")  # load before the clock starts, as the others do (setup is idempotent)
    module = settings.build_module()
    profiler = ActionTimes() if options.profile else None
    trainer = make_trainer(
        "benchmark", "ours", max_epochs=options.epochs, accelerator=options.accelerator, log_dir=options.log_dir,
        enable_progress_bar=False, profiler=profiler,
    )
    trainer.fit(module, datamodule=datamodule)
    if profiler is not None:
        PROFILES["ours"] = {"seconds": dict(profiler.seconds), "calls": dict(profiler.calls)}
    (test,) = trainer.test(module, datamodule=datamodule, verbose=False)
    record = run_record(trainer, test)
    return record["fit_seconds"], record[settings.figure], is_synthetic(datamodule)


def run_book_on(helper: str):
    """The book's lab code as printed (lightning_modules.chapter.book_code), on ``ISLP.torch`` (``islp``) or ours (``ours``)."""

    def run(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
        result = run_book_code(helpers(helper), settings, options.epochs, options.log_dir, options.data_dir,
                               options.limit, options.accelerator, curve=options.curves)
        return result.fit_seconds, result.figure, result.synthetic

    return run


def run_loop(settings: BookNetwork, options: Options) -> tuple[float, float, bool]:
    """A plain PyTorch loop: shuffled slices of in-memory tensors, one validation pass per epoch."""
    from lightning_modules.module import TASK_LOSSES, build_metric

    datamodule = build_datamodule(settings, options)
    datamodule.setup("fit")
    (X, y), (X_valid, y_valid), (X_test, y_test) = datamodule.train_data, datamodule.val_data, datamodule.test_data
    device = torch.device("cuda" if options.accelerator == "cuda" else "cpu")
    network = settings.build_network().to(device)
    optimizer = torch.optim.RMSprop(network.parameters(), lr=settings.lr)
    loss_fn = TASK_LOSSES[settings.task]()
    classification = settings.task == "classification"

    def evaluate(X_eval: object, y_eval: torch.Tensor) -> float:
        network.eval()
        with torch.no_grad():
            output = torch.cat([network(as_input(X_eval[i : i + 1024]).to(device)) for i in range(0, len(y_eval), 1024)]).cpu()
        network.train()
        metric = build_metric(settings.metric, settings.task, settings.num_classes)
        if settings.task == "binary":
            return float(metric(torch.sigmoid(output.reshape(y_eval.shape)), y_eval.int()))
        return float(metric(output if classification else output.reshape(y_eval.shape), y_eval))

    start = time.perf_counter()
    for _ in range(options.epochs):
        order = torch.randperm(len(y))
        for i in range(0, len(y), datamodule.batch_size):
            rows = order[i : i + datamodule.batch_size]
            optimizer.zero_grad()
            output = network(as_input(X[rows]).to(device))
            target = (y[rows] if classification else y[rows].float()).to(device)
            loss = loss_fn(output if classification else output.reshape(target.shape), target)
            loss.backward()
            optimizer.step()
        evaluate(X_valid, y_valid)
    fit_seconds = time.perf_counter() - start
    return fit_seconds, evaluate(X_test, y_test), is_synthetic(datamodule)


IMPLEMENTATIONS = {"ours": run_ours, "book": run_book_on("ours"), "islp": run_book_on("islp"), "loop": run_loop}
#: whose thread count is the lab script's (the rest run with the book's: torch's default)
LAB_THREADS = ("ours", "loop")


def child(job: dict) -> None:
    """Run one implementation of one lab and print its figures as JSON (the last line)."""
    import logging
    import warnings

    warnings.simplefilter("ignore")
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    print(json.dumps(run_job(job["lab"], job["implementation"], Options(**job["options"]), job["threads"])))


def run_job(lab: str, implementation: str, options: Options, threads: int) -> dict:
    """One implementation of one lab, in this process: its figures (and, with ``--profile``, ours' action times)."""
    if threads > 0:
        torch.set_num_threads(threads)
    torch.manual_seed(0)
    fit_seconds, figure, synthetic = IMPLEMENTATIONS[implementation](NETWORKS[lab], options)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    figures = {"fit_seconds": fit_seconds, "figure": figure, "peak_mb": peak_mb, "threads": torch.get_num_threads(),
               "synthetic": synthetic}
    if implementation in PROFILES:
        figures["profile"] = PROFILES.pop(implementation)
    return figures


def measure(lab: str, implementation: str, options: Options, threads: int) -> dict:
    """One implementation of one lab in a fresh process: its figures, or the last line of its error."""
    job = json.dumps({"lab": lab, "implementation": implementation, "options": vars(options), "threads": threads})
    result = subprocess.run([sys.executable, __file__, "--child", job], capture_output=True, text=True, cwd=ROOT)
    if result.returncode != 0:
        return {"error": result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "failed"}
    return json.loads(result.stdout.strip().splitlines()[-1])


def time_lab(lab: str, implementations: list[str], args: argparse.Namespace) -> dict:
    """Every implementation of one lab, side by side; their figures by name, with the epochs."""
    settings, timing = NETWORKS[lab], NETWORKS[lab].timing
    epochs = args.epochs or (timing.quick_epochs if args.quick else settings.epochs if args.book_sections else timing.epochs)
    options = Options(epochs, args.log_dir, args.data_dir, timing.quick_limit if args.quick else None, args.accelerator,
                      curves=args.book_sections, profile=args.profile)
    book_threads = args.islp_threads
    rows = {
        name: measure(lab, name, options, (settings.threads or 0) if name in LAB_THREADS else book_threads)
        for name in implementations
    }
    return {"epochs": epochs, "limit": options.limit, **rows}


def format_row(lab: str, figures: dict, implementations: list[str]) -> str:
    """One line of the table: seconds per epoch, the ratios, our memory, the test figures."""
    epochs = figures["epochs"]
    rows = {name: figures[name] for name in implementations}
    per_epoch = {name: row["fit_seconds"] / epochs for name, row in rows.items() if "fit_seconds" in row}

    def ratio(a: str, b: str) -> str:
        return f"{per_epoch[a] / per_epoch[b]:>10.2f}x" if a in per_epoch and b in per_epoch else f"{'-':>11}"

    cells = "".join(f"{per_epoch[name]:>13.4f}" if name in per_epoch else f"{'failed':>13}" for name in implementations)
    memory = f"{rows['ours']['peak_mb']:>9.0f}" if "peak_mb" in rows.get("ours", {}) else f"{'-':>9}"
    values = " / ".join(f"{row['figure']:.4g}" if "figure" in row else "-" for row in rows.values())
    threads = "/".join(str(row.get("threads", "-")) for row in rows.values())
    data = "synthetic" if any(row.get("synthetic") for row in rows.values()) else "real"
    limit = f", first {figures['limit']} rows" if figures["limit"] else ""
    line = (f"{lab:<13}{epochs:>7}{cells}{ratio('islp', 'ours')}{ratio('islp', 'book')}{ratio('ours', 'loop')}{memory}"
            f"  {NETWORKS[lab].metric}: {values}  ({data} data{limit}; threads {threads})")
    errors = [f"    {name} failed: {row['error']}" for name, row in rows.items() if "error" in row]
    return "\n".join([line, *errors])


SECTION_COLUMNS = ("lab", "network", "data", "epochs", "figure", "book (its epochs)", "ISLP helpers", "ours",
                   "ISLP fit s", "ours fit s", "ISLP s / ours s")


def format_section_row(lab: str, figures: dict) -> str:
    """One row of --book-sections' Markdown table: the book's code on ISLP's helpers and on ours, beside the book."""
    settings = NETWORKS[lab]
    islp, ours = figures["islp"], figures["book"]
    digits = 2 if settings.metric == "mae" else 4

    def value(row: dict) -> str:
        return f"{row['figure']:.{digits}f}" if "figure" in row else "failed"

    def seconds(row: dict) -> str:
        return f"{row['fit_seconds']:.1f}" if "fit_seconds" in row else "—"

    both = "fit_seconds" in islp and "fit_seconds" in ours
    speed_up = f"{islp['fit_seconds'] / max(ours['fit_seconds'], 1e-9):.2f}×" if both else "—"
    data = "synthetic" if islp.get("synthetic") or ours.get("synthetic") else "real"
    if figures["limit"]:
        data += f", first {figures['limit']} rows"
    book = f"{settings.book} ({settings.epochs})" if settings.book is not None else "—"
    cells = [settings.lab, f"{lab}: {settings.network.class_path.rsplit('.', 1)[1]}", data, str(figures["epochs"]),
             settings.figure.replace("_", " "), book, value(islp), value(ours), seconds(islp), seconds(ours), speed_up]
    return "| " + " | ".join(cells) + " |"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labs", default=None, help=f"comma-separated, from: {', '.join(TIMED)} "
                        f"(default: all; with --book-sections: {', '.join(BOOK_SECTIONS)})")
    parser.add_argument(
        "--implementations", default=None,
        help="comma-separated, from: ours (our data modules and lab settings), book (the book's code on our modules), "
        "islp (the book's code on ISLP 0.6's helpers), loop (plain PyTorch); default: all",
    )
    parser.add_argument("--book-sections", action="store_true",
                        help="instead of timing: the book's code on ISLP's helpers and on ours for the book's epochs, "
                        "a Markdown table of their test figures beside the book's (and each run's curve in its log folder)")
    parser.add_argument("--profile", action="store_true",
                        help="instead of the table: where an epoch of ours goes (each of Lightning's actions, ms per "
                        "epoch, from a profiler) beside the plain loop's whole epoch")
    parser.add_argument("--epochs", type=int, default=None,
                        help="epochs for every lab (default: each lab's own; with --book-sections: the book's)")
    parser.add_argument("--quick", action="store_true", help="a few epochs per lab")
    parser.add_argument("--log-dir", default="logs/benchmark", help="where the runs' CSV logs go")
    parser.add_argument("--output", default=None, help="also write the figures as JSON here")
    parser.add_argument("--islp-threads", type=int, default=0,
                        help="torch threads for the book's code, on ISLP and on ours (default: torch's own)")
    parser.add_argument("--data-dir", default="data", help="where MNIST, CIFAR100 and IMDB are looked for (else synthetic)")
    parser.add_argument("--accelerator", default="cpu", choices=["cpu", "cuda"], help="where all four train (default: cpu)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if (args.book_sections or args.profile) and args.implementations:
        parser.error("--book-sections and --profile choose their own implementations: leave out --implementations")
    if args.book_sections and args.profile:
        parser.error("--book-sections and --profile are two different runs: choose one")
    labs = args.labs or ",".join(BOOK_SECTIONS if args.book_sections else TIMED)
    implementations = "islp,book" if args.book_sections else "ours,loop" if args.profile else (
        args.implementations or ",".join(IMPLEMENTATIONS))
    args.labs = [name.strip() for name in labs.split(",") if name.strip()]
    args.implementations = [name.strip() for name in implementations.split(",") if name.strip()]
    for kind, names, known in (("lab", args.labs, TIMED), ("implementation", args.implementations, IMPLEMENTATIONS)):
        unknown = [name for name in names if name not in known]
        if unknown:
            parser.error(f"unknown {kind}(s) {', '.join(unknown)}; choose from {', '.join(known)}")
    if args.epochs is not None and args.epochs < 1:
        parser.error("--epochs must be at least 1")
    return args


def book_sections(args: argparse.Namespace) -> int:
    """--book-sections: the book's code on both helpers, a Markdown row per network; 1 if a run failed."""
    print(f"the book's code on {HELPERS['islp']} and on {HELPERS['ours']}, torch {torch.__version__}")
    print("| " + " | ".join(SECTION_COLUMNS) + " |\n|" + "|".join(["---"] * len(SECTION_COLUMNS)) + "|", flush=True)
    table, failed = {}, []
    for lab in args.labs:
        table[lab] = time_lab(lab, args.implementations, args)
        print(format_section_row(lab, table[lab]), flush=True)
        failed += [f"{lab} on {HELPERS['islp' if name == 'islp' else 'ours']} failed: {row['error']}"
                   for name, row in table[lab].items() if isinstance(row, dict) and "error" in row]
    threads = sorted({row["threads"] for figures in table.values() for row in figures.values()
                      if isinstance(row, dict) and "threads" in row})
    print(f"\ntorch threads: {', '.join(map(str, threads)) or '-'}; fit s: wall seconds of Trainer.fit "
          f"(validation included); logs and curves: {args.log_dir}")
    for line in failed:
        print(f"benchmark: {line}", file=sys.stderr)
    if args.output:
        Path(args.output).write_text(json.dumps(table, indent=2))
    return 1 if failed else 0


def format_profile(lab: str, figures: dict, shown: int = 14) -> str:
    """--profile's table for one lab: each of Lightning's actions in ms per epoch (the largest first), and the loop."""
    epochs, ours, loop = figures["epochs"], figures["ours"], figures["loop"]
    if "profile" not in ours:
        return f"{lab}: ours failed: {ours.get('error', 'no profile')}"
    seconds, calls = ours["profile"]["seconds"], ours["profile"]["calls"]
    lines = [f"{lab}: {epochs} epochs; ours {1000 * ours['fit_seconds'] / epochs:.1f} ms an epoch"
             + (f", the plain loop {1000 * loop['fit_seconds'] / epochs:.1f} ms" if "fit_seconds" in loop else ""),
             f"  {'action (they nest: an epoch holds its batches)':<72}{'ms/epoch':>10}{'calls/epoch':>13}"]
    for name in sorted(seconds, key=seconds.get, reverse=True)[:shown]:
        short = re.sub(r"\{.*\}", "", name)  # a callback's state key ({'monitor': None, ...}) says nothing here
        lines.append(f"  {short[:72]:<72}{1000 * seconds[name] / epochs:>10.2f}{calls[name] / epochs:>13.1f}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.child:
        child(json.loads(args.child))
        return 0
    if args.book_sections:
        return book_sections(args)
    if args.profile:
        for lab in args.labs:
            print(format_profile(lab, time_lab(lab, args.implementations, args)), flush=True)
        return 0
    where = torch.cuda.get_device_name() if args.accelerator == "cuda" else f"{os.cpu_count()} CPU cores"
    print(f"benchmark on {where}, torch {torch.__version__}; seconds per epoch (training + validation)")
    header = f"{'lab':<13}{'epochs':>7}" + "".join(f"{name + ' s/ep':>13}" for name in args.implementations)
    header += f"{'islp/ours':>11}{'islp/book':>11}{'ours/loop':>11}{'ours MB':>9}  test figures ({' / '.join(args.implementations)})"
    print(header, flush=True)
    table = {}
    for lab in args.labs:
        table[lab] = time_lab(lab, args.implementations, args)
        print(format_row(lab, table[lab], args.implementations), flush=True)
    if args.output:
        Path(args.output).write_text(json.dumps(table, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
