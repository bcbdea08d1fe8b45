"""Exits that tell the truth: signals, bad arguments, and the chapter run.

SIGTERM (``timeout``, Slurm, ``docker stop``) and Ctrl-C stop a lab at a safe
point with 143 / 130, one line saying how to continue, and a checkpoint that
``--resume`` continues from; a bad argument ends with one line and status 2
before any work; the chapter run reports an interrupted or failed lab as such,
never with an older run's figures, and never replaces its report with an empty one.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from helpers import ROOT, SCRIPTS, load_script, run_script

from lightning_modules.runner import cli
from lightning_modules.trainer import available_accelerators
from scripts import command_line

chapter = load_script("chapter")
CONFIGS = SCRIPTS / "configs"

#: marks a results.json of an earlier run (a test R² no lab produces)
OLD_FIGURE = 0.123456


def start(command: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)


def signal_after(process: subprocess.Popen, markers: list[str], signum: int) -> tuple[str, str]:
    """Send ``signum`` once stdout has shown each of ``markers`` in turn; the whole stdout and stderr after it ends."""
    seen, pending = [], list(markers)
    for line in process.stdout:
        seen.append(line)
        if pending and pending[0] in line:
            pending.pop(0)
            if not pending:
                process.send_signal(signum)
                break
    out, err = process.communicate(timeout=600)
    assert not pending, f"never saw {pending}; stderr: {err[-3000:]}"
    return "".join(seen) + out, err


# 20 epochs: the first progress line (a tenth of the run) comes after epoch 2, so the signal that follows it finds a
# completed epoch past the first to save and 18 epochs still to train
NYSE_ARGS = ["--max-epochs", "20", "--ar-epochs", "1", "--accelerator", "cpu"]


def lab_nyse(log_dir: Path, *extra: str) -> list[str]:
    """lab_nyse in a process of its own, to be sent a signal."""
    return [sys.executable, str(SCRIPTS / "lab_nyse.py"), *NYSE_ARGS, "--log-dir", str(log_dir), *extra]


def old_results(log_dir: Path, lab: str = "nyse") -> None:
    """An earlier run's results.json, which no report of a later run may show."""
    (log_dir / lab).mkdir(parents=True, exist_ok=True)
    models = {"rnn": {"test_r2": OLD_FIGURE, "book_test_r2": 0.4136, "fit_seconds": 1.0, "accelerator": "cpu"}}
    (log_dir / lab / "results.json").write_text(json.dumps({"lab": lab, "models": models}))


def unavailable_accelerator() -> str:
    missing = [name for name in ("mps", "cuda") if name not in available_accelerators()]
    if not missing:
        pytest.skip("this machine has every accelerator")
    return missing[0]


# -- signals to a lab script ------------------------------------------------------------------------------------


def test_sigterm_stops_a_lab_with_143_and_resume_finishes_it(tmp_path):
    process = start(lab_nyse(tmp_path))
    out, err = signal_after(process, ["[nyse/rnn] epoch"], signal.SIGTERM)
    assert process.returncode == 143, err[-3000:]
    assert "Traceback" not in err
    last = err.strip().splitlines()[-1]
    assert last.startswith("interrupted by SIGTERM") and "--resume" in last and f"--log-dir {tmp_path}" in last
    assert not (tmp_path / "nyse" / "results.json").exists()
    checkpoint = torch.load(tmp_path / "nyse/rnn/version_0/checkpoints/last.ckpt", map_location="cpu", weights_only=True)
    assert 1 <= checkpoint["epoch"] < 20 and checkpoint["state_dict"]  # whole and loadable: a completed epoch

    resumed = run_script("lab_nyse", *NYSE_ARGS, "--log-dir", str(tmp_path), "--resume")  # in this process
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    first_line = out[out.index("[nyse/rnn] epoch"):].splitlines()[0].split("  ")[0]  # "[nyse/rnn] epoch 2/20"
    assert first_line not in resumed.stdout  # it continued from the checkpoint, it did not start over
    results = json.loads((tmp_path / "nyse" / "results.json").read_text())
    assert results["models"]["rnn"]["epochs"] == 20


def test_ctrl_c_stops_a_lab_in_training_with_130(tmp_path):
    process = start(lab_nyse(tmp_path))
    _, err = signal_after(process, ["[nyse/rnn] epoch"], signal.SIGINT)
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "SIGTERM" not in err  # Ctrl-C is not reported as something else
    assert err.strip().splitlines()[-1].startswith("interrupted by SIGINT: ")
    assert (tmp_path / "nyse/rnn/version_0/checkpoints/last.ckpt").is_file()
    assert not (tmp_path / "nyse" / "results.json").exists()


# The Hitters lab with a lasso CV that says when it starts and then takes long: a signal reaches it outside any Trainer.
SLOW_CV = textwrap.dedent(
    """
    import sys, time
    import lightning_modules.chapter.baselines as baselines
    original = baselines.cross_validated_lasso
    def slow_cross_validated_lasso(*args, **kwargs):
        print("CV STARTED", flush=True)
        time.sleep(300)
        return original(*args, **kwargs)
    baselines.cross_validated_lasso = slow_cross_validated_lasso
    from scripts import lab_hitters
    from scripts.command_line import run
    run(lab_hitters.main, sys.argv[1:])
    """
)


def test_sigterm_outside_a_trainer_stops_at_once_with_143(tmp_path):
    driver = tmp_path / "slow_cv.py"
    driver.write_text(SLOW_CV.format(scripts=str(SCRIPTS)))
    process = start([sys.executable, str(driver), "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs")])
    _, err = signal_after(process, ["CV STARTED"], signal.SIGTERM)
    assert process.returncode == 143, err[-3000:]
    assert "Traceback" not in err
    assert err.strip().splitlines() == [
        "interrupted by SIGTERM before training began: nothing was written; run the same command again"
    ]
    assert not (tmp_path / "logs" / "hitters").exists()  # no results.json, no log version


# -- the chapter run --------------------------------------------------------------------------------------------


def test_ctrl_c_of_the_chapter_run_reports_what_finished(tmp_path):
    """hitters finishes, nyse is stopped in training: the report says so, shows no older figures, exits 130."""
    old_results(tmp_path)
    command = [sys.executable, str(SCRIPTS / "chapter.py"), "--labs", "hitters,nyse", "--log-dir", str(tmp_path),
               "--accelerator", "cpu", "--seeds", "1"]
    process = start(command, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    _, err = signal_after(process, ["=== [2/2]", "[nyse/rnn/seed_0] epoch"], signal.SIGINT)  # to the chapter run alone
    assert process.returncode == 130, err[-3000:]
    assert "Traceback" not in err and "chapter run interrupted by SIGINT" in err
    report = (tmp_path / "report.md").read_text()
    assert "| hitters | mlp | test MAE |" in report and "| nyse | interrupted |" in report
    assert "- **nyse** (interrupted): interrupted by SIGINT" in report and "--resume" in report
    assert str(OLD_FIGURE)[:6] not in report and "0.1235" not in report
    assert "hitters/mlp_curves.png" in report and "nyse/rnn_curves.png" not in report
    assert (tmp_path / "nyse/rnn/seed_0/version_0/checkpoints/last.ckpt").is_file()


def test_a_failed_lab_is_reported_failed_without_older_figures(tmp_path, capsys):
    old_results(tmp_path)
    (tmp_path / "report.md").write_text("an earlier report")
    status = chapter.main(["--labs", "nyse", "--log-dir", str(tmp_path), "--accelerator", unavailable_accelerator()])
    assert status == 1
    report = (tmp_path / "report.md").read_text()
    assert "| nyse | failed |" in report and "is not available on this machine" in report
    assert "0.1235" not in report


# Stand-in labs: one that exits 0 without writing results.json, one killed by a signal, one stopped by SIGTERM.
FAKE_LAB = textwrap.dedent(
    """
    import os, signal, sys
    from pathlib import Path
    name = Path(__file__).stem
    if name == "killed":
        os.kill(os.getpid(), signal.SIGKILL)
    if name == "stopped":
        print("interrupted by SIGTERM: the run stopped before finishing; ... --resume", file=sys.stderr)
        sys.exit(143)
    print("all done (but no results.json)")
    """
)


@pytest.mark.parametrize("name, status, message", [
    ("silent", "failed", "exited 0 but wrote no"),
    ("killed", "interrupted", "killed by SIGKILL"),
    ("stopped", "interrupted", "interrupted by SIGTERM"),
])
def test_a_lab_that_did_not_write_its_results_never_shows_older_ones(name, status, message, tmp_path):
    script = tmp_path / f"{name}.py"
    script.write_text(FAKE_LAB)
    old_results(tmp_path / "logs", name)
    args = argparse.Namespace(log_dir=str(tmp_path / "logs"), data_dir="data", accelerator="cpu", quick=False, seeds=None)
    (outcome,) = chapter.run_chapter([chapter.ChapterLab(name, str(script), name)], args)
    assert (outcome.status, outcome.results) == (status, None) and message in outcome.message
    report = chapter.write_report([outcome], tmp_path / "logs", quick=False).read_text()
    assert f"| {name} | {status} |" in report and "0.1235" not in report
    assert chapter.chapter_status([outcome], None) == 1


@pytest.mark.parametrize("labs, says", [(",", "selects no lab"), ("", "selects no lab"), (" , ,", "selects no lab"),
                                        ("hitters,mnits", "unknown lab(s): mnits"), ("nyse,nyse", "more than once")])
def test_an_empty_or_unknown_lab_selection_is_refused_and_the_report_kept(labs, says, tmp_path, capsys):
    (tmp_path / "report.md").write_text("an earlier report")
    with pytest.raises(SystemExit) as exited:
        chapter.main(["--labs", labs, "--log-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exited.value.code == 2 and len(err.strip().splitlines()) == 1 and says in err
    assert (tmp_path / "report.md").read_text() == "an earlier report"


def test_chapter_exit_status_says_whether_every_lab_finished():
    lab = chapter.LABS[0]
    done, skipped = chapter.Outcome(lab, "done", 1.0), chapter.Outcome(lab, "skipped", 1.0)
    assert chapter.chapter_status([done, skipped], None) == 0  # skipped for missing data: normal offline
    assert chapter.chapter_status([done, chapter.Outcome(lab, "failed", 1.0)], None) == 1
    assert chapter.chapter_status([done, chapter.Outcome(lab, "interrupted", 1.0)], None) == 1
    assert chapter.chapter_status([done, chapter.Outcome(lab, "not run", 0.0)], signal.SIGINT) == 130
    assert chapter.chapter_status([done], signal.SIGTERM) == 143


# -- bad arguments: one line, status 2 (1 for a bad file or machine), before any work --------------------------


def bad_script_arguments(tmp_path: Path) -> list[tuple[str, list[str], int, str]]:
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    return [
        ("lab_hitters", ["--seed", "-1"], 2, "-1"),
        ("lab_hitters", ["--seed", "4294967296"], 2, "4294967296"),
        ("lab_hitters", ["--strategy", "garbage"], 2, "garbage"),
        ("lab_hitters", ["--devices", "abc"], 2, "abc"),
        ("lab_hitters", ["--devices", "0"], 2, "'0'"),
        ("lab_hitters", ["--threads", "-2"], 2, "-2"),
        ("lab_hitters", ["--threads", "0"], 2, "got 0"),
        ("lab_hitters", ["--max-epochs", "-1"], 2, "-1"),
        ("lab_hitters", ["--max-epochs", "0"], 2, "got 0"),
        ("lab_hitters", ["--max-epochs", "ten"], 2, "ten"),
        ("lab_hitters", ["--num-nodes", "0"], 2, "got 0"),
        ("lab_hitters", ["--accelerator", "tpu"], 2, "tpu"),
        ("lab_hitters", ["--log-dir", str(a_file)], 2, str(a_file)),
        ("lab_hitters", ["--log-dir", str(a_file / "logs")], 2, str(a_file)),
        ("lab_hitters", ["--log-dir", "/proc/islp-logs"], 2, "/proc/islp-logs"),  # can't be written, even by root
        ("lab_hitters", ["--accelerator", "cpu", "--devices", "0,1"], 2, "--devices 0,1"),
        ("lab_hitters", ["--lasso-lambdas", "0"], 2, "--lasso-lambdas: must be at least 1, got 0"),
        ("lab_imdb", ["--lasso-lambdas", "0", "--synthetic"], 2, "--lasso-lambdas: must be at least 1, got 0"),
        ("lab_mnist", ["--limit", "0", "--synthetic"], 2, "got 0"),
        ("lab_mnist", ["--limit", "-5", "--synthetic"], 2, "-5"),
        ("lab_nyse", ["--ar-epochs", "0"], 2, "--ar-epochs must be at least 1, got 0"),
        ("lab_nyse", ["--lags", "0"], 2, "got 0"),
        ("lab_pretrained", ["--seed", "-3"], 2, "-3"),
        ("lab_pretrained", ["--images", str(tmp_path / "no_such_folder")], 2, "no_such_folder"),
        ("lab_pretrained", ["--log-dir", str(a_file)], 2, str(a_file)),
    ]


def test_bad_script_arguments_end_with_one_line_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for script, argv, code, value in bad_script_arguments(tmp_path):
        module = load_script(script)
        with pytest.raises(SystemExit) as exited:
            command_line.run(module.main, argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exited.value.code == code and len(lines) == 1 and value in lines[0], (script, argv, err)
        assert "Traceback" not in err
    assert not list(tmp_path.glob("**/results.json")) and not list(tmp_path.glob("**/version_*"))


def test_the_accelerator_is_checked_before_the_lasso_cross_validation(tmp_path, capsys, monkeypatch):
    hitters = load_script("lab_hitters")
    monkeypatch.setattr(hitters, "cross_validated_lasso", lambda *a, **k: pytest.fail("the lasso CV ran first"))
    accelerator = unavailable_accelerator()
    with pytest.raises(SystemExit) as exited:
        command_line.run(hitters.main, ["--accelerator", accelerator, "--log-dir", str(tmp_path)])
    err = capsys.readouterr().err
    assert exited.value.code == 1 and err.strip().splitlines() == [
        (f"error: accelerator {accelerator!r} is not available on this machine; available: "
         f"{', '.join(available_accelerators())} (or 'auto' to pick the best of them)")
    ]


def test_lab_script_arguments_through_the_real_entry_point(tmp_path):
    """The same one line from the script itself, in its own process (what a user sees)."""
    result = subprocess.run([sys.executable, str(SCRIPTS / "lab_hitters.py"), "--max-epochs", "0", "--log-dir", str(tmp_path)],
                            capture_output=True, text=True, cwd=ROOT, timeout=300, check=False)
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["lab_hitters.py: error: argument --max-epochs: must be at least 1, got 0 (see --help)"]
    assert result.stdout == "" and not list(tmp_path.iterdir())


@pytest.fixture(scope="module")
def other_labs_checkpoint(tmp_path_factory) -> Path:
    """A real Lightning checkpoint of the NYSE nonlinear AR network (not the Hitters network)."""
    from pytorch_lightning import Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_modules.chapter.labs import NETWORKS

    settings = NETWORKS["nyse_ar"]
    module = settings.build_module(settings.network.build(input_size=20))
    data = DataLoader(TensorDataset(torch.randn(16, 20), torch.randn(16)), batch_size=8)
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(module, train_dataloaders=data)
    path = tmp_path_factory.mktemp("ckpt") / "nyse_ar.ckpt"
    trainer.save_checkpoint(path)
    return path


def bad_cli_arguments(tmp_path: Path, other_checkpoint: Path) -> list[tuple[list[str], int, str]]:
    not_utf8 = tmp_path / "latin1.yaml"
    not_utf8.write_bytes((CONFIGS / "hitters.yaml").read_text().replace("# ", "# caf\xe9 ", 1).encode("latin-1"))
    text = tmp_path / "notes.ckpt"
    text.write_text("not a checkpoint")
    empty = tmp_path / "empty.ckpt"
    empty.write_bytes(b"")
    hitters = ["fit", "--config", str(CONFIGS / "hitters.yaml")]
    return [
        ([*hitters, "--model.optimizer", "Adamm"], 2, "Adamm"),
        ([*hitters, "--model.lr", "-0.1"], 2, "-0.1"),
        ([*hitters, "--data.batch_size", "0"], 2, "batch_size must be at least 1, got 0"),
        ([*hitters, "--data.init_args.batch_size", "0"], 2, "batch_size must be at least 1, got 0"),
        ([*hitters, "--model.metrics", "[maee]"], 2, "maee"),
        ([*hitters, "--seed_everything", "-1"], 2, "-1"),
        ([*hitters, "--torch_threads", "0"], 2, "got 0"),
        (["fit", "--config", str(not_utf8)], 1, "latin1.yaml is not UTF-8"),
        (["test", "--config", str(CONFIGS / "hitters.yaml"), "--ckpt_path", str(text)], 1, "notes.ckpt"),
        (["test", "--config", str(CONFIGS / "hitters.yaml"), "--ckpt_path", str(empty)], 1, "empty.ckpt"),
        (["test", "--config", str(CONFIGS / "hitters.yaml"), "--ckpt_path", str(tmp_path / "gone.ckpt")], 2, "gone.ckpt"),
        (["test", "--config", str(CONFIGS / "hitters.yaml"), "--ckpt_path", str(other_checkpoint)], 2, "another network"),
        (["test", "--config", str(CONFIGS / "nyse_rnn.yaml"), "--ckpt_path", str(other_checkpoint)], 2, "another network"),
    ]


def test_bad_cli_arguments_end_with_one_line(tmp_path, capsys, monkeypatch, other_labs_checkpoint):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "argv", ["islp-lab"])
    for argv, code, value in bad_cli_arguments(tmp_path, other_labs_checkpoint):
        with pytest.raises(SystemExit) as exited:
            cli.main(argv)
        err = capsys.readouterr().err
        lines = err.strip().splitlines()
        assert exited.value.code == code and len(lines) == 1, (argv, err[-3000:])
        assert lines[0].startswith("islp-lab: error: ") and value in lines[0] and "Traceback" not in err, (argv, err)
    assert not (tmp_path / "logs").exists()  # refused before anything was logged


def test_cli_argument_through_the_real_entry_point(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "lightning_modules.runner.cli", "fit", "--config", str(CONFIGS / "hitters.yaml"),
         "--model.metrics", "[maee]"], capture_output=True, text=True, cwd=tmp_path, timeout=300, check=False,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "islp-lab: error: unknown metric 'maee' for a regression task; choose from ['mae', 'mse', 'r2']"
    ]
