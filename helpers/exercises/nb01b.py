"""Checks for the exercises of notebook 01b (the weight reference): each returns None or a hint.

check_answer("01b", 2, keras_kernel_shape=(3, 3, 2, 8), torch_weight_shape=(8, 2, 3, 3))
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from helpers import pytorch

IDS = np.array([[4, 0, 49], [7, 7, 1]])  # token ids for a (50, 8) table


def exercise_1(TinyEmbedding: Any) -> str | None:
    """A layer class whose ``TinyEmbedding(vocab, dim)`` looks ids up in a (vocab, dim) table.

    >>> exercise_1(TinyEmbedding=int)
    'TinyEmbedding should be a class that subclasses keras.layers.Layer; yours is int.'
    """
    if not (isinstance(TinyEmbedding, type) and issubclass(TinyEmbedding, keras.layers.Layer)):
        name = getattr(TinyEmbedding, "__name__", type(TinyEmbedding).__name__)
        return (
            f"TinyEmbedding should be a class that subclasses keras.layers.Layer; yours is {name}."
        )
    layer = TinyEmbedding(50, 8)
    layer.build(IDS.shape)
    if len(layer.weights) != 1:
        return (
            "build() should create exactly one weight, the (vocab, dim) table, with add_weight; "
            f"yours created {len(layer.weights)}."
        )
    if tuple(layer.weights[0].shape) != (50, 8):
        return (
            f"the table should be (vocab, dim) = (50, 8); yours is {tuple(layer.weights[0].shape)}."
        )
    reference = keras.layers.Embedding(50, 8)
    want = keras.ops.convert_to_numpy(reference(IDS))
    layer.set_weights(reference.get_weights())
    got = keras.ops.convert_to_numpy(layer(IDS))
    if got.shape != want.shape:
        return (
            f"ids of shape {IDS.shape} give {want.shape}, one row per id; yours gave {got.shape}."
        )
    if not np.array_equal(got, want):
        return "call(ids) should return row t of the table for token t, along the table's axis 0."
    return None


def exercise_2(keras_kernel_shape: Any, torch_weight_shape: Any) -> str | None:
    """The kernel shapes of Conv2D(8, 3, groups=2) on 4 channels, in Keras and in PyTorch.

    >>> exercise_2((3, 3, 2, 8), (8, 2, 3, 3)) is None
    True
    """
    layer = keras.layers.Conv2D(8, 3, groups=2)
    layer.build((None, 10, 10, 4))
    want_keras = tuple(layer.kernel.shape)  # (kh, kw, in / groups, filters)
    want_torch = (want_keras[3], want_keras[2], want_keras[0], want_keras[1])  # (out, in/g, kh, kw)
    given_keras, given_torch = tuple(keras_kernel_shape), tuple(torch_weight_shape)
    if given_keras != want_keras:
        if given_keras == (3, 3, 4, 8):
            return "with groups=2 a filter sees only its own group's channels: 4 / 2 of them."
        return "a Keras Conv2D kernel is (kernel_h, kernel_w, input channels seen, filters)."
    if given_torch != want_torch:
        if given_torch == want_keras:
            return "the Keras shape is right; PyTorch puts the output channels first."
        if given_torch == (8, 4, 3, 3):
            return "PyTorch's weight also holds only each group's input channels: 4 / 2 of them."
        return "nn.Conv2d.weight is (out_channels, input channels seen, kernel_h, kernel_w)."
    return None


def exercise_3(torch_bi: Any, layer: keras.layers.Bidirectional) -> str | None:
    """A Bidirectional LSTM's weights as PyTorch's state dict, backward names ending in _reverse."""
    if not isinstance(torch_bi, dict):
        kind = type(torch_bi).__name__
        return f"torch_bi should be a dict from PyTorch's names to arrays; yours is a {kind}."
    want = pytorch.to_torch_layout(layer)
    if sorted(torch_bi) != sorted(want):
        if not any(str(k).endswith("_reverse") for k in torch_bi):
            return "PyTorch names the backward direction's parameters with a _reverse suffix."
        return f"the 8 names are {sorted(want)}; yours are {sorted(torch_bi)}."
    given = {key: np.asarray(torch_bi[key]) for key in sorted(want)}
    for key, array in given.items():
        if array.shape != want[key].shape:
            return f"{key} should have PyTorch's shape {want[key].shape}; yours is {array.shape}."
    wrong = [key for key in given if not np.array_equal(given[key], want[key])]
    if not wrong:
        return None

    def partner(key: str) -> str:
        return key.removesuffix("_reverse") if key.endswith("_reverse") else f"{key}_reverse"

    if all(np.array_equal(given[key], want[partner(key)]) for key in given):
        return "forward and backward are swapped: the backward layer's arrays get _reverse."
    return f"{wrong[0]} is not the layer's weights in PyTorch's layout: convert each direction."


CHECKS = {1: exercise_1, 2: exercise_2, 3: exercise_3}
