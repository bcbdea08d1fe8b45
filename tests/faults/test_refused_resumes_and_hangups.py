"""No run lost or mixed by a refused resume, and no stop (a hangup, SIGTERM) that looks like success.

Each fault is real: a ``--resume`` started while the run it would continue is
still training, a resume refused for fewer epochs than the run has or for
another seed (the finished run's files must stay byte for byte as they were),
SIGHUP (a closed terminal) in the middle of a lab, and SIGTERM to a reader's
own script built on ``make_trainer``. The run that is paused or sent a signal
is a process of its own (the real entry point); the runs refused or resumed
beside it run in this process (run_script).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import torch
from helpers import PAUSE_AT_EPOCH_2, ROOT, epochs_logged, error_lines, run_script, test_rows

from lightning_modules.machinery.run_logs import ResumableCSVLogger

SCRIPTS = ROOT / "scripts"


def nyse_command(log_dir: Path, *extra: str, driver: Path | None = None) -> list[str]:
    return [sys.executable, *([str(driver)] if driver else []), str(SCRIPTS / "lab_nyse.py"), "--ar-epochs", "1",
            "--accelerator", "cpu", "--log-dir", str(log_dir), *extra]


def nyse(log_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    """lab_nyse in this process (run_script)."""
    return run_script("lab_nyse", "--ar-epochs", "1", "--accelerator", "cpu", "--log-dir", str(log_dir), *extra)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) by its SHA-256."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


# -- a run lost or mixed -----------------------------------------------------------------------------------------


def test_a_resume_while_the_run_trains_is_refused_and_the_run_finishes_clean(tmp_path):
    """The second run (``--resume`` of the same log folder) is refused in one line naming the running process,
    before it writes anything; the first then finishes with every epoch once, in order, and one test row."""
    log_dir, go = tmp_path / "logs", tmp_path / "GO"
    driver = tmp_path / "pause.py"
    driver.write_text(PAUSE_AT_EPOCH_2)
    # the run under way: a process of its own, paused at epoch 2 (the refused resume runs in this process)
    first = subprocess.Popen(nyse_command(log_dir, "--max-epochs", "4", driver=driver), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, cwd=ROOT, env={**os.environ, "GO": str(go)})
    try:
        for line in first.stdout:
            if line.startswith("PAUSED"):
                break
        run_dir = log_dir / "nyse/rnn/version_0"
        before = fingerprint(run_dir)
        second = nyse(log_dir, "--resume", "--max-epochs", "4")
        assert fingerprint(run_dir) == before  # the second run wrote nothing into the first's folder
    finally:
        go.touch()
        out, err = first.communicate(timeout=600)
    assert second.returncode == 1, second.stderr[-3000:]
    assert "Traceback" not in second.stderr
    (line,) = error_lines(second.stderr)
    assert line == (f"error: {run_dir} belongs to a run that is still going (process {first.pid}): wait for it to "
                    "finish before --resume, or start a new run without --resume")
    assert first.returncode == 0, err[-3000:]
    csv = run_dir / "metrics.csv"
    assert epochs_logged(csv) == [0, 1, 2, 3]  # every epoch once, in order
    assert test_rows(csv) == 1
    frame = pd.read_csv(csv)
    assert frame["epoch"].is_monotonic_increasing
    assert sorted(p.name for p in (log_dir / "nyse/rnn").iterdir()) == ["version_0"]
    assert (run_dir / ".run.lock").read_bytes() == b""  # emptied when its owner exited


def test_a_refused_resume_leaves_the_finished_runs_files_byte_identical(tmp_path):
    log_dir = tmp_path / "logs"
    finished = nyse(log_dir, "--max-epochs", "3")
    assert finished.returncode == 0, finished.stderr[-3000:]
    before = fingerprint(log_dir)
    run_dir = log_dir / "nyse/rnn/version_0"
    assert test_rows(run_dir / "metrics.csv") == 1

    fewer = nyse(log_dir, "--resume", "--max-epochs", "2")
    assert fewer.returncode == 2, fewer.stderr[-3000:]
    (line,) = error_lines(fewer.stderr)
    assert line == (f"error: --resume: the run to continue ({run_dir}) has already trained 3 epochs, more than the 2 "
                    "asked for: resume it with --max-epochs 3 or more, or start a new run without --resume")
    assert fingerprint(log_dir) == before  # metrics.csv with its test row and columns, checkpoint, results: as they were

    other_seed = nyse(log_dir, "--resume", "--max-epochs", "3", "--seed", "7")
    assert other_seed.returncode == 2, other_seed.stderr[-3000:]
    (line,) = error_lines(other_seed.stderr)
    assert line == ("error: --resume: the run to continue was trained with seed 0, not 7: resume it with --seed 0, "
                    "or start a new run without --resume")
    assert fingerprint(log_dir) == before
    assert "Traceback" not in fewer.stderr + other_seed.stderr

    again = nyse(log_dir, "--resume", "--max-epochs", "3")  # the same run, resumed as it was: tested again, once
    assert again.returncode == 0, again.stderr[-3000:]
    assert epochs_logged(run_dir / "metrics.csv") == [0, 1, 2] and test_rows(run_dir / "metrics.csv") == 1


def test_reopening_a_run_writes_nothing_until_it_starts(tmp_path):
    """The logger of a resumed run opens its version, reads the header and takes Lightning's hyperparameters without
    writing a byte; once the run starts it drops a last line cut short and writes the hyperparameters."""
    run_dir = tmp_path / "mlp" / "version_0"
    run_dir.mkdir(parents=True)
    csv = run_dir / "metrics.csv"
    csv.write_bytes(b"epoch,step,test_loss,valid_loss\r\n0,5,,1.5\r\n1,11,2.5,\r\n2,1")  # a test row, a cut line
    (run_dir / "hparams.yaml").write_text("lr: 0.1\n")
    before = fingerprint(run_dir)
    logger = ResumableCSVLogger(str(tmp_path), name="mlp", version=0)
    writer = logger.experiment
    logger.log_hyperparams({"lr": 0.5})
    logger.save()
    assert writer.metrics_keys == ["epoch", "step", "test_loss", "valid_loss"]
    assert {name: digest for name, digest in fingerprint(run_dir).items() if name != ".run.lock"} == \
        {name: digest for name, digest in before.items()}
    logger.log_metrics({"valid_loss": 3.5}, step=17)  # the run is under way: now it may write
    assert csv.read_bytes().splitlines()[:3] == [b"epoch,step,test_loss,valid_loss", b"0,5,,1.5", b"1,11,2.5,"]
    assert csv.read_text().splitlines()[-1] == ",17,,3.5"
    assert "lr: 0.5" in (run_dir / "hparams.yaml").read_text()


# -- signals ------------------------------------------------------------------------------------------------------


def test_sighup_stops_a_lab_with_129_and_resume_finishes_it(tmp_path):
    log_dir = tmp_path / "logs"
    # signalled: a process of its own. 20 epochs: the hangup comes as epoch 2 ends (the first progress line, a tenth
    # of the run), 18 epochs (seconds) before the end; the resume (in this process) trains what is left
    process = subprocess.Popen(nyse_command(log_dir, "--max-epochs", "20"), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    for line in process.stdout:
        if "[nyse/rnn] epoch" in line:
            process.send_signal(signal.SIGHUP)  # the terminal or ssh session closed
            break
    out, err = process.communicate(timeout=600)
    assert process.returncode == 129, err[-3000:]
    assert "Traceback" not in err
    (line,) = [text for text in err.splitlines() if text.startswith("interrupted by")]
    assert line.startswith("interrupted by SIGHUP: the run stopped before finishing") and "--resume" in line
    assert not (log_dir / "nyse/results.json").exists()

    resumed = nyse(log_dir, "--resume", "--max-epochs", "20")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "[nyse/rnn] epoch 2/20" not in resumed.stdout  # it continued where the signal stopped it
    assert epochs_logged(log_dir / "nyse/rnn/version_0/metrics.csv") == list(range(20))
    assert (log_dir / "nyse/results.json").is_file()


READERS_SCRIPT = """
import sys, time
import torch
from lightning_modules import SimpleDataModule, SimpleModule, make_trainer

X = torch.randn(2000, 5)
y = X.sum(1)
data = SimpleDataModule(torch.utils.data.TensorDataset(X, y), torch.utils.data.TensorDataset(X, y),
                        validation=0.2, batch_size=16)

class Slow(SimpleModule):
    def on_train_epoch_start(self):
        print("EPOCH", self.current_epoch, flush=True)
        time.sleep(0.3)

module = Slow.regression(torch.nn.Linear(5, 1))
trainer = make_trainer("reader", "linear", max_epochs=100, accelerator="cpu", log_dir=sys.argv[1])
trainer.fit(module, datamodule=data)
print("after", flush=True)
"""


def test_sigterm_to_a_readers_own_make_trainer_script_does_not_look_like_success(tmp_path):
    """Lightning ends fit() on SIGTERM with a SystemExit of status 0: the script would 'succeed' and skip the rest."""
    script = tmp_path / "my_run.py"
    script.write_text(textwrap.dedent(READERS_SCRIPT))
    process = subprocess.Popen([sys.executable, str(script), str(tmp_path / "logs")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    for line in process.stdout:
        if line.startswith("EPOCH 2"):
            process.send_signal(signal.SIGTERM)
            break
    out, err = process.communicate(timeout=600)
    assert process.returncode == 143, err[-3000:]
    assert "after" not in out
    assert "Traceback" not in err
    (line,) = [text for text in err.splitlines() if text.startswith("interrupted by")]
    assert line.startswith("interrupted by SIGTERM: the run stopped before finishing")
    checkpoint = tmp_path / "logs/reader/linear/version_0/checkpoints/last.ckpt"
    assert str(checkpoint.parent) in line
    assert torch.load(checkpoint, map_location="cpu", weights_only=True)["epoch"] >= 1  # there is a run to resume
