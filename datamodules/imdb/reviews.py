"""Reviews to score, read from a text file one per line: checked whole, then streamed in batches.

A file of reviews is split at ``\\n``, ``\\r\\n`` and ``\\r`` only, as ``wc -l`` and editors
count lines (``str.splitlines`` would also split at form feeds, U+2028, NEL...: those stay
inside their review). It is read twice, a few kilobytes at a time, so memory stays flat in
the number of reviews: once to check it (UTF-8, no line over :data:`MAX_REVIEW_BYTES`,
every review with words, at least one review), then once per scoring. That is why it must
be a regular file: a pipe or a device (``/dev/zero``) cannot be read twice, and may never end.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from datamodules.imdb.text import tokenize
from foundations.errors import BadArgumentError, CorruptDataError

#: the longest line taken as one review (IMDB's longest review is about 14,000 characters)
MAX_REVIEW_BYTES = 1_000_000
#: bytes read at a time
CHUNK_BYTES = 1 << 16
_LINE_END = re.compile(rb"\r\n|\r|\n")
_BOM = b"\xef\xbb\xbf"
_KINDS = ((stat.S_ISFIFO, "a pipe"), (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISSOCK, "a socket"))


class ReviewTooLongError(CorruptDataError):
    """A line of a review file is longer than :data:`MAX_REVIEW_BYTES`."""


def split_lines(stream: BinaryIO, limit: int = MAX_REVIEW_BYTES) -> Iterator[bytes]:
    """The lines of ``stream``, without their ends, split at ``\\n``, ``\\r\\n`` and ``\\r`` only.

    Raises :class:`ReviewTooLongError` (its message: the line's number) at a line longer than
    ``limit`` bytes, having read at most ``limit`` + :data:`CHUNK_BYTES` bytes of it.
    """
    pending, number = b"", 0
    while True:
        chunk = stream.read(CHUNK_BYTES)
        data, start = pending + chunk, 0
        for end in _LINE_END.finditer(data):
            if chunk and end.end() == len(data) and end.group() == b"\r":
                break  # perhaps the first half of a \r\n split between two chunks: decided with the next one
            number += 1
            if end.start() - start > limit:
                raise ReviewTooLongError(str(number))
            yield data[start : end.start()]
            start = end.end()
        pending = data[start:]
        if len(pending) > limit:
            raise ReviewTooLongError(str(number + 1))
        if not chunk:
            if pending:
                yield pending
            return


def review_lines(stream: BinaryIO, name: str, path: str | Path) -> Iterator[tuple[int, str]]:
    """Each non-blank line of the UTF-8 ``stream`` with its number (from 1), stripped; a byte-order mark is dropped.

    A line that is not UTF-8 or too long is refused (:class:`CorruptDataError`) in one line naming
    ``name`` (the option) and ``path``.
    """
    number = 0
    try:
        for number, line in enumerate(split_lines(stream), start=1):
            if number == 1 and line.startswith(_BOM):
                line = line[len(_BOM):]
            try:
                text = line.decode("utf-8").strip()
            except UnicodeDecodeError as error:
                raise CorruptDataError(
                    f"{name} {path} is not UTF-8 text (byte 0x{line[error.start]:02x} on line {number}): save it as UTF-8"
                ) from None
            if text:
                yield number, text
    except ReviewTooLongError as error:
        raise ReviewTooLongError(
            f"{name} {path}: line {error} is longer than {MAX_REVIEW_BYTES:,} bytes; give one review per line "
            "(lines end at \\n, \\r\\n or \\r)"
        ) from None


@dataclass(frozen=True)
class ReviewsFile:
    """A file of reviews, one per line, checked whole (:meth:`checked`); iterate it for its reviews, in order."""

    path: Path
    name: str  # the option that named it, for messages
    count: int  # its reviews
    size: int  # its bytes when checked
    modified: int  # its modification time (ns) when checked

    @classmethod
    def checked(cls, path: str | Path, name: str) -> ReviewsFile:
        """The file at ``path`` once it is read through and found to hold reviews; else one line naming ``name``.

        Refused: a path that is missing, a folder, a pipe or a device, unreadable, not UTF-8, with a
        line over :data:`MAX_REVIEW_BYTES`, a review without words, or no review at all.
        """
        path, count = Path(path), 0
        with _open_regular(path, name) as stream:
            info = os.fstat(stream.fileno())
            for number, text in review_lines(stream, name, path):
                if not tokenize(text):
                    raise BadArgumentError(
                        f"{name} {path}: the review on line {number} ({text[:40]!r}) has no words to score; "
                        "give a review with words in it on each line"
                    )
                count += 1
        if not count:
            raise BadArgumentError(f"{name} {path} holds no reviews; give a text file with one review per line")
        return cls(path, name, count, info.st_size, info.st_mtime_ns)

    def __len__(self) -> int:
        return self.count

    def __iter__(self) -> Iterator[str]:
        with _open_regular(self.path, self.name) as stream:
            info = os.fstat(stream.fileno())
            if (info.st_size, info.st_mtime_ns) != (self.size, self.modified):
                raise CorruptDataError(
                    f"{self.name} {self.path} changed after it was checked; run the command again on the file as it is now"
                )
            for _, text in review_lines(stream, self.name, self.path):
                yield text

    def batches(self, size: int, rank: int = 0, world_size: int = 1) -> Iterator[list[str]]:
        """The reviews ``rank``, ``rank + world_size``, ... in lists of ``size`` (the last one shorter)."""
        return batched((text for index, text in enumerate(self) if index % world_size == rank), size)


def batched(items: Iterable[str], size: int) -> Iterator[list[str]]:
    """``items`` in lists of ``size``, the last one shorter (Python 3.12's ``itertools.batched``)."""
    batch: list[str] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _open_regular(path: Path, name: str) -> BinaryIO:
    """``path`` opened for reading in binary, if it is a regular file; else one line naming ``name`` (the option).

    Opened without blocking, so that a pipe with no writer is refused rather than waited on.
    """
    advice = "give a text file with one review per line"
    try:
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise BadArgumentError(f"{name} {path}: no such file; {advice}") from None
    except OSError as error:
        raise BadArgumentError(f"{name} {path} can't be read: {error.strerror or error}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        if stat.S_ISDIR(mode):
            raise BadArgumentError(f"{name} {path} is a folder; {advice}")
        kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
        raise BadArgumentError(
            f"{name} {path} is {kind}, not a regular file (it is read through twice, and may never end): "
            "save the reviews to a file first, one per line"
        )
    if hasattr(os, "set_blocking"):
        os.set_blocking(descriptor, True)
    return os.fdopen(descriptor, "rb")


def read_reviews_file(path: str | Path, name: str) -> list[str]:
    """The reviews of the UTF-8 text file ``path``, one per line (blank lines skipped), checked as
    :meth:`ReviewsFile.checked` checks them: for a few reviews (many are scored from a :class:`ReviewsFile`)."""
    return list(ReviewsFile.checked(path, name))
