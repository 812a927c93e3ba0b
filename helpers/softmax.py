"""The weights behind a softmax classifier's predictions.

A classifier that ends in ``Dense(k)`` (with ``activation="softmax"``, or followed by an
``Activation("softmax")``/``Softmax`` layer) computes ``logits = h @ W + b`` from the penultimate
features ``h`` (n, d); column ``W[:, c]`` (d,) and bias ``b[c]`` belong to class ``c``.

>>> from helpers import softmax
>>> dense = softmax.output_layer(model)          # the Dense that produces the logits
>>> softmax.applies_softmax(dense)               # True: its output is probabilities
"""

from __future__ import annotations

import keras

_PASS_THROUGH = (keras.layers.Activation, keras.layers.Softmax)


def _describe(layers: list[keras.layers.Layer]) -> str:
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


def _trace_back(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers on the path to the model's output, last first, as far as it can be followed."""
    if isinstance(model, keras.Sequential):
        return list(reversed(model.layers))
    try:
        outputs = model.outputs
    except AttributeError:
        outputs = None
    if not outputs:
        raise ValueError(
            f"output_layer needs a Sequential or Functional model; {model.name!r} "
            f"({type(model).__name__}) has no symbolic outputs to trace. Valid: keras.Sequential "
            "or keras.Model(inputs, outputs)."
        )
    if len(outputs) != 1:
        raise ValueError(
            f"output_layer needs a model with one output; {model.name!r} has {len(outputs)}: "
            f"{[t.name for t in outputs]}. Build a sub-model on the output you mean."
        )
    producer = {}
    for layer in model.layers:
        try:
            out = layer.output  # public; the tensor of the layer's first call
        except (AttributeError, ValueError):
            continue
        producer[id(out)] = layer
    path, tensor = [], outputs[0]
    while id(tensor) in producer:
        layer = producer[id(tensor)]
        path.append(layer)
        if not isinstance(layer, _PASS_THROUGH):
            break
        tensor = layer.input
    return path


def output_layer(model: keras.Model) -> keras.layers.Dense:
    """The Dense layer that produces a classifier's logits.

    It is the model's final layer if that is a Dense, else the Dense feeding the trailing
    ``Activation``/``Softmax`` layer(s). Works for Sequential and Functional models.

    >>> output_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head"),
    ...                                keras.layers.Activation("softmax")])).name
    'head'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"output_layer needs a keras.Model; got {type(model).__name__}. "
            "Pass the model, e.g. output_layer(model)."
        )
    path = _trace_back(model)
    for i, layer in enumerate(path):
        if isinstance(layer, keras.layers.Dense):
            return layer
        if not isinstance(layer, _PASS_THROUGH):
            path = path[: i + 1]
            break
    shown = list(reversed(path[:4]))
    raise ValueError(
        f"model {model.name!r} has no Dense layer producing its output (only Activation/Softmax "
        f"layers may follow it). Its last layers are: {_describe(shown) or 'none'}."
    )


def applies_softmax(dense: keras.layers.Dense) -> bool:
    """Whether this Dense applies softmax itself (its output is probabilities, not logits).

    False means its activation is something else; for ``activation=None`` (linear) the output
    is the logits, which a trailing ``Activation("softmax")`` may still turn into probabilities.

    >>> applies_softmax(keras.layers.Dense(3, activation="softmax"))
    True
    """
    if not isinstance(dense, keras.layers.Dense):
        raise TypeError(
            f"applies_softmax needs a keras.layers.Dense; got {type(dense).__name__}. "
            "Find it with output_layer(model)."
        )
    return dense.activation is keras.activations.softmax
