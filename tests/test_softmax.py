"""helpers.softmax: the Dense behind the logits, class columns, per-prediction weights."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import pytest

from helpers import softmax

D, K = 6, 5


def sequential(*tail: keras.layers.Layer, activation: str | None = None) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((4,), name="x"),
            keras.layers.Dense(D, activation="relu", name="hidden"),
            keras.layers.Dense(K, activation=activation, name="head"),
            *tail,
        ],
        name="seq",
    )


def functional(*tail: keras.layers.Layer, activation: str | None = None) -> keras.Model:
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(D, activation="relu", name="hidden")(inputs)
    out = keras.layers.Dense(K, activation=activation, name="head")(h)
    for layer in tail:
        out = layer(out)
    return keras.Model(inputs, out, name="func")


BUILDERS = [sequential, functional]


# ---- output_layer / applies_softmax ------------------------------------------------------------


@pytest.mark.parametrize("build", BUILDERS)
def test_output_layer_is_final_dense(build):
    model = build(activation="softmax")
    dense = softmax.output_layer(model)
    assert dense.name == "head"
    assert dense is model.layers[-1]
    assert softmax.applies_softmax(dense)


@pytest.mark.parametrize("build", BUILDERS)
def test_output_layer_skips_trailing_activation_layers(build):
    model = build(
        keras.layers.Activation("linear", name="identity"),
        keras.layers.Softmax(name="probs"),
    )
    assert model.layers[-1].get_weights() == []  # the bug the notebook warns about
    dense = softmax.output_layer(model)
    assert dense.name == "head"
    assert dense.kernel.shape == (D, K)
    assert not softmax.applies_softmax(dense)  # its output is logits


def test_output_layer_follows_the_graph_not_the_layer_list():
    # A side branch built after the head puts another Dense last in model.layers.
    inputs = keras.Input((4,), name="x")
    h = keras.layers.Dense(D, name="hidden")(inputs)
    logits = keras.layers.Dense(K, name="head")(h)
    keras.layers.Dense(2, name="unused_branch")(h)
    probs = keras.layers.Activation("softmax", name="probs")(logits)
    model = keras.Model(inputs, probs, name="branchy")
    assert softmax.output_layer(model).name == "head"


@pytest.mark.parametrize("build", BUILDERS)
def test_output_layer_error_names_last_layers(build):
    inputs = keras.Input((3, 4), name="x")
    if build is sequential:
        model = keras.Sequential(
            [
                inputs,
                keras.layers.Dense(K, name="head"),
                keras.layers.Flatten(name="flat"),
                keras.layers.Activation("softmax", name="probs"),
            ],
            name="nodense",
        )
    else:
        out = keras.layers.Dense(K, name="head")(inputs)
        out = keras.layers.Flatten(name="flat")(out)
        out = keras.layers.Activation("softmax", name="probs")(out)
        model = keras.Model(inputs, out, name="nodense")
    with pytest.raises(ValueError) as err:
        softmax.output_layer(model)
    message = str(err.value)
    assert "'nodense'" in message
    assert "'flat' (Flatten), 'probs' (Activation)" in message


def test_output_layer_rejects_non_models_and_multi_output():
    with pytest.raises(TypeError, match="needs a keras.Model; got Dense"):
        softmax.output_layer(keras.layers.Dense(3))
    inputs = keras.Input((4,))
    two = keras.Model(
        inputs, [keras.layers.Dense(2, name="a")(inputs), keras.layers.Dense(3, name="b")(inputs)]
    )
    with pytest.raises(ValueError, match="one output; .* has 2"):
        softmax.output_layer(two)


def test_applies_softmax_only_for_softmax_activation():
    assert softmax.applies_softmax(keras.layers.Dense(3, activation="softmax"))
    assert not softmax.applies_softmax(keras.layers.Dense(3))
    assert not softmax.applies_softmax(keras.layers.Dense(3, activation="sigmoid"))
    with pytest.raises(TypeError, match="needs a keras.layers.Dense; got Softmax"):
        softmax.applies_softmax(keras.layers.Softmax())
