"""helpers.exercises.nb04: each solution is right, the placeholder is "not yet", typical wrong
answers get their hint."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer
from helpers.exercises.nb04 import exercise_1, exercise_2, exercise_3

L = keras.layers


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


@pytest.fixture
def twin():
    enc_in = keras.Input((6,), name="enc_in")
    hidden = L.Dense(4, activation="relu", name="enc_dense")(enc_in)
    encoder = keras.Model(enc_in, L.Dense(2, name="enc_out")(hidden), name="encoder")
    left, right = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    diff = L.Subtract(name="difference")([encoder(left), encoder(right)])
    pair = [np.random.default_rng(k).normal(size=(8, 6)).astype("float32") for k in range(2)]
    return keras.Model([left, right], diff, name="twin"), pair


def branch(loaded, k):
    enc = loaded.get_layer("encoder")
    to_inner = keras.Model(enc.input, enc.get_layer("enc_dense").output)
    return keras.Model(loaded.inputs[k], to_inner(loaded.inputs[k]))


def test_exercise_1_right_branch_is_right_and_left_branch_gets_its_hint(twin):
    loaded, pair = twin
    assert exercise_1(inner_right=branch(loaded, 1), loaded=loaded, pair=pair) is None
    hint = exercise_1(inner_right=branch(loaded, 0), loaded=loaded, pair=pair)
    assert "use loaded.inputs[1]" in hint
    enc = loaded.get_layer("encoder")
    to_inner = keras.Model(enc.input, enc.get_layer("enc_dense").output)
    both = keras.Model(loaded.inputs, to_inner(loaded.inputs[0]))  # takes both, reads the left
    assert "left branch" in exercise_1(inner_right=both, loaded=loaded, pair=pair)


def test_exercise_1_the_encoder_output_is_not_the_inner_layer(twin):
    loaded, pair = twin
    whole = keras.Model(loaded.inputs[1], loaded.get_layer("encoder")(loaded.inputs[1]))
    assert "enc_out" in exercise_1(inner_right=whole, loaded=loaded, pair=pair)
    assert "keras.Model" in exercise_1(inner_right=np.zeros((8, 4)), loaded=loaded, pair=pair)


class TiedDense(L.Layer):
    def __init__(self, dense, **kwargs):
        super().__init__(**kwargs)
        self.dense = dense

    def build(self, input_shape):
        self.bias = self.add_weight(shape=(self.dense.kernel.shape[0],), initializer="zeros")

    def call(self, h):
        return keras.ops.matmul(h, keras.ops.transpose(self.dense.kernel)) + self.bias


def autoencoder(decoder, data, epochs=2):
    x = keras.Input((6,))
    encode = L.Dense(3)
    model = keras.Model(x, decoder(encode)(encode(x)))
    model.compile(optimizer="adam", loss="mse")
    if epochs:
        model.fit(data, data, epochs=epochs, batch_size=16, verbose=0)
    return model


def test_exercise_2_tied_and_trained_is_right():
    data = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    assert exercise_2(autoencoder=autoencoder(TiedDense, data), data=data) is None


def test_exercise_2_untied_untrained_or_untransposed_get_hints():
    data = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    untied = autoencoder(lambda dense: L.Dense(6), data)
    assert "no kernel of its own" in exercise_2(autoencoder=untied, data=data)
    untrained = autoencoder(TiedDense, data, epochs=0)
    assert "fit the model" in exercise_2(autoencoder=untrained, data=data)

    class Untransposed(TiedDense):  # uses K's first column block instead of K.T
        def call(self, h):
            k = self.dense.kernel
            return keras.ops.concatenate([h, h], axis=-1) * keras.ops.sum(k) + self.bias

    wrong = autoencoder(Untransposed, data)
    assert "transpose" in exercise_2(autoencoder=wrong, data=data)


@pytest.fixture
def ten():
    inputs = [keras.Input((4,), name=f"input_{k}") for k in range(10)]
    dense = L.Dense(3, name="shared_dense")
    nets = [dense(x) for x in inputs]
    rng = np.random.default_rng(0)
    xs = [rng.normal(size=(5, 4)).astype("float32") for _ in range(10)]
    targets = [rng.normal(size=(5, 3)).astype("float32") * (k + 1) for k in range(10)]
    return inputs, nets, xs, targets


def named_model(inputs, nets, weight_0=2.0, losses="dict"):
    names = [f"out_{k}" for k in range(10)]
    model = keras.Model(inputs, dict(zip(names, nets, strict=True)))
    weights = {n: weight_0 if n == "out_0" else 1.0 for n in names}
    model.compile(optimizer="sgd", loss={n: "mse" for n in names}, loss_weights=weights)
    return model


def test_exercise_3_weighted_dict_is_right(ten):
    inputs, nets, xs, targets = ten
    model = named_model(inputs, nets)
    assert exercise_3(weighted=model, xs=xs, targets=targets) is None


def test_exercise_3_wrong_answers_get_hints(ten):
    inputs, nets, xs, targets = ten
    unweighted = named_model(inputs, nets, weight_0=1.0)
    assert "loss_weights" in exercise_3(weighted=unweighted, xs=xs, targets=targets)
    listed = keras.Model(inputs, nets)
    listed.compile(optimizer="sgd", loss="mse")
    assert "dict of outputs" in exercise_3(weighted=listed, xs=xs, targets=targets)
    names = [f"out_{k}" for k in range(10)]
    uncompiled = keras.Model(inputs, dict(zip(names, nets, strict=True)))
    assert "compile" in exercise_3(weighted=uncompiled, xs=xs, targets=targets)


def test_placeholders_are_not_yet_answered(capsys, twin):
    loaded, pair = twin
    check_answer("04", 1, inner_right=..., loaded=loaded, pair=pair)
    check_answer("04", 2, autoencoder=..., data=np.zeros((4, 6)))
    check_answer("04", 3, weighted=..., xs=[], targets=[])
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in out] == ["not yet answered"] * 3
