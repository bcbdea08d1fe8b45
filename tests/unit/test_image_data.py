"""MNIST and CIFAR100 data modules, on small files written here in the real on-disk formats (offline, fast)."""

from __future__ import annotations

import hashlib
import pickle
import re
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from data_files import MNIST_TEST, MNIST_TRAIN, numbered_images
from pytorch_lightning import LightningModule, Trainer
from torch import nn
from torchvision import datasets

from datamodules import cifar100, mnist
from datamodules.base import SyntheticDataWarning
from datamodules.cifar100 import CIFAR100DataModule
from datamodules.images import random_crop_flip, seeded_generator
from datamodules.mnist import MNISTDataModule
from foundations.errors import CorruptDataError, DataUnavailableError

CIFAR_TRAIN, CIFAR_TEST = 60, 20


# -- files in the real formats (numbered_images, write_idx and mnist_root are in conftest) -----------
def write_pickle(path: Path, content: dict) -> None:
    with open(path, "wb") as handle:
        pickle.dump(content, handle)


@pytest.fixture
def cifar_root(tmp_path: Path) -> Path:
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    for name, n in (("train", CIFAR_TRAIN), ("test", CIFAR_TEST)):
        labels = [(7 * i) % 100 for i in range(n)]
        data = numbered_images(n, (3072,), seed=n)  # rows of 1024 red, 1024 green, 1024 blue values
        write_pickle(
            folder / name,
            {"data": data, "fine_labels": labels, "coarse_labels": [label // 5 for label in labels],
             "filenames": [f"img_{i}.png" for i in range(n)]},
        )
    write_pickle(
        folder / "meta",
        {"fine_label_names": [f"fine_{i}" for i in range(100)], "coarse_label_names": [f"c_{i}" for i in range(20)]},
    )
    return tmp_path


@pytest.fixture
def no_download(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any torchvision download fail the test: the data must come from the files or be synthetic."""

    def refuse(*args, **kwargs):
        raise AssertionError("torchvision was asked to download")

    monkeypatch.setattr(datasets.MNIST, "download", refuse)
    monkeypatch.setattr(datasets.CIFAR100, "download", refuse)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: every urllib request fails as it does without a connection."""

    def fail(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# -- reading the real formats ------------------------------------------------------------------------
def test_mnist_reads_idx_files_through_torchvision(mnist_root: Path, no_download: None) -> None:
    dm = MNISTDataModule(data_dir=str(mnist_root), batch_size=16, verify=False)
    dm.prepare_data()  # files present: no download
    dm.setup()
    assert dm.sizes() == {"train": 80, "validation": 20, "test": MNIST_TEST}
    images, labels = dm.test_data
    assert images.dtype == torch.uint8 and images.shape == (MNIST_TEST, 1, 28, 28)
    assert labels.dtype == torch.int64
    written = numbered_images(MNIST_TEST, (28, 28), seed=MNIST_TEST)
    assert torch.equal(images[:, 0], torch.from_numpy(written))
    assert torch.equal(labels, torch.arange(MNIST_TEST) % 10)
    assert dm.classes == list(datasets.MNIST.classes) and len(dm.classes) == 10
    assert dm.synthetic is False


def test_cifar_reads_pickles_through_torchvision(cifar_root: Path, no_download: None) -> None:
    dm = CIFAR100DataModule(data_dir=str(cifar_root), verify=False)
    dm.prepare_data()
    dm.setup()
    assert dm.sizes() == {"train": 48, "validation": 12, "test": CIFAR_TEST}
    images, labels = dm.test_data
    assert images.dtype == torch.uint8 and images.shape == (CIFAR_TEST, 3, 32, 32)
    assert labels.dtype == torch.int64 and labels.tolist() == [(7 * i) % 100 for i in range(CIFAR_TEST)]
    # a row of the file is the red plane, then green, then blue, each 32 x 32 row-major
    rows = numbered_images(CIFAR_TEST, (3072,), seed=CIFAR_TEST)
    assert torch.equal(images[5, 1], torch.from_numpy(rows[5, 1024:2048].reshape(32, 32)))
    assert dm.classes == [f"fine_{i}" for i in range(100)]


def test_batches_become_floats_in_unit_range(mnist_root: Path) -> None:
    dm = MNISTDataModule(data_dir=str(mnist_root), batch_size=16, verify=False)
    dm.setup()
    assert dm.train_data[0].dtype == torch.uint8  # held as bytes
    # under a Trainer the batches travel as bytes and become floats on the accelerator ...
    dm.trainer = SimpleNamespace(global_rank=0, world_size=1)
    raw_images, raw_labels = next(iter(dm.train_dataloader()))
    assert raw_images.dtype == torch.uint8
    images, labels = dm.on_after_batch_transfer((raw_images, raw_labels), 0)
    assert images.dtype == torch.float32 and images.shape == (16, 1, 28, 28)
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.max() > 0.9
    assert torch.allclose(images * 255, raw_images.float())
    assert labels is raw_labels
    # ... and a batch taken by hand, as the book takes one before fitting, is what the network takes
    dm.trainer = None
    by_hand, _ = next(iter(dm.test_dataloader()))
    assert by_hand.dtype == torch.float32 and torch.equal(by_hand, dm.test_data[0][:16].float() / 255)
    assert torch.equal(dm.float_images("test"), dm.test_data[0].float() / 255)


@pytest.mark.parametrize("factory", [MNISTDataModule, CIFAR100DataModule])
def test_validation_split_is_seeded_reproducible_and_disjoint(factory, mnist_root: Path, cifar_root: Path) -> None:
    root = mnist_root if factory is MNISTDataModule else cifar_root  # both fixtures share tmp_path

    def row_numbers(seed: int) -> tuple[list[int], list[int]]:
        dm = factory(data_dir=str(root), verify=False, seed=seed)
        dm.setup()
        first_pixel = lambda data: data[0].flatten(1)[:, 0].tolist()  # noqa: E731 (the row number)
        return first_pixel(dm.train_data), first_pixel(dm.val_data)

    train, valid = row_numbers(seed=0)
    n = MNIST_TRAIN if factory is MNISTDataModule else CIFAR_TRAIN
    assert len(valid) == int(0.2 * n)
    assert not set(train) & set(valid) and sorted(train + valid) == list(range(n))
    assert row_numbers(seed=0) == (train, valid)
    assert row_numbers(seed=1)[1] != valid


# -- missing, offline, corrupt -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("factory", "folder", "files"),
    [
        (MNISTDataModule, "MNIST/raw", mnist.RAW_MD5),
        (CIFAR100DataModule, "cifar-100-python", ("train", "test", "meta")),
    ],
)
def test_offline_error_names_folder_files_and_synthetic(factory, folder, files, tmp_path: Path, offline: None) -> None:
    dm = factory(data_dir=str(tmp_path / "data"))
    with pytest.raises(DataUnavailableError) as caught:
        dm.prepare_data()
    message = str(caught.value)
    assert str((tmp_path / "data" / folder).resolve()) in message
    assert all(name in message for name in files)
    assert "could not be downloaded" in message and "Temporary failure in name resolution" in message
    assert "synthetic=True" in message and "--synthetic" in message
    assert "Traceback" not in message and "\n" not in message
    with pytest.raises(DataUnavailableError, match="synthetic=True"):  # setup without prepare_data
        factory(data_dir=str(tmp_path / "data")).setup()


def test_checksums_are_checked_by_default(mnist_root: Path, cifar_root: Path) -> None:
    with pytest.raises(CorruptDataError, match="checksum mismatch for .*train-images-idx3-ubyte"):
        MNISTDataModule(data_dir=str(mnist_root)).setup()  # small test files are not the originals
    with pytest.raises(CorruptDataError, match="checksum mismatch for .*cifar-100-python/train"):
        CIFAR100DataModule(data_dir=str(cifar_root)).setup()


def test_mnist_checksum_error_names_the_corrupt_file(mnist_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = mnist_root / "MNIST" / "raw"
    for name in mnist.RAW_MD5:  # pretend the test files are the originals
        monkeypatch.setitem(mnist.RAW_MD5, name, md5(raw / name))
    MNISTDataModule(data_dir=str(mnist_root)).setup()  # verified, passes
    corrupt = raw / "t10k-labels-idx1-ubyte"
    content = bytearray(corrupt.read_bytes())
    content[-1] ^= 0xFF
    corrupt.write_bytes(bytes(content))
    with pytest.raises(CorruptDataError) as caught:
        MNISTDataModule(data_dir=str(mnist_root)).setup()
    message = str(caught.value)
    assert str(corrupt) in message and "checksum mismatch" in message
    assert "train-images" not in message and "t10k-images" not in message


def test_cifar_checksum_error_names_the_corrupt_file(cifar_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = cifar_root / "cifar-100-python"
    for name in cifar100.CHECKSUMS:
        monkeypatch.setitem(cifar100.CHECKSUMS, name, md5(folder / name))
    CIFAR100DataModule(data_dir=str(cifar_root)).setup()
    (folder / "meta").write_bytes((folder / "meta").read_bytes()[:-10])
    with pytest.raises(CorruptDataError, match=re.escape(f"checksum mismatch for {folder / 'meta'}")):
        CIFAR100DataModule(data_dir=str(cifar_root)).setup()


def test_truncated_files_give_a_clear_error_naming_them(mnist_root: Path, cifar_root: Path) -> None:
    images = mnist_root / "MNIST" / "raw" / "train-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:5000])
    with pytest.raises(CorruptDataError, match=re.escape(f"cannot read {images} as an IDX file")):
        MNISTDataModule(data_dir=str(mnist_root), verify=False).setup()
    train = cifar_root / "cifar-100-python" / "train"
    train.write_bytes(train.read_bytes()[:1000])
    with pytest.raises(CorruptDataError, match=re.escape(f"{train} cannot be read as a CIFAR100 pickle")):
        CIFAR100DataModule(data_dir=str(cifar_root), verify=False).setup()


# -- synthetic data ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("factory", "shape", "sizes", "num_classes"),
    [
        (MNISTDataModule, (1, 28, 28), (60_000, 10_000), 10),
        (CIFAR100DataModule, (3, 32, 32), (50_000, 10_000), 100),
    ],
)
def test_synthetic_data_has_the_real_shapes(factory, shape, sizes, num_classes, no_download: None) -> None:
    dm = factory(synthetic=True, data_dir="/nonexistent")
    dm.prepare_data()  # must not download (no_download would fail the test)
    with pytest.warns(SyntheticDataWarning, match="SYNTHETIC DATA.*mean nothing"):
        dm.setup()
    assert dm.synthetic is True
    train, valid, test = dm.train_data, dm.val_data, dm.test_data
    assert len(train[0]) + len(valid[0]) == sizes[0] and len(valid[0]) == int(0.2 * sizes[0])
    assert len(test[0]) == sizes[1]
    for images, labels in (train, valid, test):
        assert images.dtype == torch.uint8 and images.shape[1:] == shape and labels.dtype == torch.int64
    assert set(test[1].tolist()) == set(range(num_classes))
    assert len(dm.classes) == num_classes
    assert test[0].float().std() > 20  # not a constant image


def test_synthetic_data_is_seeded_and_limit_keeps_the_first_rows() -> None:
    with pytest.warns(SyntheticDataWarning):
        full = MNISTDataModule(synthetic=True, validation=0.0)
        full.setup()
        short = MNISTDataModule(synthetic=True, validation=0.0, limit=5000)
        short.setup()
        other = MNISTDataModule(synthetic=True, validation=0.0, limit=5000, seed=1)
        other.setup()
    assert torch.equal(short.train_data[0], full.train_data[0][:5000])
    assert torch.equal(short.test_data[1], full.test_data[1][:5000])
    assert not torch.equal(other.train_data[0], short.train_data[0])


class Recorder(LightningModule):
    """A linear classifier that keeps the batches it is given and its training losses."""

    def __init__(self, in_features: int, num_classes: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(in_features, num_classes))
        self.train_batches: list[torch.Tensor] = []
        self.val_batches: list[torch.Tensor] = []
        self.epoch_losses: list[float] = []
        self._losses: list[float] = []

    def training_step(self, batch, batch_idx):
        images, labels = batch
        self.train_batches.append(images)
        loss = F.cross_entropy(self.net(images), labels)
        self._losses.append(loss.item())
        return loss

    def on_train_epoch_end(self) -> None:
        self.epoch_losses.append(sum(self._losses) / len(self._losses))
        self._losses = []

    def validation_step(self, batch, batch_idx):
        self.val_batches.append(batch[0])

    def configure_optimizers(self):
        return torch.optim.RMSprop(self.parameters(), lr=0.001)


def quiet_trainer(epochs: int) -> Trainer:
    return Trainer(
        max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
    )


def test_synthetic_mnist_is_learnable_through_the_trainer() -> None:
    torch.manual_seed(0)
    dm = MNISTDataModule(synthetic=True, limit=6000, batch_size=128)
    model = Recorder(784, 10)
    with pytest.warns(SyntheticDataWarning):
        quiet_trainer(epochs=3).fit(model, datamodule=dm)
    batch = model.train_batches[0]
    assert batch.dtype == torch.float32 and batch.min() >= 0 and batch.max() <= 1  # the hook ran in the loop
    first, *_, last = model.epoch_losses
    assert last < 0.6 * first
    with torch.no_grad():
        accuracy = (model.net(dm.float_images("test")).argmax(1) == dm.test_data[1]).float().mean()
    assert accuracy > 0.6  # chance is 0.1


# -- augmentation -----------------------------------------------------------------------------------------
def fake_trainer(training: bool, epoch: int = 0) -> SimpleNamespace:
    return SimpleNamespace(training=training, current_epoch=epoch, global_rank=0, world_size=1)


def test_augmentation_is_per_sample_deterministic_and_a_padded_crop_or_flip(cifar_root: Path) -> None:
    def augmented(batch, epoch: int = 0) -> torch.Tensor:
        dm = CIFAR100DataModule(data_dir=str(cifar_root), verify=False, augment=True)
        dm.trainer = fake_trainer(training=True, epoch=epoch)
        return dm.on_after_batch_transfer(batch, 0)[0]

    dm = CIFAR100DataModule(data_dir=str(cifar_root), verify=False)
    dm.setup()
    images = dm.train_data[0][:1].repeat(64, 1, 1, 1)  # one image 64 times
    batch = (images, torch.zeros(64, dtype=torch.int64))
    out = augmented(batch)
    assert out.dtype == torch.float32 and out.shape == (64, 3, 32, 32)
    assert torch.equal(out, augmented(batch))  # the same run gives the same augmentations
    assert not torch.equal(out, augmented(batch, epoch=1))  # a new epoch draws afresh
    assert len({tuple(o.flatten()[:200].tolist()) for o in out}) > 10  # each image its own crop and flip
    # every result is a 32 x 32 window of the zero-padded image, possibly mirrored
    padded = F.pad(images[0].float() / 255, (4, 4, 4, 4))
    windows = [padded[:, r : r + 32, c : c + 32] for r in range(9) for c in range(9)]
    windows += [w.flip(-1) for w in windows]
    assert all(any(torch.equal(o, w) for w in windows) for o in out)


def test_augmentation_only_on_training_batches(cifar_root: Path) -> None:
    dm = CIFAR100DataModule(data_dir=str(cifar_root), verify=False, augment=True)
    dm.setup()
    dm.trainer = fake_trainer(training=False)  # in a Trainer's loop: batches travel as bytes
    batch = next(iter(dm.val_dataloader()))
    plain = batch[0].float() / 255
    assert torch.equal(dm.on_after_batch_transfer(batch, 0)[0], plain)
    off = CIFAR100DataModule(data_dir=str(cifar_root), verify=False, augment=False)
    off.trainer = fake_trainer(training=True)
    assert torch.equal(off.on_after_batch_transfer(batch, 0)[0], plain)


def test_augmentation_in_the_trainer_touches_training_batches_only(cifar_root: Path) -> None:
    dm = CIFAR100DataModule(data_dir=str(cifar_root), verify=False, augment=True, batch_size=48, validation=0.2)
    model = Recorder(3072, 100)
    quiet_trainer(epochs=1).fit(model, datamodule=dm)
    train_sorted = sorted(model.train_batches[0].flatten(1).tolist())
    assert train_sorted != sorted(dm.float_images("train").flatten(1).tolist())
    assert torch.equal(model.val_batches[0], dm.float_images("validation"))


def test_random_crop_flip_runs_on_uint8_and_keeps_values() -> None:
    images = torch.arange(2 * 3 * 8 * 8, dtype=torch.int64).remainder(251).to(torch.uint8).view(2, 3, 8, 8)
    out = random_crop_flip(images, padding=2, generator=seeded_generator("test"))
    assert out.dtype == torch.uint8 and out.shape == images.shape
    assert set(out.unique().tolist()) <= set(images.unique().tolist()) | {0}
