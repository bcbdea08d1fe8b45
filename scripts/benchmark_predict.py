"""Time ``islp-lab predict`` on many reviews: given in a config, and read from a file (one review per line).

    python scripts/benchmark_predict.py                  # 10,000 reviews
    python scripts/benchmark_predict.py --reviews 1000 --cores 0,1

It trains a small IMDB network on synthetic reviews first (one epoch, in a temporary folder),
then runs each ``predict`` in a fresh process and prints its wall-clock seconds beside the
bound the project keeps (15 s for 10,000 reviews on two cores; ``--cores`` pins the
processes to those CPUs with ``taskset`` where it exists). Every review's probability is
printed by ``islp-lab``; this script checks that there is one line per review, in order.
Before the reviews were checked as one list, 1,000 reviews in a config took 11 s to parse,
2,000 took 25 s, 10,000 took 459 s (jsonargparse deep-copied the list once per review).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "scripts" / "configs" / "imdb_dense.yaml"
#: the bound for 10,000 reviews on two cores (issue 16)
BOUND_SECONDS = 15.0
WORDS = ("great", "wonderful", "superb", "awful", "dull", "terrible", "film", "movie", "plot", "actor", "scene")


def reviews(count: int) -> list[str]:
    """``count`` distinct short reviews."""
    return [" ".join(WORDS[(i * 7 + j * 3) % len(WORDS)] for j in range(12)) + f" review{i}" for i in range(count)]


def islp_lab(*args: str, cores: str | None, cwd: Path) -> tuple[float, subprocess.CompletedProcess]:
    pin = ["taskset", "-c", cores] if cores and shutil.which("taskset") else []
    command = [*pin, sys.executable, "-m", "lightning_modules.cli", *args, "--trainer.accelerator", "cpu"]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True)
    return time.perf_counter() - start, done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reviews", type=int, default=10_000, help="reviews to score (default: 10000)")
    parser.add_argument("--cores", default=None, help="CPUs to run on, as taskset -c takes them (e.g. 0,1)")
    args = parser.parse_args(argv)
    texts = reviews(args.reviews)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        _, trained = islp_lab("fit", "--config", str(CONFIG), "--data.init_args.synthetic", "true",
                              "--data.init_args.limit", "600", "--data.init_args.validation", "100",
                              "--trainer.max_epochs", "1", cores=args.cores, cwd=work)
        if trained.returncode != 0:
            print(trained.stderr[-2000:], file=sys.stderr)
            return 1
        checkpoint = next(work.glob("logs/imdb/dense/version_*/checkpoints/last.ckpt"))
        (work / "reviews.yaml").write_text(json.dumps({"data": {"init_args": {"predict_texts": texts}}}))
        (work / "reviews.txt").write_text("\n".join(texts) + "\n")
        common = ["predict", "--config", str(CONFIG), "--data.init_args.synthetic", "true", "--ckpt_path", str(checkpoint)]
        failed = False
        for how, extra in (("in a config", ["--config", "reviews.yaml"]),
                           ("from a file", ["--data.init_args.predict_file", "reviews.txt"])):
            seconds, done = islp_lab(*common, *extra, cores=args.cores, cwd=work)
            scored = [line.split('"', 1)[1][:-1] for line in done.stdout.splitlines() if line.startswith("P(positive)")]
            ok = done.returncode == 0 and scored == texts
            failed |= not ok
            bound = BOUND_SECONDS * max(1.0, args.reviews / 10_000)
            print(f"islp-lab predict, {args.reviews:,} reviews {how}: {seconds:.1f} s "
                  f"(bound {bound:.0f} s{' on cores ' + args.cores if args.cores else ''})"
                  f"{'' if ok else '  FAILED: ' + (done.stderr.strip().splitlines() or ['wrong output'])[-1]}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
