"""Reading a data file that is a Python pickle without ever running code from it.

A pickle names the functions and classes that rebuild its objects, and
``pickle.load`` imports and calls them: a crafted file runs whatever it names
(``os.system``, ``builtins.exec``...). A data set must never do that, whether its
checksum was checked or not (``verify=False`` reads files that are not the
originals). :func:`load_pickle` reads a pickle with an unpickler whose
``find_class`` hands out only the few callables the real files need (numpy's
array reconstruction, for CIFAR100) and refuses every other name with a
:class:`CorruptDataError` naming the file, before anything is called.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from collections.abc import Collection
from pathlib import Path
from typing import Any

from datamodules.errors import CorruptDataError

#: what a pickle of numpy arrays names, written by Python 2's cPickle (``numpy.core``), numpy 1 or
#: numpy 2 (``numpy._core``), at any protocol: arrays, their dtypes, array scalars. None of them
#: runs code of the file's choosing (an array's ``subtype`` must be ``ndarray`` itself, the only class here).
NUMPY_ARRAYS: frozenset[tuple[str, str]] = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol 2 written by Python 3 stores bytes as encode(text, "latin1")
})

#: the only codecs a pickle's ``_codecs.encode`` may use (how Python 3 writes bytes at protocol 2)
_BYTE_CODECS = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1"})


def _encode_bytes(text: str, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or str(encoding).lower() not in _BYTE_CODECS:
        raise pickle.UnpicklingError(f"_codecs.encode with the codec {encoding!r}")
    return codecs.encode(text, "latin1")


class _RefusedName(pickle.UnpicklingError):
    """A pickle named a callable outside the allowed ones."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the names in ``allowed``; any other raises :class:`_RefusedName`."""

    def __init__(self, file: io.BufferedIOBase, allowed: Collection[tuple[str, str]], encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed:
            raise _RefusedName(module, name)
        if (module, name) == ("_codecs", "encode"):
            return _encode_bytes
        if module.startswith("numpy.core"):  # numpy 2 moved numpy.core to numpy._core (the old name warns)
            try:
                return getattr(importlib.import_module("numpy._core" + module.removeprefix("numpy.core")), name)
            except (ImportError, AttributeError):
                pass
        return getattr(importlib.import_module(module), name)

    def persistent_load(self, pid: Any) -> Any:  # never an object from outside the file
        raise pickle.UnpicklingError("a persistent reference")


def load_pickle(
    path: str | Path,
    what: str,
    allowed: Collection[tuple[str, str]] = frozenset(),
    encoding: str = "latin1",
    remedy: str = "delete it and fetch the original again",
) -> Any:
    """The object pickled in ``path``, read without running code from the file.

    ``allowed`` holds the ``(module, name)`` pairs the pickle may name (none by
    default: plain dicts, lists, strings and numbers need none); ``what`` says
    what the file should be, for the messages. ``encoding`` decodes Python 2
    strings (``"latin1"``, as torchvision reads CIFAR, or ``"bytes"``). A
    pickle naming anything else, or one that is cut short or garbled, raises
    :class:`CorruptDataError` naming ``path`` and saying ``remedy``.
    """
    path = Path(path)
    try:
        with open(path, "rb") as file:
            return _RestrictedUnpickler(file, allowed, encoding).load()
    except _RefusedName as refused:
        raise CorruptDataError(
            f"{path} is not {what}: it names {refused.module}.{refused.name}, which {what} never holds, so it "
            f"was not loaded (loading it would run code from the file); {remedy}"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            UnicodeDecodeError, MemoryError, RecursionError) as error:
        reason = str(error).strip().partition("\n")[0][:200] or "cut short"
        raise CorruptDataError(
            f"{path} cannot be read as {what} ({type(error).__name__}: {reason}): it is corrupt or truncated; {remedy}"
        ) from None

