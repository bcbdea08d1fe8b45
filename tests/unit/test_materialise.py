"""torchvision data sets with a deterministic transform are made into tensors once; any other keeps its DataLoader.

What is stored must be what the data set's own ``__getitem__`` gives (every row is
compared), the batches those of the ``DataLoader`` path, batch by batch and in the
same order, and the held-out rows ISLP's.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import ISLP.torch
import numpy as np
import pytest
import torch
from data_files import MNIST_TEST, MNIST_TRAIN, numbered_images
from pytorch_lightning import Trainer, seed_everything
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision import datasets
from torchvision import transforms as v1
from torchvision.transforms import v2

from datamodules.batching import TensorBatches
from datamodules.materialise import StoredRows, materialise, plan_for
from lightning_modules import SimpleDataModule, SimpleModule

MEAN, STD = (0.1307,), (0.3081,)

#: deterministic transforms, v1 and v2, and what their images are stored as
DETERMINISTIC = {
    "ToTensor": (lambda: v1.ToTensor(), torch.uint8),
    "ToTensor+Normalize": (lambda: v1.Compose([v1.ToTensor(), v1.Normalize(MEAN, STD)]), torch.uint8),
    "PILToTensor": (lambda: v1.PILToTensor(), torch.uint8),
    "PILToTensor+ConvertImageDtype+Normalize": (
        lambda: v1.Compose([v1.PILToTensor(), v1.ConvertImageDtype(torch.float32), v1.Normalize(MEAN, STD)]),
        torch.uint8,
    ),
    "Resize+CenterCrop+ToTensor": (lambda: v1.Compose([v1.Resize(20), v1.CenterCrop(16), v1.ToTensor()]), torch.uint8),
    "ToTensor+Resize (floats resized)": (lambda: v1.Compose([v1.ToTensor(), v1.Resize(14)]), torch.float32),
    "v2 ToImage+ToDtype+Normalize": (
        lambda: v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(MEAN, STD)]),
        torch.uint8,
    ),
    "v2 Resize+CenterCrop+PILToTensor+ConvertImageDtype": (
        lambda: v2.Compose([v2.Resize(20), v2.CenterCrop(16), v2.PILToTensor(), v2.ConvertImageDtype(torch.float32)]),
        torch.uint8,
    ),
    "v2 ToTensor, nested Compose": (lambda: v2.Compose([v1.Compose([v2.ToTensor()]), v2.Normalize(MEAN, STD)]), torch.uint8),
}


class NormalizeOfMyOwn(v1.Normalize):  # a subclass may do anything in forward
    pass


class MNISTOfMyOwn(datasets.MNIST):  # a data set of the reader's: its __getitem__ may do anything
    @property
    def raw_folder(self) -> str:
        return str(Path(self.root) / "MNIST" / "raw")


#: transforms that may not be cached: random, or not known to be deterministic
NOT_MATERIALISED = {
    "RandomCrop": lambda: v1.Compose([v1.RandomCrop(24), v1.ToTensor()]),
    "v2 RandomHorizontalFlip": lambda: v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32)]),
    "Lambda": lambda: v1.Compose([v1.ToTensor(), v1.Lambda(lambda x: x * 2)]),
    "a function": lambda: (lambda image: v1.functional.to_tensor(image)),
    "a subclass of Normalize": lambda: v1.Compose([v1.ToTensor(), NormalizeOfMyOwn(MEAN, STD)]),
    "no tensor made (PIL images)": lambda: v1.Resize(14),
    "none": lambda: None,
}


def mnist(root: Path, transform, train: bool = True, cls=datasets.MNIST, **kwargs) -> datasets.MNIST:
    return cls(root=str(root), train=train, download=False, transform=transform, **kwargs)


def served(images) -> torch.Tensor:
    return images.to_dense() if isinstance(images, StoredRows) else images


def through_getitem(dataset) -> tuple[torch.Tensor, torch.Tensor]:
    """Every row of ``dataset`` as its own ``__getitem__`` and the DataLoader's collation make them."""
    return next(iter(DataLoader(dataset, batch_size=len(dataset))))


def batches(dm: SimpleDataModule, split: str) -> list:
    loader = getattr(dm, f"{split}_dataloader")()
    return [tuple(batch) for batch in loader]


def assert_same_batches(a: list, b: list) -> None:
    assert len(a) == len(b)
    for batch_a, batch_b in zip(a, b):
        for part_a, part_b in zip(batch_a, batch_b):
            assert part_a.dtype == part_b.dtype
            torch.testing.assert_close(part_a, part_b, rtol=0, atol=0)


def fake_data(transform, size: int = 40) -> datasets.FakeData:
    """RGB images of 30 x 26 (not square: Resize and CenterCrop have work to do)."""
    return datasets.FakeData(size=size, image_size=(3, 30, 26), num_classes=7, transform=transform, random_offset=5)


# -- what is stored ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", list(DETERMINISTIC))
def test_every_row_equals_getitem_mnist_and_fake_data(name, mnist_root):
    make, stored_as = DETERMINISTIC[name]
    for dataset in (mnist(mnist_root, make()), fake_data(make())):
        images, targets = materialise(dataset)
        expected_images, expected_targets = through_getitem(dataset)
        stored = images.values if isinstance(images, StoredRows) else images
        assert stored.dtype == stored_as, name
        got = served(images)
        assert got.dtype == expected_images.dtype and type(got) is torch.Tensor
        assert torch.equal(got, expected_images) and torch.equal(targets, expected_targets)
        assert targets.dtype == torch.int64


def test_totensor_images_are_stored_as_uint8_one_byte_a_pixel(mnist_root):
    images, targets = materialise(mnist(mnist_root, v1.ToTensor()))
    assert isinstance(images, StoredRows) and images.values.dtype == torch.uint8
    assert images.values.shape == (MNIST_TRAIN, 1, 28, 28) and images.values.nbytes == MNIST_TRAIN * 28 * 28
    pixels = torch.from_numpy(numbered_images(MNIST_TRAIN, (28, 28), seed=MNIST_TRAIN)).unsqueeze(1)
    assert torch.equal(images.values, pixels)  # the file's bytes, as they are
    batch = images[torch.tensor([3, 1])].to_dense()
    assert batch.dtype == torch.float32 and torch.equal(batch, pixels[[3, 1]].float() / 255)


def test_subsets_to_any_depth_serve_their_rows_in_order(mnist_root):
    dataset = mnist(mnist_root, v1.Compose([v1.ToTensor(), v1.Normalize(MEAN, STD)]))
    inner = Subset(dataset, range(10, 90))
    outer = Subset(inner, [5, 0, 70, 33, 33])
    images, targets = materialise(outer)
    expected_images, expected_targets = through_getitem(outer)
    assert torch.equal(served(images), expected_images) and torch.equal(targets, expected_targets)


def test_cifar100_pixels_from_memory_equal_getitem(tmp_path, monkeypatch):
    """CIFAR100 in its pickled format (12 training images): read from .data, not image by image."""
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for name, n in (("train", 12), ("test", 5)):
        entry = {"data": rng.integers(0, 256, size=(n, 3072), dtype=np.uint8), "fine_labels": list(rng.integers(0, 100, n))}
        (folder / name).write_bytes(pickle.dumps(entry))
    (folder / "meta").write_bytes(pickle.dumps({"fine_label_names": [f"class {i}" for i in range(100)]}))
    monkeypatch.setattr(datasets.CIFAR100, "_check_integrity", lambda self: True)  # the md5 are the real files'
    monkeypatch.setattr("torchvision.datasets.cifar.check_integrity", lambda *args, **kwargs: True)
    dataset = datasets.CIFAR100(str(tmp_path), train=True, transform=v1.Compose([v1.ToTensor(), v1.Normalize((0.5,) * 3, (0.2,) * 3)]))
    images, targets = materialise(Subset(dataset, [11, 0, 4]))
    assert images.values.dtype == torch.uint8 and images.values.shape == (3, 3, 32, 32)
    expected_images, expected_targets = through_getitem(Subset(dataset, [11, 0, 4]))
    assert torch.equal(served(images), expected_images) and torch.equal(targets, expected_targets)


@pytest.mark.parametrize("name", list(NOT_MATERIALISED))
def test_random_or_unknown_transforms_are_not_materialised(name, mnist_root):
    dataset = mnist(mnist_root, NOT_MATERIALISED[name]())
    assert materialise(dataset) is None and materialise(Subset(dataset, range(10))) is None
    if name != "none":  # (a data set of PIL images cannot be served at all)
        dm = SimpleDataModule(dataset, mnist(mnist_root, NOT_MATERIALISED[name](), train=False), validation=0.2, batch_size=16)
        assert isinstance(dm.train_dataloader(), DataLoader) and isinstance(dm.test_dataloader(), DataLoader)


def test_a_target_transform_or_a_data_set_of_ones_own_is_not_materialised(mnist_root):
    assert materialise(mnist(mnist_root, v1.ToTensor(), target_transform=lambda label: label)) is None
    assert materialise(mnist(mnist_root, v1.ToTensor(), cls=MNISTOfMyOwn)) is None
    assert plan_for(v1.Compose([v1.ToTensor(), v1.Normalize(MEAN, STD), v1.RandomErasing()])) is None
    assert plan_for(v1.Compose([v1.PILToTensor(), v1.ToTensor()])) is None  # no ToTensor on a tensor


def test_a_split_over_the_memory_limit_keeps_its_dataloader(mnist_root):
    dataset = mnist(mnist_root, v1.ToTensor())
    assert materialise(dataset, max_bytes=MNIST_TRAIN * 28 * 28 - 1) is None
    assert materialise(dataset, max_bytes=MNIST_TRAIN * 28 * 28) is not None
    assert materialise(fake_data(v1.ToTensor()), max_bytes=100) is None  # through __getitem__ too
    dm = SimpleDataModule(dataset, mnist(mnist_root, v1.ToTensor(), train=False), validation=0.2)
    dm.max_materialised_bytes = 0
    assert isinstance(dm.train_dataloader(), DataLoader)


# -- the data module: the same rows, batches and figures as the DataLoader path ----------------------------------
def data_modules(train, test, **kwargs) -> tuple[SimpleDataModule, SimpleDataModule]:
    materialised = SimpleDataModule(train, test, **kwargs)
    loaded = SimpleDataModule(train, test, **kwargs)
    loaded.max_materialised_bytes = 0  # today's path: a DataLoader (in this process: the test's two cores are shared)
    return materialised, loaded


@pytest.mark.parametrize("name", ["ToTensor", "ToTensor+Normalize", "v2 ToImage+ToDtype+Normalize", "ToTensor+Resize (floats resized)"])
def test_batches_equal_the_dataloaders_batch_by_batch(name, mnist_root):
    make, _ = DETERMINISTIC[name]
    train, test = mnist(mnist_root, make()), mnist(mnist_root, make(), train=False)
    materialised, loaded = data_modules(train, test, validation=0.2, batch_size=16, seed=4)
    assert isinstance(materialised.train_dataloader(), TensorBatches)
    assert isinstance(loaded.train_dataloader(), DataLoader)
    for split in ("train", "val", "test"):
        assert_same_batches(batches(materialised, split), batches(loaded, split))
    for epoch in (1, 2):  # each epoch's shuffle too
        train_a, train_b = materialised.train_dataloader(), loaded.train_dataloader()
        train_a.sampler.set_epoch(epoch)
        train_b.sampler.set_epoch(epoch)
        assert_same_batches(list(train_a), list(train_b))


@pytest.mark.parametrize("validation, seed", [(0.2, 0), (0.25, 3), (13, 7)])
def test_held_out_rows_are_islps_and_served_as_such(validation, seed, mnist_root):
    train, test = mnist(mnist_root, v1.ToTensor()), mnist(mnist_root, v1.ToTensor(), train=False)
    islp = ISLP.torch.SimpleDataModule(train, test, validation=validation, seed=seed)
    ours = SimpleDataModule(train, test, validation=validation, seed=seed, batch_size=8)
    ours.setup()
    assert ours.val_data.indices == islp.validation_dataset.indices
    assert ours.train_data.indices == islp.train_dataset.indices
    loader = ours.val_dataloader()
    assert isinstance(loader, TensorBatches)
    first_pixels = torch.cat([x[:, 0, 0, 0] for x, _ in loader]) * 255  # the row number, written in the file
    assert first_pixels.round().int().tolist() == islp.validation_dataset.indices
    labels = torch.cat([y for _, y in loader])
    assert labels.tolist() == [row % 10 for row in islp.validation_dataset.indices]


def test_validation_on_the_test_set_is_materialised_once(mnist_root):
    train, test = mnist(mnist_root, v1.ToTensor()), mnist(mnist_root, v1.ToTensor(), train=False)
    dm = SimpleDataModule(train, test, validation=test, batch_size=8)
    assert dm.val_dataloader().tensors is dm.test_dataloader().tensors
    assert len(list(dm.test_dataloader())) == -(-MNIST_TEST // 8)


def test_fit_and_test_figures_equal_the_dataloaders(mnist_root, tmp_path):
    transform = v1.Compose([v1.ToTensor(), v1.Normalize(MEAN, STD)])
    train, test = mnist(mnist_root, transform), mnist(mnist_root, transform, train=False)
    figures = []
    for dm in data_modules(train, test, validation=0.2, batch_size=16):
        seed_everything(0)
        module = SimpleModule.classification(nn.Sequential(nn.Flatten(), nn.Linear(784, 10)), num_classes=10)
        trainer = Trainer(max_epochs=2, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                          enable_model_summary=False, default_root_dir=tmp_path)
        trainer.fit(module, datamodule=dm)
        figures.append(trainer.test(module, datamodule=dm, verbose=False)[0])
    assert isinstance(figures[0], dict) and figures[0] == pytest.approx(figures[1], rel=1e-6, abs=1e-7)


def test_a_stored_form_that_disagrees_with_getitem_falls_back_to_the_transforms_own_output(mnist_root, monkeypatch):
    import datamodules.materialise as materialise_module

    monkeypatch.setattr(materialise_module, "_scale", lambda pixels: pixels.float() / 256)  # a wrong per-batch step
    dataset = mnist(mnist_root, v1.ToTensor())
    images, targets = materialise(dataset)
    assert type(images) is torch.Tensor and images.dtype == torch.float32  # the floats __getitem__ gives, stored
    assert torch.equal(images, through_getitem(dataset)[0])
