"""Argument checks shared by the helpers modules, so every module words them the same way."""

from __future__ import annotations

import difflib
import numbers
from collections.abc import Iterable


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
