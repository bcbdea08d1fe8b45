"""The book's API: its lab's calls, with ``ISLP.torch`` replaced by ``lightning_modules``, behave as the book expects.

Each test does what a cell of the chapter-10 lab does (build a data module from
what the lab builds, take a batch by hand, pass an optimizer and metric
objects, read the CSV log back), and where ISLP's own helpers define the
answer (the held-out rows) compares against them directly.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import ISLP.torch
import numpy as np
import pandas as pd
import pytest
import torch
from data_files import MNIST_TEST, MNIST_TRAIN
from helpers import ROOT, regression_tensors
from matplotlib.figure import Figure
from pytorch_lightning import Trainer, seed_everything
from pytorch_lightning.loggers import CSVLogger
from torch import nn
from torch.optim import RMSprop
from torch.utils.data import TensorDataset
from torchmetrics import Accuracy, MeanAbsoluteError
from torchvision.datasets import MNIST
from torchvision.transforms import ToTensor

from lightning_modules import ErrorTracker, SimpleDataModule, SimpleModule, rec_num_workers, summary_plot

TRAIN, TEST = MNIST_TRAIN, MNIST_TEST


def mnist(root: Path) -> tuple[MNIST, MNIST]:
    return tuple(MNIST(root=str(root), train=train, download=False, transform=ToTensor()) for train in (True, False))


def book_trainer(tmp_path: Path, name: str, max_epochs: int = 2, **kwargs) -> Trainer:
    """The Trainer as the book builds it: deterministic, a CSV logger, the ErrorTracker."""
    return Trainer(
        deterministic=True,
        max_epochs=max_epochs,
        logger=CSVLogger(str(tmp_path / "logs"), name=name),
        callbacks=[ErrorTracker()],
        enable_progress_bar=False,
        enable_model_summary=False,
        **kwargs,
    )


def test_the_books_names_import_from_lightning_modules():
    assert rec_num_workers() == ISLP.torch.rec_num_workers() >= 1


# -- the data module ----------------------------------------------------------------------------
def test_torchvision_dataset_with_transform_batches_by_hand_before_fit(mnist_root):
    train, test = mnist(mnist_root)
    dm = SimpleDataModule(train, test, validation=0.2, num_workers=2, batch_size=16)
    batches = list(dm.train_dataloader())  # no setup(), no fit: the book takes a batch right away
    X_, Y_ = batches[0]
    assert X_.shape == (16, 1, 28, 28) and X_.dtype == torch.float32 and X_.min() >= 0 and X_.max() <= 1
    assert Y_.shape == (16,) and Y_.dtype == torch.int64
    assert sum(len(x) for x, _ in batches) == 80 and dm.sizes() == {"train": 80, "validation": 20, "test": 30}
    # every training image is served once per epoch, as its transform makes it
    first_pixels = torch.cat([x[:, 0, 0, 0] for x, _ in batches]) * 255
    assert sorted(first_pixels.round().int().tolist()) == sorted(dm.train_data.indices)


@pytest.mark.parametrize("validation, seed", [(0.2, 0), (0.25, 3), (13, 0), (13, 7)])
def test_held_out_rows_equal_islps(validation, seed, mnist_root):
    X, y = regression_tensors(TRAIN)
    tensors, test = TensorDataset(X, y), TensorDataset(*regression_tensors(TEST, seed=1))
    islp = ISLP.torch.SimpleDataModule(tensors, test, validation=validation, seed=seed)
    ours = SimpleDataModule(tensors, test, validation=validation, seed=seed)
    ours.setup()
    for (x_ours, y_ours), rows in ((ours.train_data, islp.train_dataset.indices), (ours.val_data, islp.validation_dataset.indices)):
        assert torch.equal(x_ours, X[rows]) and torch.equal(y_ours, y[rows])
    # the same rows when the data set is a torchvision one
    train, test = mnist(mnist_root)
    islp = ISLP.torch.SimpleDataModule(train, test, validation=validation, seed=seed)
    ours = SimpleDataModule(train, test, validation=validation, seed=seed)
    ours.setup()
    assert ours.val_data.indices == islp.validation_dataset.indices
    assert ours.train_data.indices == islp.train_dataset.indices


def test_fromarrays_splits_as_islp_does():
    X, y = regression_tensors(TRAIN)
    arrays = (X.numpy().astype(np.float64), y.numpy())
    islp = ISLP.torch.SimpleDataModule.fromarrays(*arrays, test=0.2, validation=15, seed=2)
    ours = SimpleDataModule.fromarrays(*arrays, test=0.2, validation=15, seed=2)
    ours.setup()
    for split, islp_split in (("train", islp.train_dataset), ("val", islp.validation_dataset), ("test", islp.test_dataset)):
        features, target = getattr(ours, f"{split}_data")
        assert features.dtype == torch.float32  # float64 arrays become what a network's weights are
        assert torch.equal(features, X[islp_split.indices]) and torch.equal(target, y[islp_split.indices])
    as_validation = SimpleDataModule.fromarrays(*arrays, test=10, test_as_validation=True)
    as_validation.setup()
    assert torch.equal(as_validation.val_data[0], as_validation.test_data[0])
    with pytest.raises(ValueError, match="none left for training"):
        SimpleDataModule.fromarrays(*arrays, test=0.5, validation=0.5)


def test_sparse_tensor_dataset_is_split_and_batched_dense():
    generator = torch.Generator().manual_seed(0)
    dense = (torch.rand(60, 40, generator=generator) < 0.1).float()
    labels = (dense.sum(1) > 4).float()
    train = TensorDataset(dense.to_sparse(), labels)
    dm = SimpleDataModule(train, TensorDataset(dense[:20].to_sparse(), labels[:20]), validation=12, batch_size=16)
    islp = ISLP.torch.SimpleDataModule(train, train, validation=12)
    x_valid = torch.cat([x for x, _ in dm.val_dataloader()])
    assert x_valid.layout == torch.strided and torch.equal(x_valid, dense[islp.validation_dataset.indices])
    x, y = next(iter(dm.train_dataloader()))
    assert x.shape == (16, 40) and x.dtype == torch.float32 and y.shape == (16,)
    module = SimpleModule.binary_classification(nn.Sequential(nn.Linear(40, 4), nn.ReLU(), nn.Linear(4, 1)))
    trainer = Trainer(max_epochs=1, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False)
    trainer.fit(module, datamodule=dm)
    assert 0 <= trainer.test(module, datamodule=dm, verbose=False)[0]["test_accuracy"] <= 1


# -- the module ----------------------------------------------------------------------------------
def test_optimizer_instance_and_metric_objects_with_their_arguments(mnist_root, tmp_path):
    seed_everything(0)
    train, test = mnist(mnist_root)
    dm = SimpleDataModule(train, test, validation=0.2, batch_size=20)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
    optimizer = RMSprop(model.parameters(), lr=0.003)
    top2 = Accuracy(task="multiclass", num_classes=10, top_k=2)
    module = SimpleModule.classification(model, num_classes=10, optimizer=optimizer, metrics={"top2": top2})
    assert module.metrics["top2"] is top2 and isinstance(module.loss, nn.CrossEntropyLoss)
    assert module.valid_metrics["top2"] is not top2 and module.valid_metrics["top2"].top_k == 2  # a copy, arguments kept
    for name, metric in module.metrics.items():  # the book's cell that moves the metrics to mps
        module.metrics[name] = metric.to("cpu")
    trainer = book_trainer(tmp_path, "MNIST")
    trainer.fit(module, datamodule=dm)
    assert trainer.optimizers[0] is optimizer and optimizer.param_groups[0]["lr"] == 0.003
    figures = trainer.test(module, datamodule=dm, verbose=False)[0]

    model.eval()
    with torch.no_grad():
        images, labels = zip(*(test[i] for i in range(len(test))))
        logits = model(torch.stack(images))
    labels = torch.tensor(labels)
    top_two = logits.topk(2, dim=1).indices
    assert figures["test_top2"] == pytest.approx((top_two == labels[:, None]).any(1).float().mean().item(), abs=1e-6)
    assert figures["test_accuracy"] == pytest.approx((logits.argmax(1) == labels).float().mean().item(), abs=1e-6)
    results = pd.read_csv(trainer.logger.experiment.metrics_file_path)
    assert {"train_top2_epoch", "valid_top2", "train_accuracy_epoch", "valid_accuracy"} <= set(results.columns)


def test_a_checkpoint_of_a_module_built_with_objects_reloads(tmp_path):
    X, y = regression_tensors()
    dm = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation=0.2)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1))
    module = SimpleModule.regression(model, optimizer=RMSprop(model.parameters(), lr=0.002),
                                     metrics={"MAE": MeanAbsoluteError()})
    trainer = book_trainer(tmp_path, "hitters", max_epochs=1)
    trainer.fit(module, datamodule=dm)
    checkpoint = next((tmp_path / "logs").rglob("*.ckpt"))
    reloaded = SimpleModule.load_from_checkpoint(
        checkpoint, model=nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 1)), metrics={"MAE": MeanAbsoluteError()}
    )
    assert reloaded.hparams.optimizer == "RMSprop" and reloaded.hparams.lr == 0.002
    module.eval(), reloaded.eval()
    assert torch.equal(reloaded(X), module(X))
    figures = Trainer(logger=False, enable_progress_bar=False).test(reloaded, datamodule=dm, verbose=False)[0]
    assert set(figures) == {"test_loss", "test_MAE"}


def test_hitters_the_books_way_gives_whole_test_set_figures(tmp_path):
    """The book's Hitters cells: tensors, the test set as validation, MAE by its object, the CSV and summary_plot."""
    seed_everything(0, workers=True)
    X, y = regression_tensors(150)
    X_test, y_test = regression_tensors(61, seed=1)
    hit_train, hit_test = TensorDataset(X, y), TensorDataset(X_test, y_test)
    hit_dm = SimpleDataModule(hit_train, hit_test, batch_size=32, num_workers=min(4, rec_num_workers()), validation=hit_test)
    hit_model = nn.Sequential(nn.Linear(4, 50), nn.ReLU(), nn.Dropout(0.4), nn.Linear(50, 1), nn.Flatten(0))
    hit_module = SimpleModule.regression(hit_model, metrics={"mae": MeanAbsoluteError()})
    hit_trainer = book_trainer(tmp_path, "hitters", max_epochs=5, log_every_n_steps=5)
    hit_trainer.fit(hit_module, datamodule=hit_dm)
    figures = hit_trainer.test(hit_module, datamodule=hit_dm, verbose=False)[0]
    hit_model.eval()
    predictions = hit_module(X_test)
    assert figures["test_mae"] == pytest.approx(torch.abs(y_test - predictions).mean().item(), rel=1e-5)
    assert figures["test_loss"] == pytest.approx(((y_test - predictions) ** 2).mean().item(), rel=1e-5)

    hit_results = pd.read_csv(hit_trainer.logger.experiment.metrics_file_path)
    last_valid = hit_results["valid_mae"].dropna().iloc[-1]
    assert last_valid == pytest.approx(figures["test_mae"], rel=1e-5)  # validation ran on the whole test set
    ax = Figure().subplots()
    summary_plot(hit_results, ax, col="mae", ylabel="MAE")
    assert [line.get_label() for line in ax.get_lines()] == ["Training", "Validation"]
    assert len(ax.get_lines()[1].get_xdata()) == 5


def test_on_epoch_false_logs_each_training_batch(tmp_path):
    X, y = regression_tensors(64)
    dm = SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), batch_size=16)
    module = SimpleModule.regression(nn.Linear(4, 1), metrics=["mae"], on_epoch=False)
    trainer = book_trainer(tmp_path, "steps", max_epochs=2, log_every_n_steps=1)
    trainer.fit(module, datamodule=dm)
    results = pd.read_csv(trainer.logger.experiment.metrics_file_path)
    assert results["train_loss"].notna().sum() == 8 and results["train_mae"].notna().sum() == 8
    assert "train_loss_epoch" not in results.columns


# -- under DDP -----------------------------------------------------------------------------------
DDP_SCRIPT = """
import json, sys
import torch
from pytorch_lightning import Trainer, seed_everything
from torch import nn
from torchvision.datasets import MNIST
from torchvision.transforms import ToTensor
from lightning_modules import SimpleDataModule, SimpleModule

root, devices, output = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seed_everything(0)
train, test = (MNIST(root=root, train=t, download=False, transform=ToTensor()) for t in (True, False))
dm = SimpleDataModule(train, test, validation=0.3, batch_size=8, num_workers=1)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 10))
module = SimpleModule.classification(model, num_classes=10)
kwargs = dict(strategy="ddp", devices=devices) if devices > 1 else dict(devices=1)
trainer = Trainer(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                  enable_progress_bar=False, enable_model_summary=False, limit_train_batches=0, **kwargs)
trainer.fit(module, datamodule=dm)  # no training: the figures depend only on the initial weights
figures = trainer.test(module, datamodule=dm, verbose=False)[0]
if trainer.is_global_zero:
    json.dump(figures, open(output, "w"))
"""


def test_ddp_figures_of_a_dataloader_dataset_count_each_row_once(mnist_root, tmp_path):
    """Four processes over 30 test images (shards of 8, 8, 7, 7) give the figures of one process."""
    script = tmp_path / "book_ddp.py"
    script.write_text(DDP_SCRIPT)
    figures = {}
    for devices in (1, 4):
        output = tmp_path / f"figures_{devices}.json"
        done = subprocess.run([sys.executable, str(script), str(mnist_root), str(devices), str(output)],
                              cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-2000:]
        figures[devices] = json.loads(output.read_text())
    assert figures[4] == pytest.approx(figures[1], abs=1e-6)


def test_small_tables_are_evaluated_in_one_batch_and_give_the_same_figures(tmp_path):
    X, y = regression_tensors(150)
    test = TensorDataset(*regression_tensors(90, seed=1))
    figures = []
    for eval_batch_size in (None, 7):
        dm = SimpleDataModule(TensorDataset(X, y), test, batch_size=16, validation=test, eval_batch_size=eval_batch_size)
        assert len(dm.val_dataloader()) == (1 if eval_batch_size is None else 13)
        seed_everything(0)
        module = SimpleModule.regression(nn.Linear(4, 1), metrics={"mae": MeanAbsoluteError()})
        trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False)
        trainer.fit(module, datamodule=dm)
        figures.append(trainer.test(module, datamodule=dm, verbose=False)[0])
    assert figures[0] == pytest.approx(figures[1], rel=1e-5)
    images = TensorDataset(torch.zeros(200, 3, 32, 32), torch.zeros(200))
    dm = SimpleDataModule(images, images, batch_size=32, validation=0.5)
    assert next(iter(dm.val_dataloader()))[0].shape[0] == 32  # wide rows keep the training batch size
