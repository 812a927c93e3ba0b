"""What helpers.weights and helpers.pytorch both need to know about a Keras layer: argument
checks, the layers and variables inside it, and a variable's value as NumPy.

The only place the helpers touch private Keras attributes (`_flatten_layers`,
`_trainable_variables`, `_non_trainable_variables`); tests/test_weights.py checks them, so a Keras
release that renames them fails loudly there.
"""

from __future__ import annotations

import keras
import numpy as np


def require_layer(layer: object, caller: str) -> None:
    """Raise TypeError, naming the type given, if `layer` is not a Keras layer or model.

    >>> require_layer("dense", "weight_table")  # doctest: +SKIP
    TypeError: weight_table expected a keras Layer or Model, got str
    """
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"{caller} expected a keras Layer or Model, got {type(layer).__name__}")


def require_built(layer: keras.layers.Layer) -> None:
    """Raise ValueError, saying how to build it, if `layer` has not created its weights yet.

    >>> require_built(keras.layers.Dense(2, name="d"))  # doctest: +SKIP
    ValueError: Dense 'd' was never built, so it has no weights yet. ...
    """
    if not layer.built:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' was never built, so it has no weights yet. "
            "Build it first: call it once on a batch (e.g. `model(x[:1])`), call "
            "`layer.build(input_shape)`, or start the model with `keras.Input(shape=...)`."
        )


def _private(error: AttributeError) -> RuntimeError:
    return RuntimeError(
        f"Keras {keras.version()} changed a private Layer attribute that helpers relies on: {error}"
    )


def own_weights(layer: keras.layers.Layer) -> list[tuple[keras.layers.Layer, list]]:
    """Every layer inside `layer` (itself first) with the variables it holds directly.

    >>> [(l.name, [v.name for v in vs]) for l, vs in own_weights(dense)]  # doctest: +SKIP
    [('dense', ['kernel', 'bias'])]
    """
    try:
        return [
            (sub, list(sub._trainable_variables) + list(sub._non_trainable_variables))
            for sub in layer._flatten_layers(include_self=True, recursive=True)
        ]
    except AttributeError as e:  # pragma: no cover - only if Keras renames its internals
        raise _private(e) from e


def children(layer: keras.layers.Layer) -> list[keras.layers.Layer]:
    """The layers directly inside `layer`: `model.layers` for a model, else its sub-layers.

    >>> [l.name for l in children(bidirectional)]  # doctest: +SKIP
    ['forward_lstm', 'backward_lstm']
    """
    if isinstance(layer, keras.Model):
        return list(layer.layers)
    try:
        return list(layer._flatten_layers(include_self=False, recursive=False))
    except AttributeError as e:  # pragma: no cover - only if Keras renames its internals
        raise _private(e) from e


def numpy_copy(variable: keras.Variable) -> np.ndarray:
    """A variable's value as a writable copy. np.asarray: no numpy 2 copy-keyword warning on any
    backend (Variable.numpy() warns on JAX); .copy(): JAX's array is a read-only view.

    >>> numpy_copy(dense.kernel).shape  # doctest: +SKIP
    (3, 2)
    """
    return np.asarray(variable).copy()
