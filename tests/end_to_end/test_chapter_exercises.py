"""The chapter run's exercises (ISLP 10.10, 6 to 13): selected like the labs, run like them, and reported
with a section each whose words follow the figures."""

from __future__ import annotations

import argparse
import json
import textwrap
from pathlib import Path

import pytest
from helpers import ROOT, load_script

from lightning_modules.chapter import labs as settings
from lightning_modules.chapter.exercise_answers import answer

chapter = load_script("chapter")
report = load_script("report")


def options(tmp_path: Path, quick: bool = False, seeds=None) -> argparse.Namespace:
    return argparse.Namespace(log_dir=str(tmp_path / "logs"), data_dir="data", accelerator="cpu", quick=quick, seeds=seeds)


def selected(*argv: str) -> list[str]:
    return [lab.name for lab in chapter.parse_args(list(argv))[1]]


# -- the chapter's options -------------------------------------------------------------------------
def test_the_exercises_are_built_from_labs_py_as_the_labs_are():
    assert [lab.name for lab in chapter.EXERCISES] == list(settings.EXERCISES) == [f"exercise_{n:02d}" for n in range(6, 14)]
    for lab in chapter.EXERCISES:
        book = settings.EXERCISES[lab.name]
        assert (lab.script, lab.title, lab.trains) == (book.script, book.title, bool(book.networks))
        assert (chapter.SCRIPTS / lab.script).is_file()
    by_name = {lab.name: lab for lab in chapter.EXERCISES}
    assert [name for name, lab in by_name.items() if lab.uses_data_dir] == ["exercise_13"]  # only 13 downloads
    assert by_name["exercise_13"].stand_in == ["--synthetic"] and by_name["exercise_08"].stand_in == []
    assert not by_name["exercise_06"].trains and not by_name["exercise_09"].trains and by_name["exercise_12"].trains


def test_exercises_run_after_the_labs_alone_or_by_name():
    labs = [lab.name for lab in chapter.LABS]
    exercises = [lab.name for lab in chapter.EXERCISES]
    assert selected() == labs  # the full run: the labs, as before
    assert selected("--exercises") == labs + exercises  # the whole chapter
    assert selected("--labs", "exercises") == exercises
    assert selected("--labs", "nyse,exercise_09") == ["nyse", "exercise_09"]
    assert selected("--labs", "exercise_12,hitters", "--exercises") == ["exercise_12", "hitters"] + [
        name for name in exercises if name != "exercise_12"]  # named ones where --labs puts them, once


@pytest.mark.parametrize("argv, message", [
    (["--labs", "exercise_99"], "unknown lab(s): exercise_99; choose from hitters, "),
    (["--labs", "labs,hitters"], "--labs names hitters more than once"),
    (["--labs", ","], "selects no lab"),
])
def test_a_bad_selection_is_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as caught:
        chapter.parse_args(argv)
    err = capsys.readouterr().err
    assert caught.value.code == 2 and message in err and len(err.strip().splitlines()) == 1


def test_help_shows_the_exercise_options(capsys):
    with pytest.raises(SystemExit) as caught:
        chapter.parse_args(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert caught.value.code == 0
    assert "--exercises" in out and "'exercises' (every exercise)" in out and "exercise_13" in out


def test_each_exercise_gets_its_flags(tmp_path):
    by_name = {lab.name: lab for lab in chapter.EXERCISES}
    full, quick = options(tmp_path), options(tmp_path, quick=True)
    assert "--data-dir" in chapter.lab_command(by_name["exercise_13"], full, [])
    assert "--data-dir" not in chapter.lab_command(by_name["exercise_09"], full, [])
    assert chapter.lab_seeds(by_name["exercise_10"], full) == "5" and chapter.lab_seeds(by_name["exercise_07"], full) == "3"
    assert chapter.lab_seeds(by_name["exercise_06"], options(tmp_path, seeds=3)) is None  # nothing trained
    assert chapter.lab_command(by_name["exercise_12"], quick, [])[-2:] == ["--max-epochs", "5"]
    assert chapter.lab_command(by_name["exercise_13"], quick, [])[-4:] == ["--max-epochs", "1", "--limit", "3000"]


UNAVAILABLE = textwrap.dedent(
    """
    import sys
    print("error: the weights are not in /cache/checkpoints: copy resnet50.pth there", file=sys.stderr)
    sys.exit(3)
    """
)


def test_quick_skips_an_exercise_without_a_stand_in_with_its_reason(tmp_path):
    script = tmp_path / "no_weights.py"
    script.write_text(UNAVAILABLE)
    lab = chapter.ChapterLab("exercise_08", str(script), "top five", stand_in=[], trains=False)
    (outcome,) = chapter.run_chapter([lab], options(tmp_path, quick=True))
    assert outcome.status == "skipped"
    assert "copy resnet50.pth there" in outcome.message and "--quick has no stand-in" in outcome.message


def test_a_run_without_the_exercises_says_how_to_run_them(tmp_path, monkeypatch, capsys):
    hitters = next(lab for lab in chapter.LABS if lab.name == "hitters")
    results = {"lab": "hitters", "models": {"linear_regression": {"test_mae": 259.7}}}
    monkeypatch.setattr(chapter, "run_chapter", lambda labs, args: [chapter.Outcome(hitters, "done", 1.0, results=results)])
    assert chapter.main(["--labs", "hitters", "--log-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    closing = out.rstrip().splitlines()[-1]
    assert closing == report.EXERCISES_NOT_RUN and "./run_chapter.sh --exercises" in closing
    assert out.count(report.EXERCISES_NOT_RUN) == 1  # the printed report's last line, not said twice
    assert report.EXERCISES_NOT_RUN in (tmp_path / "report.md").read_text()


# -- the report's sections -------------------------------------------------------------------------
def seeds(values: list[float], figure: str) -> dict:
    runs = [{"seed": seed, figure: value, "fit_seconds": 1.0} for seed, value in enumerate(values)]
    return {figure: sum(values) / len(values), "fit_seconds": float(len(values)), "accelerator": "cpu", "seeds": runs}


def month_results(with_month: float) -> dict:
    r2 = {"linear_ar": 0.4129, "linear_ar_month": with_month, "linear_ar_day": 0.4596, "linear_ar_day_month": 0.4627}
    models = {name: {"test_r2": value, "features": 15} for name, value in r2.items()}
    models["linear_ar"]["book_test_r2"] = 0.4129
    return {"lab": "exercise_09", "models": models}


def made_up() -> dict[str, dict]:
    """A results.json per exercise, of the shape each script writes, with the figures of a full run."""
    return {
        "exercise_06": {"lab": "exercise_06", "lr": 0.1, "models": {
            "start_2.3": {"start": 2.3, "steps": 129, "final_beta": 4.612212584, "final_R": -0.533765281, "iterates": [2.3]},
            "start_1.4": {"start": 1.4, "steps": 139, "final_beta": -1.670955164, "final_R": -1.162083812, "iterates": [1.4]},
        }},
        "exercise_07": {"lab": "exercise_07", "test_rows": 3334, "test_defaults": 111, "models": {
            "logistic_regression": {"test_accuracy": 0.9757}, "always_no": {"test_accuracy": 0.9667},
            "mlp": seeds([0.9751, 0.9752, 0.9754], "test_accuracy"),
        }},
        "exercise_08": {"lab": "exercise_08", "weights": "IMAGENET1K_V2", "own_images": True, "models": {
            "cat.jpg": {"top_5": [{"label": "tabby", "probability": 0.62}] + [{"label": f"c{i}", "probability": 0.05} for i in range(4)]},
            "owl.jpg": {"top_5": [{"label": "great grey owl", "probability": 0.91}] + [{"label": f"c{i}", "probability": 0.01} for i in range(4)]},
        }},
        "exercise_09": month_results(0.4167),
        "exercise_10": {"lab": "exercise_10", "models": {
            "linear_ar": {"test_r2": 0.4129, "book_test_r2": 0.4129},
            "linear_ar_network": {**seeds([0.4063, 0.4070, 0.4081, 0.4068, 0.4068], "test_r2"), "epochs": 50},
        }},
        "exercise_11": {"lab": "exercise_11", "book_nonlinear_ar_with_days": 0.4649, "models": {
            "linear_ar": {"test_r2": 0.4129}, "nonlinear_ar_flat": seeds([0.4196, 0.4234, 0.4242], "test_r2"),
        }},
        "exercise_12": {"lab": "exercise_12", "book_rnn_without_days": 0.4136, "models": {
            "linear_ar_day": {"test_r2": 0.4596}, "rnn_day": seeds([0.4424, 0.4551, 0.4600], "test_r2"),
        }},
        "exercise_13": {"lab": "exercise_13", "synthetic": True, "models": {
            f"dense_{units}{suffix}": {"test_accuracy": 0.5, "fit_seconds": 1.0, "accelerator": "cpu"}
            for units in (16, 32, 64) for suffix in ("", "_dropout")
        }},
    }


def exercise_reports(results: dict[str, dict], **statuses: tuple[str, str]) -> list:
    found = [report.LabReport(name, "synthetic" if result.get("synthetic") else "done", 3.0, results=result)
             for name, result in results.items()]
    found += [report.LabReport(name, status, 1.0, message) for name, (status, message) in statuses.items()]
    return found


def section(text: str, exercise: str) -> str:
    """The report's section of one exercise."""
    start = text.index(f"### {settings.EXERCISES[exercise].title}")
    end = text.find("\n### ", start + 1)
    return text[start:] if end < 0 else text[start:end]


def test_each_exercise_gets_a_section_with_its_figures_and_words(tmp_path):
    results = made_up()
    del results["exercise_08"]
    skipped = ("skipped", "the ResNet50 weights are not in /cache: copy resnet50-11ad3fa6.pth there")
    text = report.write_report(exercise_reports(results, exercise_08=skipped), tmp_path, quick=False).read_text()
    assert text.count("\n### 10.10.") == 8 and report.EXERCISES_NOT_RUN not in text
    # the figures over seeds, as the labs' table gives them
    assert "| mlp | test accuracy | 3 seeds | 0.9752 | 0.0001528 | 0.9751 | 0.9754 | — | real |" in section(text, "exercise_07")
    assert "| logistic_regression | test accuracy | one fit | 0.9757 | — | 0.9757 | 0.9757 | — | real |" in text
    assert "| linear_ar | test R² | one fit | 0.4129 | — | 0.4129 | 0.4129 | 0.4129 | real |" in section(text, "exercise_09")
    assert "| 2.3 | 129 | 4.6122 | -0.5338 |" in section(text, "exercise_06")
    # the words, computed from the same figures
    assert ("**Answer** (computed from the figures above): The month factor changes the linear AR's test R² from "
            "0.4129 to 0.4167 (+0.0038): it barely helps.") in section(text, "exercise_09")
    assert "Logistic regression beats the network on every seed, by 0.0005 on average (about 2 of the 3,334" in text
    assert "0.4070 (0.4063–0.4081 over 5 seeds) against LinearRegression's 0.4129" in section(text, "exercise_10")
    assert "the day of the week helps the RNN: ours is above it on every seed" in section(text, "exercise_12")
    assert "reached from β⁰ = 1.4 only" in section(text, "exercise_06")
    # a stand-in run is labelled, never answered; a skipped exercise says why in its section
    thirteen = section(text, "exercise_13")
    assert "SYNTHETIC (figures mean nothing)" in thirteen and "**No answer**: this run used random reviews" in thirteen
    assert "**Answer**" not in thirteen and "Best:" not in thirteen
    assert "**Not answered in this run** (skipped): the ResNet50 weights are not in /cache" in section(text, "exercise_08")
    assert "- **exercise_08** (skipped): see its section" in text
    assert "| exercise_08 | skipped | 1 |" in text


@pytest.mark.parametrize("with_month, words", [
    (0.4500, "to 0.4500 (+0.0371): it helps."),
    (0.4167, "to 0.4167 (+0.0038): it barely helps."),
    (0.4100, "to 0.4100 (-0.0029): it does not help."),
])
def test_the_words_follow_the_figures(with_month, words, tmp_path):
    text = report.write_report(exercise_reports({"exercise_09": month_results(with_month)}), tmp_path, False).read_text()
    assert words in section(text, "exercise_09")
    assert f"| linear_ar_month | test R² | one fit | {with_month:.4g} |" in text


def test_the_network_comparisons_turn_with_the_seeds_range():
    results = made_up()["exercise_07"]
    results["models"]["mlp"] = seeds([0.9770, 0.9780], "test_accuracy")
    assert "The network beats logistic regression on every seed, by 0.0018" in answer("exercise_07", results)
    results["models"]["mlp"] = seeds([0.9750, 0.9760], "test_accuracy")
    assert "Logistic regression's 0.9757 lies within the network's range: the two classify equally well" in answer("exercise_07", results)
    results = made_up()["exercise_12"]
    results["models"]["rnn_day"] = seeds([0.4100, 0.4150], "test_r2")
    assert "no clear gain: it lies within our range" in answer("exercise_12", results)


def test_a_quick_run_of_a_trained_exercise_is_not_presented_as_the_answer(tmp_path):
    results = made_up()
    text = report.write_report(exercise_reports({n: results[n] for n in ("exercise_07", "exercise_09")}), tmp_path,
                               quick=True).read_text()
    assert "**From a --quick run (few epochs, slices of the data), not the answer**: Test accuracy" in section(text, "exercise_07")
    assert "**Answer** (computed from the figures above)" in section(text, "exercise_09")  # nothing trained: the same


def test_exercise_8_lists_the_top_five_and_exercise_13_its_widths(tmp_path):
    results = made_up()
    results["exercise_13"]["synthetic"] = False
    text = report.write_report(exercise_reports({n: results[n] for n in ("exercise_08", "exercise_13")}), tmp_path,
                               quick=False).read_text()
    assert "| owl.jpg | great grey owl (0.91) | c0 (0.01) | c1 (0.01) | c2 (0.01) | c3 (0.01) | IMAGENET1K_V2 |" in text
    assert "surest of owl.jpg (0.91) and least sure of cat.jpg (0.62)" in text
    assert "| dense_64_dropout | test accuracy | 1 seed | 0.5 |" in text and "Best: 16 units without dropout" in text


def test_an_exercises_figures_are_in_its_section_and_nowhere_else(tmp_path):
    figure = tmp_path / "exercise_06" / "gradient_descent.png"
    figure.parent.mkdir()
    figure.write_bytes(b"png")
    labs = exercise_reports({"exercise_06": made_up()["exercise_06"]})
    labs[0].figures = [figure]
    text = report.write_report(labs, tmp_path, quick=False).read_text()
    assert "![exercise_06 gradient_descent](exercise_06/gradient_descent.png)" in section(text, "exercise_06")
    assert text.count("![") == 1 and "## Learning curves" not in text


def test_a_results_json_without_the_figures_it_needs_says_so(tmp_path):
    broken = {"lab": "exercise_09", "models": {"linear_ar": {"test_r2": 0.4129}}}
    text = report.write_report(exercise_reports({"exercise_09": broken}), tmp_path, quick=False).read_text()
    assert "**No answer**: its results.json lacks a figure the comparison needs (KeyError('linear_ar_month'))" in text


# -- the whole tour, for real ------------------------------------------------------------------------
def test_chapter_quick_runs_every_exercise(tmp_path, monkeypatch, capsys):
    log_dir = tmp_path / "logs"
    # no weights in the cache, and no download can succeed (for the exercises' processes, which inherit the
    # environment): 8 is skipped, 13 runs on its stand-in
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    for proxy in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(proxy, "http://127.0.0.1:9")
    monkeypatch.chdir(ROOT)
    # the chapter's main in this process; it runs each exercise in a process of its own, as the command does
    status = chapter.main(["--labs", "exercises", "--quick", "--log-dir", str(log_dir), "--data-dir",
                           str(tmp_path / "data"), "--accelerator", "cpu"])
    done = capsys.readouterr()
    assert status == 0, done.err[-3000:]
    text = (log_dir / "report.md").read_text()
    statuses = {name: status for name, status in (line.split(" | ")[:2] for line in
                (row.strip("| ") for row in text.splitlines() if row.startswith("| exercise_")) if " | " in line)}
    assert statuses == {**{f"exercise_{n:02d}": "done" for n in (6, 7, 9, 10, 11, 12)},
                        "exercise_08": "skipped", "exercise_13": "synthetic"}
    assert text.count("\n### 10.10.") == 8
    eight = section(text, "exercise_08")
    assert "resnet50-11ad3fa6.pth" in eight and "--quick has no stand-in" in eight
    thirteen = section(text, "exercise_13")
    assert "**No answer**" in thirteen and "SYNTHETIC" in thirteen and "(exercise_13/accuracy_by_units.png)" in thirteen
    assert "(exercise_06/gradient_descent.png)" in section(text, "exercise_06")
    # the figures round-trip from results.json to the table and the words, which are the script's own
    nine = json.loads((log_dir / "exercise_09" / "results.json").read_text())
    with_month = nine["models"]["linear_ar_month"]["test_r2"]
    assert f"| linear_ar_month | test R² | one fit | {with_month:.4g} |" in text
    assert f"to {with_month:.4f}" in section(text, "exercise_09") and nine["answer"] in section(text, "exercise_09")
    seven = json.loads((log_dir / "exercise_07" / "results.json").read_text())
    assert f"| mlp | test accuracy | 1 seed | {seven['models']['mlp']['test_accuracy']:.4g} |" in text
    assert seven["answer"] == answer("exercise_07", seven)
    assert report.EXERCISES_NOT_RUN not in done.out  # the exercises ran: no closing hint
