"""The chapter run: labs in turn, skipped labs reported with the reason, report.md written."""

from __future__ import annotations

import argparse
import textwrap

import pytest
from helpers import load_script

chapter = load_script("chapter")

# A stand-in lab script: finishes, or says its data is missing (exit 3) unless --synthetic is given.
FAKE_LAB = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    args = sys.argv[1:]
    log_dir = Path(args[args.index("--log-dir") + 1])
    name = Path(__file__).stem
    if "missing" in name and "--synthetic" not in args:
        print("error: no data in data/ (expected train-images-idx3-ubyte)", file=sys.stderr)
        print("  or use --synthetic", file=sys.stderr)
        sys.exit(3)
    if "broken" in name:
        raise RuntimeError("a bug")
    (log_dir / name).mkdir(parents=True, exist_ok=True)
    models = {"net": {"test_accuracy": 0.9, "book_test_accuracy": 0.95, "fit_seconds": 1.5, "accelerator": "cpu"}}
    result = {"lab": name, "synthetic": "--synthetic" in args, "models": models}
    (log_dir / name / "results.json").write_text(json.dumps(result))
    (log_dir / name / "net_curves.png").write_bytes(b"png")
    """
)


@pytest.fixture
def fake_labs(tmp_path):
    labs = []
    for name in ("finished", "missing", "broken"):
        script = tmp_path / f"{name}.py"
        script.write_text(FAKE_LAB)
        labs.append(chapter.ChapterLab(name, str(script), f"the {name} lab", uses_data_dir=True))
    return labs


def options(tmp_path, quick: bool = False) -> argparse.Namespace:
    return argparse.Namespace(log_dir=str(tmp_path / "logs"), data_dir="data", accelerator="cpu", quick=quick, seeds=None)


def test_report_mixes_finished_skipped_and_failed_labs(fake_labs, tmp_path):
    outcomes = chapter.run_chapter(fake_labs, options(tmp_path))
    assert [o.status for o in outcomes] == ["done", "skipped", "failed"]
    assert "expected train-images-idx3-ubyte" in outcomes[1].message
    report = chapter.write_report(outcomes, tmp_path / "logs", quick=False).read_text()
    assert "| finished | net | test accuracy | 1 | 0.9 | — | 0.9 | 0.9 | 0.95 | — | 1.5 | cpu | real |" in report
    assert "| missing | skipped |" in report and "| broken | failed |" in report
    assert "**missing** (skipped): no data in data/ (expected train-images-idx3-ubyte)\n    or use --synthetic" in report
    assert "(finished/net_curves.png)" in report


def test_quick_mode_runs_a_missing_lab_on_synthetic_data_and_says_so(fake_labs, tmp_path):
    outcomes = chapter.run_chapter(fake_labs[:2], options(tmp_path, quick=True))
    assert [o.status for o in outcomes] == ["done", "synthetic"]
    report = chapter.write_report(outcomes, tmp_path / "logs", quick=True).read_text()
    assert "Quick mode" in report
    assert "| missing | net | test accuracy | 1 | 0.9 | — | 0.9 | 0.9 | 0.95 | — | 1.5 | cpu | SYNTHETIC (figures mean nothing) |" in report


def test_report_lists_pretrained_labels(tmp_path):
    lab = chapter.ChapterLab("pretrained", "lab_pretrained.py", "pretrained")
    top = [{"label": "flamingo", "probability": 0.93}, {"label": "spoonbill", "probability": 0.05}]
    results = {"lab": "pretrained", "synthetic": False, "images": {"flamingo.jpg": top}}
    # the report shows the results a lab wrote in this run (run_chapter reads them as the lab ends)
    report = chapter.write_report([chapter.Outcome(lab, "done", 3.0, results=results)], tmp_path, quick=False).read_text()
    assert "| pretrained | flamingo.jpg | flamingo (0.93) |" in report


def test_unknown_lab_is_refused(capsys):
    with pytest.raises(SystemExit) as caught:
        chapter.main(["--labs", "hitters,mnits"])
    assert caught.value.code == 2 and "unknown lab(s): mnits" in capsys.readouterr().err


def test_chapter_lists_every_lab_of_the_book():
    assert [lab.name for lab in chapter.LABS] == ["hitters", "mnist", "cifar100", "pretrained", "imdb", "imdb_lstm", "nyse"]
    for lab in chapter.LABS:
        assert (chapter.SCRIPTS / lab.script).is_file()


def test_the_cheap_labs_get_seeds_and_the_others_one_run(tmp_path):
    by_name = {lab.name: lab for lab in chapter.LABS}
    full, quick = options(tmp_path), options(tmp_path, quick=True)
    assert chapter.lab_seeds(by_name["hitters"], full) == "5" and chapter.lab_seeds(by_name["nyse"], full) == "5"
    assert chapter.lab_seeds(by_name["mnist"], full) == "3"  # MNIST's MLP and MLR get a range beside the book's
    assert chapter.lab_seeds(by_name["cifar100"], full) is None and chapter.lab_seeds(by_name["pretrained"], full) is None
    assert chapter.lab_seeds(by_name["nyse"], quick) == "2"
    asked = argparse.Namespace(**{**vars(full), "seeds": [0, 4]})
    assert chapter.lab_seeds(by_name["mnist"], asked) == "0,4" and chapter.lab_seeds(by_name["pretrained"], asked) is None
    assert chapter.lab_command(by_name["hitters"], full, [])[-2:] == ["--seeds", "5"]
