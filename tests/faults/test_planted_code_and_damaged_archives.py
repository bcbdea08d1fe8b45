"""Faults a reader meets through the library and the data folders (issue 16, classes 1, 3, 6 and 7).

1. No code from a data folder: a crafted pickle in ``cifar-100-python/`` (or ISLP's word index, or
   torch's cached ResNet50 weights) is refused in one line, and its code never runs.
3. No silent wrong answer: arrays of different lengths, a loss or targets that do not suit the task,
   labels beyond ``num_classes``, empty training and test sets are errors naming what to give.
6. Messages that say what happened: a damaged archive or ISLP file is *damaged*, not missing; a
   failed ``load_sparse`` creates no folder; a file given as ``root`` is named.
7. Inputs a reader tries (numpy numbers and arrays, DataFrames, lists, strings for numbers, frames
   without the columns ``summary_plot`` needs) are taken or refused naming the argument.
"""

from __future__ import annotations

import gzip
import logging
import os
import pickle
import subprocess
import sys
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torchvision.datasets.utils  # noqa: E402
from conftest import ROOT, numbered_images  # noqa: E402
from pytorch_lightning import Trainer  # noqa: E402
from test_imdb_book import write_islp  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402
from torchvision.models import ResNet50_Weights  # noqa: E402

from datamodules.cifar100 import CIFAR100DataModule  # noqa: E402
from datamodules.errors import BadArgumentError, CorruptDataError, CurvesArgumentError, DataUnavailableError  # noqa: E402
from datamodules.imdb import book, load_lookup, load_sequential, load_sparse, load_tensor  # noqa: E402
from datamodules.mnist import MNISTDataModule  # noqa: E402
from datamodules.safe_pickle import NUMPY_ARRAYS, load_pickle  # noqa: E402
from lightning_modules import SimpleDataModule, SimpleModule, summary_plot  # noqa: E402
from lightning_modules.pretrained import WeightsUnavailableError, load_resnet50  # noqa: E402


# -- helpers ------------------------------------------------------------------------------------------------
class Planted:
    """Pickled, it asks the loader to create ``marker`` (a folder): proof that code from the file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def cifar_files(root: Path, planted_in: str | None = None, marker: Path | None = None, protocol: int = 4) -> Path:
    """``root/cifar-100-python/{train,test,meta}`` in the real format; ``planted_in`` holds a :class:`Planted`."""
    folder = root / "cifar-100-python"
    folder.mkdir(parents=True, exist_ok=True)
    for name, n in (("train", 60), ("test", 20)):
        labels = [(7 * i) % 100 for i in range(n)]
        content = {"data": numbered_images(n, (3072,), seed=n), "fine_labels": labels,
                   "coarse_labels": [label // 5 for label in labels], "filenames": [f"img_{i}.png" for i in range(n)],
                   "batch_label": "training batch 1 of 1"}
        if planted_in == name:
            content["filenames"] = Planted(marker)
        (folder / name).write_bytes(pickle.dumps(content, protocol=protocol))
    meta = {"fine_label_names": [f"fine_{i}" for i in range(100)], "coarse_label_names": [f"c_{i}" for i in range(20)]}
    if planted_in == "meta":
        meta["coarse_label_names"] = Planted(marker)
    (folder / "meta").write_bytes(pickle.dumps(meta, protocol=protocol))
    return root


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


def quiet_trainer(**kwargs) -> Trainer:
    logging.getLogger("pytorch_lightning").setLevel(logging.ERROR)
    logging.getLogger("lightning.pytorch").setLevel(logging.ERROR)
    settings = dict(accelerator="cpu", max_epochs=1, logger=False, enable_checkpointing=False,
                    enable_progress_bar=False, enable_model_summary=False)
    return Trainer(**(settings | kwargs))


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


@pytest.mark.slow
def test_cli_with_verify_false_refuses_a_planted_pickle_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    root = cifar_files(tmp_path / "data", "train", marker)
    done = subprocess.run(
        [sys.executable, "-m", "lightning_modules.cli", "fit", "--config", str(ROOT / "scripts/configs/cifar100_cnn.yaml"),
         "--data.init_args.data_dir", str(root), "--data.init_args.verify", "false", "--trainer.max_epochs", "1",
         "--trainer.accelerator", "cpu", "--trainer.logger.init_args.save_dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 1
    line = one_line(done.stderr)
    assert line.startswith("islp-lab: error: ") and str(root / "cifar-100-python" / "train") in line and "os.makedirs" in line
    assert not marker.exists()


@pytest.mark.slow
def test_lab_script_refuses_a_planted_pickle_in_one_line(tmp_path: Path) -> None:
    marker = tmp_path / "MARKER"
    root = cifar_files(tmp_path / "data", "train", marker)
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts/lab_cifar100.py"), "--data-dir", str(root), "--max-epochs", "1",
         "--accelerator", "cpu", "--log-dir", str(tmp_path / "logs")],
        cwd=tmp_path, capture_output=True, text=True, timeout=300,
    )
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


# -- 3. no silent wrong answer --------------------------------------------------------------------------------
X = torch.randn(100, 4, generator=torch.Generator().manual_seed(0))
Y_REAL = torch.randn(100, generator=torch.Generator().manual_seed(1))
LABELS = torch.arange(100) % 10


def fit(module: SimpleModule, y: torch.Tensor) -> None:
    quiet_trainer().fit(module, datamodule=SimpleDataModule(TensorDataset(X, y), TensorDataset(X, y), validation=0.2))


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (lambda: SimpleDataModule.fromarrays(X.numpy(), np.zeros(120)),
         "fromarrays: .* array 1 of 2 has 100, array 2 of 2 has 120"),
        (lambda: SimpleModule.regression(nn.Linear(4, 1), loss=nn.CrossEntropyLoss()),
         r"loss=CrossEntropyLoss\(\) is a loss for classification .*not for regression"),
        (lambda: SimpleModule.classification(nn.Linear(4, 3), num_classes=3, loss=nn.MSELoss()),
         r"loss=MSELoss\(\) is a loss for regression"),
        (lambda: SimpleModule.binary_classification(nn.Linear(4, 1), loss=nn.BCELoss()),
         r"BCEWithLogitsLoss"),
        (lambda: fit(SimpleModule.binary_classification(nn.Linear(4, 1)), (LABELS % 2 + 1).float()),
         "first validation batch has targets 1, 2, but binary_classification needs 0 or 1"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 5), num_classes=5), LABELS),
         r"class labels from \d to 9, but num_classes=5 .* give num_classes=10"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=5), LABELS),
         "network gives 10 outputs per row but num_classes=5"),
        (lambda: fit(SimpleModule.regression(nn.Linear(4, 1)), LABELS),
         "torch.int64 targets, but a regression needs numbers"),
        (lambda: fit(SimpleModule.regression(nn.Linear(4, 10)), Y_REAL),
         r"outputs of shape \(\d+, 10\) for targets of shape \(\d+,\)"),
        (lambda: fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), LABELS.float()),
         "torch.float32 targets, but classification needs class indices"),
        (lambda: SimpleDataModule(TensorDataset(X[:0], Y_REAL[:0]), TensorDataset(X, Y_REAL)),
         "train_dataset is empty"),
        (lambda: quiet_trainer().fit(SimpleModule.regression(nn.Linear(4, 1)), DataLoader(TensorDataset(X[:0], Y_REAL[:0]))),
         "the training data is empty"),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)),
                                      datamodule=SimpleDataModule(TensorDataset(X, Y_REAL), TensorDataset(X[:0], Y_REAL[:0]))),
         "the test set is empty"),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)),
                                      datamodule=SimpleDataModule.fromarrays(X, Y_REAL)),
         "the test set is empty .*fromarrays: test="),
        (lambda: quiet_trainer().test(SimpleModule.regression(nn.Linear(4, 1)), DataLoader(TensorDataset(X[:0], Y_REAL[:0]))),
         "the test data is empty"),
    ],
    ids=["lengths", "regression-ce", "classification-mse", "bce", "binary-1-2", "labels-beyond",
         "outputs-vs-classes", "regression-int", "regression-10-outputs", "classification-float",
         "empty-train", "empty-train-loader", "empty-test", "fromarrays-no-test", "empty-test-loader"],
)
def test_a_readers_mistake_is_an_error_saying_what_to_give(attempt, expected) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(BadArgumentError, match=expected) as caught:
            attempt()
    assert isinstance(caught.value, ValueError) and "\n" not in str(caught.value)


def test_the_checks_leave_good_tasks_alone_and_run_once_per_stage_and_epoch(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[str] = []
    original = SimpleModule._check_batch

    def spy(self, stage, output, y):
        checked.append(stage)
        return original(self, stage, output, y)

    monkeypatch.setattr(SimpleModule, "_check_batch", spy)
    data = SimpleDataModule(TensorDataset(X, LABELS % 2), TensorDataset(X, LABELS % 2), validation=0.2, batch_size=10)
    trainer = quiet_trainer(max_epochs=2, num_sanity_val_steps=0)
    trainer.fit(SimpleModule.binary_classification(nn.Linear(4, 1)), datamodule=data)
    assert checked == ["train", "valid", "train", "valid"]  # 8 training batches an epoch, one check each
    fit(SimpleModule.regression(nn.Linear(4, 1), loss=nn.L1Loss()), Y_REAL)
    fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), LABELS)
    ignored = LABELS.clone()
    ignored[::7] = -100  # CrossEntropyLoss's ignore_index is not a label out of range
    fit(SimpleModule.classification(nn.Linear(4, 10), num_classes=10), ignored)


# -- 6. messages that say what happened ----------------------------------------------------------------------
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


@pytest.mark.parametrize("loader", [load_sequential, load_sparse, load_tensor, load_lookup])
def test_a_file_as_root_is_named(tmp_path: Path, loader) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    for root in (afile, afile / "IMDB"):
        with pytest.raises(BadArgumentError, match=rf"{loader.__name__}\(root=.*{afile} is a file, not a folder"):
            loader(root=str(root))


# -- 7. inputs a reader tries -----------------------------------------------------------------------------------
FRAME = pd.DataFrame(X.numpy(), columns=list("abcd")).assign(target=Y_REAL.numpy())


@pytest.mark.parametrize(
    ("attempt", "expected"),
    [
        (lambda: SimpleDataModule(X.numpy(), X.numpy()), "train_dataset is one ndarray: .*give \\(X, y\\)"),
        (lambda: SimpleDataModule(FRAME, FRAME), "train_dataset is one DataFrame"),
        (lambda: SimpleDataModule([[1.0, 2.0], [3.0, 4.0]], [[1.0], [2.0]]), "train_dataset is a list of 2 lists"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL[:50])), r"test_dataset: .*test_dataset\[1\] has 50"),
        (lambda: SimpleDataModule((FRAME.assign(league="A"), FRAME["target"]), (X, Y_REAL)),
         r"train_dataset\[0\] has columns that are not numbers \(league\)"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), batch_size=2.5), "batch_size must be a whole number"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), batch_size="32"), "batch_size must be a whole number"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), validation="20"), "validation='20'"),
        (lambda: SimpleDataModule((X, Y_REAL), (X, Y_REAL), validation=np.float64(1.5)), "validation fraction"),
        (lambda: SimpleDataModule.fromarrays(X, Y_REAL, test="0.2"), "test='0.2'"),
        (lambda: SimpleModule.classification(nn.Linear(4, 10), num_classes="10"), "num_classes must be a whole number"),
        (lambda: SimpleModule.regression(nn.Linear(4, 1), lr="0.01"), "learning rate must be a number"),
        (lambda: SimpleModule.regression(nn.Linear), "model must be a network .*the class Linear"),
    ],
    ids=["ndarray", "dataframe", "lists", "unequal-tuple", "text-column", "batch-2.5", "batch-str",
         "validation-str", "validation-1.5", "test-str", "num-classes-str", "lr-str", "model-class"],
)
def test_a_readers_input_is_refused_naming_the_argument(attempt, expected) -> None:
    with pytest.raises(BadArgumentError, match=expected) as caught:
        attempt()
    assert "\n" not in str(caught.value)


def test_inputs_whose_meaning_is_clear_are_taken() -> None:
    # (X, y) as numpy arrays, a DataFrame and a Series; numpy numbers for counts and sizes
    dm = SimpleDataModule((FRAME[list("abcd")], FRAME["target"]), (X.numpy(), Y_REAL.numpy()),
                          validation=np.int64(20), batch_size=np.int64(16))
    dm.setup()
    assert dm.sizes() == {"train": 80, "validation": 20, "test": 100} and dm.batch_size == 16
    x, y = next(iter(dm.train_dataloader()))
    assert x.dtype == y.dtype == torch.float32 and x.shape == (16, 4)
    same = SimpleDataModule(TensorDataset(X, Y_REAL), TensorDataset(X, Y_REAL), validation=20)
    same.setup()
    assert torch.equal(same.val_data[0], dm.val_data[0])  # the book's rows for the seed, whatever the input type
    fraction = SimpleDataModule.fromarrays(X, Y_REAL, test=np.float32(0.2), validation=np.float32(0.1))
    fraction.setup()
    assert fraction.sizes() == {"train": 70, "validation": 10, "test": 20}
    quiet_trainer().fit(SimpleModule.regression(nn.Linear(4, 1)), datamodule=dm)


def test_summary_plot_names_what_the_frame_lacks(tmp_path: Path) -> None:
    fig, ax = plt.subplots()
    with pytest.raises(CurvesArgumentError, match=r"no 'epoch' column \(columns there: train_loss_epoch\)"):
        summary_plot(pd.DataFrame({"train_loss_epoch": [1.0]}), ax)
    with pytest.raises(CurvesArgumentError, match=r"neither 'train_mae_epoch' nor 'valid_mae'.*columns there: epoch, train_loss_epoch"):
        summary_plot(pd.DataFrame({"epoch": [0], "train_loss_epoch": [1.0]}), ax, col="mae")
    with pytest.raises(CurvesArgumentError, match="give the run's metrics as a DataFrame"):
        summary_plot([1, 2], ax)
    with pytest.raises(CurvesArgumentError, match="give a matplotlib Axes"):
        summary_plot(pd.DataFrame({"epoch": [0], "train_loss_epoch": [1.0]}), None)
    csv = tmp_path / "metrics.csv"
    csv.write_text("epoch,step,train_loss_epoch,valid_loss\n0,1,0.5,\n0,1,,0.6\n")
    assert summary_plot(str(csv), ax) is ax  # a path to the file is read as read_metrics reads it
    plt.close(fig)
