"""Code planted in a data folder never runs, and a damaged file is named as damaged, through the library.

1. No code from a data folder: a crafted pickle in ``cifar-100-python/`` (or ISLP's word index, or
   torch's cached ResNet50 weights) is refused in one line, and its code never runs; through ``islp-lab``
   and the lab script too.
2. Messages that say what happened: a damaged archive or ISLP file is *damaged*, not missing; a
   failed ``load_sparse`` creates no folder.
"""
from __future__ import annotations

import gzip
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.datasets.utils
from data_files import Planted, cifar_files, numbered_images, write_islp
from helpers import ROOT, run_islp_lab, run_script
from torchvision.models import ResNet50_Weights

from datamodules.cifar100 import CIFAR100DataModule
from datamodules.imdb import book, load_lookup, load_sparse
from datamodules.mnist import MNISTDataModule
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle
from foundations.errors import CorruptDataError, DataUnavailableError
from lightning_modules.pretrained import WeightsUnavailableError, load_resnet50

# -- helpers ------------------------------------------------------------------------------------------------


def assert_planted_code_runs_when_unpickled(path: Path, marker: Path) -> None:
    """The file really is hostile: a plain ``pickle.load`` runs its code (then the marker is removed again)."""
    with open(path, "rb") as file:
        pickle.load(file, encoding="latin1")
    assert marker.is_dir()
    marker.rmdir()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No network: every urllib request fails as it does without a connection."""

    def fail(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(urllib.request, "urlopen", fail)


def one_line(stderr: str) -> str:
    """The last line of a failed command's stderr, after checking there is no traceback."""
    assert "Traceback" not in stderr, stderr[-3000:]
    return stderr.strip().splitlines()[-1]


# -- 1. no code from a data folder --------------------------------------------------------------------------
@pytest.mark.parametrize("planted_in", ["train", "test", "meta"])
def test_a_planted_cifar_pickle_is_refused_and_never_runs(tmp_path: Path, planted_in: str) -> None:
    marker = tmp_path / "MARKER"
    root = cifar_files(tmp_path / "data", planted_in, marker)
    path = root / "cifar-100-python" / planted_in
    with pytest.raises(CorruptDataError) as caught:
        CIFAR100DataModule(data_dir=str(root), verify=False).setup()
    message = str(caught.value)
    assert str(path) in message and "os.makedirs" in message and "not loaded" in message and "\n" not in message
    assert not marker.exists()
    assert_planted_code_runs_when_unpickled(path, marker)  # the same file, loaded unsafely, would have run


@pytest.mark.parametrize("protocol", [2, 4, 5])
def test_real_format_cifar_pickles_still_load(tmp_path: Path, protocol: int) -> None:
    root = cifar_files(tmp_path, protocol=protocol)
    dm = CIFAR100DataModule(data_dir=str(root), verify=False, validation=0.25)
    dm.setup()
    assert dm.sizes() == {"train": 45, "validation": 15, "test": 20}
    assert dm.classes[:2] == ["fine_0", "fine_1"] and dm.train_data[0].dtype == torch.uint8
    images = numbered_images(20, (3072,), seed=20)
    assert torch.equal(dm.test_data[0], torch.from_numpy(images.reshape(-1, 3, 32, 32)))  # rows of R, G, B planes


def test_a_python2_pickle_of_numpy_arrays_loads(tmp_path: Path) -> None:
    """What CIFAR's own files are: Python 2 cPickle, numpy arrays named by ``numpy.core.multiarray``."""
    array = np.arange(12, dtype=np.uint8).reshape(3, 4)
    content = pickle.dumps({"data": array, "labels": [1, 2, 3]}, protocol=2)
    content = content.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")
    assert b"numpy.core.multiarray" in content
    (tmp_path / "batch").write_bytes(content)
    loaded = load_pickle(tmp_path / "batch", "a CIFAR100 pickle", NUMPY_ARRAYS)
    assert np.array_equal(loaded["data"], array) and loaded["labels"] == [1, 2, 3]


def test_cli_with_verify_false_refuses_a_planted_pickle_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    root = cifar_files(tmp_path / "data", "train", marker)
    done = run_islp_lab(
        "fit", "--config", str(ROOT / "scripts/configs/cifar100_cnn.yaml"),
        "--data.init_args.data_dir", str(root), "--data.init_args.verify", "false", "--trainer.max_epochs", "1",
        "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs"), cwd=tmp_path,
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("islp-lab: error: ") and str(root / "cifar-100-python" / "train") in line and "os.makedirs" in line
    assert not marker.exists()


def test_lab_script_refuses_a_planted_pickle_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    root = cifar_files(tmp_path / "data", "train", marker)
    # a Python of its own: the lab script's real entry point (islp-lab's refusal above runs in this process)
    done = run_script("lab_cifar100", "--data-dir", str(root), "--max-epochs", "1", "--accelerator", "cpu",
                      "--log-dir", str(tmp_path / "logs"), new_process=True, cwd=tmp_path)
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("error: checksum mismatch for ") and "cifar-100-python/train" in line
    assert "never run as code" in line
    assert not marker.exists()


def test_islp_word_index_never_runs_code_even_when_its_checksum_is_bypassed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "IMDB"
    write_islp(root, monkeypatch)
    marker = tmp_path / "MARKER"
    lookup = root / "IMDB_word_index.pkl"
    lookup.write_bytes(pickle.dumps({0: "<PAD>", 1: Planted(marker)}))
    monkeypatch.setitem(book.ISLP_MD5, lookup.name, __import__("hashlib").md5(lookup.read_bytes()).hexdigest())
    with pytest.raises(CorruptDataError, match="IMDB_word_index.pkl is not ISLP's IMDB word index: it names os.makedirs"):
        load_lookup(root=str(root))
    assert not marker.exists()


def test_cached_resnet_weights_are_read_as_tensors_only(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    checkpoints = tmp_path / "torch" / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    marker = tmp_path / "MARKER"
    torch.save({"conv1.weight": Planted(marker)}, checkpoints / "resnet50-11ad3fa6.pth")
    with pytest.raises(WeightsUnavailableError, match="holds objects other than tensors") as caught:
        load_resnet50(ResNet50_Weights.DEFAULT)
    assert "delete it and run again" in str(caught.value)
    assert not marker.exists()


# -- 2. messages that say what happened ----------------------------------------------------------------------
def test_a_truncated_mnist_archive_is_damaged_not_missing(tmp_path: Path, offline: None) -> None:
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    archive = raw / "train-images-idx3-ubyte.gz"
    archive.write_bytes(gzip.compress(bytes(5000))[:200])
    dm = MNISTDataModule(data_dir=str(tmp_path))
    with pytest.raises(CorruptDataError) as caught:
        dm.prepare_data()
    message = str(caught.value)
    assert f"{archive.resolve()} (md5 " in message and "damaged" in message and "Delete it" in message
    assert "Temporary failure" in message and "is not in" not in message


def test_a_damaged_cifar_archive_is_damaged_not_missing(tmp_path: Path, offline: None) -> None:
    archive = tmp_path / "cifar-100-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b" + bytes(300))
    with pytest.raises(CorruptDataError, match="the archive there is damaged: .*cifar-100-python.tar.gz .*Delete it"):
        CIFAR100DataModule(data_dir=str(tmp_path)).prepare_data()
    assert archive.is_file()  # the user's file is theirs to delete


def test_without_an_archive_the_data_is_still_reported_missing(tmp_path: Path, offline: None) -> None:
    with pytest.raises(DataUnavailableError, match="is not in .*could not be downloaded"):
        CIFAR100DataModule(data_dir=str(tmp_path)).prepare_data()


def test_a_truncated_islp_file_is_damaged_not_a_failed_download(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "IMDB"
    write_islp(root, monkeypatch)
    for name in ("IMDB_X_test.npz", "IMDB_Y_train.npy", "IMDB_Y_test.npy"):
        (root / name).unlink()
    train = root / "IMDB_X_train.npz"
    train.write_bytes(train.read_bytes()[:100])

    def offline(url, folder, filename=None, md5=None, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    with pytest.raises(CorruptDataError) as caught:
        load_sparse(root=str(root))
    message = str(caught.value)
    assert "IMDB_X_train.npz" in message and "is damaged" in message and "Delete the damaged file" in message


def test_load_sparse_into_a_missing_folder_creates_nothing_while_failing(tmp_path: Path, offline: None) -> None:
    root = tmp_path / "no" / "such" / "dir"
    with pytest.raises(DataUnavailableError, match="No IMDB data for load_sparse"):
        load_sparse(root=str(root))
    assert not (tmp_path / "no").exists()
