"""What a reader passes to a data module, checked where it is passed.

A notebook reader tries what is at hand: numpy integers from a computation
(``validation=np.int64(20)``), a batch size read from a form (``'32'``), numpy
arrays, a pandas DataFrame or lists instead of a ``TensorDataset``. Each is
either taken, where its meaning is clear, or refused with a
:class:`BadArgumentError` that names the argument and says what to pass,
at construction, never as an ``AttributeError`` or ``TypeError`` from inside a
training loop.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.utils.data import Dataset, TensorDataset

from foundations.errors import BadArgumentError


def whole_number(value: Any, name: str, minimum: int | None = None, hint: str = "") -> int:
    """``value`` as an ``int`` (numpy integers are taken); anything else (a float, a string, a bool) is refused."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise BadArgumentError(
            f"{name} must be a whole number" + (f" of at least {minimum}" if minimum is not None else "")
            + f", got {value!r} ({type(value).__name__})" + (f"; {hint}" if hint else "")
        )
    value = int(value)
    if minimum is not None and value < minimum:
        raise BadArgumentError(f"{name} must be at least {minimum}, got {value}" + (f"; {hint}" if hint else ""))
    return value


def fraction_or_count(value: Any, name: str) -> float | int:
    """A share of rows: a fraction in [0, 1) or a count of rows, 0 or more. numpy numbers become Python's."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise BadArgumentError(f"{name}={value!r} ({type(value).__name__}): give a fraction in [0, 1) or a count of rows")
    if isinstance(value, numbers.Integral):
        if value < 0:
            raise BadArgumentError(f"{name}={value}: a count of rows must be 0 or more")
        return int(value)
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise BadArgumentError(f"{name}={value}: a fraction of the rows must be in [0, 1) (or give a count of rows)")
    return value


def _is_table(value: Any) -> bool:
    """A pandas DataFrame or Series (recognised without importing pandas)."""
    return type(value).__module__.partition(".")[0] == "pandas" and hasattr(value, "to_numpy")


def is_array_like(value: Any) -> bool:
    """A tensor, a numpy array, a pandas DataFrame or Series: one column of a data set (features or targets)."""
    return isinstance(value, (Tensor, np.ndarray)) or _is_table(value)


def as_tensor(value: Any, name: str) -> Tensor:
    """One array of a data set as a tensor: floating point becomes float32 (a network's weights' dtype),
    integers and bools keep theirs. Columns that are not numbers are refused, naming them."""
    if isinstance(value, Tensor):
        tensor = value
    else:
        if _is_table(value):
            columns = getattr(value, "columns", None)
            dtypes = value.dtypes if columns is not None else None
            if columns is not None:
                odd = [str(c) for c, d in zip(columns, dtypes) if not (np.issubdtype(d, np.number) or np.issubdtype(d, np.bool_))]
            else:
                odd = [] if np.issubdtype(value.dtype, np.number) or np.issubdtype(value.dtype, np.bool_) else [str(value.name)]
            if odd:
                raise BadArgumentError(
                    f"{name} has columns that are not numbers ({', '.join(odd[:5])}{', ...' if len(odd) > 5 else ''}): "
                    "encode them first (e.g. pd.get_dummies, or ISLP's ModelSpec) or drop them"
                )
            value = value.to_numpy()
        try:
            array = np.asarray(value)
        except (ValueError, TypeError) as error:
            raise BadArgumentError(f"{name} is not an array of numbers ({error})") from None
        if not (np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.bool_)):
            raise BadArgumentError(
                f"{name} holds {array.dtype} values, not numbers: give numbers (encode text or categories first)"
            )
        tensor = torch.from_numpy(np.ascontiguousarray(array))
    if tensor.dim() == 0:
        raise BadArgumentError(f"{name} is a single number: give one row per example")
    return tensor.to(torch.get_default_dtype()) if tensor.is_floating_point() else tensor


def equal_lengths(tensors: list[Any], names: list[str], where: str) -> None:
    """Refuse arrays whose numbers of rows differ (rows are paired by position: extra ones would be dropped)."""
    lengths = [len(t) for t in tensors]
    if len(set(lengths)) > 1:
        described = ", ".join(f"{n} has {length}" for n, length in zip(names, lengths))
        raise BadArgumentError(
            f"{where}: the arrays must have one row per example, the same number of rows each, but {described}; "
            "rows are paired by position, so give arrays of equal length"
        )


def as_dataset(data: Any, name: str) -> Dataset:
    """A data set argument (``train_dataset``, ``test_dataset``, ``validation``) as a data set.

    Taken: any map-style ``Dataset`` (``TensorDataset``, torchvision's, a
    ``Subset``), and a tuple or list of arrays ``(X, y)`` (tensors, numpy
    arrays, DataFrames, Series) of equal length, made a ``TensorDataset``.
    Refused, naming ``name``: one array alone (features without targets, or a
    whole DataFrame), Python lists (a list of rows and a list of columns look
    alike: which one is meant is not clear), and whatever has no rows to index.
    """
    if isinstance(data, Dataset):
        return data
    if isinstance(data, (tuple, list)):
        if len(data) >= 2 and all(is_array_like(part) for part in data):
            parts = [f"{name}[{i}]" for i in range(len(data))]
            tensors = [as_tensor(part, label) for part, label in zip(data, parts)]
            equal_lengths(tensors, parts, name)
            return TensorDataset(*tensors)
        what = f"of {len(data)} {type(data[0]).__name__}s" if data else "with nothing in it"
        raise BadArgumentError(
            f"{name} is a {type(data).__name__} {what}: give (X, y), a tuple of arrays of equal length (tensors, "
            "numpy arrays or pandas objects; for Python lists np.asarray(X), np.asarray(y)), or a TensorDataset"
        )
    if is_array_like(data):
        kind = "DataFrame" if hasattr(data, "columns") else type(data).__name__
        raise BadArgumentError(
            f"{name} is one {kind}: a data set needs features and targets; give (X, y), e.g. "
            "(df.drop(columns=['target']).to_numpy(), df['target'].to_numpy()), or TensorDataset(X, y)"
        )
    if hasattr(data, "__getitem__") and hasattr(data, "__len__"):  # a map-style data set that is no Dataset subclass
        return data
    raise BadArgumentError(
        f"{name} is a {type(data).__name__}: give a data set (a TensorDataset, a torchvision data set) or (X, y) arrays"
    )
