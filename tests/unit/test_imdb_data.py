"""IMDBDataModule on small files written in the real on-disk formats (offline, fast)."""

from __future__ import annotations

import shutil
import urllib.error
from pathlib import Path

import pytest
import scipy.sparse as sp
import torch
import torchvision.datasets.utils
from data_files import KERAS_RANKS, WORD_INDEX, write_aclimdb, write_archive, write_keras

from datamodules.base import SyntheticDataWarning
from datamodules.batching import SparseRows
from datamodules.imdb import IMDBDataModule, sources
from datamodules.imdb.cache import CACHE_ERRORS, EncodedIMDB
from datamodules.imdb.datamodule import read_reviews_file
from datamodules.imdb.sources import ARCHIVE, ARCHIVE_URL
from datamodules.imdb.text import Sequences, bag_of_words, pad_sequences, tokenize
from foundations.errors import BadArgumentError, CorruptDataError, DataUnavailableError

# "The film film film was great, GREAT!<br />alpha." encoded by hand
ALPHA_REVIEW = [1, 6, 3, 3, 3, 7, 5, 5, 8]


def features_and_labels(
    dm: IMDBDataModule, splits: tuple[str, ...] = ("train", "val")
) -> tuple[torch.Tensor, torch.Tensor]:
    """The chosen splits' features (dense) and labels, stacked."""
    parts = [getattr(dm, f"{split}_data") for split in splits]
    features = [x.to_dense() if isinstance(x, SparseRows) else x for x, _ in parts]
    return torch.cat(features), torch.cat([y for _, y in parts])


def rows_of(features: torch.Tensor) -> set[tuple[int, ...]]:
    return {tuple(row.tolist()) for row in features}


@pytest.fixture
def acl_dir(tmp_path: Path) -> Path:
    write_aclimdb(tmp_path)
    return tmp_path


def test_tokenize_lowers_and_strips_breaks_and_punctuation():
    assert tokenize("Don't<br /><br />STOP, 'now'...it_is <BR>fine!") == ["don't", "stop", "now", "it", "is", "fine"]


def test_pad_and_bag_of_words_on_hand_made_sequences():
    sequences = Sequences.from_lists([[1, 5, 5, 5], [1], [1, 2, 3, 4, 5, 6]])
    assert pad_sequences(sequences, 4).tolist() == [[1, 5, 5, 5], [0, 0, 0, 1], [3, 4, 5, 6]]
    assert pad_sequences(sequences, 4).dtype == torch.int64
    dense = bag_of_words(sequences, 7).to_dense()
    assert dense.tolist() == [[0, 1, 0, 0, 0, 1, 0], [0, 1, 0, 0, 0, 0, 0], [0, 1, 1, 1, 1, 1, 1]]
    assert sequences.tokens.tolist() == [1, 5, 5, 5, 1, 1, 2, 3, 4, 5, 6]  # left untouched
    with pytest.raises(ValueError, match="beyond 6 columns"):
        bag_of_words(sequences, 6)


def test_vocabulary_ranks_and_reserved_indices(acl_dir: Path):
    dm = IMDBDataModule(data_dir=str(acl_dir), features="sequence", max_length=12, validation=4)
    dm.setup()
    assert dm.source == "aclImdb" and not dm.synthetic
    assert dm.word_index == WORD_INDEX  # most frequent -> 3, ties alphabetical, test-only words absent
    assert dm.vocabulary[:5] == ["film", "awful", "great", "the", "was"]
    test_rows = rows_of(dm.test_data[0])
    # "Not the film for me.": not, for, me occur only in the test split -> 2
    assert (0, 0, 0, 0, 0, 0, 1, 2, 6, 3, 2, 2) in test_rows
    assert (0, 0, 0, 0, 0, 0, 0, 0, 1, 5, 5, 5) in test_rows  # "Great great great."
    features, _ = features_and_labels(dm, ("train", "val", "test"))
    assert (features[:, -1] > 0).all()  # padding only in front


def test_hand_encoding_truncation_and_pre_padding(acl_dir: Path):
    def train_rows(**kwargs) -> set[tuple[int, ...]]:
        dm = IMDBDataModule(data_dir=str(acl_dir), features="sequence", validation=4, **kwargs)
        dm.setup()
        assert dm.train_data[0].dtype == torch.int64
        return rows_of(features_and_labels(dm)[0])

    padded = train_rows(max_length=12)
    assert (0, 0, 0, *ALPHA_REVIEW) in padded
    assert all(row[:4] == (0, 0, 0, 1) for row in padded)  # every training review has 9 tokens
    assert tuple(ALPHA_REVIEW[-5:]) in train_rows(max_length=5)  # the last 5 tokens are kept
    # num_words=4 keeps film, awful, great, the; 'was' and 'alpha' become 2
    assert (0, 0, 0, 1, 6, 3, 3, 3, 2, 5, 5, 2) in train_rows(max_length=12, num_words=4)


@pytest.mark.parametrize("num_words", [10_000, 4])
def test_bag_of_words_is_binary_sparse_and_batches_dense(acl_dir: Path, num_words: int):
    dm = IMDBDataModule(data_dir=str(acl_dir), num_words=num_words, validation=4, batch_size=3, eval_batch_size=3)
    dm.setup()
    x_train = dm.train_data[0]
    assert isinstance(x_train, SparseRows) and sp.issparse(x_train.matrix)
    assert x_train.shape == (8, num_words + 3) and dm.num_columns == num_words + 3
    assert isinstance(dm.val_data[0], SparseRows)  # the validation split stays sparse too
    for loader in (dm.train_dataloader(), dm.val_dataloader(), dm.test_dataloader()):
        for x, y in loader:
            assert x.dtype == torch.float32 and x.shape[1] == num_words + 3 and x.layout == torch.strided
            assert y.dtype == torch.float32 and len(y) == len(x) <= 3
    features, _ = features_and_labels(dm)
    assert set(features.unique().tolist()) == {0.0, 1.0}
    assert (features[:, 0] == 0).all() and (features[:, 1] == 1).all()  # no padding column; start marker
    if num_words == 10_000:
        (alpha,) = torch.nonzero(features[:, WORD_INDEX["alpha"]]).flatten().tolist()
        assert torch.nonzero(features[alpha]).flatten().tolist() == [1, 3, 5, 6, 7, 8]  # 'film' ×3 -> 1.0
    else:
        assert (features[:, 2] == 1).all()  # every review has a word beyond the top 4


def test_labels_sizes_dtypes_and_limit(acl_dir: Path):
    dm = IMDBDataModule(data_dir=str(acl_dir), validation=4)
    dm.setup()
    assert dm.sizes() == {"train": 8, "validation": 4, "test": 6}
    _, y = features_and_labels(dm)
    y_test = dm.test_data[1]
    assert y.dtype == y_test.dtype == torch.float32 and y.shape == (12,)
    assert y.sum() == 6 and y_test.sum() == 3 and set(y.tolist()) == {0.0, 1.0}
    # the reviews are shuffled once, so the first rows mix both labels
    limited = IMDBDataModule(data_dir=str(acl_dir), validation=0, limit=5)
    limited.setup()
    assert limited.sizes() == {"train": 5, "validation": 0, "test": 5}
    assert isinstance(limited.train_data[0], SparseRows) and limited.train_data[0].shape == (5, 10_003)
    assert 0 < limited.train_data[1].sum() < 5


def test_archive_gives_the_same_data_as_the_folder(acl_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    from_tar = tmp_path / "from_tar"
    write_archive(from_tar, monkeypatch)
    folder, archive = (IMDBDataModule(data_dir=str(d), validation=4) for d in (acl_dir, from_tar))
    folder.setup()
    archive.setup()
    assert not (from_tar / "aclImdb").exists()  # read straight from the archive
    assert archive.word_index == folder.word_index == WORD_INDEX
    for split in ("train_data", "val_data", "test_data"):
        (x_a, y_a), (x_f, y_f) = getattr(archive, split), getattr(folder, split)
        assert (x_a.matrix != x_f.matrix).nnz == 0 and torch.equal(y_a, y_f)


def test_cache_is_reused_without_the_text_files(acl_dir: Path, monkeypatch: pytest.MonkeyPatch):
    first = IMDBDataModule(data_dir=str(acl_dir), validation=4)
    first.setup()
    cache = acl_dir / "imdb_cache" / "encoded_aclImdb_10000.npz"
    assert cache.is_file() and [p.name for p in cache.parent.iterdir()] == [cache.name]
    shutil.rmtree(acl_dir / "aclImdb")

    def no_download(*args, **kwargs):
        raise AssertionError("prepare_data must not download when a cache is there")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", no_download)
    second = IMDBDataModule(data_dir=str(acl_dir), features="sequence", max_length=12, validation=4)
    second.prepare_data()
    second.setup()
    assert second.word_index == WORD_INDEX and second.source == "aclImdb"
    assert (0, 0, 0, *ALPHA_REVIEW) in rows_of(features_and_labels(second)[0])
    assert torch.equal(second.train_data[1], first.train_data[1])


@pytest.mark.parametrize("damage", ["truncate", "flip_byte"])
def test_damaged_cache_is_rebuilt_with_a_warning(acl_dir: Path, damage: str):
    IMDBDataModule(data_dir=str(acl_dir), validation=4).setup()
    cache = acl_dir / "imdb_cache" / "encoded_aclImdb_10000.npz"
    content = bytearray(cache.read_bytes())
    if damage == "truncate":  # as an interrupted write would leave it
        cache.write_bytes(content[: len(content) // 2])
    else:  # inside the stored train tokens
        at = content.index(b"train_tokens.npy") + 200
        content[at] ^= 0xFF
        cache.write_bytes(content)
    with pytest.raises(CACHE_ERRORS):
        EncodedIMDB.load(cache)
    dm = IMDBDataModule(data_dir=str(acl_dir), validation=4)
    with pytest.warns(UserWarning, match="damaged.*rebuilding"):
        dm.setup()
    assert dm.word_index == WORD_INDEX
    assert EncodedIMDB.load(cache).word_index == WORD_INDEX  # rewritten whole
    assert [p.name for p in cache.parent.iterdir()] == [cache.name]  # no temporary file left


def test_offline_without_data_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    def offline(url, root, filename=None, md5=None, **kwargs):
        (Path(root) / filename).write_bytes(b"\x1f\x8b partial")  # a download cut short
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", offline)
    dm = IMDBDataModule(data_dir=str(tmp_path / "data"))
    with pytest.raises(DataUnavailableError) as caught:
        dm.prepare_data()
    message = str(caught.value)
    for expected in (str((tmp_path / "data").resolve()), "--synthetic", "aclImdb/", ARCHIVE, ARCHIVE_URL, "imdb.npz",
                     "imdb_word_index.json", "name resolution"):
        assert expected in message
    assert caught.value.__suppress_context__  # our message, not a urllib traceback
    assert list((tmp_path / "data").iterdir()) == []  # the partial download is gone
    with pytest.raises(DataUnavailableError, match="--synthetic"):
        dm.setup()


def test_download_lands_under_the_archive_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    source = write_archive(tmp_path / "server", monkeypatch)
    calls = []

    def download(url, root, filename=None, md5=None, **kwargs):
        calls.append((url, md5))
        shutil.copy(source, Path(root) / filename)

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", download)
    data = tmp_path / "data"
    dm = IMDBDataModule(data_dir=str(data), validation=4)
    dm.prepare_data()
    assert calls == [(ARCHIVE_URL, sources.CHECKSUMS[ARCHIVE][1])]
    assert sorted(p.name for p in data.iterdir()) == [ARCHIVE]
    dm.prepare_data()  # now present: no second download
    assert len(calls) == 1
    dm.setup()
    assert dm.word_index == WORD_INDEX


def test_corrupt_archive_is_a_checksum_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    archive = tmp_path / ARCHIVE
    archive.write_bytes(b"not a gzip file")
    with pytest.raises(CorruptDataError, match="Delete it") as caught:
        IMDBDataModule(data_dir=str(tmp_path)).setup()
    assert str(archive) in str(caught.value)

    def corrupt_download(url, root, filename=None, md5=None, **kwargs):  # as torchvision reports a bad MD5
        (Path(root) / filename).write_bytes(b"garbage")
        raise RuntimeError("File not found or corrupted.")

    monkeypatch.setattr(torchvision.datasets.utils, "download_url", corrupt_download)
    data = tmp_path / "fresh"
    with pytest.raises(CorruptDataError, match="deleted; run again"):
        IMDBDataModule(data_dir=str(data)).prepare_data()
    assert list(data.iterdir()) == []


# -- the Keras format --------------------------------------------------------------


def test_keras_files_keep_the_keras_index_space(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_keras(tmp_path, monkeypatch)
    dm = IMDBDataModule(data_dir=str(tmp_path), features="sequence", max_length=6, validation=0)
    dm.setup()
    assert dm.source == "keras"
    assert dm.word_index == {word: rank + 3 for word, rank in KERAS_RANKS.items()}
    assert rows_of(dm.train_data[0]) == {
        (0, 1, 4, 8, 9, 9), (0, 0, 1, 4, 8, 10), (0, 1, 6, 8, 9, 11), (0, 1, 7, 10, 10, 5)
    }
    assert rows_of(dm.test_data[0]) == {(0, 0, 0, 1, 4, 9), (0, 0, 1, 8, 10, 11)}
    assert dm.train_data[1].sum() == 2 and dm.train_data[1].dtype == torch.float32
    assert dm.encode("The film was GREAT").tolist() == [[0, 1, 4, 8, 2, 9]]  # 'was' is not in the index
    # num_words=6 keeps ranks 1-5 (indices 4-8 < 9 columns); the rest become 2
    small = IMDBDataModule(data_dir=str(tmp_path), features="sequence", max_length=6, validation=0, num_words=6)
    small.setup()
    assert (0, 1, 4, 8, 2, 2) in rows_of(small.train_data[0])
    assert set(small.word_index) == {"the", "and", "a", "of", "film"}


def test_keras_checksum_and_source_preference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    write_keras(tmp_path, monkeypatch)
    monkeypatch.setitem(sources.CHECKSUMS, "imdb.npz", ("sha256", "0" * 64))
    with pytest.raises(CorruptDataError, match="imdb.npz is corrupt"):
        IMDBDataModule(data_dir=str(tmp_path), validation=0).setup()
    write_aclimdb(tmp_path)  # the raw reviews come first
    dm = IMDBDataModule(data_dir=str(tmp_path), validation=0)
    dm.setup()
    assert dm.source == "aclImdb" and dm.word_index == WORD_INDEX


# -- synthetic reviews and encode() ----------------------------------------------------
@pytest.mark.parametrize("features", ["bag_of_words", "sequence"])
def test_synthetic_reviews_have_the_real_shapes(tmp_path: Path, features: str):
    dm = IMDBDataModule(data_dir=str(tmp_path), features=features, synthetic=True)
    with pytest.warns(SyntheticDataWarning, match="MEANINGLESS"):
        dm.setup()
    assert dm.synthetic and dm.source == "synthetic"
    assert dm.sizes() == {"train": 23_000, "validation": 2_000, "test": 25_000}
    x, y = dm.train_data
    assert (y.sum() + dm.val_data[1].sum()).item() == 12_500 and dm.test_data[1].sum().item() == 12_500
    if features == "bag_of_words":
        assert isinstance(x, SparseRows) and x.shape == (23_000, 10_003)
        batch, _ = next(iter(dm.train_dataloader()))
        assert batch.shape == (512, 10_003) and batch.dtype == torch.float32
    else:
        assert x.shape == (23_000, 500) and x.dtype == torch.int64
        lengths = (x > 0).sum(dim=1).float()
        assert 150 <= lengths.median() <= 200 and (x[:, -1] > 0).all()
    assert not (tmp_path / "imdb_cache").exists()


def test_encode_a_users_review(acl_dir: Path):
    with pytest.raises(RuntimeError, match="setup"):
        IMDBDataModule(data_dir=str(acl_dir)).encode(["any"])
    bow = IMDBDataModule(data_dir=str(acl_dir), validation=4)
    bow.setup()
    encoded = bow.encode(["This film was GREAT!", "awful awful"])
    assert encoded.shape == (2, 10_003) and encoded.dtype == torch.float32
    assert torch.nonzero(encoded[0]).flatten().tolist() == [1, 2, 3, 5, 7]  # 'this' is unknown -> 2
    assert torch.nonzero(encoded[1]).flatten().tolist() == [1, 4]
    sequence = IMDBDataModule(data_dir=str(acl_dir), features="sequence", max_length=8, validation=4)
    sequence.setup()
    assert sequence.encode("This film was GREAT!").tolist() == [[0, 0, 0, 1, 2, 3, 7, 5]]


def test_invalid_features_are_refused():
    with pytest.raises(ValueError, match="bag_of_words"):
        IMDBDataModule(features="tfidf")


# -- reviews to score, from a file -----------------------------------------------------------------------------------
def test_reviews_are_read_from_a_file_one_per_line(tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("\ufeffA wonderful film.\n\n  Dull and far too long.  \n" + "word " * 50_000 + "\n")
    texts = read_reviews_file(reviews, "--predict-file")
    assert texts[:2] == ["A wonderful film.", "Dull and far too long."] and len(texts[2]) > 200_000
    datamodule = IMDBDataModule(synthetic=True, predict_file=str(reviews))
    assert datamodule.predict_texts is None and list(datamodule.reviews_file) == texts  # read again, a batch at a time
    with pytest.raises(BadArgumentError, match="no such file"):
        read_reviews_file(tmp_path / "missing.txt", "--predict-file")
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(BadArgumentError, match="holds no reviews"):
        read_reviews_file(tmp_path / "empty.txt", "--predict-file")
    (tmp_path / "latin1.txt").write_bytes("fine\nun film très ennuyeux\n".encode("latin-1"))
    with pytest.raises(CorruptDataError, match=r"is not UTF-8 text \(byte 0xe8 on line 2\)"):
        read_reviews_file(tmp_path / "latin1.txt", "--predict-file")
    with pytest.raises(BadArgumentError, match="not both"):
        IMDBDataModule(synthetic=True, predict_texts=["a film"], predict_file=str(reviews))
