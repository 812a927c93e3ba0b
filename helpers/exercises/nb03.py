"""Exercise checks of notebook 03 (masked outputs).

>>> from helpers.exercises import check_answer
>>> check_answer("03", 1, logits=..., with_mask=..., y=None, allowed=None)  # doctest: +ELLIPSIS
Exercise 1: not yet answered: ...
"""

from __future__ import annotations

import keras
import numpy as np

from helpers import masking
from helpers.notebook import to_numpy


def exercise_1(logits: object, with_mask: object, y: np.ndarray, allowed: np.ndarray):
    """A classifier trained without the mask; each sentence's mask applied at prediction time."""
    y, allowed = np.asarray(y), np.asarray(allowed)
    logits = to_numpy(logits)
    if logits.shape != allowed.shape:
        return f"logits should be one row per sentence, {allowed.shape}, not {logits.shape}."
    if np.mean(logits.argmax(1) == y) < 0.8:
        return "these logits are not from a trained classifier: fit the tokens -> logits model."
    with_mask = np.asarray(with_mask)
    if with_mask.shape != y.shape:
        return f"with_mask should hold one class per sentence, {y.shape}, not {with_mask.shape}."
    want = np.where(allowed > 0.5, logits, -np.inf).argmax(1)
    if not np.array_equal(with_mask, want):
        if np.array_equal(with_mask, logits.argmax(1)):
            return "these are the unmasked predictions: mask each row's logits before the argmax."
        return "with_mask[i] is the argmax of sentence i's logits where its allowed row is 1."
    return None


def exercise_2(plain_masked: object, classifier: keras.Model, x: np.ndarray, allowed: np.ndarray):
    """The plain mask model of a classifier whose Dense applies softmax itself."""
    if not isinstance(plain_masked, keras.Model) or len(plain_masked.inputs) != 2:
        return "plain_masked should be a Keras model with two inputs: [tokens, allowed]."
    p = to_numpy(plain_masked([x, allowed]))
    allowed = np.asarray(allowed)
    if p.shape != allowed.shape:
        return f"its output should be one probability row per sentence, {allowed.shape}."
    if not np.all(p[allowed == 0] == 0):
        return (
            "forbidden classes should get probability exactly 0: replace their logits (not the "
            "probabilities, and not by multiplying) before the softmax."
        )
    want = to_numpy(masking.with_class_mask(classifier)([x, allowed]))
    if not np.allclose(p, want, atol=1e-5):
        return (
            "the numbers differ from with_class_mask: mask the logits h @ kernel + bias, not the "
            "Dense's softmax output."
        )
    if getattr(plain_masked.outputs[0], "_keras_mask", None) is not None:  # Keras' private attr
        return (
            "the numbers are right, but Softmax(mask=...) attaches the mask to the output, so fit "
            "would fail (the common mistake above): mask the logits with keras.ops.where instead."
        )
    return None


CHECKS = {1: exercise_1, 2: exercise_2}
