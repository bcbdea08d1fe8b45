"""Time ``islp-lab predict`` and ``lab_imdb.py --predict-file`` on many reviews: wall time and peak memory per process.

    python scripts/benchmark_predict.py                          # 10,000 reviews, in a config and from a file
    python scripts/benchmark_predict.py --reviews 1000000 --how file,lab
    python scripts/benchmark_predict.py --reviews 10000 --how file,lab --root /some/other/checkout   # its code

It trains a small IMDB network on synthetic reviews first (one epoch, in a temporary folder),
then scores the reviews in a fresh process per way of giving them (``--how``): ``config``
(``predict_texts`` in a YAML config), ``file`` (``islp-lab predict ... predict_file``) and
``lab`` (``lab_imdb.py --predict-file``). Each line gives the process's wall-clock seconds and
its peak resident memory (``ru_maxrss``, whole process), beside the bound the project keeps
(15 s for 10,000 reviews on two cores; ``--cores`` pins the processes to those CPUs with
``taskset`` where it exists). The script checks that one line per review is printed, in order.
``--root`` runs another checkout's code (as PYTHONPATH and for its configs and scripts), to
compare a change with the code before it.

Figures (2 shared cores; issue 22): before reviews were streamed, a file of 100,000 reviews
took 5 GB and a million ended in ``ArrayMemoryError`` (a dense 1,000,000 × 10,003 matrix);
since, memory stays flat in the number of reviews (see the closing note of issue 22).
Before the reviews were checked as one list, 1,000 reviews in a config took 11 s to parse,
2,000 took 25 s, 10,000 took 459 s (jsonargparse deep-copied the list once per review).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: the bound for 10,000 reviews on two cores (issue 16)
BOUND_SECONDS = 15.0
WORDS = ("great", "wonderful", "superb", "awful", "dull", "terrible", "film", "movie", "plot", "actor", "scene")
HOW = ("config", "file", "lab")


def reviews(count: int) -> list[str]:
    """``count`` distinct short reviews."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12)) + f" review{i}" for i in range(count)]


def measured(command: list[str], cwd: Path, root: Path, cores: str | None) -> tuple[float, float, int, str, str]:
    """Run ``command`` with ``root``'s code: wall seconds, peak resident MB, exit status, stdout and stderr."""
    pin = ["taskset", "-c", cores] if cores and shutil.which("taskset") else []
    env = {**os.environ, "PYTHONPATH": str(root)}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.perf_counter()
        process = subprocess.Popen([*pin, *command], cwd=cwd, stdout=out, stderr=err, env=env, text=True)
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - start
        process.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return seconds, usage.ru_maxrss / 1024, process.returncode, out.read(), err.read()


def scored_texts(stdout: str) -> list[str]:
    """The review of each printed score, in order (the output split at \\n only)."""
    return [line.split('"', 1)[1][:-1] for line in stdout.split("\n") if line.startswith("P(positive)")]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=10_000, help="reviews to score (default: 10000)")
    parser.add_argument("--how", default="config,file",
                        help=f"ways to give them, comma-separated, of {', '.join(HOW)} (default: config,file)")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose code runs (default: this one)")
    parser.add_argument("--cores", default=None, help="CPUs to run on, as taskset -c takes them (e.g. 0,1)")
    args = parser.parse_args(argv)
    ways = args.how.split(",")
    if not set(ways) <= set(HOW):
        parser.error(f"--how: give some of {', '.join(HOW)}, got {args.how}")
    root, texts = args.root.resolve(), reviews(args.reviews)
    config = root / "scripts" / "configs" / "imdb_dense.yaml"
    cli = [sys.executable, "-m", "lightning_modules.runner.cli"]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        *_, status, _, err = measured([*cli, "fit", "--config", str(config), "--data.init_args.synthetic", "true",
                                       "--data.init_args.limit", "600", "--data.init_args.validation", "100",
                                       "--trainer.max_epochs", "1", "--trainer.accelerator", "cpu"], work, root, args.cores)
        if status != 0:
            print(err[-2000:], file=sys.stderr)
            return 1
        checkpoint = next(work.glob("logs/imdb/dense/version_*/checkpoints/last.ckpt"))
        with open(work / "reviews.txt", "w") as file:
            file.writelines(text + "\n" for text in texts)
        predict = [*cli, "predict", "--config", str(config), "--data.init_args.synthetic", "true",
                   "--ckpt_path", str(checkpoint), "--trainer.accelerator", "cpu"]
        commands = {
            "config": ("islp-lab predict", "in a config", [*predict, "--config", "reviews.yaml"]),
            "file": ("islp-lab predict", "from a file", [*predict, "--data.init_args.predict_file", "reviews.txt"]),
            "lab": ("lab_imdb.py --predict-file", "from a file", [
                sys.executable, str(root / "scripts" / "lab_imdb.py"), "--synthetic", "--accelerator", "cpu",
                "--log-dir", str(work / "logs"), "--predict-file", "reviews.txt"]),
        }
        if "config" in ways:
            (work / "reviews.yaml").write_text(json.dumps({"data": {"init_args": {"predict_texts": texts}}}))
        failed = False
        for how in ways:
            what, given, command = commands[how]
            seconds, peak, status, out, err = measured(command, work, root, args.cores)
            ok = status == 0 and scored_texts(out) == texts
            failed |= not ok
            bound = BOUND_SECONDS * max(1.0, args.reviews / 10_000)
            last = (err.strip().split("\n") or ["wrong output"])[-1][:300] if err.strip() else "wrong output"
            print(f"{what}, {args.reviews:,} reviews {given}: {seconds:.1f} s, peak {peak:,.0f} MB "
                  f"(bound {bound:.0f} s{' on cores ' + args.cores if args.cores else ''})"
                  f"{'' if ok else f'  FAILED (exit {status}): ' + last}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
