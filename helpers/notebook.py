"""The checking helpers of every notebook's setup cell: the same names in each notebook.

    from helpers.notebook import check, close, identical, raises, reset, to_numpy

Each prints the value a learner wants to see and asserts the claim that goes with it, so a false
claim stops the notebook. Rounding-level errors are printed against a threshold
(``max error < 1e-06``), never raw: ``3e-08`` on one CPU is ``0`` on another, and strict nbval
compares the printed text.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np


def to_numpy(x: Any) -> np.ndarray:
    """A backend tensor, a Keras variable or anything array-like, as a NumPy array.

    >>> to_numpy(keras.ops.ones((2,)))
    array([1., 1.], dtype=float32)
    """
    if isinstance(x, np.ndarray):
        return x
    if isinstance(x, keras.Variable):
        x = x.value
    return np.asarray(keras.ops.convert_to_numpy(x))


def max_error(a: Any, b: Any) -> float:
    """The largest absolute difference between two arrays of the same shape.

    >>> max_error([1.0, 2.0], [1.0, 2.5])
    0.5
    """
    a, b = to_numpy(a), to_numpy(b)
    if a.shape != b.shape:
        raise ValueError(f"max_error needs two arrays of one shape; got {a.shape} and {b.shape}.")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def check(label: str, value: object, ok: bool = True) -> None:
    """Print ``label: value``; stop the notebook with an AssertionError if ``ok`` is false.

    >>> check("kernel shape", (2000, 32), (2000, 32) == (2000, 32))
    kernel shape: (2000, 32)
    """
    print(f"{label}: {value}")
    if not ok:
        raise AssertionError(f"check failed: {label}: {value}")


def _threshold(tol: float) -> str:
    return f"{tol:.0e}".replace("e-0", "e-").replace("e+0", "e+")


def close(label: str, actual: Any, expected: Any, tol: float = 1e-6) -> None:
    """Print ``label: max error < tol`` and assert it.

    The error itself is never printed when it is below ``tol``: it is float rounding, which
    differs from CPU to CPU. A larger error stops the notebook and says how large it was.

    >>> close("x @ W + b vs the layer", [1.0, 2.0], [1.0, 2.0 + 1e-9])
    x @ W + b vs the layer: max error < 1e-6
    """
    error = max_error(actual, expected)
    if not error < tol:  # also false for NaN
        raise AssertionError(f"{label}: max error {error:.3g} is not below {_threshold(tol)}")
    print(f"{label}: max error < {_threshold(tol)}")


def identical(label: str, a: Any, b: Any) -> None:
    """Print ``label: bit-identical`` if every element of ``a`` equals ``b``'s; else stop.

    >>> identical("frozen column after training", [0.5, 1.5], [0.5, 1.5])
    frozen column after training: bit-identical
    """
    a, b = to_numpy(a), to_numpy(b)
    if a.shape != b.shape or not np.array_equal(a, b):
        differ = "shapes differ" if a.shape != b.shape else f"max error {max_error(a, b):.3g}"
        raise AssertionError(f"{label}: not identical ({differ})")
    print(f"{label}: bit-identical")


@contextlib.contextmanager
def raises(*expected: type[BaseException], match: str | None = None) -> Iterator[None]:
    """Run the block, which must raise one of ``expected``; print the error's type and first line.

    The error is shown and swallowed, so the notebook goes on; if nothing (or something else) is
    raised, the notebook stops. ``match`` is a regular expression the message must contain.

    >>> with raises(IndexError):
    ...     [][0]
    IndexError: list index out of range
    """
    if not expected or not all(
        isinstance(e, type) and issubclass(e, BaseException) for e in expected
    ):
        raise TypeError(f"raises needs one or more exception classes; got {expected!r}.")
    names = " or ".join(e.__name__ for e in expected)
    try:
        yield
    except expected as error:
        message = str(error).strip()
        first = message.splitlines()[0] if message else ""
        print(f"{type(error).__name__}: {first}" if first else type(error).__name__)
        if match is not None and not re.search(match, message):
            raise AssertionError(f"the {names} says {message!r}, which lacks {match!r}") from error
    else:
        raise AssertionError(f"expected {names}; nothing was raised")


def reset(seed: int = 0) -> None:
    """Start a new model from a known state: ``clear_session()``, then ``set_random_seed(seed)``.

    Automatic layer names count from zero again, and weights start from the same random values
    on every run.

    >>> reset(0)
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
