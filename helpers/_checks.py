"""Argument checks shared by the helpers modules, so every module words them the same way."""

from __future__ import annotations

import difflib
import numbers
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np


def check_int(
    name: str, value: object, *, minimum: int = 1, allow_none: bool = False
) -> int | None:
    """``value`` as a Python int if it is an integer (numpy ints too, not bool) >= ``minimum``.

    Raises TypeError for a non-integer and ValueError for one below ``minimum``, naming the
    argument, what was given and what is valid. ``None`` passes through when ``allow_none``.

    >>> check_int("batch_size", np.int64(32))
    32
    """
    wanted = "a positive int" if minimum == 1 else f"an int >= {minimum}"
    if allow_none:
        wanted += " or None"
        if value is None:
            return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {wanted}; got {type(value).__name__} {value!r}.")
    if value < minimum:
        raise ValueError(f"{name} must be {wanted}; got {value!r}.")
    return int(value)


def closest_first(name: str, known: Iterable[str]) -> list[str]:
    """Every known name, the ones most like ``name`` first: for "unknown name" errors.

    >>> closest_first("dense_1", ["output", "dense", "embedding"])
    ['dense', 'embedding', 'output']
    """
    known = list(known)
    return difflib.get_close_matches(str(name), known, n=len(known), cutoff=0.0)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is a real bool (``numpy.bool_`` too); TypeError naming ``name`` otherwise.

    A string such as ``"False"`` is truthy, so it is refused rather than read as True.

    >>> check_bool("overwrite", False)
    False
    """
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {type(value).__name__} {value!r}.")


def check_path(name: str, value: object) -> Path:
    """``value`` as a Path if it is a non-empty str or os.PathLike; else an error naming ``name``.

    ``""`` would silently mean the current folder, so it is refused (pass ``"."`` for that).

    >>> check_path("out_dir", "features")
    PosixPath('features')
    """
    if isinstance(value, bytes) or not isinstance(value, (str, os.PathLike)):
        raise TypeError(
            f"{name} must be a path (a str or pathlib.Path); got {type(value).__name__} {value!r}."
        )
    if not os.fspath(value).strip():
        raise ValueError(
            f"{name} is an empty path {os.fspath(value)!r}; give a file or folder name "
            '("." for the current folder).'
        )
    return Path(value)


def check_finite(name: str, array: Any) -> np.ndarray:
    """``array`` as a numpy array if every value is finite; else ValueError saying where the first
    NaN/inf values are (index tuples, up to 5) and how many there are.

    >>> check_finite("x", [[0.0, float("nan")]])
    Traceback (most recent call last):
    ValueError: x holds 1 non-finite value (NaN or inf): nan at [0, 1]. ...
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fc":  # ints, bools and text are always finite
        return array
    bad = ~np.isfinite(array)
    if not bad.any():
        return array
    where = np.argwhere(bad)[:5]
    shown = ", ".join(f"{array[tuple(i)]} at {list(map(int, i))}" for i in where)
    count = int(bad.sum())
    more = f" (first {len(where)} shown)" if count > len(where) else ""
    raise ValueError(
        f"{name} holds {count} non-finite value{'s' if count > 1 else ''} (NaN or inf): "
        f"{shown}{more}. They would turn results into NaN; replace or drop them first."
    )


def check_ids(name: str, ids: Any, size: int) -> None:
    """Raise ValueError if an id in ``ids`` is outside ``[0, size)`` (what an Embedding of
    ``size`` rows accepts), saying which id, where (index tuple) and how many are out of range.
    Only min and max are computed unless something is wrong.

    >>> check_ids("batch 0", np.array([[1, 99]]), 30)
    Traceback (most recent call last):
    ValueError: batch 0: id 99 at position [0, 1] is outside [0, 30) ...
    """
    ids = np.asarray(ids)
    if ids.size == 0 or (ids.min() >= 0 and ids.max() < size):
        return
    bad = (ids < 0) | (ids >= size)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{name}: id {ids[first]} at position {list(first)} is outside [0, {size}) "
        f"({int(bad.sum())} id(s) out of range). An Embedding of {size} rows takes ids "
        f"0..{size - 1} (a negative id would silently read the last row); encode with the "
        "vocabulary the model was built with."
    )
