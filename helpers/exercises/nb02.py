"""Exercise checks of notebook 02 (softmax weights).

>>> from helpers.exercises import check_answer
>>> check_answer("02", 1, terms=..., feature=..., h=None, W=None, b=None)  # doctest: +ELLIPSIS
Exercise 1: not yet answered: ...
"""

from __future__ import annotations

import keras
import numpy as np

from helpers import softmax


def exercise_1(terms: object, feature: object, h: np.ndarray, W: np.ndarray, b: np.ndarray):
    """Sentence 0's logit gap between its top two classes, one term per feature; the largest."""
    h, W, b = np.asarray(h), np.asarray(W), np.asarray(b)
    terms = np.asarray(terms, dtype="float64")
    if terms.shape != h.shape:
        return f"terms should hold one number per feature: shape {h.shape}, not {terms.shape}."
    z = h @ W + b
    c1, c2 = np.argsort(z)[::-1][:2]
    expected = h * (W[:, c1] - W[:, c2])
    if not np.allclose(terms, expected, atol=1e-5):
        if np.allclose(terms, h * W[:, c1], atol=1e-5):
            return (
                "these are the contributions to the top logit alone; the gap needs the "
                "difference of the two classes' columns."
            )
        return (
            "term i is h_i times (top class's weight minus second class's weight) for feature "
            "i; find the two classes with the largest logits h @ W + b."
        )
    largest = int(np.argmax(expected))
    by_size = int(np.argmax(np.abs(expected)))
    if isinstance(feature, (int, np.integer)) and int(feature) == by_size != largest:
        return "that term is the largest in size but negative: it narrows the gap."
    if not isinstance(feature, (int, np.integer)):
        return "feature should be the index (an int) of the largest term, not its value."
    if int(feature) != largest:
        return f"term {int(feature)} is not the largest one: look at all {len(expected)} terms."
    return None


def exercise_2(grown: object, model: keras.Model):
    """A head grown by one class: old columns, biases and body weights unchanged."""
    if not isinstance(grown, keras.Model):
        return f"grown should be a Keras model; got {type(grown).__name__}."
    old, new = softmax.output_layer(model), softmax.output_layer(grown)
    kernel, bias = (np.asarray(w) for w in old.get_weights())
    new_kernel, new_bias = (np.asarray(w) for w in new.get_weights())
    want = (kernel.shape[0], kernel.shape[1] + 1)
    if new_kernel.shape != want:
        return f"the new head's kernel should be {want} (one more class), not {new_kernel.shape}."
    n = kernel.shape[1]
    if not (np.array_equal(new_kernel[:, :n], kernel) and np.array_equal(new_bias[:n], bias)):
        return "the first columns and biases must be copied unchanged from the trained head."
    if not np.all(np.isfinite(new_kernel[:, n])) or np.all(new_kernel[:, n] == 0):
        return "the new class's column should hold small random values (finite, not all 0)."
    if np.abs(new_kernel[:, n]).max() > 1.0:
        return "the new class's column should be small (like a fresh Dense's), not above 1."
    if new_bias[n] != 0:
        return "the new class's bias should start at 0."
    for layer in model.layers:
        if layer is old or not layer.weights:
            continue
        mine = [np.asarray(w) for w in layer.get_weights()]
        try:
            theirs = [np.asarray(w) for w in grown.get_layer(layer.name).get_weights()]
        except ValueError:
            return f"grown has no layer named {layer.name!r}; build it with bilstm_classifier."
        same = len(mine) == len(theirs) and all(map(np.array_equal, mine, theirs))
        if not same:
            return f"copy the {layer.name!r} layer's weights from model too (set_weights)."
    return None


CHECKS = {1: exercise_1, 2: exercise_2}
