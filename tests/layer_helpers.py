"""Values and functions test_pytorch.py and test_weights.py share (``from layer_helpers import``).

Not in conftest.py: pytest imports notebooks/conftest.py under the same module name, so
``from conftest import ...`` would find that one when both folders are collected.
"""

from __future__ import annotations

import keras
import numpy as np

X_SEQ = np.random.default_rng(0).normal(size=(3, 5, 4)).astype("float32")  # (batch, time, feat)
_BIAS_RNG = np.random.default_rng(1)


def value(x: object) -> np.ndarray:
    """A layer output or a variable as numpy.

    np.asarray, not np.array: np.array(variable) passes copy=True to Keras' Variable.__array__,
    which has no `copy` parameter, so numpy 2 emits a DeprecationWarning
    (test_weights.py's test_numpy_conversions_of_a_variable pins this).
    """
    return np.asarray(x)


def random_biases(layer: keras.layers.Layer) -> None:
    """Give every bias non-zero values so a conversion that drops or misplaces one shows."""
    for v in layer.weights:
        if v.name == "bias":
            v.assign(_BIAS_RNG.normal(size=v.shape).astype("float32"))
