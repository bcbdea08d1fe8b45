"""The Trainer factory: accelerator check, NaN stop, logs in their place, same seed same numbers."""

from __future__ import annotations

import warnings

import pandas as pd
import pytest
import torch
from helpers import regression_tensors
from pytorch_lightning import Callback
from pytorch_lightning.profilers import Profiler
from torch import nn
from torch.utils.data import TensorDataset

from datamodules import SimpleDataModule
from lightning_modules.callbacks import ErrorTracker, NonFiniteLossError
from lightning_modules.machinery.lightning_internals import BATCH_HOOKS
from lightning_modules.module import SimpleModule
from lightning_modules.trainer import (
    AcceleratorUnavailableError,
    available_accelerators,
    check_accelerator,
    make_trainer,
)


def small_run(tmp_path, seed: int = 0, epochs: int = 3, network: nn.Module | None = None, **module_kwargs):
    torch.manual_seed(seed)
    X, y = regression_tensors(150)
    datamodule = SimpleDataModule(TensorDataset(X, y), TensorDataset(*regression_tensors(50, seed=1)), validation=0.2, batch_size=16)
    network = network or nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1), nn.Flatten(0))
    module = SimpleModule.regression(network, metrics=["mae"], **module_kwargs)
    trainer = make_trainer("lab", "net", max_epochs=epochs, accelerator="cpu", log_dir=tmp_path, seed=seed, enable_progress_bar=False)
    trainer.fit(module, datamodule=datamodule)
    return trainer


def test_unavailable_accelerator_fails_naming_what_is_available(tmp_path):
    missing = [name for name in ("cuda", "mps") if name not in available_accelerators()]
    if not missing:
        pytest.skip("this machine has every accelerator")
    with pytest.raises(AcceleratorUnavailableError, match=r"available: cpu"):
        make_trainer("lab", "net", max_epochs=1, accelerator=missing[0], log_dir=tmp_path)
    assert not (tmp_path / "lab").exists()  # failed before anything was written


def test_unknown_accelerator_is_refused():
    with pytest.raises(AcceleratorUnavailableError, match="unknown accelerator 'tpu'"):
        check_accelerator("tpu")
    check_accelerator("cpu")
    check_accelerator("auto")


def test_logs_land_in_lab_model_version_with_book_columns(tmp_path):
    trainer = small_run(tmp_path)
    version = tmp_path / "lab" / "net" / "version_0"
    assert trainer.logger.log_dir == str(version)
    assert (version / "checkpoints" / "last.ckpt").is_file()
    columns = set(pd.read_csv(version / "metrics.csv").columns)
    assert {"epoch", "train_loss_epoch", "train_mae_epoch", "valid_loss", "valid_mae"} <= columns
    assert any(isinstance(c, ErrorTracker) for c in trainer.callbacks)


def test_nan_loss_stops_the_run_naming_the_epoch(tmp_path):
    class BlowsUpInEpochTwo(nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 1)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            out = self.linear(x).flatten()
            return out * float("nan") if self.calls > 16 else out  # 8 training + 2 validation batches per epoch

    with pytest.raises(NonFiniteLossError, match="epoch 1"):
        small_run(tmp_path, network=BlowsUpInEpochTwo(), epochs=5)


def test_same_seed_gives_identical_metrics(tmp_path):
    first = pd.read_csv(small_run(tmp_path / "a").logger.log_dir + "/metrics.csv")
    second = pd.read_csv(small_run(tmp_path / "b").logger.log_dir + "/metrics.csv")
    pd.testing.assert_frame_equal(first, second)
    third = pd.read_csv(small_run(tmp_path / "c", seed=5).logger.log_dir + "/metrics.csv")
    assert not first["valid_loss"].dropna().equals(third["valid_loss"].dropna())


class ActionNames(Profiler):
    """Every action Lightning profiles, by name, in order (a hook call of a callback is ``[Callback]<key>.<hook>``)."""

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def start(self, action_name: str) -> None:
        self.names.append(action_name)

    def stop(self, action_name: str) -> None:
        pass

    def summary(self) -> str:
        return ""


def test_a_training_step_calls_one_hook_of_the_default_callbacks(tmp_path):
    """Lightning calls each batch hook of every callback at every batch, unless the callback's attribute is not
    callable: of the default callbacks only ErrorTracker's loss is called per step (36 calls before), none per
    validation batch, and the epochs' hooks are called as before."""
    torch.manual_seed(0)
    datamodule = SimpleDataModule(TensorDataset(*regression_tensors(150)), TensorDataset(*regression_tensors(50, seed=1)),
                                  validation=0.2, batch_size=16)
    module = SimpleModule.regression(nn.Sequential(nn.Linear(4, 1), nn.Flatten(0)))
    profiler = ActionNames()
    trainer = make_trainer("lab", "net", max_epochs=2, accelerator="cpu", log_dir=tmp_path, enable_progress_bar=False,
                           profiler=profiler)
    trainer.fit(module, datamodule=datamodule)
    steps = profiler.names.count("run_training_batch")
    batch_calls = [name for name in profiler.names if name.startswith("[Callback]") and name.endswith(BATCH_HOOKS)]
    assert steps == 16 and batch_calls == ["[Callback]ErrorTracker.on_train_batch_end"] * steps
    assert profiler.names.count("[Callback]SeedEachEpoch.on_train_epoch_start") == 2
    assert all(callable(callback.on_train_epoch_end) for callback in trainer.callbacks)


def test_a_subclass_keeps_the_batch_hooks_it_defines_and_their_super_calls():
    class Mine(ErrorTracker):
        def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
            super().on_train_batch_start(trainer, pl_module, batch, batch_idx)  # Callback's no-op, still there
            self.started = batch_idx

    mine = Mine()
    assert ErrorTracker().on_train_batch_start is None and callable(mine.on_train_batch_end)
    mine.on_train_batch_start(None, None, None, 3)
    assert mine.started == 3
    assert callable(Callback.on_train_batch_start) and callable(ErrorTracker.on_train_batch_start)  # classes untouched


def test_small_epochs_raise_no_logging_interval_warning(tmp_path):
    """Hitters has 6 training batches an epoch against Lightning's default interval of 50: it warned once per seed."""
    from lightning_modules.chapter.labs import NETWORKS
    from lightning_modules.trainer import make_trainer

    hitters = NETWORKS["hitters"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for seed in (0, 1):
            trainer = make_trainer("hitters", "mlp", max_epochs=2, accelerator="cpu", log_dir=tmp_path, seed=seed,
                                   enable_progress_bar=False)
            trainer.fit(hitters.build_module(), datamodule=hitters.build_datamodule(seed=seed))
    assert not [w for w in caught if "logging interval" in str(w.message)]
    assert trainer.log_every_n_steps == trainer.num_training_batches < 50
