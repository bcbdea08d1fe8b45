"""Lightning's non-public parts this project relies on (all in lightning_modules.machinery.lightning_internals) still exist.

If one of these fails after upgrading Lightning, resuming into the same
metrics.csv, per-epoch seeding under the CLI, or SimpleModule's checks and
quick hook-name attribute would break: adapt ``lightning_internals.py`` to the
new Lightning before anything else.
"""

from __future__ import annotations

import os

from pytorch_lightning import seed_everything
from pytorch_lightning.loggers import CSVLogger

from lightning_modules.machinery.lightning_internals import (
    GLOBAL_SEED_VARIABLE,
    HOOK_NAME_ATTRIBUTE,
    attached_trainer,
    csv_writer_opened,
    datamodule_state,
    global_seed,
    set_csv_columns,
)


def test_csv_logger_opens_its_writer_lazily_and_takes_our_columns(tmp_path):
    logger = CSVLogger(str(tmp_path), name="run")
    assert not csv_writer_opened(logger)
    writer = logger.experiment
    assert csv_writer_opened(logger)
    assert hasattr(writer, "metrics_keys"), "Lightning's CSV writer no longer keeps its columns in metrics_keys"
    set_csv_columns(writer, ["epoch", "step", "valid_loss"])
    writer.log_metrics({"valid_loss": 1.5}, step=3)
    writer.save()
    header, row = (tmp_path / "run" / "version_0" / "metrics.csv").read_text().splitlines()[:2]
    assert header.split(",") == ["epoch", "step", "valid_loss"] and row.endswith("1.5")


def test_seed_everything_leaves_its_seed_where_we_read_it(monkeypatch):
    monkeypatch.delenv(GLOBAL_SEED_VARIABLE, raising=False)
    assert global_seed(default=-1) == -1
    seed_everything(1234, verbose=False)
    assert os.environ[GLOBAL_SEED_VARIABLE] == "1234" and global_seed() == 1234


def test_a_checkpoint_files_the_data_modules_state_where_we_read_it(tmp_path):
    import torch
    from pytorch_lightning import Trainer

    from datamodules.simple import SimpleDataModule
    from lightning_modules.module import SimpleModule

    class Stateful(SimpleDataModule):
        def state_dict(self):
            return {"vocabulary": {"film": 3}}

    X = torch.randn(20, 2)
    datamodule = Stateful(torch.utils.data.TensorDataset(X, X.sum(1)), torch.utils.data.TensorDataset(X, X.sum(1)),
                          validation=0, batch_size=10)
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(SimpleModule.regression(torch.nn.Linear(2, 1)), datamodule=datamodule)
    trainer.save_checkpoint(tmp_path / "run.ckpt")
    checkpoint = torch.load(tmp_path / "run.ckpt", map_location="cpu", weights_only=True)
    assert datamodule_state(checkpoint, Stateful) == datamodule_state(checkpoint, datamodule) == {"vocabulary": {"film": 3}}
    assert datamodule_state(checkpoint, SimpleDataModule) is None


def test_lightning_names_the_hook_it_runs_where_simple_module_sets_it_plainly():
    import torch
    from pytorch_lightning import Trainer
    from torch.utils.data import DataLoader, TensorDataset

    from lightning_modules.module import SimpleModule

    seen = []

    class Watching(SimpleModule):
        def training_step(self, batch, batch_idx):
            seen.append((getattr(self, HOOK_NAME_ATTRIBUTE), attached_trainer(self)))
            return super().training_step(batch, batch_idx)

    module = Watching.regression(torch.nn.Linear(2, 1))
    assert attached_trainer(module) is None and HOOK_NAME_ATTRIBUTE in vars(module)
    trainer = Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False)
    X = torch.randn(4, 2)
    trainer.fit(module, DataLoader(TensorDataset(X, X.sum(1)), batch_size=4))
    assert seen == [("training_step", trainer)], "Lightning no longer records the hook it is in under this name"
    module.extra = torch.nn.Linear(1, 1)  # every other name still goes through nn.Module's __setattr__
    assert dict(module.named_children())["extra"] is module.extra
