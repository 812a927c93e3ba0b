"""Exercise checks of notebook 03b (optional: class_weight and the loss scale, float16 masks).

>>> from helpers.exercises import check_answer
>>> check_answer("03b", 1, factor=..., sample_weight=None)  # doctest: +ELLIPSIS
Exercise 1: not yet answered: ...
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.notebook import to_numpy


def exercise_1(factor: object, sample_weight: np.ndarray):
    """The learning-rate factor that undoes the default reduction's shrinking of the loss."""
    w = np.asarray(sample_weight, dtype="float64")
    if not isinstance(factor, (int, float, np.number)):
        return f"factor should be a number; got {type(factor).__name__}."
    want = len(w) / w.sum()
    if np.isclose(factor, want, rtol=1e-4):
        return None
    if np.isclose(factor, 1 / want, rtol=1e-4):
        return "that is the fraction the step shrinks by; the learning rate must undo it."
    return (
        "the default divides the weighted sum by the batch size, mean_with_sample_weight by the "
        "sum of the weights: compare the two divisors."
    )


def exercise_2(shifted: object, logits: np.ndarray, mask: np.ndarray):
    """float16 logits shifted by each row's largest allowed logit, so Softmax(mask=) works."""
    logits, mask = np.asarray(logits), np.asarray(mask).astype(bool)
    shifted = np.asarray(shifted)
    if shifted.shape != logits.shape:
        return f"shifted should have the logits' shape {logits.shape}, not {shifted.shape}."
    top = np.where(mask, shifted.astype("float64"), -np.inf).max(axis=1)
    if not np.allclose(top, 0.0):
        return "after the shift, each row's largest allowed logit should be 0."
    difference = np.where(mask, logits.astype("float64") - shifted.astype("float64"), np.nan)
    spread = np.nanmax(difference, axis=1) - np.nanmin(difference, axis=1)
    if not np.all(spread <= 64.0):  # float16 spacing near 6e4 is 32
        return "subtract one number per row (its largest allowed logit), the same for every class."
    layer = keras.layers.Softmax(dtype="float16")
    rows = to_numpy(layer(shifted.astype("float16"), mask=mask)).astype("float32").sum(axis=1)
    if not np.allclose(rows, 1.0, atol=1e-3):
        return f"Softmax(mask=) still gives rows that sum to {rows.round(3).tolist()}, not 1."
    return None


CHECKS = {1: exercise_1, 2: exercise_2}
