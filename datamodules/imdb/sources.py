"""Where the reviews come from, and how they are read into an :class:`EncodedIMDB`.

Two sources, the first found in a folder wins:

1. ``aclImdb/`` — the Large Movie Review Dataset, extracted — or its archive
   ``aclImdb_v1.tar.gz`` (read member by member, never extracted).
2. ``imdb.npz`` and ``imdb_word_index.json`` — the Keras files.

For the raw reviews the vocabulary is counted on the training split only and
ranked by count, ties broken alphabetically (so it does not depend on file
order): the most frequent word gets 3. The Keras files keep Keras's own index
space (a word's rank + 3; index 3 is Keras's unused slot), so the words ranked
below ``num_words`` fit the same columns and sequences read as in the book.
Reviews are shuffled once with a fixed seed (113, as Keras does), so the first
``n`` mix positive and negative reviews.

:func:`load_encoded` is the one way in: the cached encoding of a folder's
reviews, made (and cached) on first use, and made again whenever the files it
came from change. Both :class:`IMDBDataModule` and the book's loaders call it.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import tarfile
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from datamodules.imdb.cache import CACHE_ERRORS, EncodedIMDB, StaleCacheError, cache_path
from datamodules.imdb.text import OOV, RESERVED, START, Sequences, build_word_index, encode_texts
from foundations.errors import CorruptDataError, DataUnavailableError, LabError
from foundations.files import outside_folder

#: the folder the data modules read by default, relative to the working directory
DATA_DIR = "data"
ARCHIVE = "aclImdb_v1.tar.gz"
ARCHIVE_URL = "https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz"
KERAS_REVIEWS, KERAS_WORDS = "imdb.npz", "imdb_word_index.json"
KERAS_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
#: (algorithm, hex digest) of each file read, by file name
CHECKSUMS: dict[str, tuple[str, str]] = {
    ARCHIVE: ("md5", "7c2ac02c03563afcf9b574c7e56c153a"),
    KERAS_REVIEWS: ("sha256", "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f"),
    KERAS_WORDS: ("md5", "bfafd718b763782e994055a2d397834f"),
}
SHUFFLE_SEED = 113


# -- checksums and downloads -----------------------------------------------------------
def digest(path: Path, algorithm: str) -> str:
    with open(path, "rb") as file:
        return hashlib.file_digest(file, algorithm).hexdigest()


def verify_digest(path: Path, algorithm: str, expected: str, refetch: str) -> None:
    """Raise :class:`CorruptDataError` naming ``path`` unless its digest is ``expected``.

    ``refetch`` says where a fresh copy comes from, for the message.
    """
    actual = digest(path, algorithm)
    if actual != expected:
        raise CorruptDataError(
            f"{path} is corrupt or incomplete: its {algorithm} is {actual}, expected {expected}. "
            f"Delete it and run again ({refetch})."
        )


def verify_checksum(path: Path, name: str | None = None) -> None:
    """Check ``path`` against :data:`CHECKSUMS` under ``name`` (default: its own name)."""
    algorithm, expected = CHECKSUMS[name or path.name]
    verify_digest(path, algorithm, expected, f"the archive is downloaded afresh; the Keras files come from {KERAS_URL}")


def download(url: str, folder: Path, name: str, md5: str) -> Path:
    """Fetch ``url`` into ``folder/name`` and check its MD5; return the path.

    The file is written under a temporary name and renamed only once it
    checks out, so ``name`` never holds a partial or corrupt download.
    Raises :class:`DataUnavailableError` when the download fails (offline,
    say) and :class:`CorruptDataError` when the file does not have ``md5``
    (it is deleted).
    """
    from torchvision.datasets.utils import download_url  # imported when needed: torchvision is slow to import

    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / f"{name}.part"
    try:
        download_url(url, str(folder), filename=partial.name, md5=md5)
        actual = digest(partial, "md5")
    except RuntimeError as error:  # torchvision's word for a checksum mismatch
        actual = f"not it: {error}"
    except OSError as error:  # offline (urllib's URLError is an OSError), or the server failed
        partial.unlink(missing_ok=True)
        raise DataUnavailableError(f"downloading {url} failed: {error}") from None
    if actual != md5:
        partial.unlink(missing_ok=True)
        raise CorruptDataError(
            f"The file downloaded from {url} does not have MD5 {md5} ({actual}): a corrupt or "
            "incomplete download. It was deleted; run again to retry."
        )
    target = folder / name
    os.replace(partial, target)
    return target


# -- the Large Movie Review Dataset ----------------------------------------------------
_REVIEW_FILE = re.compile(r"(?:^|/)aclImdb/(train|test)/(pos|neg)/(\d+)_\d+\.txt$")


_REVIEW_NAME = re.compile(r"\d+_\d+\.txt")


def _review_entries(folder: Path) -> list[tuple[str, os.DirEntry]]:
    """``(split/label/name, directory entry)`` of each review file of an extracted ``aclImdb`` folder, sorted.

    Only ``train|test/pos|neg/<id>_<rating>.txt``: the 'unsup' reviews, URL lists
    and the vocabulary are not even listed. A review file that leads outside the
    folder (a link to ``/etc/passwd``, or to another data set) is left out, with
    one warning naming it.
    """
    found, outside = [], []
    for split in ("train", "test"):
        for label in ("pos", "neg"):
            reviews = folder / split / label
            linked_out = outside_folder(reviews, folder) is not None  # the whole sub-folder a link out
            try:
                with os.scandir(reviews) as entries:
                    for entry in entries:
                        if not (_REVIEW_NAME.fullmatch(entry.name) and entry.is_file()):
                            continue
                        name = f"{split}/{label}/{entry.name}"
                        # only a link can lead out (is_symlink costs nothing: scandir has read it)
                        if linked_out or (entry.is_symlink() and outside_folder(Path(entry.path), folder)):
                            outside.append(name)
                        else:
                            found.append((name, entry))
            except (FileNotFoundError, NotADirectoryError):
                continue
    if outside:
        outside.sort()
        named = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        warnings.warn(
            f"IMDB: skipped {named} in {folder}: links to files outside it, which are not part of the data "
            "set (put the review files themselves there)",
            stacklevel=1,  # one place whichever reads the folder: shown once per process
        )
    found.sort(key=lambda item: item[0])
    return found


def review_paths(folder: Path) -> list[Path]:
    """The review files of an extracted ``aclImdb`` folder, in order: exactly the files :func:`read_reviews` reads."""
    return [folder / name for name, _ in _review_entries(folder)]


def _review_files(path: Path) -> Iterator[tuple[str, int, int, str]]:
    """(split, label, id, text) of each review under ``path``: an ``aclImdb`` folder or its archive.

    Other files (the 'unsup' reviews, URL lists, the vocabulary) are skipped unread.
    A review that is not UTF-8 text raises :class:`CorruptDataError` naming its
    file (or the archive member).
    """
    if path.is_dir():
        for name, _ in _review_entries(path):
            file = path / name
            yield *_parse(_REVIEW_FILE.search(f"aclImdb/{name}")), _utf8(file.read_bytes(), str(file))
        return
    verify_checksum(path, ARCHIVE)
    with tarfile.open(path, "r|gz") as archive:  # one pass, nothing extracted
        for member in archive:
            if member.isfile() and (match := _REVIEW_FILE.search(member.name)):
                text = _utf8(archive.extractfile(member).read(), f"{member.name} in the archive {path}")
                yield *_parse(match), text


def _utf8(content: bytes, where: str) -> str:
    try:
        return content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise CorruptDataError(
            f"{where} is not UTF-8 text (byte 0x{content[error.start]:02x} at offset {error.start}): "
            "re-save it as UTF-8 or delete it, then run again"
        ) from None


def _parse(match: re.Match[str]) -> tuple[str, int, int]:
    split, label, number = match.groups()
    return split, int(label == "pos"), int(number)


def read_reviews(path: Path) -> dict[str, tuple[list[str], np.ndarray]]:
    """Texts and labels (1 positive) per split of the Large Movie Review Dataset.

    Reviews are ordered by label and id, then shuffled with a fixed seed, so a
    folder and its archive give the same order.
    """
    found: dict[str, list[tuple[int, int, str]]] = {"train": [], "test": []}
    for split, label, number, text in _review_files(path):
        found[split].append((label, number, text))
    splits = {}
    for split, reviews in found.items():
        if not reviews:
            raise DataUnavailableError(
                f"{path} holds no {split} reviews (expected aclImdb/{split}/pos|neg/<id>_<rating>.txt)"
            )
        reviews.sort()
        order = np.random.RandomState(SHUFFLE_SEED).permutation(len(reviews))
        splits[split] = ([reviews[i][2] for i in order], np.array([reviews[i][0] for i in order], dtype=np.int8))
    return splits


def encode_reviews(path: Path, num_words: int) -> EncodedIMDB:
    """Encode the raw reviews (folder or archive), with a vocabulary from the training split."""
    splits = read_reviews(path)
    word_index = build_word_index(splits["train"][0], num_words)
    (train_texts, train_labels), (test_texts, test_labels) = splits["train"], splits["test"]
    return EncodedIMDB(
        "aclImdb", word_index, encode_texts(train_texts, word_index), train_labels,
        encode_texts(test_texts, word_index), test_labels,
    )


# -- the Keras files -------------------------------------------------------------------
def encode_keras(data_dir: Path, num_words: int) -> EncodedIMDB:
    """Read the Keras files: reviews stored as word ranks (1 = most frequent).

    As Keras's ``load_data`` does: the reviews are shuffled (seed 113), each
    gets the start marker, and rank ``r`` becomes index ``r + 3``; ranks that
    would fall beyond ``num_words + 3`` columns become 2.
    """
    reviews, words = data_dir / KERAS_REVIEWS, data_dir / KERAS_WORDS
    verify_checksum(reviews)
    verify_checksum(words)
    ranks = json.loads(words.read_text(encoding="utf-8"))
    word_index = {word: rank + RESERVED for word, rank in ranks.items() if rank < num_words}
    with np.load(reviews, allow_pickle=True) as file:  # object arrays of lists
        arrays = {name: file[name] for name in ("x_train", "y_train", "x_test", "y_test")}

    def encode(ranked: np.ndarray) -> Sequences:
        def one(review: Sequence[int]) -> np.ndarray:
            review = np.asarray(review, dtype=np.int64)
            return np.concatenate([[START], np.where(review < num_words, review + RESERVED, OOV)])

        return Sequences.from_lists(one(review) for review in ranked)

    splits = {}
    for split in ("train", "test"):
        order = np.random.RandomState(SHUFFLE_SEED).permutation(len(arrays[f"y_{split}"]))
        splits[split] = encode(arrays[f"x_{split}"][order])
        splits[f"{split}_labels"] = arrays[f"y_{split}"][order].astype(np.int8)
    return EncodedIMDB(source="keras", word_index=word_index, **splits)


# -- a folder's reviews, encoded and cached ------------------------------------------------
#: how each source is read, in the order the sources are tried
READERS = {"aclImdb": encode_reviews, "keras": encode_keras}


def raw_files(data_dir: Path, source: str) -> Path | None:
    """The raw files of ``source`` ('aclImdb' or 'keras') in ``data_dir``, if present."""
    if source == "aclImdb":
        return next((path for path in (data_dir / "aclImdb", data_dir / ARCHIVE) if path.exists()), None)
    keras_files = (data_dir / KERAS_REVIEWS, data_dir / KERAS_WORDS)
    return data_dir if all(path.is_file() for path in keras_files) else None


def has_reviews(data_dir: Path, num_words: int) -> bool:
    """Whether ``data_dir`` holds reviews of some source, raw or cached (nothing is read)."""
    return any(raw_files(data_dir, s) or cache_path(data_dir, s, num_words).exists() for s in READERS)


def source_key(data_dir: Path, source: str) -> str | None:
    """The :func:`fingerprint` of every file ``source`` is encoded from in ``data_dir``; ``None`` when it is absent."""
    raw = raw_files(data_dir, source)
    if raw is None:
        return None
    if source == "keras":
        named = [(path.name, path.stat()) for path in (data_dir / KERAS_REVIEWS, data_dir / KERAS_WORDS)]
    elif raw.is_dir():
        named = [(f"{raw.name}/{name}", entry.stat()) for name, entry in _review_entries(raw)]
    else:
        named = [(raw.name, raw.stat())]
    return fingerprint(named)


def fingerprint(files: Iterable[tuple[str, os.stat_result]]) -> str:
    """SHA-256 of the names, sizes and modification times (in ns) of ``(name, status)`` pairs: a cache's key.

    Adding, removing, renaming, rewriting or touching a source file changes
    it. Only the files' metadata are read, never their content. Measured on a
    folder of 50,000 review files (64 MB) on 2 busy cores: this key 0.37 s, a
    SHA-256 of the content 0.75-1.2 s even with every file in the page cache
    (and a read of all 64 MB from disk when they are not), against 0.05 s to
    read the cache itself and 12 s to encode the reviews anew.
    """
    key = hashlib.sha256()
    for name, status in files:
        key.update(f"{name}\t{status.st_size}\t{status.st_mtime_ns}\n".encode())
    return key.hexdigest()


def load_encoded(data_dir: Path, num_words: int) -> EncodedIMDB | None:
    """The encoded reviews in ``data_dir``, or ``None`` when it holds none. Nothing is downloaded.

    For each source in turn: its cache, if it was made from the source files
    as they are now (same names, sizes and modification times: see
    :func:`source_key`) by this version of the cache format; else the source
    files, encoded, then cached. So reviews added to, removed from or edited
    in ``aclImdb/`` are seen on the next load, never an older encoding. A cache
    whose source files are gone is served as it is (it is then the only copy).
    A damaged cache is rebuilt, with a warning. A cache that can't be written
    (a read-only data folder, such as a data set shared by a class; a full disk;
    a folder where the cache file belongs) is no error: the reviews are used
    from memory, with a :class:`CacheNotWrittenWarning` saying so (they are
    encoded again on the next load).
    """
    data_dir = Path(data_dir)
    for source, read in READERS.items():
        cache = cache_path(data_dir, source, num_words)
        sources = source_key(data_dir, source)
        if cache.exists() and not cache.is_file():
            if sources is not None:
                encoded = read(raw_files(data_dir, source), num_words)
                encoded.sources = sources
                _not_cached(cache, "that name is taken by a folder", "move that folder away to cache them")
                return encoded
        elif cache.exists():
            try:
                return EncodedIMDB.load(cache, sources=sources, num_words=num_words)
            except StaleCacheError as stale:
                if sources is None:  # cannot be rebuilt: the reviews it came from are gone
                    raise DataUnavailableError(
                        f"the IMDB cache {cache} {stale}, and the reviews it was made from are no longer in "
                        f"{data_dir}: put them back (aclImdb/, {ARCHIVE} or the Keras files) to rebuild it"
                    ) from None
            except CACHE_ERRORS as error:
                warnings.warn(f"The cache {cache} is damaged ({error}); rebuilding it.", stacklevel=2)
        if sources is not None:
            # the key is taken before reading: a file changed meanwhile makes the next load rebuild
            encoded = read(raw_files(data_dir, source), num_words)
            encoded.sources = sources
            try:
                encoded.save(cache)
            except (LabError, OSError) as error:  # WriteError, DiskFullError: write_atomically's one-line errors
                cause = error.__cause__ if isinstance(error.__cause__, OSError) else error
                reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else str(error)
                _not_cached(cache, reason, "a --data-dir you can write to keeps the cache")
            return encoded
    return None


class CacheNotWrittenWarning(UserWarning):
    """The encoded reviews could not be cached: they were used from memory (and are encoded again next time)."""


def _not_cached(cache: Path, reason: str, fix: str) -> None:
    warnings.warn(
        f"IMDB: the encoded reviews could not be cached in {cache} ({reason}); they are used from memory this time "
        f"and encoded again on every run ({fix})",
        CacheNotWrittenWarning,
        stacklevel=3,
    )
