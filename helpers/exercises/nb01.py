"""Checks for the exercises of notebook 01 (weight shapes): each returns None or a hint.

check_answer("01", 1, kernel_from_matrix=kernel_from_matrix, matrix=matrix)
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np


def exercise_1(kernel_from_matrix: Any, matrix: np.ndarray) -> str | None:
    """A (units, inputs) matrix from another tool, as the (inputs, units) kernel Keras wants.

    >>> exercise_1(np.arange(6).reshape(2, 3).T, matrix=np.arange(6).reshape(2, 3)) is None
    True
    """
    answer = np.asarray(kernel_from_matrix)
    want = np.asarray(matrix).T
    if answer.shape == want.T.shape != want.shape:
        return (
            f"set_weights wants Keras' layout (inputs, units) = {want.shape}; yours is still "
            f"{answer.shape}, one row per unit."
        )
    if answer.shape != want.shape:
        return (
            f"the kernel should have shape (inputs, units) = {want.shape}; yours is {answer.shape}."
        )
    if np.array_equal(answer, want):
        return None
    if np.array_equal(answer, matrix):
        return "that is matrix as it is, one row per unit; Keras wants one row per input feature."
    if np.array_equal(answer, np.asarray(matrix).reshape(want.shape)):
        return (
            "right shape, wrong places: reshape re-reads the numbers in memory order, so a column "
            "mixes several units' weights. Swap the two axes instead."
        )
    return "column j of the kernel must hold unit j's weights, that is row j of matrix."


def exercise_2(strongest: Any, kernel: np.ndarray) -> str | None:
    """For each unit (column) of kernel, the feature (row) with the largest |weight|.

    >>> exercise_2(np.array([1, 0]), kernel=np.array([[0.0, -3.0], [2.0, 1.0]])) is None
    True
    """
    kernel = np.asarray(kernel)
    answer = np.asarray(strongest)
    units = kernel.shape[1]
    if answer.shape != (units,):
        return (
            f"one feature index per unit: {units} numbers; yours has shape {answer.shape}. "
            "Which axis of the kernel runs over the units?"
        )
    if np.array_equal(answer, np.abs(kernel).argmax(axis=0)):
        return None
    if np.array_equal(answer, kernel.argmax(axis=0)):
        return "largest in size: a weight of -2 matters as much as 2 (compare absolute values)."
    return "for unit j, look down column j of the kernel: one weight per input feature."


def exercise_3(y_seq: Any, model: keras.Model, x: np.ndarray) -> str | None:
    """The output of a Dense(relu) on (batch, steps, features), computed from its weights.

    ``model``'s last layer is that Dense; ``x`` is the input the answer was computed for.
    """
    want = keras.ops.convert_to_numpy(model(x))
    answer = np.asarray(y_seq, dtype="float64")
    if answer.shape != want.shape:
        return f"one output row per sample and step: shape {want.shape}; yours is {answer.shape}."
    if np.allclose(answer, want, atol=1e-5):
        return None
    kernel, bias = model.layers[-1].get_weights()
    if np.allclose(np.maximum(answer, 0.0), want, atol=1e-5):
        return "close: the layer has activation='relu'; apply it to x @ W + b."
    if np.allclose(np.maximum(x @ kernel, 0.0), answer, atol=1e-5):
        return "close: the layer adds its bias before the relu."
    return "the same x @ W + b as for a single sample works: @ multiplies along the last axis."


CHECKS = {1: exercise_1, 2: exercise_2, 3: exercise_3}
