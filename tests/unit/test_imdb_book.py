"""The book's IMDB loaders (``load_lookup``, ``load_tensor``, ``load_sparse``, ``load_sequential``)
on small files written in each real format: ISLP's own, the Large Movie Review Dataset, Keras's."""

from __future__ import annotations

import re
import shutil
import urllib.error
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
import torchvision.datasets.utils
from data_files import (
    COLUMNS,
    KERAS_RANKS,
    LENGTH,
    REVIEWS,
    ROWS,
    md5,
    write_aclimdb,
    write_archive,
    write_islp,
    write_keras,
    write_reviews,
)
from ISLP.torch import imdb as islp

from datamodules.batching import SparseRows
from datamodules.imdb import IMDBDataModule, book, load_lookup, load_sequential, load_sparse, load_tensor, sources
from datamodules.imdb.sources import ARCHIVE
from datamodules.imdb.text import tokenize
from foundations.errors import BadArgumentError, CorruptDataError, DataUnavailableError

TENSOR_FILES = [f"IMDB_{kind}_{split}.tensor" for kind in ("X", "S") for split in ("train", "test")]


def forbid_downloads(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_download(*args, **kwargs):
        raise AssertionError("nothing may be downloaded here")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_download)


def dense(x: torch.Tensor | SparseRows) -> torch.Tensor:
    return x.to_dense()


@pytest.fixture(autouse=True)
def _elsewhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder, so the project's own ``data/`` is never read."""
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")


# -- ISLP's files ------------------------------------------------------------------------------
def test_islp_files_load_exactly_as_islp_loads_them(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "IMDB"
    contents = write_islp(root, monkeypatch)
    forbid_downloads(monkeypatch)

    for ours, theirs in zip(load_tensor(root=str(root)), islp.load_tensor(root=str(root))):
        (x, y), (x_islp, y_islp) = ours.tensors, theirs.tensors
        assert x.layout == x_islp.layout == torch.sparse_coo and x.dtype == torch.float32
        assert torch.equal(x.to_dense(), x_islp.to_dense()) and x.shape[1] == COLUMNS
        assert torch.equal(y, y_islp) and y.dtype == y_islp.dtype == torch.float32
    for ours, theirs in zip(load_sequential(root=str(root)), islp.load_sequential(root=str(root))):
        (s, y), (s_islp, y_islp) = ours.tensors, theirs.tensors
        assert s.dtype == s_islp.dtype == torch.int32 and s.shape[1] == LENGTH  # as ISLP stores them
        assert torch.equal(s, s_islp) and torch.equal(y, y_islp)
    assert load_lookup(root=str(root)) == islp.load_lookup(root=str(root)) == contents["IMDB_word_index.pkl"]

    for validation, random_state in ((5, 0), (5, 3), (11, 1)):
        ours = load_sparse(root=str(root), validation=validation, random_state=random_state)
        theirs = islp.load_sparse(root=str(root), validation=validation, random_state=random_state)
        for (x, y), (x_islp, y_islp) in zip(ours, theirs):
            assert sp.isspmatrix_csr(x) and x.shape[1] == COLUMNS
            assert x.shape == x_islp.shape and (x != x_islp).nnz == 0 and np.array_equal(y, y_islp)
        assert ours[1][0].shape[0] == validation and ours[0][0].shape[0] == ROWS["train"] - validation
    # the held-out rows depend on random_state
    held_out = [load_sparse(root=str(root), validation=5, random_state=seed)[1][0].toarray() for seed in (0, 3)]
    assert not np.array_equal(*held_out)


def test_a_lone_gz_is_gunzipped_beside_it_as_islp_leaves_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "IMDB"
    contents = write_islp(root, monkeypatch, gunzipped=False)
    forbid_downloads(monkeypatch)
    x_train = load_tensor(root=str(root))[0].tensors[0]
    assert torch.equal(x_train.to_dense(), contents["IMDB_X_train.tensor"].to_dense())
    assert (root / "IMDB_X_train.tensor").is_file() and not list(root.glob("*.tmp"))
    # now ISLP's own loader finds what it expects
    assert torch.equal(islp.load_tensor(root=str(root))[1].tensors[0].to_dense(), contents["IMDB_X_test.tensor"].to_dense())

    # a gunzipped copy cut short (ISLP writes it in place) is made afresh from the verified .gz
    copy = root / "IMDB_S_train.tensor"
    load_sequential(root=str(root))
    copy.write_bytes(copy.read_bytes()[:1000])
    assert torch.equal(load_sequential(root=str(root))[0].tensors[0], contents["IMDB_S_train.tensor"])


def test_gunzipped_tensors_alone_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "IMDB"
    contents = write_islp(root, monkeypatch)
    for packed in root.glob("*.gz"):
        packed.unlink()
    forbid_downloads(monkeypatch)
    train, test = load_sequential(root=str(root))
    assert torch.equal(train.tensors[0], contents["IMDB_S_train.tensor"])
    assert torch.equal(test.tensors[1], torch.from_numpy(contents["IMDB_Y_test.npy"]))
    (root / "IMDB_X_test.tensor").write_bytes(b"not a tensor")
    with pytest.raises(CorruptDataError, match="IMDB_X_test.tensor cannot be read as a tensor.*delete it and run again"):
        load_tensor(root=str(root))


@pytest.mark.parametrize(
    ("name", "loader"),
    [("IMDB_Y_train.npy", load_tensor), ("IMDB_X_test.npz", load_sparse),
     ("IMDB_S_train.tensor.gz", load_sequential), ("IMDB_word_index.pkl", load_lookup)],
)
def test_a_corrupt_islp_file_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, loader):
    root = tmp_path / "IMDB"
    write_islp(root, monkeypatch)
    forbid_downloads(monkeypatch)
    path = root / name
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(content)
    with pytest.raises(CorruptDataError) as caught:
        loader(root=str(root))
    message = str(caught.value)
    assert str(path) in message and "corrupt" in message and "Delete it and run again" in message


def test_islp_files_come_first_and_a_missing_one_is_fetched_not_mixed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "IMDB"
    contents = write_islp(root, monkeypatch)
    write_aclimdb(root)
    forbid_downloads(monkeypatch)
    assert load_lookup(root=str(root)) == contents["IMDB_word_index.pkl"]
    assert len(load_tensor(root=str(root))[0]) == ROWS["train"]  # not the 12 reviews of aclImdb/

    # the lookup is missing: it comes from ISLP too (a lookup of aclImdb's vocabulary would not fit ISLP's sequences)
    (root / "IMDB_word_index.pkl").unlink()
    fetched = []

    def offline(url, folder, filename=None, md5=None, **kwargs):
        fetched.append(url)
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    with pytest.raises(DataUnavailableError) as caught:
        load_lookup(root=str(root))
    assert fetched == [book.ISLP_URL + "IMDB_word_index.pkl"]
    message = str(caught.value)
    assert "IMDB_word_index.pkl" in message and str(root.resolve()) in message and "IMDB_Y_train.npy" in message
    assert "move ISLP's files out" in message


# -- the reviews, encoded as IMDBDataModule encodes them ----------------------------------------------
def test_aclimdb_gives_the_data_modules_features_and_a_lookup_that_reads_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    root = tmp_path / "reviews"
    write_aclimdb(root)
    forbid_downloads(monkeypatch)
    imdb_train, imdb_test = load_tensor(root=str(root))
    bow = IMDBDataModule(data_dir=str(root), validation=None)
    bow.setup()
    for dataset, (x, y) in ((imdb_train, bow.train_data), (imdb_test, bow.test_data)):
        features, labels = dataset.tensors
        assert features.layout == torch.sparse_coo and features.is_coalesced() and features.dtype == torch.float32
        assert torch.equal(features.to_dense(), dense(x)) and torch.equal(labels, y) and labels.dtype == torch.float32
    assert imdb_test.tensors[0].size()[1] == COLUMNS  # the book's check

    (X_train, Y_train), (X_valid, Y_valid), (X_test, Y_test) = load_sparse(validation=0, root=str(root))
    assert X_valid.shape == (0, COLUMNS) and len(Y_valid) == 0
    assert (X_train != bow.train_data[0].matrix).nnz == 0 and np.array_equal(Y_train, bow.train_data[1].numpy())
    assert (X_test != bow.test_data[0].matrix).nnz == 0 and Y_test.dtype == np.float32

    imdb_seq_train, imdb_seq_test = load_sequential(root=str(root))
    seq = IMDBDataModule(data_dir=str(root), features="sequence", validation=None)
    seq.setup()
    assert torch.equal(imdb_seq_train.tensors[0], seq.train_data[0]) and imdb_seq_train.tensors[0].shape == (12, LENGTH)
    assert imdb_seq_train.tensors[0].dtype == torch.int64 and torch.equal(imdb_seq_test.tensors[1], seq.test_data[1])

    # the book's cells: a review read back through the lookup
    lookup = load_lookup(root=str(root))
    assert [lookup[i] for i in range(4)] == ["<PAD>", "<START>", "<UNK>", "film"]
    read_back = {" ".join(lookup[i] for i in row.tolist() if i) for row in imdb_seq_train.tensors[0]}
    texts = [text for label in ("pos", "neg") for text in REVIEWS["train"][label]]
    assert read_back == {" ".join(["<START>", *tokenize(text)]) for text in texts}
    padded_sample = np.asarray(imdb_seq_train.tensors[0][0])
    sample_review = padded_sample[padded_sample > 0][:12]
    assert " ".join(lookup[i] for i in sample_review).startswith("<START> the film film film was")

    # one encoding, one cache: the data module's cache serves the loaders once the text files are gone
    shutil.rmtree(root / "aclImdb")
    assert sorted(p.name for p in (root / "imdb_cache").iterdir()) == ["encoded_aclImdb_10000.npz"]
    assert torch.equal(load_tensor(root=str(root))[1].tensors[0].to_dense(), imdb_test.tensors[0].to_dense())


def test_the_archive_in_the_projects_data_folder_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_archive(Path("data"), monkeypatch)  # data/ under the working directory, as the lab scripts use it
    write_aclimdb(tmp_path / "folder")
    forbid_downloads(monkeypatch)
    from_archive = load_sequential(root="data/IMDB")  # the book's root, which holds nothing
    from_folder = load_sequential(root=str(tmp_path / "folder"))
    for ours, reference in zip(from_archive, from_folder):
        assert all(torch.equal(a, b) for a, b in zip(ours.tensors, reference.tensors))
    assert not Path("data/IMDB").exists() and not Path("data/aclImdb").exists()  # nothing written, nothing extracted


def test_keras_files_read_in_the_keras_index_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_keras(tmp_path, monkeypatch)
    forbid_downloads(monkeypatch)
    lookup = load_lookup(root=str(tmp_path))
    assert lookup == {0: "<PAD>", 1: "<START>", 2: "<UNK>", 3: "<UNUSED>"} | {
        rank + 3: word for word, rank in KERAS_RANKS.items()
    }
    train, _ = load_sequential(root=str(tmp_path))
    read_back = {" ".join(lookup[i] for i in row.tolist() if i) for row in train.tensors[0]}
    # imdb.npz's training reviews as word ranks: [1, 5, 6, 6], [1, 5, 7], [3, 5, 6, 8], [4, 7, 7, 2]
    assert read_back == {"<START> the film great great", "<START> the film awful", "<START> a film great rare",
                         "<START> of awful awful and"}
    x_train, y_train = load_tensor(root=str(tmp_path))[0].tensors
    dm = IMDBDataModule(data_dir=str(tmp_path), validation=None)
    dm.setup()
    assert torch.equal(x_train.to_dense(), dm.train_data[0].to_dense()) and torch.equal(y_train, dm.train_data[1])


# -- downloading ISLP's files --------------------------------------------------------------------------
def serve(server: Path, calls: list, corrupt: bool = False):
    """A stand-in for torchvision's ``download_url`` that copies from ``server`` (or writes garbage)."""

    def download_url(url, folder, filename=None, md5=None, **kwargs):
        calls.append((url, md5))
        name = url.rsplit("/", 1)[1]
        target = Path(folder) / filename
        if corrupt:
            target.write_bytes(b"<html>502 Bad Gateway</html>")  # no checksum error raised: ours must catch it
        else:
            shutil.copy(server / name, target)

    return download_url


def test_missing_files_are_downloaded_verified_and_kept(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = tmp_path / "server"
    contents = write_islp(server, monkeypatch, gunzipped=False)
    calls: list = []
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", serve(server, calls))
    imdb_train, _ = load_tensor(root="data/IMDB")
    wanted = ["IMDB_X_train.tensor.gz", "IMDB_X_test.tensor.gz", "IMDB_Y_train.npy", "IMDB_Y_test.npy"]
    assert calls == [(book.ISLP_URL + name, book.ISLP_MD5[name]) for name in wanted]
    root = Path("data/IMDB")
    assert sorted(p.name for p in root.iterdir()) == sorted([*wanted, "IMDB_X_train.tensor", "IMDB_X_test.tensor"])
    assert all(md5(root / name) == md5(server / name) for name in wanted)
    assert torch.equal(imdb_train.tensors[0].to_dense(), contents["IMDB_X_train.tensor"].to_dense())
    load_tensor(root="data/IMDB")  # all here now: nothing more is fetched
    assert len(calls) == 4
    load_lookup(root="data/IMDB")  # only the lookup is
    assert calls[4:] == [(book.ISLP_URL + "IMDB_word_index.pkl", book.ISLP_MD5["IMDB_word_index.pkl"])]


def test_a_corrupt_download_is_deleted(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    server = tmp_path / "server"
    write_islp(server, monkeypatch)
    calls: list = []
    monkeypatch.setattr(torchvision.datasets.utils, "download_url", serve(server, calls, corrupt=True))
    root = tmp_path / "IMDB"
    with pytest.raises(CorruptDataError, match="IMDB_S_train.tensor.gz does not have MD5.*deleted; run again"):
        load_sequential(root=str(root))
    assert len(calls) == 1 and not root.exists()  # nothing under the real name, no partial file, no folder made


def test_offline_with_nothing_here_says_what_to_put_where(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def offline(url, folder, filename=None, md5=None, **kwargs):
        (Path(folder) / filename).write_bytes(b"\x1f\x8b partial")  # a download cut short
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    with pytest.raises(DataUnavailableError) as caught:
        load_sparse(validation=2000, random_state=0, root="data/IMDB")
    message = str(caught.value)
    root, data = Path("data/IMDB").resolve(), Path("data").resolve()
    expected = ("IMDB_X_train.npz, IMDB_X_test.npz, IMDB_Y_train.npy, IMDB_Y_test.npy", f"in {root}", book.ISLP_URL,
                "aclImdb/", ARCHIVE, "imdb.npz", "imdb_word_index.json", f"{root} or {data}", "name resolution")
    assert all(part in message for part in expected), message
    assert ".tensor" not in message  # only the files this loader reads
    assert caught.value.__suppress_context__
    assert not Path("data").exists()  # a failed download makes no folder


def test_validation_zero_holds_out_nothing_and_more_than_all_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    root = tmp_path / "IMDB"
    write_islp(root, monkeypatch)
    (X_train, _), (X_valid, _), _ = load_sparse(root=str(root), validation=0)
    assert X_train.shape[0] == ROWS["train"] and X_valid.shape[0] == 0
    with pytest.raises(ValueError, match="validation=25"):
        load_sparse(root=str(root), validation=25)


# -- bad arguments ---------------------------------------------------------------------------------------------------
def test_the_book_loaders_refuse_their_own_bad_arguments(tmp_path, monkeypatch):
    root = write_reviews(tmp_path / "IMDB", per_label=5)

    def no_reading(path):
        raise AssertionError("a bad argument must be refused before any review is read")

    with monkeypatch.context() as patched:
        patched.setattr(sources, "read_reviews", no_reading)
        for validation in (-1, 0.2, "100"):
            with pytest.raises(BadArgumentError, match=rf"load_sparse\(validation={re.escape(repr(validation))}\)"):
                load_sparse(root=str(root), validation=validation)
    with pytest.raises(BadArgumentError, match=r"validation=11\): more than the 10 training rows"):
        load_sparse(root=str(root), validation=11)
    (X_train, _), (X_valid, _), _ = load_sparse(root=str(root), validation=10)
    assert X_train.shape[0] == 0 and X_valid.shape[0] == 10


@pytest.mark.parametrize("loader", [load_sequential, load_sparse, load_tensor, load_lookup])
def test_a_file_as_root_is_named(tmp_path: Path, loader) -> None:
    afile = tmp_path / "notes.txt"
    afile.write_text("not a folder")
    for root in (afile, afile / "IMDB"):
        with pytest.raises(BadArgumentError, match=rf"{loader.__name__}\(root=.*{afile} is a file, not a folder"):
            loader(root=str(root))
