"""Shared test tools: the active Keras backend in the report header, and a backend-neutral gradient.

`make test` runs this suite once per supported backend (KERAS_BACKEND=tensorflow, then jax).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest


def pytest_report_header() -> str:
    return f"keras {keras.version()}, backend: {keras.backend.backend()}"


def value_and_gradients(
    loss_fn: Callable[[], object], variables: Sequence[keras.Variable]
) -> tuple[float, list[np.ndarray]]:
    """(loss_fn(), d loss_fn() / d each variable) with the active backend's autodiff; the
    variables are read, never changed (a variable the loss does not use gets zeros). loss_fn takes
    no argument and returns a scalar.

    >>> value_and_gradients(lambda: keras.ops.sum(v * v), [v])  # (sum(v**2), [2 * v])
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, list(variables))  # None for a variable the loss does not use
        grads = [
            np.zeros(v.shape, v.dtype) if g is None else g
            for v, g in zip(variables, grads, strict=True)
        ]
    elif backend == "jax":
        import jax

        def loss_of(values):
            # Inside the scope every read of a variable gives the traced value instead.
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return loss_fn()

        loss, grads = jax.value_and_grad(loss_of)([v.value for v in variables])
    else:
        raise NotImplementedError(f"no gradient for the {backend!r} backend (tensorflow, jax)")
    return float(loss), [keras.ops.convert_to_numpy(g) for g in grads]


@pytest.fixture
def gradients() -> Callable[..., tuple[float, list[np.ndarray]]]:
    """``gradients(loss_fn, variables)`` -> (loss, [numpy gradient per variable]), any backend."""
    return value_and_gradients
