"""Reading a data file that is a Python pickle without ever running code from it, or letting it choose memory.

A pickle names the functions and classes that rebuild its objects, and
``pickle.load`` imports and calls them: a crafted file runs whatever it names
(``os.system``, ``builtins.exec``...). A data set must never do that, whether its
checksum was checked or not (``verify=False`` reads files that are not the
originals). Naming only numpy is not enough either: numpy rebuilds a dtype or an
array from a *state* the file holds, and a forged state (an object dtype whose
flags are zeroed, a structured dtype with an object field) makes numpy read the
file's bytes as pointers, and the process dies, or worse.

:func:`load_pickle` therefore hands the pickle none of numpy's own callables.
Each name it may use is answered by a builder here that checks its arguments and
builds only plain numeric data: dtypes from :data:`PLAIN_DTYPES`, arrays whose
bytes are exactly their shape's, scalars likewise. The state of an object
(pickle's ``BUILD``) is checked the same way before numpy sees it, and is
accepted only once, for a dtype or array a builder has just made. Anything else
raises :class:`CorruptDataError` naming the file, before any of it is used.
"""

from __future__ import annotations

import codecs
import io
import math
import pickle
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from foundations.errors import CorruptDataError

#: what a pickle of numpy arrays names, written by Python 2's cPickle (``numpy.core``), numpy 1 or
#: numpy 2 (``numpy._core``), at any protocol: arrays, their dtypes, array scalars. Each is answered by a
#: checking builder of this module, never by numpy's own function.
NUMPY_ARRAYS: frozenset[tuple[str, str]] = frozenset({
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),  # protocol 2 written by Python 3 stores bytes as encode(text, "latin1") ...
    ("__builtin__", "bytes"),  # ... and empty bytes (an empty array's data) as bytes()
    ("builtins", "bytes"),
})

#: the numeric type codes a pickled dtype may have (booleans, integers, floats, complex numbers)
_PLAIN_CODES = ("b1", "i1", "u1", "i2", "u2", "i4", "u4", "i8", "u8", "f2", "f4", "f8", "c8", "c16")
#: every dtype a pickle may build, by its full type string (``'|u1'``, ``'<f8'``, ``'>i4'``...)
PLAIN_DTYPES: dict[str, np.dtype] = {
    dtype.str: dtype for code in _PLAIN_CODES for dtype in (np.dtype("<" + code), np.dtype(">" + code))
}
#: the state numpy pickles for a plain dtype, but its byte order: (version, order, subarray, names,
#: fields, element size, alignment, flags)
_PLAIN_DTYPE_STATE = (3, None, None, None, None, -1, -1, 0)
#: the most dimensions an array may have, and the largest size in bytes its shape may describe
_MAX_DIMENSIONS, _MAX_BYTES = 32, 2**62

#: the only codecs a pickle's ``_codecs.encode`` may use (how Python 3 writes bytes at protocol 2)
_BYTE_CODECS = frozenset({"latin1", "latin-1", "latin_1", "iso-8859-1", "iso8859-1"})


class _RefusedName(pickle.UnpicklingError):
    """A pickle named a callable outside the allowed ones."""

    def __init__(self, module: str, name: str) -> None:
        super().__init__(f"{module}.{name}")
        self.module, self.name = module, name


class _RefusedState(pickle.UnpicklingError):
    """A pickle asked for a dtype, array or scalar that is not plain numeric data (the message says which)."""


class _NdarrayName:
    """What ``numpy.ndarray`` stands for in a pickle: the class ``_reconstruct`` is told to make, never called."""

    def __call__(self, *args: Any, **kwargs: Any) -> None:
        raise _RefusedState("numpy.ndarray called directly, as numpy's pickles never do")


_NDARRAY = _NdarrayName()


# -- checks of what a pickle hands numpy -------------------------------------------------------------------
def _text(value: Any) -> Any:
    """A Python 2 string read with ``encoding="bytes"`` as text; anything else as it is."""
    return value.decode("latin1") if isinstance(value, bytes) else value


def _raw_bytes(value: Any, what: str) -> bytes | bytearray:
    """An array's or scalar's data: bytes (a Python 2 string read as latin1 text turned back into its bytes)."""
    if isinstance(value, str):
        return value.encode("latin1")
    if type(value) in (bytes, bytearray):
        return value
    raise _RefusedState(f"{what} whose data is a {type(value).__name__}, not bytes")


def _plain_dtype(value: Any) -> np.dtype:
    """The dtype of :data:`PLAIN_DTYPES` that ``value`` (a dtype a builder made) stands for."""
    if isinstance(value, np.dtype) and value.str in PLAIN_DTYPES:
        return PLAIN_DTYPES[value.str]
    shown = value.str if isinstance(value, np.dtype) else type(value).__name__
    raise _RefusedState(f"a dtype {shown!r}, not a plain numeric one")


def _shape(value: Any) -> tuple[int, ...]:
    """An array's shape: a tuple of at most 32 whole numbers >= 0, of a size numpy can hold."""
    if (
        type(value) is not tuple
        or len(value) > _MAX_DIMENSIONS
        or not all(type(n) is int and 0 <= n < _MAX_BYTES for n in value)
        or math.prod(max(n, 1) for n in value) >= _MAX_BYTES // 16
    ):
        raise _RefusedState("an array whose shape is not a tuple of sizes")
    return value


def _check_size(data: bytes | bytearray, shape: tuple[int, ...], dtype: np.dtype) -> None:
    if len(data) != math.prod(shape) * dtype.itemsize:
        raise _RefusedState(f"an array of shape {shape} and dtype {dtype.str} with {len(data)} bytes of data")


def _array_state(state: Any) -> tuple[int, tuple[int, ...], np.dtype, bool, bytes | bytearray]:
    """``ndarray.__setstate__``'s argument, checked and rebuilt: ``(1, shape, dtype, fortran, data)``."""
    if type(state) is tuple and len(state) == 5 and type(state[0]) is int and state[0] == 1:
        state = state[1:]
    if type(state) is not tuple or len(state) != 4:
        raise _RefusedState("an array state that is not (version, shape, dtype, order, data)")
    shape, dtype, fortran = _shape(state[0]), _plain_dtype(state[1]), state[2]
    if type(fortran) not in (bool, int) or fortran not in (0, 1):
        raise _RefusedState("an array whose memory order is not a yes or no")
    data = _raw_bytes(state[3], "an array")
    _check_size(data, shape, dtype)
    return 1, shape, dtype, bool(fortran), data


def _dtype_state(dtype: np.dtype, state: Any) -> tuple[Any, ...]:
    """``dtype.__setstate__``'s argument, checked: a plain dtype's state, which may set only the byte order."""
    if type(state) is not tuple or len(state) != len(_PLAIN_DTYPE_STATE):
        raise _RefusedState("a dtype state that is not a plain numeric dtype's")
    order = _text(state[1])
    orders = ("|", "<", ">", "=") if dtype.itemsize == 1 else ("<", ">", "=")
    rest_is_plain = all(
        (value is None) if expected is None else (type(value) is int and value == expected)
        for index, (value, expected) in enumerate(zip(state, _PLAIN_DTYPE_STATE)) if index != 1
    )
    if not rest_is_plain or order not in orders:
        raise _RefusedState("a dtype state that is not a plain numeric dtype's (fields, objects, flags or byte order)")
    return (3, order, *_PLAIN_DTYPE_STATE[2:])


# -- the builders a pickle's names are answered with ------------------------------------------------------
def _encode_bytes(text: str, encoding: str = "utf-8") -> bytes:
    if not isinstance(text, str) or str(encoding).lower() not in _BYTE_CODECS:
        raise pickle.UnpicklingError(f"_codecs.encode with the codec {encoding!r}")
    return codecs.encode(text, "latin1")


def _empty_bytes(*args: Any) -> bytes:
    """``bytes()``, how protocol 2 writes ``b""``; nothing else (``bytes(10**12)`` would fill the memory)."""
    if args:
        raise _RefusedState("bytes() with a size (numpy's pickles ask only for empty bytes)")
    return b""


def _scalar(dtype: Any, data: Any = None) -> np.generic:
    """A numpy scalar of a plain dtype from exactly its bytes (numpy's ``scalar``, checked)."""
    dtype = _plain_dtype(dtype)
    data = _raw_bytes(data, f"a {dtype.str} scalar")
    _check_size(data, (), dtype)
    return np.frombuffer(data, dtype)[0]


def _frombuffer(buffer: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """An array from exactly its bytes (numpy's ``_frombuffer``, protocol 5, checked)."""
    if type(buffer) not in (bytes, bytearray):
        raise _RefusedState(f"an array whose data is a {type(buffer).__name__}, not bytes")
    dtype, shape = _plain_dtype(dtype), _shape(shape)
    if order not in ("C", "F"):
        raise _RefusedState("an array whose memory order is not C or F")
    _check_size(buffer, shape, dtype)
    return np.frombuffer(buffer, dtype).reshape(shape, order=order)


class _RestrictedUnpickler(pickle._Unpickler):
    """An unpickler that answers only the names in ``allowed``, each with a checking builder of this module,
    and checks every object state (``BUILD``) before numpy sees it.

    The pure-Python unpickler, because only it lets ``BUILD`` be checked: the C one calls the object's own
    ``__setstate__`` with whatever the file says. A pickle has few opcodes per megabyte (an array's data
    is one), so it reads CIFAR's files about as fast.
    """

    dispatch = dict(pickle._Unpickler.dispatch)

    def __init__(self, file: io.BufferedIOBase, allowed: Collection[tuple[str, str]], encoding: str) -> None:
        super().__init__(file, encoding=encoding)
        self._allowed = allowed
        #: the dtypes and arrays just made, whose state the next BUILD on them sets (once), by id
        self._awaiting_state: dict[int, np.dtype | np.ndarray] = {}
        self._builders: dict[str, Any] = {
            "ndarray": _NDARRAY, "dtype": self._new_dtype, "_reconstruct": self._new_array,
            "scalar": _scalar, "_frombuffer": _frombuffer, "encode": _encode_bytes, "bytes": _empty_bytes,
        }

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in self._allowed or name not in self._builders:
            raise _RefusedName(module, name)
        return self._builders[name]

    def persistent_load(self, pid: Any) -> Any:  # never an object from outside the file
        raise pickle.UnpicklingError("a persistent reference")

    def _new_dtype(self, code: Any, align: Any = False, copy: Any = True) -> np.dtype:
        """numpy's ``dtype(code, align, copy)`` for a plain numeric ``code`` only; its BUILD may set its byte order."""
        code = _text(code)
        if code not in _PLAIN_CODES or align:
            raise _RefusedState(f"a dtype {code!r}, not a plain numeric one")
        dtype = np.dtype(code, False, True)  # a copy of its own: its state is set in place
        self._awaiting_state[id(dtype)] = dtype
        return dtype

    def _new_array(self, subtype: Any, shape: Any, code: Any) -> np.ndarray:
        """numpy's ``_reconstruct(ndarray, (0,), b'b')``: an empty array whose BUILD gives it its data."""
        if subtype is not _NDARRAY or type(shape) is not tuple or shape != (0,) or _text(code) != "b":
            raise _RefusedState("an array of another class or made another way")
        array = np.ndarray((0,), np.int8)
        self._awaiting_state[id(array)] = array
        return array

    def _load_build(self) -> None:
        state = self.stack.pop()
        target = self.stack[-1]
        if self._awaiting_state.pop(id(target), None) is not target:
            raise _RefusedState(f"a state for a {type(target).__name__} that numpy's pickles never set")
        if isinstance(target, np.dtype):
            target.__setstate__(_dtype_state(target, state))
        else:
            target.__setstate__(_array_state(state))

    dispatch[pickle.BUILD[0]] = _load_build


def load_pickle(
    path: str | Path,
    what: str,
    allowed: Collection[tuple[str, str]] = frozenset(),
    encoding: str = "latin1",
    remedy: str = "delete it and fetch the original again",
) -> Any:
    """The object pickled in ``path``, read without running code from the file.

    ``allowed`` holds the ``(module, name)`` pairs the pickle may name, among
    :data:`NUMPY_ARRAYS` (none by default: plain dicts, lists, strings and
    numbers need none); ``what`` says what the file should be, for the
    messages. ``encoding`` decodes Python 2 strings (``"latin1"``, as
    torchvision reads CIFAR, or ``"bytes"``). A pickle naming anything else,
    holding a dtype, array or scalar that is not plain numeric data, or cut
    short or garbled, raises :class:`CorruptDataError` naming ``path`` and
    saying ``remedy``.
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
    except _RefusedState as refused:
        raise CorruptDataError(
            f"{path} is not {what}: it holds {refused}, which {what} never holds, so it was not loaded "
            f"(numpy would read the file's bytes unchecked); {remedy}"
        ) from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, AttributeError, IndexError,
            UnicodeDecodeError, OverflowError, MemoryError, RecursionError) as error:
        reason = str(error).strip().partition("\n")[0][:200] or "cut short"
        raise CorruptDataError(
            f"{path} cannot be read as {what} ({type(error).__name__}: {reason}): it is corrupt or truncated; {remedy}"
        ) from None
