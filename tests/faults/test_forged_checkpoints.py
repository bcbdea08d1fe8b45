"""A forged checkpoint is read and checked whole before a resume writes anything.

A real Hitters run of 3 epochs is written once per module; each fault is a copy of it whose
``last.ckpt`` is changed with ``torch.save`` and resumed to 5 epochs: through the lab script's
``--resume`` in a subprocess for the rows in ``ISSUE_ROWS``, in-process (the same calls the script makes:
``make_trainer(..., resume=True)`` and ``fit(..., ckpt_path=last_checkpoint(trainer))``) for the
rest. Every one must be refused in one line naming the checkpoint and the field, with the run's
folder byte for byte as it was. A property test changes fields at random: each resume either is
refused with the folder untouched, or writes the log of an uninterrupted 5-epoch run.
"""

from __future__ import annotations

import copy
import hashlib
import math
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from helpers import epochs_logged, error_lines, run_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pytorch_lightning import Trainer, seed_everything
from pytorch_lightning.callbacks import ModelCheckpoint
from torch.optim import RMSprop

from datamodules.hitters import HittersDataModule
from foundations.errors import UserError, exit_status
from lightning_modules import SimpleModule, make_trainer
from lightning_modules.machinery.run_logs import release_run_locks
from lightning_modules.networks import HittersMLP
from lightning_modules.runner.runs import last_checkpoint

RUN = Path("hitters/mlp/version_0")
ROWS = "islp_last_epoch_rows"
SEED = "SeedEachEpoch"
FIT = ("loops", "fit_loop")
START_OVER = "start a new run instead (without --resume or --ckpt_path), or give another checkpoint"


def fingerprint(folder: Path) -> dict[str, str]:
    """Every file under ``folder`` (hidden ones too) by its SHA-256."""
    return {str(path.relative_to(folder)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(folder.rglob("*")) if path.is_file()}


def hitters_module() -> SimpleModule:
    network = HittersMLP(input_size=19)
    return SimpleModule.regression(network, metrics=["mae"], optimizer=RMSprop(network.parameters(), lr=0.01))


def fit_hitters(log_dir: Path, max_epochs: int, resume: bool = False) -> None:
    """The lab script's network, trained (or resumed) and tested as ``train_one_seed`` does, in this process."""
    try:
        seed_everything(0, workers=True, verbose=False)
        datamodule = HittersDataModule(batch_size=32, seed=0)
        module = hitters_module()
        trainer = make_trainer("hitters", "mlp", max_epochs=max_epochs, seed=0, accelerator="cpu", log_dir=log_dir,
                               resume=resume, enable_progress_bar=False)
        trainer.fit(module, datamodule=datamodule, ckpt_path=last_checkpoint(trainer))
        trainer.test(module, datamodule=datamodule, verbose=False)
    finally:
        release_run_locks()  # as at the process's exit: the run's .run.lock emptied again


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> Path:
    """The log folder of a finished 3-epoch Hitters run."""
    log_dir = tmp_path_factory.mktemp("finished")
    fit_hitters(log_dir, 3)
    return log_dir


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory) -> bytes:
    """metrics.csv of the same run trained 5 epochs without a stop."""
    log_dir = tmp_path_factory.mktemp("uninterrupted")
    fit_hitters(log_dir, 5)
    return (log_dir / RUN / "metrics.csv").read_bytes()


@pytest.fixture(scope="module")
def plain_checkpoints(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints of the same network written by a plain Trainer: with and without save_weights_only, after fit
    by ``trainer.save_checkpoint``, and its bare weights (``torch.save(network.state_dict())``)."""
    folder = tmp_path_factory.mktemp("plain")
    seed_everything(0, verbose=False)
    datamodule = HittersDataModule(batch_size=32, seed=0)
    module = hitters_module()
    callbacks = [ModelCheckpoint(dirpath=folder, filename="full"),
                 ModelCheckpoint(dirpath=folder, filename="weights", save_weights_only=True, mode="max")]
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, callbacks=callbacks, enable_progress_bar=False,
                      enable_model_summary=False)
    trainer.fit(module, datamodule=datamodule)
    trainer.save_checkpoint(folder / "after_fit.ckpt")
    torch.save(module.model.state_dict(), folder / "bare.ckpt")
    torch.save({"state_dict": module.state_dict()}, folder / "other_code.ckpt")
    names = ("full", "weights", "after_fit", "bare", "other_code")
    return {name: folder / f"{name}.ckpt" for name in names}


def copy_of(finished: Path, where: Path) -> tuple[Path, Path]:
    """A copy of the finished run's folder, and its ``last.ckpt``."""
    log_dir = where / "logs"
    shutil.copytree(finished, log_dir)
    return log_dir, log_dir / RUN / "checkpoints" / "last.ckpt"


def rewrite(checkpoint: Path, change: Callable[[dict[str, Any]], Any]) -> None:
    saved = torch.load(checkpoint, map_location="cpu", weights_only=True)
    change(saved)
    torch.save(saved, checkpoint)


def at(saved: dict[str, Any], *keys: Any) -> Any:
    for key in keys:
        saved = saved[key]
    return saved


def setting(*keys: Any, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(saved: dict[str, Any]) -> None:
        at(saved, *keys[:-1])[keys[-1]] = value
    return change


def dropping(*keys: Any) -> Callable[[dict[str, Any]], None]:
    def change(saved: dict[str, Any]) -> None:
        del at(saved, *keys[:-1])[keys[-1]]
    return change


def both(*changes: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    def change(saved: dict[str, Any]) -> None:
        for one in changes:
            one(saved)
    return change


def seed_of(saved: dict[str, Any]) -> dict[str, Any]:
    return saved["callbacks"][SEED]


def checkpoint_callback_state(saved: dict[str, Any]) -> dict[str, Any]:
    return next(state for key, state in saved["callbacks"].items() if key.startswith("IntervalCheckpoint"))


def replaced_by(name: str) -> Callable[[dict[str, Any]], Any]:
    """The checkpoint replaced by one of ``plain_checkpoints`` (the change marks it; the test swaps the file)."""
    def change(saved: dict[str, Any]) -> None:
        raise AssertionError(name)  # never called: the test copies the file instead
    change.plain = name
    return change


EPOCH_PROGRESS = (*FIT, "epoch_progress", "current")
#: (name, change to last.ckpt, the field named in the line, the line's middle after "cannot be resumed: <field>")
FAULTS = [
    # -- the issue's table
    ("epoch -5", both(setting("epoch", value=-5), setting(ROWS, "epoch", value=-5)), "epoch",
     "is -5, not a whole number from 0 up"),
    ("no loops", dropping("loops"), "it holds a network's weights but no training state", "(no loops,"),
    ("rows of epoch 1000", setting(ROWS, "epoch", value=1000), f"{ROWS}['epoch']",
     "is 1000, but the checkpoint's epoch is 2"),
    ("no state_dict", dropping("state_dict"), "state_dict", "is missing"),
    ("rows without step", dropping(ROWS, "step"), f"{ROWS}['step']", "is missing"),
    ("callbacks a list", lambda c: c.update(callbacks=list(c["callbacks"].values())), "callbacks",
     "is a list of 2 values, not a mapping"),
    ("seed a tensor of 2", setting("callbacks", SEED, "seed", value=torch.tensor([0, 1])),
     f"callbacks['{SEED}']['seed']", "is a tensor of shape (2,), not a whole number"),
    ("seed '0'", setting("callbacks", SEED, "seed", value="0"), f"callbacks['{SEED}']['seed']",
     "is '0', not a whole number"),
    ("seed [0]", setting("callbacks", SEED, "seed", value=[0]), f"callbacks['{SEED}']['seed']",
     "is a list of 1 values, not a whole number"),
    # -- epoch and global_step: missing, of another type, out of range, disagreeing with the loops
    ("epoch missing", dropping("epoch"), "epoch", "is missing"),
    ("epoch '2'", setting("epoch", value="2"), "epoch", "is '2', not a whole number"),
    ("epoch 2.0", setting("epoch", value=2.0), "epoch", "is 2.0, not a whole number"),
    ("epoch True", setting("epoch", value=True), "epoch", "is True, not a whole number"),
    ("epoch 1 (rows too)", both(setting("epoch", value=1), setting(ROWS, "epoch", value=1)),
     "loops['fit_loop']['epoch_progress']['current']", "counts 2 epochs completed, but epoch is 1"),
    ("epoch 3, rows 3", both(setting("epoch", value=3), setting(ROWS, "epoch", value=3)),
     "loops['fit_loop']['epoch_progress']['current']", "counts 2 epochs completed, but epoch is 3"),
    ("global_step missing", dropping("global_step"), "global_step", "is missing"),
    ("global_step -1", setting("global_step", value=-1), "global_step", "is -1, not a whole number from 0 up"),
    ("global_step 17", setting("global_step", value=17), "global_step", "is 17, but the loops count 18"),
    # -- the loops
    ("loops a list", setting("loops", value=[1, 2]), "loops", "is a list of 2 values, not a mapping"),
    ("no fit_loop", dropping("loops", "fit_loop"), "loops['fit_loop']", "is missing"),
    ("no epoch_progress", dropping(*FIT, "epoch_progress"), "loops['fit_loop']['epoch_progress']", "is missing"),
    ("completed 'x'", setting(*EPOCH_PROGRESS, "completed", value="x"),
     "loops['fit_loop']['epoch_progress']['current']['completed']",
     "is 'x', not a whole number"),
    ("processed -1", setting(*EPOCH_PROGRESS, "processed", value=-1),
     "loops['fit_loop']['epoch_progress']['current']['processed']", "is -1, not a whole number from 0 up"),
    ("counts out of order", setting(*EPOCH_PROGRESS, "ready", value=1),
     "loops['fit_loop']['epoch_progress']['current']", "holds counts out of order"),
    ("epoch half begun", both(setting(*EPOCH_PROGRESS, "ready", value=4), setting(*EPOCH_PROGRESS, "started", value=4),
                              setting(*FIT, "epoch_progress", "total", "ready", value=4),
                              setting(*FIT, "epoch_progress", "total", "started", value=4)),
     "loops['fit_loop']['epoch_progress']['current']", "counts epochs that disagree with epoch 2"),
    ("batches stepped 1000", setting(*FIT, "epoch_loop.state_dict", "_batches_that_stepped", value=1000),
     "loops['fit_loop']['epoch_loop.state_dict']['_batches_that_stepped']", "is 1000, but global_step is 18"),
    ("is_last_batch 1", setting(*FIT, "epoch_loop.batch_progress", "is_last_batch", value=1),
     "loops['fit_loop']['epoch_loop.batch_progress']['is_last_batch']", "is 1, not True or False"),
    # -- the weights
    ("state_dict empty", setting("state_dict", value={}), "state_dict", "is empty"),
    ("state_dict a list", setting("state_dict", value=[1]), "state_dict", "is a list of 1 values, not a mapping"),
    ("a weight a string", setting("state_dict", "model.sequential.0.bias", value="w"), "state_dict",
     "maps 'model.sequential.0.bias' to 'w', not a name to a tensor"),
    ("version missing", dropping("pytorch-lightning_version"), "pytorch-lightning_version", "is missing"),
    ("version 'banana'", setting("pytorch-lightning_version", value="banana"), "pytorch-lightning_version",
     "is 'banana', not a version number"),
    # -- optimizer and scheduler states
    ("no optimizer_states", dropping("optimizer_states"), "it holds a network's weights but no training state",
     "(no optimizer_states,"),
    ("optimizer_states []", setting("optimizer_states", value=[]), "optimizer_states", "is empty"),
    ("optimizer_states [5]", setting("optimizer_states", value=[5]), "optimizer_states[0]", "is 5, not a mapping"),
    ("no param_groups", dropping("optimizer_states", 0, "param_groups"), "optimizer_states[0]['param_groups']",
     "is missing"),
    ("optimizer state emptied", setting("optimizer_states", 0, "state", value={}), "optimizer_states[0]['state']",
     "is empty after 18 steps"),
    ("optimizer state of parameter 9", lambda c: c["optimizer_states"][0]["state"].update({9: {}}),
     "optimizer_states[0]['state']", "holds 9, not the state of a parameter listed"),
    ("lr_schedulers missing", dropping("lr_schedulers"), "lr_schedulers", "is missing"),
    ("lr_schedulers None", setting("lr_schedulers", value=None), "lr_schedulers", "is None, not a list"),
    # -- callback states and the seed
    ("callbacks missing", dropping("callbacks"), "callbacks", "is missing"),
    ("seed state 7", setting("callbacks", SEED, value=7), "callbacks", "maps 'SeedEachEpoch' to 7"),
    ("seed True", setting("callbacks", SEED, "seed", value=True), f"callbacks['{SEED}']['seed']",
     "is True, not a whole number"),
    ("seed -1", setting("callbacks", SEED, "seed", value=-1), f"callbacks['{SEED}']['seed']",
     "is -1, not a whole number from 0 to 4294967295"),
    ("seed 2**40", setting("callbacks", SEED, "seed", value=2**40), f"callbacks['{SEED}']['seed']",
     "is 1099511627776, not a whole number from 0 to 4294967295"),
    ("seed tensor(0)", setting("callbacks", SEED, "seed", value=torch.tensor(0)), f"callbacks['{SEED}']['seed']",
     "is a tensor (0), not a whole number"),
    ("seed state dropped", dropping("callbacks", SEED), f"callbacks['{SEED}']", "is missing"),
    ("checkpoint callback without best_model_score", lambda c: checkpoint_callback_state(c).pop("best_model_score"),
     "['best_model_score']", "is missing"),
    ("best_model_path metrics.csv", "naming metrics.csv", "['best_model_path']", "a file the next save would delete"),
    # -- this project's saved log rows
    ("rows missing", dropping(ROWS), ROWS, "is missing: it holds no saved log rows"),
    ("rows a list", setting(ROWS, value=[0]), ROWS, "is a list of 1 values, not a mapping"),
    ("rows epoch '2'", setting(ROWS, "epoch", value="2"), f"{ROWS}['epoch']", "is '2', not a whole number"),
    ("rows epoch 1", setting(ROWS, "epoch", value=1), f"{ROWS}['epoch']", "is 1, but the checkpoint's epoch is 2"),
    ("rows step 5", setting(ROWS, "step", value=5), f"{ROWS}['step']", "is 5, but the checkpoint's last step is 17"),
    ("rows figures None", setting(ROWS, "figures", value=None), f"{ROWS}['figures']", "is None, not a mapping"),
    ("rows figure 'x'", setting(ROWS, "figures", "valid_loss", value="x"), f"{ROWS}['figures']['valid_loss']",
     "is 'x', not a number"),
    ("rows test figure", setting(ROWS, "figures", "test_loss", value=1.0), f"{ROWS}['figures']",
     "holds 'test_loss', not a training or validation figure"),
    ("rows fit_seconds nan", setting(ROWS, "fit_seconds", value=math.nan), f"{ROWS}['fit_seconds']",
     "is nan, not a number of seconds"),
    # -- checkpoints written by other Trainers, and other code
    ("plain Trainer, save_weights_only", replaced_by("weights"), "it holds a network's weights but no training state",
     "(no optimizer_states,"),
    ("plain Trainer, whole", replaced_by("full"), ROWS, "is missing: it holds no saved log rows"),
    ("plain Trainer, saved after fit", replaced_by("after_fit"), ROWS, "is missing: it holds no saved log rows"),
    ("bare weights", replaced_by("bare"), "state_dict", "is missing: the file holds bare weights"),
    ("weights from other code", replaced_by("other_code"), "it holds a network's weights but no training state",
     "(no loops or optimizer_states,"),
]
#: the issue's rows: through the lab script's --resume in a subprocess too
ISSUE_ROWS = [fault for fault in FAULTS[:9]] + [fault for fault in FAULTS if fault[0].startswith("plain Trainer, s")]


def apply(fault: tuple, checkpoint: Path, plain: dict[str, Path]) -> None:
    change = fault[1]
    if change == "naming metrics.csv":  # the run's own log, by way of its checkpoints folder (as Lightning sees it)
        change = lambda saved: checkpoint_callback_state(saved).update(  # noqa: E731
            best_model_path=str(checkpoint.parent / ".." / "metrics.csv"))
    if hasattr(change, "plain"):
        shutil.copyfile(plain[change.plain], checkpoint)
    else:
        rewrite(checkpoint, change)


def check_line(line: str, checkpoint: Path, field: str, says: str) -> None:
    assert "\n" not in line
    assert line.startswith(f"checkpoint {checkpoint} cannot be resumed: "), line
    assert field in line and says in line, line


@pytest.mark.parametrize("fault", FAULTS, ids=[fault[0] for fault in FAULTS])
def test_a_fault_in_any_field_is_refused_in_one_line_and_the_log_is_untouched(fault, finished, plain_checkpoints,
                                                                             tmp_path):
    log_dir, checkpoint = copy_of(finished, tmp_path)
    apply(fault, checkpoint, plain_checkpoints)
    before = fingerprint(log_dir)
    with pytest.raises(UserError) as refused:
        fit_hitters(log_dir, 5, resume=True)
    assert exit_status(refused.value) == 1
    check_line(str(refused.value), checkpoint, fault[2], fault[3])
    assert fingerprint(log_dir) == before


@pytest.mark.parametrize("fault", ISSUE_ROWS, ids=[fault[0] for fault in ISSUE_ROWS])
def test_the_issues_faults_through_the_lab_scripts_resume(fault, finished, plain_checkpoints, tmp_path):
    log_dir, checkpoint = copy_of(finished, tmp_path)
    apply(fault, checkpoint, plain_checkpoints)
    before = fingerprint(log_dir)
    # the first row through a Python of its own (the script's real entry point), the others in this process
    result = run_script("lab_hitters", "--max-epochs", "5", "--lasso-lambdas", "3", "--accelerator", "cpu",
                        "--log-dir", str(log_dir), "--resume", new_process=fault is ISSUE_ROWS[0])
    assert result.returncode == 1, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    (line,) = error_lines(result.stderr)
    check_line(line.removeprefix("error: "), checkpoint, fault[2], fault[3])
    assert line.endswith(START_OVER) or "islp-lab test --ckpt_path" in line
    assert fingerprint(log_dir) == before


def test_a_weights_only_checkpoint_says_what_it_can_be_used_for(finished, plain_checkpoints, tmp_path):
    log_dir, checkpoint = copy_of(finished, tmp_path)
    shutil.copyfile(plain_checkpoints["weights"], checkpoint)
    with pytest.raises(UserError) as refused:
        fit_hitters(log_dir, 5, resume=True)
    line = str(refused.value)
    assert f"islp-lab test --ckpt_path {checkpoint}" in line and "load_from_checkpoint" in line
    assert line.endswith("to train, start a new run (without --resume or --ckpt_path)")
    # and it is what it says: its weights load into the network to test
    trainer = Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    (test,) = trainer.test(hitters_module(), datamodule=HittersDataModule(batch_size=32, seed=0), ckpt_path=checkpoint,
                           verbose=False)
    assert math.isfinite(test["test_mae"])


def test_another_seed_still_says_so_with_exit_2(finished, tmp_path):
    log_dir, checkpoint = copy_of(finished, tmp_path)
    rewrite(checkpoint, setting("callbacks", SEED, "seed", value=1))
    before = fingerprint(log_dir)
    with pytest.raises(UserError) as refused:
        fit_hitters(log_dir, 5, resume=True)
    assert exit_status(refused.value) == 2
    assert str(refused.value) == ("--resume: the run to continue was trained with seed 1, not 0: resume it with "
                                  "--seed 1, or start a new run without --resume")
    assert fingerprint(log_dir) == before


def test_a_clean_resume_twice_writes_the_uninterrupted_log(finished, uninterrupted, tmp_path):
    log_dir, _ = copy_of(finished, tmp_path)
    fit_hitters(log_dir, 5, resume=True)
    assert (log_dir / RUN / "metrics.csv").read_bytes() == uninterrupted
    fit_hitters(log_dir, 6, resume=True)  # the checkpoint a resumed run wrote passes the checks too
    assert epochs_logged(log_dir / RUN / "metrics.csv") == list(range(6))


# -- the property: a checkpoint changed at random is refused with the folder untouched, or resumes as if whole

#: fields a resume reads, where the property test changes the checkpoint
FIELDS = [
    ("epoch",), ("global_step",), ("loops",), FIT, (*EPOCH_PROGRESS, "completed"), (*EPOCH_PROGRESS, "processed"),
    (*FIT, "epoch_loop.state_dict", "_batches_that_stepped"), ("state_dict",), ("state_dict", "model.sequential.3.bias"),
    ("optimizer_states",), ("optimizer_states", 0), ("optimizer_states", 0, "param_groups"),
    ("optimizer_states", 0, "state"), ("lr_schedulers",), ("callbacks",), ("callbacks", SEED),
    ("callbacks", SEED, "seed"), (ROWS,), (ROWS, "epoch"), (ROWS, "step"), (ROWS, "figures"),
    (ROWS, "figures", "valid_loss"), (ROWS, "fit_seconds"), ("pytorch-lightning_version",), ("hyper_parameters",),
]
VALUES = st.one_of(st.integers(-3, 1010), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=4),
                   st.lists(st.integers(-2, 5), max_size=3), st.none(), st.booleans(),
                   st.integers(-2, 40).map(torch.tensor))
CHANGES = st.tuples(st.sampled_from(FIELDS), st.sampled_from(["drop", "replace", "negate", "shift"]), VALUES,
                    st.integers(-3, 3).filter(bool))


def change_at_random(saved: dict[str, Any], changes: list[tuple]) -> None:
    """Each change: a field dropped, replaced by a value of any kind, or (a number) negated or shifted. Tensors'
    values are not changed: weights changed consistently are another run's checkpoint, not a damaged one."""
    for keys, how, value, shift in changes:
        try:
            parent, key = at(saved, *keys[:-1]), keys[-1]
            old = parent[key]
        except (KeyError, IndexError, TypeError):
            continue  # an earlier change took it away
        if how == "drop":
            del parent[key]
        elif how == "replace":
            parent[key] = value
        elif isinstance(old, int | float) and not isinstance(old, bool):  # a count, a seed, a figure: not a weight
            parent[key] = -old if how == "negate" else old + shift


@settings(max_examples=30, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(changes=st.lists(CHANGES, min_size=1, max_size=3))
def test_a_checkpoint_changed_at_random_is_refused_untouched_or_resumes_whole(changes, finished, uninterrupted):
    with tempfile.TemporaryDirectory() as where:
        log_dir, checkpoint = copy_of(finished, Path(where))
        rewrite(checkpoint, lambda saved: change_at_random(saved, copy.deepcopy(changes)))
        before = fingerprint(log_dir)
        try:
            fit_hitters(log_dir, 5, resume=True)
        except UserError as refused:
            assert "\n" not in str(refused)
            assert fingerprint(log_dir) == before, str(refused)
        else:
            assert (log_dir / RUN / "metrics.csv").read_bytes() == uninterrupted
