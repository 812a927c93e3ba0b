"""helpers.softmax: the Dense behind the logits, class columns, per-prediction weights."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
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


@pytest.mark.parametrize("build", BUILDERS)
def test_output_head_lists_the_layers_after_the_dense_in_call_order(build):
    dense, after = softmax.output_head(
        build(
            keras.layers.Activation("linear", name="identity"), keras.layers.Softmax(name="probs")
        )
    )
    assert dense.name == "head"
    assert [layer.name for layer in after] == ["identity", "probs"]
    dense, after = softmax.output_head(build(activation="softmax"))
    assert (dense.name, after) == ("head", [])


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
    for function in (softmax.output_layer, softmax.output_head):
        with pytest.raises(ValueError) as err:
            function(model)
        message = str(err.value)
        assert message.startswith(f"{function.__name__}: model 'nodense' has no Dense layer")
        assert "'flat' (Flatten), 'probs' (Activation)" in message


def test_output_layer_rejects_non_models_and_multi_output():
    with pytest.raises(TypeError, match="output_layer needs a keras.Model; got Dense"):
        softmax.output_layer(keras.layers.Dense(3))
    with pytest.raises(TypeError, match="output_head needs a keras.Model; got Dense"):
        softmax.output_head(keras.layers.Dense(3))
    inputs = keras.Input((4,))
    two = keras.Model(
        inputs, [keras.layers.Dense(2, name="a")(inputs), keras.layers.Dense(3, name="b")(inputs)]
    )
    with pytest.raises(ValueError, match="one output; .* has 2"):
        softmax.output_layer(two)


def test_is_softmax_layer_means_softmax_over_the_last_axis():
    assert softmax.is_softmax_layer(keras.layers.Softmax())
    assert softmax.is_softmax_layer(keras.layers.Softmax(axis=[-1]))
    assert softmax.is_softmax_layer(keras.layers.Activation("softmax"))
    assert not softmax.is_softmax_layer(keras.layers.Softmax(axis=0))
    assert not softmax.is_softmax_layer(keras.layers.Activation("sigmoid"))
    assert not softmax.is_softmax_layer(keras.layers.Dense(3, activation="softmax"))
    # the classifier helpers use the same rule: a softmax over another axis is refused
    model = sequential(keras.layers.Softmax(axis=0, name="batch_softmax"))
    with pytest.raises(ValueError, match="prediction_weights: .* one softmax over the last axis"):
        softmax.prediction_weights(model, np.zeros((2, 4), "float32"))


def shared_head_model() -> keras.Model:
    """One Dense head called on two towers; the model's output is its SECOND call."""
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    head = keras.layers.Dense(K, name="head")
    keras.layers.Activation("softmax", name="aux")(head(keras.layers.Dense(D, name="ta")(a)))
    second = head(keras.layers.Dense(D, name="tb")(keras.layers.Dense(D, name="pre_b")(b)))
    return keras.Model([a, b], keras.layers.Softmax(name="probs")(second), name="two_calls")


def test_output_head_follows_the_call_that_produces_the_output():
    keras.utils.set_random_seed(0)
    model = shared_head_model()
    head = model.get_layer("head")
    assert head.output is not model.get_layer("probs").input  # layer.output is call 0
    dense, after = softmax.output_head(model)
    assert dense is head and [layer.name for layer in after] == ["probs"]
    call = softmax.head_call(model)
    assert call.features is model.get_layer("tb").output
    assert call.dense_output is model.get_layer("probs").input
    rng = np.random.default_rng(1)
    xa = rng.normal(size=(8, 4)).astype("float32")
    xb = rng.normal(size=(8, 3)).astype("float32")
    h_b = keras.Model(model.inputs, model.get_layer("tb").output).predict([xa, xb], verbose=0)
    pw = softmax.prediction_weights(model, [xa, xb])
    assert np.allclose(pw.features, h_b, atol=1e-6)  # the second call's input, tower b
    probs = model.predict([xa, xb], verbose=0)
    assert np.allclose(_softmax_rows(softmax.logits(model, [xa, xb])), probs, atol=1e-6)


def _softmax_rows(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_applies_softmax_only_for_softmax_activation():
    assert softmax.applies_softmax(keras.layers.Dense(3, activation="softmax"))
    assert not softmax.applies_softmax(keras.layers.Dense(3))
    assert not softmax.applies_softmax(keras.layers.Dense(3, activation="sigmoid"))
    with pytest.raises(TypeError, match="needs a keras.layers.Dense .*; got Softmax"):
        softmax.applies_softmax(keras.layers.Softmax())


# ---- a small trained classifier shared by the tests below --------------------------------------


def trained(head_activation: str | None = None, *tail: keras.layers.Layer) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = sequential(*tail, activation=head_activation)
    x, y = data()
    model.compile(
        optimizer=keras.optimizers.Adam(0.05),
        loss="sparse_categorical_crossentropy",  # the model outputs probabilities
    )
    model.fit(x, y, epochs=3, batch_size=16, verbose=0)
    return model


def data(n: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4)).astype("float32")
    y = (np.abs(x[:, 0] * 2 + x[:, 1]).astype(int) % K).astype("int64")
    return x, y


def features_of(model: keras.Model, x: np.ndarray) -> np.ndarray:
    dense = softmax.output_layer(model)
    return keras.Model(model.inputs, dense.input).predict(x, verbose=0)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    """Dense(K) + separate Softmax layer, trained a little."""
    return trained(None, keras.layers.Softmax(name="probs"))


# ---- class_weights / set_class_weights -----------------------------------------------------------


def test_class_weights_are_kernel_columns_and_biases(model):
    kernel, bias = model.get_layer("head").get_weights()
    all_k, all_b = softmax.class_weights(model)
    assert all_k.shape == (D, K) and all_b.shape == (K,)
    assert np.array_equal(all_k, kernel) and np.array_equal(all_b, bias)
    some_k, some_b = softmax.class_weights(model, [3, 1])
    assert some_k.shape == (D, 2) and some_b.shape == (2,)
    assert np.array_equal(some_k, kernel[:, [3, 1]]) and np.array_equal(some_b, bias[[3, 1]])
    one_k, one_b = softmax.class_weights(model.get_layer("head"), 2)
    assert one_k.shape == (D,) and np.array_equal(one_k, kernel[:, 2]) and one_b == bias[2]


def test_class_weights_are_silent_writable_copies():
    dense = keras.layers.Dense(3, name="d")
    dense.build((None, 2))
    before = np.asarray(dense.kernel).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # numpy 2's copy-keyword DeprecationWarning included
        kernel, bias = softmax.class_weights(dense)
    kernel += 1.0  # a copy: editing it leaves the layer alone until set_class_weights
    bias += 1.0
    np.testing.assert_array_equal(np.asarray(dense.kernel), before)


def test_class_weights_without_bias_gives_zeros():
    dense = keras.layers.Dense(3, use_bias=False, name="nobias")
    dense.build((None, 2))
    kernel, bias = softmax.class_weights(dense)
    assert kernel.shape == (2, 3) and np.array_equal(bias, np.zeros(3, "float32"))


@pytest.mark.parametrize("bad", [K, -1, [0, K + 2]])
def test_class_out_of_range_names_valid_range(model, bad):
    with pytest.raises(ValueError, match=r"out of range for 'head' with 5 classes .*0\.\.4"):
        softmax.class_weights(model, bad)


@pytest.mark.parametrize("bad", [True, 1.0, [[0, 1]], "2"])
def test_class_of_wrong_type(model, bad):
    with pytest.raises(TypeError, match="int or a 1-D sequence of ints"):
        softmax.class_weights(model, bad)


def test_class_weights_needs_a_built_dense():
    with pytest.raises(ValueError, match="'fresh' is not built"):
        softmax.class_weights(keras.layers.Dense(3, name="fresh"))
    with pytest.raises(
        TypeError, match="keras.Model, a keras.layers.Dense or a pointwise Conv .*; got ndarray"
    ):
        softmax.class_weights(np.zeros((2, 3)))


def test_set_class_weights_leaves_other_classes_bit_identical():
    keras.utils.set_random_seed(1)
    model = sequential()
    before_k, before_b = softmax.class_weights(model)
    softmax.set_class_weights(model, [1, 4], np.full((D, 2), 7.0), np.array([1.0, 2.0]))
    after_k, after_b = softmax.class_weights(model)
    others = [0, 2, 3]
    assert np.array_equal(after_k[:, others], before_k[:, others])
    assert np.array_equal(after_b[others], before_b[others])
    assert np.array_equal(after_k[:, [1, 4]], np.full((D, 2), 7.0, "float32"))
    assert np.array_equal(after_b[[1, 4]], np.array([1.0, 2.0], "float32"))
    with pytest.raises(ValueError, match=r"must have shape \(6, 2\); got \(6, 3\)"):
        softmax.set_class_weights(model, [1, 4], np.zeros((D, 3)))
    with pytest.raises(ValueError, match=r"must have shape \(6, 2\); got \(3, 4\)"):
        softmax.set_class_weights(model, [1, 4], np.zeros((3, 4)))  # same size, wrong layout
    softmax.set_class_weights(model, 2, np.full(D, 5.0))  # one class: a (d,) column is fine
    assert np.array_equal(softmax.class_weights(model, 2)[0], np.full(D, 5.0, "float32"))
    with pytest.raises(ValueError, match=r"bias for 2 classes must have shape \(2,\); got \(3,\)"):
        softmax.set_class_weights(model, [1, 4], np.zeros((D, 2)), np.zeros(3))


# ---- prediction_weights / logits / logit_contributions -------------------------------------------


@pytest.mark.parametrize("head", ["softmax", "separate"])
def test_prediction_weights_agree_with_predict_and_the_kernel(head):
    model = trained("softmax") if head == "softmax" else trained(None, keras.layers.Softmax())
    x, _ = data()
    pw = softmax.prediction_weights(model, x, batch_size=7)
    probs = model.predict(x, verbose=0)
    kernel, bias = model.get_layer("head").get_weights()
    assert pw.classes.shape == (64,) and pw.probabilities.shape == (64,)
    assert pw.features.shape == (64, D) and pw.kernel_rows.shape == (64, D)
    assert pw.bias.shape == (64,)
    assert np.array_equal(pw.classes, probs.argmax(axis=1))
    assert np.allclose(pw.probabilities, probs.max(axis=1), atol=1e-6)
    assert np.array_equal(pw.kernel_rows, kernel[:, pw.classes].T)
    assert np.array_equal(pw.bias, bias[pw.classes])
    assert np.allclose(pw.features, features_of(model, x), atol=1e-6)
    # softmax(h @ W + b) reproduces predict
    z = pw.features @ kernel + bias
    e = np.exp(z - z.max(axis=1, keepdims=True))
    assert np.allclose(e / e.sum(axis=1, keepdims=True), probs, atol=1e-6)


def test_logits_are_the_dense_pre_activation(model):
    x, _ = data()
    z = softmax.logits(model, x)
    kernel, bias = model.get_layer("head").get_weights()
    assert z.shape == (64, K)
    assert np.allclose(z, features_of(model, x) @ kernel + bias, atol=1e-5)
    logit_model = keras.Model(model.inputs, model.get_layer("head").output)
    assert np.allclose(z, logit_model.predict(x, verbose=0), atol=1e-6)


def test_contributions_plus_bias_equal_the_logits(model):
    x, _ = data()
    z = softmax.logits(model, x)
    rows = np.arange(64)
    pw = softmax.prediction_weights(model, x)
    contrib = softmax.logit_contributions(model, x)
    assert contrib.shape == (64, D)
    assert np.allclose(contrib.sum(axis=1) + pw.bias, z[rows, pw.classes], atol=1e-5)
    assert np.allclose(contrib, pw.features * pw.kernel_rows)
    _, bias = softmax.class_weights(model)
    fixed = softmax.logit_contributions(model, x, classes=2)
    assert np.allclose(fixed.sum(axis=1) + bias[2], z[:, 2], atol=1e-5)
    per_sample = rows % K
    given = softmax.logit_contributions(model, x, classes=per_sample)
    assert np.allclose(given.sum(axis=1) + bias[per_sample], z[rows, per_sample], atol=1e-5)
    with pytest.raises(ValueError, match="one int or 64 ints"):
        softmax.logit_contributions(model, x, classes=[0, 1])


def test_wrong_x_shape_fails_before_any_work(model, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("a model ran before x was checked")

    monkeypatch.setattr(keras.Model, "__call__", no_work)
    monkeypatch.setattr(keras.Model, "predict", no_work)
    monkeypatch.setattr(keras.Model, "predict_on_batch", no_work)
    monkeypatch.setattr(keras.Model, "fit", no_work)
    bad = np.zeros((3, 5), "float32")
    expected = r"input 'x' of model 'seq' expects batches of shape \(None, 4\); got \(3, 5\)"
    with pytest.raises(ValueError, match=expected):
        softmax.prediction_weights(model, bad)
    with pytest.raises(ValueError, match=expected):
        softmax.logit_contributions(model, bad)
    with pytest.raises(ValueError, match=expected):
        softmax.logits(model, bad)
    with pytest.raises(ValueError, match=r"expects batches of shape \(None, 4\); got \(4,\)"):
        softmax.train_classes(model, np.zeros(4), np.zeros(4, "int64"), [0])
    with pytest.raises(ValueError, match="batch_size must be a positive int; got 0"):
        softmax.prediction_weights(model, np.zeros((3, 4)), batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be a positive int; got float 8.0"):
        softmax.logits(model, np.zeros((3, 4)), batch_size=8.0)
    # per-sample classes of the wrong length: refused before the model runs (review item 7)
    with pytest.raises(ValueError, match=r"one int or 3 ints \(one per sample of x\); got 2"):
        softmax.logit_contributions(model, np.zeros((3, 4), "float32"), classes=[0, 1])


def test_features_are_batched_and_empty_input_is_refused(model):
    x, _ = data()
    assert np.allclose(
        softmax.prediction_weights(model, x, batch_size=5).features,
        softmax.prediction_weights(model, x, batch_size=np.int64(64)).features,
        atol=1e-6,
    )
    with pytest.raises(ValueError, match="0 samples"):
        softmax.prediction_weights(model, x[:0])


def test_multi_input_models_take_a_list_or_a_dict():
    a, b = keras.Input((2,), name="a"), keras.Input((3,), name="b")
    h = keras.layers.Concatenate(name="cat")([a, b])
    out = keras.layers.Dense(K, activation="softmax", name="head")(h)
    model = keras.Model([a, b], out, name="two_in")
    xa = np.ones((4, 2), "float32")
    xb = np.arange(12, dtype="float32").reshape(4, 3)
    pw = softmax.prediction_weights(model, [xa, xb])
    assert pw.features.shape == (4, 5)
    assert np.array_equal(pw.features, np.concatenate([xa, xb], axis=1))
    by_name = softmax.prediction_weights(model, {"b": xb, "a": xa})
    assert np.array_equal(by_name.features, pw.features)
    padded = softmax.prediction_weights(model, {"b": xb, "a": xa}, batch_size=3)  # 3 + 1 (+2 pad)
    assert np.array_equal(padded.features, pw.features)
    assert np.array_equal(
        softmax.logits(model, {"a": xa, "b": xb}), softmax.logits(model, [xa, xb])
    )
    with pytest.raises(ValueError, match=r"takes 2 input\(s\) \['a', 'b'\]; .* holds 1 array"):
        softmax.prediction_weights(model, xa)
    with pytest.raises(ValueError, match=r"inputs named \['a', 'b'\]; .* keys \['a', 'c'\]"):
        softmax.prediction_weights(model, {"a": xa, "c": xb})


def test_dense_on_the_model_input_gives_x_as_features():
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(K, name="head")(inputs), name="logreg")
    x, _ = data()
    assert np.array_equal(softmax.prediction_weights(model, x).features, x)


def test_a_head_on_images_is_refused_and_train_classes_needs_one_vector_per_sample():
    images = keras.Input((3, 3, 4), name="x")
    model = keras.Model(images, keras.layers.Dense(K, name="per_pixel")(images), name="pixels")
    with pytest.raises(ValueError, match=r"'per_pixel' gets inputs of shape \(None, 3, 3, 4\)"):
        softmax.prediction_weights(model, np.zeros((2, 3, 3, 4)))
    inputs = keras.Input((3, 4), name="x")
    model = keras.Model(inputs, keras.layers.Dense(K, name="per_step")(inputs), name="steps")
    with pytest.raises(ValueError, match="this helper needs one feature vector per sample"):
        softmax.train_classes(model, np.zeros((2, 3, 4)), np.zeros(2, dtype=int), [0])


def test_non_softmax_head_is_refused():
    model = sequential(activation="sigmoid")
    with pytest.raises(ValueError, match=r"'head' \(Dense\) with activations \['sigmoid'\]"):
        softmax.prediction_weights(model, np.zeros((2, 4)))
    double = sequential(keras.layers.Softmax(name="p"), activation="softmax")
    with pytest.raises(ValueError, match="one softmax"):
        softmax.prediction_weights(double, np.zeros((2, 4)))


# ---- train_classes -------------------------------------------------------------------------------

CHOSEN, FROZEN = [1, 3], [0, 2, 4]


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.Adam(0.05),
        lambda: keras.optimizers.SGD(0.5, momentum=0.9),
        lambda: keras.optimizers.AdamW(0.05, weight_decay=0.5),
        lambda: keras.optimizers.RMSprop(0.05),
    ],
    ids=["adam", "sgd_momentum", "adamw_decay", "rmsprop"],
)
def test_train_classes_keeps_other_classes_bit_identical(make_optimizer):
    model = trained("softmax")
    x, y = data()
    body_before = [w.copy() for w in model.get_layer("hidden").get_weights()]
    kernel0, bias0 = softmax.class_weights(model)
    logits0 = softmax.logits(model, x)
    history = softmax.train_classes(model, x, y, CHOSEN, optimizer=make_optimizer(), epochs=3)
    assert len(history.history["loss"]) == 3
    kernel1, bias1 = softmax.class_weights(model)
    assert np.array_equal(kernel1[:, FROZEN], kernel0[:, FROZEN])
    assert np.array_equal(bias1[FROZEN], bias0[FROZEN])
    assert (kernel1[:, CHOSEN] != kernel0[:, CHOSEN]).all()
    assert (bias1[CHOSEN] != bias0[CHOSEN]).all()
    for before, after in zip(body_before, model.get_layer("hidden").get_weights(), strict=True):
        assert np.array_equal(before, after)
    logits1 = softmax.logits(model, x)
    assert np.array_equal(logits1[:, FROZEN], logits0[:, FROZEN])
    assert not np.allclose(logits1[:, CHOSEN], logits0[:, CHOSEN])


def test_train_classes_lowers_the_loss_and_accepts_one_hot():
    model = trained(None, keras.layers.Activation("softmax", name="probs"))
    x, y = data()
    one_hot = np.eye(K, dtype="float32")[y]
    history = softmax.train_classes(model, x, one_hot, [0, 1, 2, 3, 4], epochs=4, batch_size=64)
    losses = history.history["loss"]
    assert losses[-1] < losses[0]


def test_train_classes_bad_arguments(model):
    x, y = data()
    with pytest.raises(ValueError, match="classes is empty"):
        softmax.train_classes(model, x, y, [])
    with pytest.raises(ValueError, match=r"classes \[7\] are out of range .*0\.\.4"):
        softmax.train_classes(model, x, y, [1, 7])
    with pytest.raises(
        ValueError, match=r"labels in y \[5, 5, 7, 9, 6\] are out of range for 'head' with 5"
    ):
        softmax.train_classes(model, x, y + K, [1])
    with pytest.raises(ValueError, match=r"one-hot rows \(n, 5\); got shape \(64, 3\)"):
        softmax.train_classes(model, x, np.zeros((64, 3)), [1])
    with pytest.raises(ValueError, match="epochs must be a positive int; got 0"):
        softmax.train_classes(model, x, y, [1], epochs=0)
    with pytest.raises(TypeError, match="epochs must be a positive int; got bool True"):
        softmax.train_classes(model, x, y, [1], epochs=True)
    with pytest.raises(ValueError, match="x has 64 samples but y has 10"):
        softmax.train_classes(model, x, y[:10], [1])


def test_train_classes_refuses_heads_with_regularizers_or_constraints():
    x, y = data()
    regularized = sequential(activation="softmax")
    regularized.get_layer("head").kernel_regularizer = keras.regularizers.L2(0.1)
    with pytest.raises(ValueError, match=r"ignore its dense.kernel_regularizer; set them to None"):
        softmax.train_classes(regularized, x, y, [1])
    keras.backend.clear_session()
    inputs = keras.Input((4,), name="x")
    head = keras.layers.Dense(K, name="head", kernel_constraint="non_neg", bias_regularizer="l1")
    model = keras.Model(inputs, head(inputs), name="extras")
    with pytest.raises(ValueError, match=r"dense.bias_regularizer, dense.kernel_constraint;"):
        softmax.train_classes(model, x, y, [1])
    later = sequential(activation="softmax")
    later.get_layer("head").kernel.constraint = keras.constraints.NonNeg()  # set on the variable
    kernel0 = softmax.class_weights(later)[0].copy()
    with pytest.raises(ValueError, match=r"ignore its dense.kernel.constraint;"):
        softmax.train_classes(later, x, y, [1])
    assert np.array_equal(softmax.class_weights(later)[0], kernel0)  # refused before any work


def test_classes_logits_and_contributions_agree_on_a_float32_near_tie():
    """One logits computation: a tie in float32 (z1 - z0 = 1e-8 in float64) picks one class."""
    inputs = keras.Input((2,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(inputs), name="tie")
    model.get_layer("head").set_weights([np.array([[1.0, 1.0], [0.0, 1.0]]), np.zeros(2)])
    x = np.array([[1.0, 1e-8]], "float32")
    z = softmax.logits(model, x)
    classes = softmax.prediction_weights(model, x).classes
    assert z[0, 0] == z[0, 1]  # equal in float32
    assert np.array_equal(classes, z.argmax(axis=1))
    default = softmax.logit_contributions(model, x)
    assert np.array_equal(default, softmax.logit_contributions(model, x, classes=classes))


# ---- the mistakes the notebook warns about -------------------------------------------------------


def test_kernel_row_is_one_feature_for_every_class_not_a_class(model):
    """kernel[0] is feature 0's weight for each of the K classes; class 0 is kernel[:, 0]."""
    x, _ = data()
    kernel, bias = model.get_layer("head").get_weights()
    assert kernel.shape == (D, K) and D != K
    assert kernel[0].shape == (K,)  # the mistake: one weight per CLASS
    column, b0 = softmax.class_weights(model, 0)
    assert column.shape == (D,) and np.array_equal(column, kernel[:, 0])
    h, z = features_of(model, x), softmax.logits(model, x)
    assert np.allclose(h @ column + b0, z[:, 0], atol=1e-5)  # the column gives class 0's logit
    with pytest.raises(ValueError):
        h @ kernel[0]  # a row does not even fit the features


def test_class_weight_does_not_freeze_other_classes():
    """fit(class_weight={frozen: 0}) weighs samples; every column still gets a gradient."""
    model = trained("softmax")
    x, y = data()
    kernel0, _ = softmax.class_weights(model)
    weights = {c: (1.0 if c in CHOSEN else 0.0) for c in range(K)}
    body0 = [w.copy() for w in model.get_layer("hidden").get_weights()]
    model.fit(x, y, class_weight=weights, epochs=1, batch_size=64, verbose=0)
    kernel1, _ = softmax.class_weights(model)
    assert not np.array_equal(kernel1[:, FROZEN], kernel0[:, FROZEN])
    body1 = model.get_layer("hidden").get_weights()
    assert not all(np.array_equal(a, b) for a, b in zip(body0, body1, strict=True))


def test_cross_entropy_gradient_reaches_every_logit():
    """Why class_weight cannot freeze columns: d CE / d z_j = p_j - y_j is non-zero for all j."""
    z = np.array([2.0, -1.0, 0.5, 3.0, -2.0])
    label, step = 3, 1e-6

    def cross_entropy(v):
        return np.log(np.exp(v - v.max()).sum()) + v.max() - v[label]

    numeric = np.array(
        [
            (cross_entropy(z + step * e) - cross_entropy(z - step * e)) / (2 * step)
            for e in np.eye(K)
        ]
    )
    analytic = np.exp(z) / np.exp(z).sum() - np.eye(K)[label]
    assert np.allclose(numeric, analytic, atol=1e-6)
    assert (analytic != 0).all()


@pytest.mark.parametrize(
    "make_optimizer, warm, frozen_moves",
    [
        (lambda: keras.optimizers.SGD(0.1), False, False),
        (lambda: keras.optimizers.SGD(0.1), True, False),
        (lambda: keras.optimizers.RMSprop(0.1), True, False),
        (lambda: keras.optimizers.Adam(0.1), False, False),
        (lambda: keras.optimizers.Adam(0.1), True, True),
        (lambda: keras.optimizers.SGD(0.1, momentum=0.9), True, True),
        (lambda: keras.optimizers.AdamW(0.1), False, True),
    ],
    ids=[
        "sgd",
        "sgd_warm",
        "rmsprop_warm",
        "adam_fresh",
        "adam_warm",
        "sgd_momentum_warm",
        "adamw_fresh",
    ],
)
def test_zero_gradient_moves_weights_with_decay_or_momentum(make_optimizer, warm, frozen_moves):
    """Masking gradients to zero is not enough: momentum and weight decay move them anyway."""
    variable = keras.Variable(np.ones((3, 4), "float32"), name="kernel")
    optimizer = make_optimizer()
    gradient = np.full((3, 4), 0.5, "float32")
    if warm:
        optimizer.apply_gradients([(gradient, variable)])
    before = variable.numpy().copy()
    mask = np.array([1, 1, 0, 0], "float32")
    optimizer.apply_gradients([(gradient * mask, variable)])
    after = variable.numpy()
    assert not np.array_equal(after[:, :2], before[:, :2])
    assert np.array_equal(after[:, 2:], before[:, 2:]) is not frozen_moves


class KeepColumns(keras.constraints.Constraint):
    """Copy the frozen columns back after every optimizer step."""

    def __init__(self, values: np.ndarray, frozen: list[int]):
        self.values = keras.ops.convert_to_tensor(values)
        mask = np.zeros(values.shape, "float32")
        mask[:, frozen] = 1.0
        self.mask = keras.ops.convert_to_tensor(mask)

    def __call__(self, w):
        return w * (1.0 - self.mask) + self.values * self.mask


@pytest.mark.parametrize("rebuild", ["none", "make_train_function", "compile"])
def test_constraint_set_after_training_needs_a_new_train_function(rebuild):
    """variable.constraint can be set on a trained model; fit uses it once the train function is
    rebuilt (the cached one ignores it). Only a layer's kernel_constraint is in its config."""
    model = trained("softmax")
    x, y = data()
    model.compile(
        optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.5),
        loss="sparse_categorical_crossentropy",
    )
    model.fit(x, y, epochs=1, verbose=0)  # the train function now exists
    dense = model.get_layer("head")
    kernel0 = dense.kernel.numpy().copy()
    dense.kernel.constraint = KeepColumns(kernel0, FROZEN)
    if rebuild == "make_train_function":
        model.make_train_function(force=True)
    elif rebuild == "compile":
        model.compile(
            optimizer=keras.optimizers.AdamW(0.05, weight_decay=0.5),
            loss="sparse_categorical_crossentropy",
        )
    model.fit(x, y, epochs=2, verbose=0)
    kernel1 = dense.kernel.numpy()
    assert (kernel1[:, CHOSEN] != kernel0[:, CHOSEN]).all()
    assert np.array_equal(kernel1[:, FROZEN], kernel0[:, FROZEN]) is (rebuild != "none")
    assert dense.get_config()["kernel_constraint"] is None  # not saved with the model


def test_set_class_weights_refuses_repeated_classes_and_changes_nothing():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="out")])
    before = model.get_layer("out").kernel.numpy().copy()
    two_columns = np.stack([np.ones(3), 2 * np.ones(3)], axis=1)
    with pytest.raises(ValueError, match=r"classes repeats \[0\]"):
        softmax.set_class_weights(model, [0, 0], two_columns, np.zeros(2))
    with pytest.raises(ValueError, match=r"kernel holds 1 non-finite value"):
        softmax.set_class_weights(model, [1], np.array([1.0, np.nan, 0.0]))
    np.testing.assert_array_equal(model.get_layer("out").kernel.numpy(), before)


@pytest.mark.parametrize("where", ["x", "y"])
def test_train_classes_refuses_nan_in_x_or_one_hot_y_before_training(where):
    keras.utils.set_random_seed(0)
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, keras.layers.Dense(4, activation="softmax", name="out")(inp))
    x, y = np.ones((8, 3), "float32"), np.eye(4, dtype="float32")[np.arange(8) % 4]
    (x if where == "x" else y)[5, 1] = np.nan
    before = model.get_layer("out").kernel.numpy().copy()
    with pytest.raises(ValueError, match=rf"^{where} holds 1 non-finite value .*nan at \[5, 1\]"):
        softmax.train_classes(model, x, y, classes=[1, 2])
    np.testing.assert_array_equal(model.get_layer("out").kernel.numpy(), before)


# ---- a Softmax called with mask= ---------------------------------------------------------------


def masked_softmax_classifier() -> keras.Model:
    """Notebook 03's pattern: logits from a Dense, then Softmax(mask=allowed)."""
    x = keras.Input((4,), name="x")
    allowed = keras.Input((K,), dtype="bool", name="allowed")
    h = keras.layers.Dense(D, activation="relu", name="hidden")(x)
    logits_out = keras.layers.Dense(K, name="head")(h)
    probs = keras.layers.Softmax(name="probs")(logits_out, mask=allowed)
    return keras.Model([x, allowed], probs, name="masked")


def test_a_softmax_called_with_a_mask_does_not_hide_the_dense_behind_it():
    model = masked_softmax_classifier()
    head = softmax.head_call(model)
    assert head.dense is model.get_layer("head")
    assert [layer.name for layer in head.after] == ["probs"]
    assert softmax.output_layer(model) is model.get_layer("head")
    kernel, bias = softmax.class_weights(model, [1, 3])
    np.testing.assert_array_equal(kernel, model.get_layer("head").kernel.numpy()[:, [1, 3]])
    np.testing.assert_array_equal(bias, model.get_layer("head").bias.numpy()[[1, 3]])
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    allowed = np.ones((6, K), dtype=bool)
    z = softmax.logits(model, [x, allowed])
    want = keras.Model(model.inputs, model.get_layer("head").output).predict(
        [x, allowed], verbose=0
    )
    np.testing.assert_allclose(z, want, rtol=1e-5, atol=1e-6)


# ---- per-token heads (taggers) ------------------------------------------------------------------

TOKENS = np.array([[3, 1, 4, 0, 0], [2, 7, 1, 8, 2], [5, 0, 0, 0, 0]], dtype="int32")


def tagger(time_distributed: bool) -> keras.Model:
    """Embedding(mask_zero=True) -> LSTM(return_sequences) -> per-token softmax head."""
    ids = keras.Input((5,), dtype="int32", name="ids")
    h = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(ids)
    h = keras.layers.LSTM(D, return_sequences=True, name="lstm")(h)
    dense = keras.layers.Dense(K, activation="softmax", name="head")
    out = keras.layers.TimeDistributed(dense, name="td")(h) if time_distributed else dense(h)
    return keras.Model(ids, out, name="tagger")


@pytest.mark.parametrize("time_distributed", [False, True])
def test_a_tagger_head_gives_per_token_results_with_padding_as_nan(time_distributed):
    model = tagger(time_distributed)
    head = model.get_layer("td").layer if time_distributed else model.get_layer("head")
    assert softmax.output_layer(model) is head  # TimeDistributed(Dense) counts as its Dense
    real = TOKENS != 0
    probs = model.predict(TOKENS, verbose=0)  # (3, 5, K)
    h = keras.Model(model.inputs, model.get_layer("lstm").output).predict(TOKENS, verbose=0)
    kernel, bias = softmax.class_weights(model)
    z = softmax.logits(model, TOKENS)
    assert z.shape == (3, 5, K)
    assert (np.isnan(z).all(axis=-1) == ~real).all() and np.isfinite(z[real]).all()
    np.testing.assert_allclose(z[real], (h @ kernel + bias)[real], rtol=1e-5, atol=1e-6)
    pw = softmax.prediction_weights(model, TOKENS)
    np.testing.assert_array_equal(pw.real, real)
    assert pw.classes.shape == (3, 5) and pw.kernel_rows.shape == (3, 5, D)
    np.testing.assert_array_equal(pw.classes[real], probs.argmax(axis=-1)[real])
    assert (pw.classes[~real] == -1).all()
    np.testing.assert_allclose(pw.probabilities[real], probs.max(axis=-1)[real], atol=1e-5)
    assert np.isnan(pw.probabilities[~real]).all() and np.isnan(pw.bias[~real]).all()
    np.testing.assert_array_equal(pw.kernel_rows[real], kernel.T[pw.classes[real]])
    np.testing.assert_array_equal(pw.features, h)
    contributions = softmax.logit_contributions(model, TOKENS)
    assert contributions.shape == (3, 5, D) and np.isnan(contributions[~real]).all()
    chosen = np.take_along_axis(z, pw.classes[..., None].clip(0), -1)[..., 0]
    np.testing.assert_allclose(
        (contributions.sum(axis=-1) + pw.bias)[real], chosen[real], rtol=1e-5, atol=1e-5
    )
    one_class = softmax.logit_contributions(model, TOKENS, classes=2)
    np.testing.assert_allclose(one_class[real], (h * kernel[:, 2])[real], rtol=1e-6)
    per_token = softmax.logit_contributions(model, TOKENS, classes=np.full((3, 5), 4))
    np.testing.assert_allclose(per_token[real], (h * kernel[:, 4])[real], rtol=1e-6)
    with pytest.raises(ValueError, match=r"an array of shape \(3, 5\) .* got shape \(3, 4\)"):
        softmax.logit_contributions(model, TOKENS, classes=np.zeros((3, 4), dtype=int))


def test_a_tagger_without_a_mask_has_every_token_real():
    steps = keras.Input((5, 4), name="steps")
    model = keras.Model(steps, keras.layers.Dense(K, name="head")(steps), name="plain_tagger")
    x = np.random.default_rng(2).normal(size=(3, 5, 4)).astype("float32")
    pw = softmax.prediction_weights(model, x)
    assert pw.real.all() and pw.classes.shape == (3, 5)
    np.testing.assert_array_equal(pw.classes, model.predict(x, verbose=0).argmax(axis=-1))


# ---- non-finite logits -------------------------------------------------------------------------


def test_prediction_weights_refuses_nan_logits_naming_the_rows():
    features = keras.Input((4,), name="x")  # no relu before the head, which could hide a NaN
    head = keras.layers.Dense(K, activation="softmax", name="head")
    model = keras.Model(features, head(features), name="linear")
    x = np.random.default_rng(3).normal(size=(5, 4)).astype("float32")
    x[1, 0] = np.nan
    x[3, 2] = np.inf
    with pytest.raises(ValueError, match=r"logits of 2 sample row\(s\) hold NaN or inf.*\[1, 3\]"):
        softmax.prediction_weights(model, x)
    with pytest.raises(ValueError, match=r"logit_contributions: .* rows \[1, 3\]"):
        softmax.logit_contributions(model, x)
    assert np.isnan(softmax.logits(model, x)[1]).all()  # logits themselves are reported as is
    assert softmax.logit_contributions(model, x[[0, 2]]).shape == (2, 4)


@pytest.mark.filterwarnings("ignore:Layer 'enc'")  # Keras' own, about the model
def test_the_head_behind_a_masked_nested_encoder_is_found():
    tok = keras.Input((5,), dtype="int32", name="tok")
    embedded = keras.layers.Embedding(10, 4, mask_zero=True, name="emb")(tok)
    enc_in = keras.Input((5, 4), name="enc_in")
    encoder = keras.Model(enc_in, keras.layers.LSTM(3, name="lstm")(enc_in), name="enc")
    head = keras.layers.Dense(2, activation="softmax", name="head")
    model = keras.Model(tok, head(encoder(embedded)), name="masked_nested")
    assert softmax.output_layer(model) is head
    kernel, bias = softmax.class_weights(model)
    assert kernel.shape == (3, 2) and bias.shape == (2,)
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0]], dtype="int32")
    pw = softmax.prediction_weights(model, ids)
    np.testing.assert_array_equal(pw.classes, model.predict(ids, verbose=0).argmax(axis=1))


def test_train_classes_refuses_rows_that_are_not_one_hot(model):
    x, y = data()
    rows = np.eye(K, dtype="float32")[y]
    rows[3] = 0.0
    rows[3, :2] = 0.5
    with pytest.raises(ValueError, match=r"y row 3 is \[0.5, 0.5, 0.0, 0.0, 0.0\]: one-hot"):
        softmax.train_classes(model, x, rows, [1])
    rows[3] = np.eye(K)[1] * 2
    with pytest.raises(ValueError, match=r"y row 3 is \[0.0, 2.0, 0.0, 0.0, 0.0\]"):
        softmax.train_classes(model, x, rows, [1])


@pytest.mark.parametrize("activation", ["softmax", None])
def test_a_one_unit_head_is_refused_where_classes_are_chosen(activation):
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(1, activation=activation, name="head")(inputs))
    x, _ = data(8)
    with pytest.raises(ValueError, match="'head' has 1 unit: a softmax over one class is 1.0"):
        softmax.train_classes(model, x, np.zeros(8, int), [0])
    with pytest.raises(ValueError, match="prediction_weights: the head 'head' has 1 unit"):
        softmax.prediction_weights(model, x)
    assert softmax.logits(model, x).shape == (8, 1)  # its one logit is still there
    sigmoid = keras.Model(inputs, keras.layers.Dense(1, activation="sigmoid", name="s")(inputs))
    with pytest.raises(ValueError, match=r"with activations \['sigmoid'\]"):  # not a softmax
        softmax.prediction_weights(sigmoid, x)


def head_models() -> dict[str, keras.Model]:
    """Heads the helpers once refused: called with inputs=, keras.ops.softmax, a nested model."""
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(6, activation="relu", name="h")(x)
    by_keyword = keras.layers.Dense(K, activation="softmax", name="head")(inputs=h)
    ops_softmax = keras.layers.Dense(K, activation=keras.ops.softmax, name="head")(h)
    d_in = keras.Input((6,), name="d_in")
    inner = keras.layers.Dense(6, activation="relu", name="inner")(d_in)
    decoder = keras.Model(d_in, keras.layers.Dense(K, name="head")(inner), name="decoder")
    nested = keras.layers.Softmax(name="probs")(decoder(h))
    return {
        "keyword": keras.Model(x, by_keyword),
        "ops_softmax": keras.Model(x, ops_softmax),
        "nested": keras.Model(x, nested),
    }


@pytest.mark.parametrize("kind", ["keyword", "ops_softmax", "nested"])
def test_heads_by_keyword_with_ops_softmax_or_inside_a_nested_model_are_found(kind):
    model = head_models()[kind]
    x, _ = data(8)
    assert softmax.output_layer(model).name == "head"
    assert softmax.applies_softmax(softmax.output_layer(model)) == (kind != "nested")
    pw = softmax.prediction_weights(model, x)
    probs = model.predict(x, verbose=0)
    np.testing.assert_array_equal(pw.classes, probs.argmax(axis=-1))
    np.testing.assert_allclose(pw.probabilities, probs.max(axis=-1), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_softmax_rows(softmax.logits(model, x)), probs, atol=1e-5)


# ---- a pointwise Conv head (MobileNet v1/v3: Conv2D(k, 1) -> Reshape/Flatten -> softmax) -------


def conv_head(
    squeeze: keras.layers.Layer, data_format: str = "channels_last", **act
) -> keras.Model:
    shape = (6, 6, 3) if data_format == "channels_last" else (3, 6, 6)
    inputs = keras.Input(shape, name="image")
    h = keras.layers.Conv2D(D, 3, activation="relu", data_format=data_format)(inputs)
    h = keras.layers.GlobalAveragePooling2D(keepdims=True, data_format=data_format)(h)
    h = keras.layers.Dropout(0.1)(h)
    z = keras.layers.Conv2D(K, 1, data_format=data_format, name="conv_preds", **act)(h)
    if not act:
        z = squeeze(z)
        z = keras.layers.Activation("softmax", name="predictions")(z)
    else:
        z = squeeze(z)
    return keras.Model(inputs, z, name="mobile")


IMAGES = np.random.default_rng(1).normal(size=(7, 6, 6, 3)).astype("float32")


@pytest.mark.parametrize(
    "squeeze", [lambda: keras.layers.Reshape((K,)), lambda: keras.layers.Flatten()]
)
def test_pointwise_conv_head_gives_the_models_logits_and_weights(squeeze):
    model = conv_head(squeeze())
    conv, after = softmax.output_head(model)
    assert conv.name == "conv_preds" and [layer.name for layer in after] == ["predictions"]
    assert not softmax.applies_softmax(conv)
    kernel, bias = softmax.class_weights(model)
    assert kernel.shape == (D, K) and bias.shape == (K,)
    softmax.set_class_weights(model, [0, 3], np.ones((D, 2)), np.array([0.5, -0.5]))
    assert np.array_equal(np.asarray(conv.kernel)[0, 0, :, 3], np.ones(D))
    z = softmax.logits(model, IMAGES)
    probs = model.predict(IMAGES, verbose=0)
    np.testing.assert_allclose(softmax._softmax(z.astype(np.float64)), probs, atol=1e-6)
    pw = softmax.prediction_weights(model, IMAGES)
    assert np.array_equal(pw.classes, probs.argmax(axis=1)) and pw.features.shape == (7, D)
    np.testing.assert_allclose(pw.probabilities, probs.max(axis=1), atol=1e-6)
    contributions = softmax.logit_contributions(model, IMAGES)
    np.testing.assert_allclose(contributions.sum(axis=1) + pw.bias, z.max(axis=1), atol=1e-5)


def test_pointwise_conv_head_trains_only_the_chosen_class():
    model = conv_head(keras.layers.Reshape((K,)))
    kernel, bias = softmax.class_weights(model)
    softmax.train_classes(model, IMAGES, np.arange(7) % K, [2], epochs=2, batch_size=4)
    new_kernel, new_bias = softmax.class_weights(model)
    others = [0, 1, 3, 4]
    assert np.array_equal(new_kernel[:, others], kernel[:, others])
    assert np.array_equal(new_bias[others], bias[others]) and new_bias[2] != bias[2]


def test_conv_head_with_its_own_softmax_activation():
    model = conv_head(keras.layers.Flatten(), activation="softmax")
    conv = softmax.output_layer(model)
    assert softmax.applies_softmax(conv)
    probs = model.predict(IMAGES, verbose=0)
    np.testing.assert_allclose(
        softmax.prediction_weights(model, IMAGES).probabilities, probs.max(1), atol=1e-6
    )


def test_conv_head_not_on_a_one_by_one_map_or_not_pointwise_is_refused():
    inputs = keras.Input((6, 6, 3))
    z = keras.layers.Conv2D(K, 1, name="per_pixel")(inputs)  # 6x6 positions: not one class vector
    model = keras.Model(inputs, keras.layers.Activation("softmax")(keras.layers.Flatten()(z)))
    with pytest.raises(ValueError, match="nor a pointwise Conv .* 'flatten.*' \\(Flatten\\)"):
        softmax.output_layer(model)
    h = keras.layers.GlobalAveragePooling2D(keepdims=True)(inputs)
    z = keras.layers.Conv2D(K, 3, padding="same", name="wide")(h)  # kernel 3: not pointwise
    model = keras.Model(inputs, keras.layers.Reshape((K,))(z))
    with pytest.raises(ValueError, match="Its last layers are: 'wide' \\(Conv2D\\)"):
        softmax.logits(model, IMAGES)


def test_channels_first_conv_head_with_softmax_before_the_squeeze_is_refused():
    model = conv_head(keras.layers.Flatten(), data_format="channels_first", activation="softmax")
    with pytest.raises(ValueError, match="channels_first output of 'conv_preds'.*size-1 axis"):
        softmax.output_layer(model)
