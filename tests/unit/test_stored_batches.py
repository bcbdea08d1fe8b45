"""Stored data is never handed to code that can change it.

A torchvision data set with a deterministic transform is stored once and served as
batches of the store (:mod:`datamodules.materialise`); plain tensors are served the
same way. A transform that writes in place (``Normalize(..., inplace=True)``, v1 or
v2) or a step that changes its batch (``x.mul_(2)``) must get a batch of its own:
the stored path gives the ``DataLoader`` path's validation batches in every epoch,
and its test figures, every time, for every transform it accepts.
"""

from __future__ import annotations

import logging

import pytest
import torch
from data_files import MNIST_TEST, MNIST_TRAIN
from pytorch_lightning import Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader, TensorDataset
from torchvision import datasets
from torchvision import transforms as v1
from torchvision.transforms import v2

from datamodules.batching import TensorBatches
from datamodules.materialise import StoredRows, materialise
from lightning_modules import SimpleDataModule, SimpleModule

M, S = (0.1307,), (0.3081,)

#: every transform the stored path accepts (ToTensor, PILToTensor, ToImage, Resize, CenterCrop, Normalize,
#: ConvertImageDtype, ToDtype, Compose; v1 and v2), in-place Normalize in each place it can run
ACCEPTED = {
    "v1 ToTensor": lambda: v1.ToTensor(),
    "v1 PILToTensor": lambda: v1.PILToTensor(),
    "v1 ToTensor+Normalize": lambda: v1.Compose([v1.ToTensor(), v1.Normalize(M, S)]),
    "v1 ToTensor+Normalize(inplace)": lambda: v1.Compose([v1.ToTensor(), v1.Normalize(M, S, inplace=True)]),
    "v1 ToTensor+Resize+Normalize(inplace) (floats stored)": lambda: v1.Compose(
        [v1.ToTensor(), v1.Resize(14), v1.Normalize(M, S, inplace=True)]),
    "v1 ToTensor+Resize (floats stored, nothing per batch)": lambda: v1.Compose([v1.ToTensor(), v1.Resize(14)]),
    "v1 Resize+CenterCrop+ToTensor+Normalize(inplace)": lambda: v1.Compose(
        [v1.Resize(20), v1.CenterCrop(16), v1.ToTensor(), v1.Normalize(M, S, inplace=True)]),
    "v1 PILToTensor+ConvertImageDtype+Normalize(inplace)": lambda: v1.Compose(
        [v1.PILToTensor(), v1.ConvertImageDtype(torch.float32), v1.Normalize(M, S, inplace=True)]),
    "v1 ToTensor+Resize+ConvertImageDtype(same dtype)+Normalize(inplace)": lambda: v1.Compose(
        [v1.ToTensor(), v1.Resize(14), v1.ConvertImageDtype(torch.float32), v1.Normalize(M, S, inplace=True)]),
    "v1 Normalize(inplace) twice": lambda: v1.Compose(
        [v1.ToTensor(), v1.Normalize(M, S, inplace=True), v1.Normalize(M, S, inplace=True)]),
    "v2 ToImage+ToDtype": lambda: v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]),
    "v2 ToImage+ToDtype+Normalize(inplace)": lambda: v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(M, S, inplace=True)]),
    "v2 ToImage+ToDtype+Resize+Normalize(inplace) (floats stored)": lambda: v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize(14), v2.Normalize(M, S, inplace=True)]),
    "v2 ToImage+ToDtype+Resize+ToDtype(same dtype)+Normalize(inplace)": lambda: v2.Compose(
        [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize(14), v2.ToDtype(torch.float32),
         v2.Normalize(M, S, inplace=True)]),
    "v2 Resize+CenterCrop+PILToTensor+ConvertImageDtype+Normalize(inplace)": lambda: v2.Compose(
        [v2.Resize(20), v2.CenterCrop(16), v2.PILToTensor(), v2.ConvertImageDtype(torch.float32),
         v2.Normalize(M, S, inplace=True)]),
    "v2 ToTensor+Normalize(inplace), nested Compose": lambda: v2.Compose(
        [v1.Compose([v2.ToTensor()]), v2.Normalize(M, S, inplace=True)]),
}

EPOCHS = 3


class Recording(SimpleModule):
    """A classifier that keeps a copy of every validation batch it is given, epoch by epoch."""

    def on_validation_epoch_start(self) -> None:
        super().on_validation_epoch_start()
        if not self.trainer.sanity_checking:
            self.seen.append([])

    def on_validation_batch_start(self, batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        if not self.trainer.sanity_checking:
            self.seen[-1].append(batch[0].clone())


class Meddling(Recording):
    """A reader's steps that change the batch they are given, in place."""

    def training_step(self, batch, batch_idx: int):
        batch[0].mul_(2)
        return super().training_step(batch, batch_idx)

    def validation_step(self, batch, batch_idx: int) -> None:
        batch[0].mul_(2)
        super().validation_step(batch, batch_idx)

    def test_step(self, batch, batch_idx: int) -> None:
        batch[0].mul_(2)
        super().test_step(batch, batch_idx)


class AsFloat(nn.Module):
    """``PILToTensor`` serves uint8 pixels: the network takes them as floats."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.float()


def quiet_trainer() -> Trainer:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    return Trainer(accelerator="cpu", max_epochs=EPOCHS, logger=False, enable_checkpointing=False,
                   enable_progress_bar=False, enable_model_summary=False, deterministic=True)


def fit_and_test_twice(dm: SimpleDataModule, inputs: int, module_class: type = Recording) -> tuple[list, list]:
    """Each epoch's validation batches, and the test figures of two tests one after the other."""
    seed_everything(0)
    module = module_class.classification(nn.Sequential(AsFloat(), nn.Flatten(), nn.Linear(inputs, 10)), num_classes=10)
    module.seen = []
    trainer = quiet_trainer()
    trainer.fit(module, datamodule=dm)
    figures = [trainer.test(module, datamodule=dm, verbose=False)[0] for _ in range(2)]
    return module.seen, figures


def both_paths(train, test, **kwargs) -> tuple[SimpleDataModule, SimpleDataModule]:
    stored = SimpleDataModule(train, test, validation=0.2, batch_size=16, **kwargs)
    loaded = SimpleDataModule(train, test, validation=0.2, batch_size=16, **kwargs)
    loaded.max_materialised_bytes = 0  # the DataLoader path
    return stored, loaded


def mnist(root, transform, train: bool = True) -> datasets.MNIST:
    return datasets.MNIST(root=str(root), train=train, download=False, transform=transform)


def assert_same_epochs(stored: list, loaded: list) -> None:
    assert len(stored) == len(loaded) == EPOCHS
    for epoch_stored, epoch_loaded in zip(stored, loaded):
        assert len(epoch_stored) == len(epoch_loaded)
        for a, b in zip(epoch_stored, epoch_loaded):
            assert a.dtype == b.dtype and torch.equal(a, b)
    for later in stored[1:]:  # the same batches every epoch
        assert all(torch.equal(a, b) for a, b in zip(stored[0], later))


@pytest.mark.parametrize("name", list(ACCEPTED))
def test_the_stored_path_serves_the_dataloaders_batches_and_figures_every_epoch(name, mnist_root):
    train, test = mnist(mnist_root, ACCEPTED[name]()), mnist(mnist_root, ACCEPTED[name](), train=False)
    stored, loaded = both_paths(train, test)
    assert isinstance(stored.val_dataloader(), TensorBatches) and isinstance(loaded.val_dataloader(), DataLoader)
    inputs = next(iter(stored.val_dataloader()))[0][0].numel()
    seen_stored, figures_stored = fit_and_test_twice(stored, inputs)
    seen_loaded, figures_loaded = fit_and_test_twice(loaded, inputs)
    assert_same_epochs(seen_stored, seen_loaded)
    assert figures_stored[0] == figures_stored[1]  # testing twice gives the same figures
    assert figures_stored[0] == pytest.approx(figures_loaded[0], rel=1e-6, abs=1e-7)


@pytest.mark.parametrize("name", ["v1 ToTensor+Resize (floats stored, nothing per batch)",
                                  "v1 ToTensor+Resize+Normalize(inplace) (floats stored)", "v1 PILToTensor"])
def test_steps_that_change_their_batch_leave_the_store_as_it_was(name, mnist_root):
    train, test = mnist(mnist_root, ACCEPTED[name]()), mnist(mnist_root, ACCEPTED[name](), train=False)
    stored, loaded = both_paths(train, test)
    inputs = next(iter(stored.val_dataloader()))[0][0].numel()
    stored.train_dataloader(), stored.test_dataloader()  # every split stored
    store = [served.values.clone() if isinstance(served, StoredRows) else served.clone()
             for _, (served, _) in stored._materialised]
    seen_stored, figures_stored = fit_and_test_twice(stored, inputs, Meddling)
    seen_loaded, figures_loaded = fit_and_test_twice(loaded, inputs, Meddling)
    after = [served.values if isinstance(served, StoredRows) else served for _, (served, _) in stored._materialised]
    assert len(store) == 3 and all(torch.equal(a, b) for a, b in zip(store, after))
    assert_same_epochs(seen_stored, seen_loaded)
    assert figures_stored[0] == figures_stored[1]
    assert figures_stored[0] == pytest.approx(figures_loaded[0], rel=1e-6, abs=1e-7)


def test_a_readers_tensors_are_not_changed_by_steps_that_change_their_batch():
    """Plain tensors are served as batches of the reader's own tensors: a step's x.mul_(2) must not reach them."""
    generator = torch.Generator().manual_seed(0)
    X, y = torch.randn(200, 1, 4, 4, generator=generator), torch.arange(200) % 10
    X_test, y_test = torch.randn(60, 1, 4, 4, generator=generator), torch.arange(60) % 10
    kept = X.clone(), X_test.clone()
    dm = SimpleDataModule(TensorDataset(X, y), TensorDataset(X_test, y_test), validation=0.2, batch_size=16)
    seen, figures = fit_and_test_twice(dm, 16, Meddling)
    assert torch.equal(X, kept[0]) and torch.equal(X_test, kept[1])
    assert all(torch.equal(a, b) for a, b in zip(seen[0], seen[-1])) and figures[0] == figures[1]


def test_making_the_whole_store_dense_leaves_it_as_it_was(mnist_root):
    images, _ = materialise(mnist(mnist_root, ACCEPTED["v1 ToTensor+Resize+Normalize(inplace) (floats stored)"]()))
    assert isinstance(images, StoredRows) and images.values.dtype == torch.float32
    kept = images.values.clone()
    first, second = images.to_dense(), images.to_dense()
    assert torch.equal(images.values, kept) and torch.equal(first, second)
    assert len(first) == MNIST_TRAIN and len(images[torch.arange(MNIST_TEST)].to_dense()) == MNIST_TEST
    first.mul_(2)  # what was served is the caller's own
    assert torch.equal(images.values, kept)
