"""Nothing is written through a symbolic link in a log folder.

On a shared log folder, a link planted at a run's file (``.run.lock`` -> someone's
file) would have its target truncated or overwritten by the next run. Each file a
run writes, planted as a link to a file outside, is refused in one line naming it,
and the target stays byte for byte as it was: through the files module, the
run's logger, a lab script's ``--resume`` and ``islp-lab``.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from helpers import ROOT, error_lines, run_islp_lab, run_script

from foundations.errors import WriteError
from foundations.files import append_no_follow, open_no_follow, refuse_links, write_atomically
from lightning_modules.machinery.run_logs import ResumableCSVLogger, hold_run_lock
from lightning_modules.runner.results import results_lock

SECRET = b"someone else's file\n"


def outside_file(tmp_path: Path, name: str = "victim.txt") -> Path:
    """A file outside the log folder, the target of a planted link."""
    target = tmp_path / "outside" / name
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(SECRET)
    return target


def plant_link(link: Path, target: Path) -> None:
    """Replace ``link`` (a file or folder, if there) by a symbolic link to ``target``."""
    if link.is_dir() and not link.is_symlink():
        shutil.rmtree(link)
    elif link.exists() or link.is_symlink():
        link.unlink()
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too, not through links) by its SHA-256."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file() and not path.is_symlink()}


# -- the rule, in foundations/files.py -------------------------------------------------------------------------


def test_an_atomic_write_refuses_a_link_at_its_name_and_leaves_the_target(tmp_path):
    target = outside_file(tmp_path)
    link = tmp_path / "logs" / "results.json"
    plant_link(link, target)
    with pytest.raises(WriteError, match=r"results\.json is a symbolic link .*rm ") as refused:
        write_atomically(link, b"{}")
    assert "\n" not in str(refused.value)
    assert target.read_bytes() == SECRET and link.is_symlink()
    assert [path.name for path in link.parent.iterdir()] == ["results.json"]  # no temporary file left


def test_an_open_in_place_or_an_append_never_follows_a_link(tmp_path):
    target = outside_file(tmp_path)
    link = tmp_path / "run" / "metrics.csv"
    plant_link(link, target)
    with pytest.raises(WriteError, match="metrics.csv is a symbolic link"):
        append_no_follow(link, b"1,2\n")
    with pytest.raises(WriteError, match="metrics.csv is a symbolic link"):
        open_no_follow(link, os.O_WRONLY | os.O_TRUNC)
    assert target.read_bytes() == SECRET


@pytest.mark.parametrize("planted", ["version_0", "version_0/checkpoints", "version_0/checkpoints/last.ckpt",
                                     "version_0/hparams.yaml"])
def test_a_run_folder_with_a_link_anywhere_in_it_is_refused(tmp_path, planted):
    run = tmp_path / "mlp" / "version_0"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "last.ckpt").write_bytes(b"weights")
    if planted.endswith((".ckpt", ".yaml")):
        target = outside_file(tmp_path)
    else:
        target = tmp_path / "outside"
        target.mkdir()
    plant_link(tmp_path / "mlp" / planted, target)
    with pytest.raises(WriteError, match=f"{Path(planted).name} is a symbolic link"):
        refuse_links(run, below=tmp_path)


# -- the run's own writers -------------------------------------------------------------------------------------


def test_the_run_lock_refuses_a_link_and_truncates_nothing(tmp_path):
    target = outside_file(tmp_path)
    run = tmp_path / "mlp" / "version_0"
    run.mkdir(parents=True)
    plant_link(run / ".run.lock", target)
    with pytest.raises(WriteError, match=r"\.run\.lock is a symbolic link"):
        hold_run_lock(run)
    assert target.read_bytes() == SECRET


@pytest.mark.parametrize("name", ["metrics.csv", "hparams.yaml"])
def test_a_link_planted_while_the_run_logs_is_refused_not_written_through(tmp_path, name):
    """The logger's own writes (rows appended, hyperparameters) never follow a link, even one put there mid-run."""
    logger = ResumableCSVLogger(str(tmp_path), name="mlp")
    logger.log_metrics({"valid_loss": 1.5}, step=0)  # a new run: metrics.csv is written at once
    logger.log_hyperparams({"lr": 0.1})
    target = outside_file(tmp_path)
    plant_link(Path(logger.log_dir) / name, target)
    with pytest.raises(WriteError, match=f"{name} is a symbolic link"):
        if name == "metrics.csv":
            logger.log_metrics({"valid_loss": 2.5}, step=1)
        else:
            logger.log_hyperparams({"lr": 0.2})
    assert target.read_bytes() == SECRET


def test_a_link_in_another_run_refuses_only_that_run(tmp_path):
    """A new run checks the folders on its way and its own; a link left in an older version stops only its resume."""
    target = outside_file(tmp_path)
    plant_link(tmp_path / "mlp" / "version_0" / "hparams.yaml", target)
    assert ResumableCSVLogger(str(tmp_path), name="mlp").version == 1
    with pytest.raises(WriteError, match="version_0/hparams.yaml is a symbolic link"):
        ResumableCSVLogger(str(tmp_path), name="mlp", version=0)
    assert target.read_bytes() == SECRET


def test_the_logger_appends_rows_as_lightning_lays_them_out(tmp_path):
    """Rows appended under the header; a new column rewrites the file whole, the earlier rows kept."""
    logger = ResumableCSVLogger(str(tmp_path), name="mlp")
    logger.log_metrics({"valid_loss": 1.5, "epoch": 0}, step=5)
    logger.log_metrics({"valid_loss": 1.25, "epoch": 1}, step=11)
    logger.log_metrics({"test_loss": 2.0, "epoch": 1}, step=12)
    csv = Path(logger.log_dir) / "metrics.csv"
    assert csv.read_bytes() == (b"epoch,step,test_loss,valid_loss\r\n0,5,,1.5\r\n1,11,,1.25\r\n1,12,2.0,\r\n")


def test_the_labs_results_lock_is_never_opened_through_a_link(tmp_path):
    target = outside_file(tmp_path)
    plant_link(tmp_path / "hitters" / ".results.lock", target)
    with pytest.raises(WriteError, match=r"\.results\.lock is a symbolic link"), results_lock(tmp_path / "hitters"):
        pass
    assert target.read_bytes() == SECRET


# -- through the real entry points -----------------------------------------------------------------------------


def hitters(log_dir: Path, *extra: str, new_process: bool = False) -> subprocess.CompletedProcess:
    return run_script("lab_hitters", "--max-epochs", "2", "--lasso-lambdas", "3", "--accelerator", "cpu",
                      "--log-dir", str(log_dir), *extra, new_process=new_process)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """A Hitters run of two epochs, finished: its log folder (copied by each test before it plants a link)."""
    log_dir = tmp_path_factory.mktemp("finished") / "logs"
    result = hitters(log_dir)
    assert result.returncode == 0, result.stderr[-3000:]
    return log_dir


def refused_in_one_line(result: subprocess.CompletedProcess, link: Path) -> None:
    assert result.returncode == WriteError.exit_status, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    assert error_lines(result.stderr) == [result.stderr.strip().splitlines()[-1]]
    assert f"{link} is a symbolic link" in error_lines(result.stderr)[0]


@pytest.mark.parametrize("planted", [".run.lock", "hparams.yaml", "metrics.csv", "results.json",
                                     "checkpoints/last.ckpt", "checkpoints", ""])
def test_resume_refuses_a_link_in_the_run_and_leaves_its_target_and_the_run_as_they_were(
        tmp_path, finished_run, planted):
    log_dir = tmp_path / "logs"
    shutil.copytree(finished_run, log_dir, symlinks=True)
    run = log_dir / "hitters" / "mlp" / "version_0"
    link = run / planted if planted else run
    if planted in ("checkpoints", ""):  # a folder: the link goes to a copy of it outside
        target = tmp_path / "outside" / (planted or "version_0")
        shutil.copytree(link, target, symlinks=True)
    else:
        target = outside_file(tmp_path, link.name)
        if planted.endswith(".ckpt"):
            shutil.copyfile(link, target)  # a checkpoint that loads: only the link stops the run
    before = fingerprint(target) if target.is_dir() else {"": hashlib.sha256(target.read_bytes()).hexdigest()}
    plant_link(link, target)
    run_before = fingerprint(log_dir)

    result = hitters(log_dir, "--max-epochs", "3", "--resume")

    refused_in_one_line(result, link)
    after = fingerprint(target) if target.is_dir() else {"": hashlib.sha256(target.read_bytes()).hexdigest()}
    assert after == before
    assert fingerprint(log_dir) == run_before  # nothing of the run rewritten either


def test_a_new_run_refuses_a_link_at_the_labs_results_and_leaves_its_target(tmp_path):
    log_dir = tmp_path / "logs"
    target = outside_file(tmp_path)
    plant_link(log_dir / "hitters" / "results.json", target)
    result = hitters(log_dir, new_process=True)  # the script's real entry point
    refused_in_one_line(result, log_dir / "hitters" / "results.json")
    assert target.read_bytes() == SECRET


def test_islp_lab_refuses_a_link_in_the_run_it_continues(tmp_path):
    def islp_lab(*extra: str) -> subprocess.CompletedProcess:
        return run_islp_lab("fit", "--config", str(ROOT / "scripts/configs/hitters.yaml"), "--trainer.accelerator",
                            "cpu", *extra, cwd=tmp_path)

    first = islp_lab("--trainer.max_epochs", "2")
    assert first.returncode == 0, first.stderr[-3000:]
    config = tmp_path / "logs" / "hitters" / "mlp" / "version_0" / "config.yaml"
    target = outside_file(tmp_path)
    plant_link(config, target)

    continued = islp_lab("--trainer.max_epochs", "3", "--ckpt_path", "last")

    assert continued.returncode == WriteError.exit_status, continued.stderr[-3000:]
    assert "Traceback" not in continued.stderr
    last = continued.stderr.strip().splitlines()[-1]
    assert "config.yaml is a symbolic link" in last and "rm " in last
    assert target.read_bytes() == SECRET
