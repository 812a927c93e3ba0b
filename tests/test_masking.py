"""helpers.masking: exact zeros, renormalised probabilities, shared weights, zero gradients,
float16, bad masks and weights; plus one test per mistake notebook 03 warns about."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers.masking import (
    DenseLogits,
    MaskedSoftmax,
    class_weight_dict,
    masked_softmax,
    with_class_mask,
)

C = 5


def random_case(rows: int = 64, classes: int = C, seed: int = 0, scale: float = 3.0):
    rng = np.random.default_rng(seed)
    logits = (rng.normal(size=(rows, classes)) * scale).astype("float32")
    mask = rng.random((rows, classes)) < 0.5
    mask[np.arange(rows), rng.integers(0, classes, rows)] = True  # every row allows something
    return logits, mask


def reference(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Softmax over the allowed entries in float64, 0 elsewhere."""
    z = np.where(mask, logits.astype("float64"), -np.inf)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.where(mask, np.exp(z), 0.0)
    return e / e.sum(axis=-1, keepdims=True)


def classifier(ending: str, seed: int = 0) -> keras.Model:
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    if ending == "dense_softmax":
        out = keras.layers.Dense(C, activation="softmax", name="head")(h)
    else:
        out = keras.layers.Dense(C, name="head")(h)
        if ending == "activation":
            out = keras.layers.Activation("softmax", name="act")(out)
        elif ending == "softmax_layer":
            out = keras.layers.Softmax(name="sm")(out)
    return keras.Model(x, out, name="clf")


def probabilities(model: keras.Model, ending: str, x: np.ndarray) -> np.ndarray:
    out = keras.ops.convert_to_numpy(model(x))
    return keras.ops.convert_to_numpy(keras.ops.softmax(out)) if ending == "logits" else out


ENDINGS = ["logits", "dense_softmax", "activation", "softmax_layer"]


# ---------------------------------------------------------------- masked_softmax


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_masked_entries_are_exactly_zero_and_allowed_sum_to_one(dtype):
    logits, mask = random_case()
    p = keras.ops.convert_to_numpy(masked_softmax(logits.astype(dtype), mask))
    assert p.dtype == dtype
    assert np.all(p[~mask] == 0.0)
    assert np.all(p[mask] > 0.0)
    tol = 1e-6 if dtype == "float32" else 2e-3
    np.testing.assert_allclose(p.astype("float64").sum(-1), 1.0, atol=tol)
    np.testing.assert_allclose(p, reference(logits, mask), atol=tol)


def test_fully_masked_row_gives_zeros_not_nan_or_uniform():
    logits, mask = random_case(rows=4)
    mask[2] = False
    p = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    assert np.all(p[2] == 0.0)
    np.testing.assert_allclose(p[[0, 1, 3]].sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("dtype", ["float16", "float32"])
def test_extreme_logits_stay_finite(dtype):
    big = float(np.finfo(dtype).max) / 2
    logits = np.array([[big, -big, 1.0], [-big, -big, 0.0], [big, big, big]], dtype)
    mask = np.array([[0, 1, 1], [1, 1, 0], [0, 0, 0]], bool)
    p = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    assert np.all(np.isfinite(p))
    np.testing.assert_array_equal(p, np.array([[0, 0, 1], [0.5, 0.5, 0], [0, 0, 0]], dtype))


def test_float16_where_keras_softmax_loses_the_row():
    # Keras 3.15's Softmax replaces masked logits by -3e4 in float16 (-1e9 in float32). Allowed
    # logits below that lose to the masked ones, and the row comes back all zeros.
    logits = np.array([[-40000.0, -40000.0, 0.0]], "float16")
    mask = np.array([[True, True, False]])
    keras_p = keras.ops.convert_to_numpy(keras.layers.Softmax(dtype="float16")(logits, mask=mask))
    ours = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    assert keras_p.sum() == 0.0
    np.testing.assert_array_equal(ours, np.array([[0.5, 0.5, 0.0]], "float16"))


def test_matches_keras_softmax_layer_with_mask_on_ordinary_logits():
    logits, mask = random_case()
    mask[3] = False
    keras_p = keras.ops.convert_to_numpy(keras.layers.Softmax()(logits, mask=mask))
    ours = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    np.testing.assert_allclose(ours, keras_p, atol=1e-6)
    assert np.all(keras_p[~mask] == 0.0) and np.all(keras_p[3] == 0.0)


def test_numeric_mask_uses_keras_rule_and_broadcasts():
    logits, _ = random_case(rows=3)
    row = np.array([1.0, 0.0, 1.0, 0.0, 0.0], "float32")
    for mask in (row, row[None, :], np.tile(row, (3, 1)), row.astype(bool)):
        p = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
        np.testing.assert_allclose(p, reference(logits, np.tile(row > 0.5, (3, 1))), atol=1e-6)


def test_axis_other_than_last():
    logits, mask = random_case(rows=6)
    p = keras.ops.convert_to_numpy(masked_softmax(logits.T, mask.T, axis=0))
    np.testing.assert_allclose(p.T, reference(logits, mask), atol=1e-6)


def test_masked_logits_get_exactly_zero_gradient_even_when_huge(gradients):
    z = keras.Variable(np.array([[1.0, 80.0, 3.0, 1e30], [2.0, 0.5, -1.0, 4.0]], "float32"))
    mask = np.array([[1, 0, 1, 0], [0, 0, 0, 0]], "float32")

    def loss():
        p = masked_softmax(z, mask)
        return -keras.ops.log(p[0, 0]) + keras.ops.sum(p[1])

    _, (grad,) = gradients(loss, [z])
    assert np.all(np.isfinite(grad))
    assert np.all(grad[mask == 0] == 0.0)
    # d(-log p0)/dz = p - onehot over the allowed entries {0, 2}
    p0 = reference(np.array([[1.0, 3.0]]), np.ones((1, 2), bool))[0]
    np.testing.assert_allclose(grad[0, [0, 2]], p0 - [1.0, 0.0], atol=1e-6)


def test_bad_mask_shape_names_both_shapes():
    logits = np.zeros((2, 3), "float32")
    with pytest.raises(ValueError, match=r"mask of shape \(2, 4\).*logits of shape \(2, 3\)"):
        masked_softmax(logits, np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"mask of shape \(1, 2, 3\)"):
        masked_softmax(logits, np.ones((1, 2, 3)))


def test_bad_mask_shape_suggests_the_shared_shape_along_the_softmax_axis():
    logits = np.zeros((5, 2), "float32")
    with pytest.raises(ValueError, match=r"e\.g\. \(5, 1\): one mask along axis=0"):
        masked_softmax(logits, np.ones(5), axis=0)
    with pytest.raises(ValueError, match=r"e\.g\. \(1, 2\): one mask along axis=1"):
        masked_softmax(logits, np.ones(5), axis=-1)
    # the suggested shapes are valid
    for axis, shared in ((0, (5, 1)), (1, (1, 2))):
        p = keras.ops.convert_to_numpy(masked_softmax(logits, np.ones(shared), axis=axis))
        np.testing.assert_allclose(p.sum(axis), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    ("mask", "got"),
    [
        (np.array([["yes", "no", "yes"]]), "str"),
        ([["a", "b", "c"]], "str"),
        (tf.constant([["a", "b", "c"]]), "string"),
        (np.array([[None, 1, 1]], object), "object"),
    ],
)
def test_mask_of_strings_or_objects_is_refused_with_the_valid_dtypes(mask, got):
    with pytest.raises(
        TypeError, match=rf"mask must be boolean or numeric \(bool, int or float.*got {got}"
    ):
        masked_softmax(np.zeros((1, 3), "float32"), mask)


def test_integer_and_list_masks_are_accepted():
    logits, mask = random_case(rows=4)
    for m in (mask.astype("int32"), mask.astype("uint8"), mask.astype(int).tolist()):
        p = keras.ops.convert_to_numpy(masked_softmax(logits, m))
        np.testing.assert_allclose(p, reference(logits, mask), atol=1e-6)


def test_bad_axis_and_dtype():
    with pytest.raises(ValueError, match=r"axis=2 is out of range.*\[-2, 1\]"):
        masked_softmax(np.zeros((2, 3), "float32"), np.ones((2, 3)), axis=2)
    with pytest.raises(TypeError, match="logits must be floating point.*got int32"):
        masked_softmax(np.zeros((2, 3), "int32"), np.ones((2, 3)))


def test_layer_works_symbolically_and_round_trips_config():
    logits_in, allowed_in = keras.Input((C,), name="z"), keras.Input((C,), name="allowed")
    out = MaskedSoftmax(name="probs")(logits_in, allowed_in)
    assert tuple(out.shape) == (None, C)
    model = keras.Model([logits_in, allowed_in], out, name="m")
    logits, mask = random_case(rows=7)
    p = keras.ops.convert_to_numpy(model([logits, mask.astype("float32")]))
    np.testing.assert_allclose(p, reference(logits, mask), atol=1e-6)
    clone = MaskedSoftmax.from_config(MaskedSoftmax(axis=0, name="p").get_config())
    assert clone.axis == 0 and clone.name == "p"


# ---------------------------------------------------------------- with_class_mask


@pytest.mark.parametrize("ending", ENDINGS)
def test_wrapped_model_renormalises_original_over_allowed(ending):
    model = classifier(ending)
    wrapped = with_class_mask(model)
    x = np.random.default_rng(1).normal(size=(16, 4)).astype("float32")
    _, mask = random_case(rows=16, seed=2)
    mask[5] = False
    p = keras.ops.convert_to_numpy(wrapped([x, mask.astype("float32")]))
    orig = probabilities(model, ending, x)
    renorm = np.where(mask, orig, 0.0)
    renorm[mask.any(1)] /= renorm[mask.any(1)].sum(-1, keepdims=True)
    np.testing.assert_allclose(p, renorm, atol=1e-6)
    assert np.all(p[~mask] == 0.0)
    assert np.all(p[5] == 0.0)
    np.testing.assert_allclose(np.delete(p, 5, axis=0).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("ending", ENDINGS)
def test_wrapped_model_shares_the_same_variable_objects(ending):
    model = classifier(ending)
    wrapped = with_class_mask(model)
    assert {id(v) for v in wrapped.weights} == {id(v) for v in model.weights}
    assert len(wrapped.weights) == len(model.weights) == 4
    assert [i.name for i in wrapped.inputs] == ["x", "allowed_classes"]


def test_training_the_wrapper_trains_the_original_and_masked_columns_get_zero_gradient(gradients):
    model = classifier("dense_softmax")
    wrapped = with_class_mask(model)
    head = model.get_layer("head")
    x = np.random.default_rng(3).normal(size=(8, 4)).astype("float32")
    allowed = np.zeros((8, C), "float32")
    allowed[:, [0, 2, 3]] = 1.0  # classes 1 and 4 are never allowed
    y = np.array([0, 2, 3, 0, 2, 3, 0, 2])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    loss, (kernel_grad, bias_grad) = gradients(
        lambda: loss_fn(y, wrapped([x, allowed])), [head.kernel, head.bias]
    )
    assert np.isfinite(loss)
    assert np.all(kernel_grad[:, [1, 4]] == 0.0) and np.all(bias_grad[[1, 4]] == 0)
    assert np.abs(kernel_grad[:, [0, 2, 3]]).max() > 0

    before = np.asarray(head.kernel).copy()
    wrapped.compile(optimizer=keras.optimizers.SGD(0.5), loss="sparse_categorical_crossentropy")
    history = wrapped.fit([x, allowed], y, batch_size=8, epochs=3, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))
    after = np.asarray(model.get_layer("head").kernel)  # read through the ORIGINAL model
    assert np.all(after[:, [1, 4]] == before[:, [1, 4]])
    assert not np.allclose(after[:, [0, 2, 3]], before[:, [0, 2, 3]])


# Keras' own .keras saving (any model, e.g. a plain Sequential) raises this numpy 2 notice.
KERAS_SAVE_NOTICE = (
    "ignore:__array__ implementation doesn't accept a copy keyword:DeprecationWarning"
)


@pytest.mark.filterwarnings(KERAS_SAVE_NOTICE)
@pytest.mark.parametrize("ending", ENDINGS)
def test_wrapper_saves_and_loads_with_its_weights(ending, tmp_path):
    model = classifier(ending)
    rng = np.random.default_rng(12)
    model.set_weights([rng.normal(size=w.shape).astype("float32") for w in model.get_weights()])
    wrapped = with_class_mask(model)
    x = rng.normal(size=(16, 4)).astype("float32")
    _, mask = random_case(rows=16, seed=3)
    path = str(tmp_path / "masked.keras")
    wrapped.save(path)
    keras.backend.clear_session()
    loaded = keras.saving.load_model(path)
    assert [w.path for w in loaded.weights] == [w.path for w in wrapped.weights]
    for a, b in zip(loaded.get_weights(), model.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(
        loaded.predict([x, mask], verbose=0), wrapped.predict([x, mask], verbose=0)
    )
    assert [i.name for i in loaded.inputs] == ["x", "allowed_classes"]


@pytest.mark.filterwarnings(KERAS_SAVE_NOTICE)
def test_model_checkpoint_during_fit_of_a_softmax_dense_classifier(tmp_path):
    # The seed's case: a classifier ending in Dense(..., activation="softmax"), whose wrapper
    # recomputes the logits; a ModelCheckpoint saves it after every epoch.
    model = classifier("dense_softmax")
    wrapped = with_class_mask(model)
    wrapped.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    x = np.random.default_rng(4).normal(size=(8, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2])
    allowed = np.ones((8, C), "float32")
    path = str(tmp_path / "ckpt.keras")
    checkpoint = keras.callbacks.ModelCheckpoint(path)
    wrapped.fit([x, allowed], y, epochs=2, batch_size=8, verbose=0, callbacks=[checkpoint])
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(
        loaded.predict([x, allowed], verbose=0), wrapped.predict([x, allowed], verbose=0), atol=0
    )
    assert loaded.get_layer("head_logits").dense.activation is keras.activations.softmax


def test_dense_logits_config_round_trip_and_type_check():
    head = keras.layers.Dense(3, activation="softmax", name="head")
    layer = DenseLogits(head, name="head_logits")
    layer(keras.Input((4,)))
    clone = DenseLogits.from_config(layer.get_config())
    assert clone.name == "head_logits" and clone.dense.units == 3 and clone.dense.name == "head"
    assert clone.compute_output_shape((None, 4)) == (None, 3)
    with pytest.raises(
        TypeError,
        match="DenseLogits needs a keras.layers.Dense or a pointwise Conv .*; got Softmax",
    ):
        DenseLogits(keras.layers.Softmax())


@pytest.fixture
def mixed_float16():
    keras.backend.clear_session()
    before = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("mixed_float16")
    yield
    keras.mixed_precision.set_global_policy(before)
    assert keras.mixed_precision.global_policy().name == before


@pytest.mark.parametrize("ending", ["dense_softmax", "activation", "logits"])
def test_mixed_precision_wrapper_keeps_the_float32_output_of_the_original(ending, mixed_float16):
    # The usual mixed-precision setup: float16 body, float32 output layer (the Dense itself, or
    # the softmax after it). The wrapper's probabilities are float32 like the original's.
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    if ending == "dense_softmax":
        out = keras.layers.Dense(C, activation="softmax", name="head", dtype="float32")(h)
    elif ending == "activation":
        out = keras.layers.Dense(C, name="head")(h)
        out = keras.layers.Activation("softmax", name="act", dtype="float32")(out)
    else:
        out = keras.layers.Dense(C, name="head", dtype="float32")(h)
    model = keras.Model(x, out, name="clf")
    wrapped = with_class_mask(model)
    xs = np.random.default_rng(5).normal(size=(32, 4)).astype("float32")
    mask = np.ones((32, C), "float32")
    p = keras.ops.convert_to_numpy(wrapped([xs, mask]))
    assert keras.mixed_precision.global_policy().name == "mixed_float16"
    assert p.dtype == "float32" and wrapped.output.dtype == "float32"
    np.testing.assert_allclose(p, probabilities(model, ending, xs), atol=1e-6)


def test_a_different_mask_per_sample_at_prediction_time():
    wrapped = with_class_mask(classifier("logits"))
    x = np.ones((3, 4), "float32")  # the same input three times
    allowed = np.array([[1, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 0, 0, 1]], "float32")
    p = wrapped.predict([x, allowed], verbose=0)
    assert np.all((p > 0) == (allowed > 0))
    assert p[2, 4] == pytest.approx(1.0)


@pytest.mark.parametrize("ending", ["dense_softmax", "softmax_layer"])
def test_shared_output_dense_whose_second_call_makes_the_output(ending):
    # 'head' is called twice; the model's output comes from the SECOND call, so the logits must
    # be taken from that call (its input is 'mix'), not from head.input / head.output (call 0).
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    x = keras.Input((4,), name="x")
    activation = "softmax" if ending == "dense_softmax" else None
    head = keras.layers.Dense(C, activation=activation, name="head")
    mixed = keras.layers.Dense(4, activation="tanh", name="mix")(head(x))
    out = head(mixed)
    if ending == "softmax_layer":
        out = keras.layers.Softmax(name="sm")(out)
    model = keras.Model(x, out, name="twice")
    wrapped = with_class_mask(model)
    xs = np.random.default_rng(6).normal(size=(16, 4)).astype("float32")
    _, mask = random_case(rows=16, seed=7)
    p = keras.ops.convert_to_numpy(wrapped([xs, mask.astype("float32")]))
    orig = keras.ops.convert_to_numpy(model(xs))
    renorm = np.where(mask, orig, 0.0) / np.where(mask, orig, 0.0).sum(-1, keepdims=True)
    np.testing.assert_allclose(p, renorm, atol=1e-6)
    assert {id(v) for v in wrapped.weights} == {id(v) for v in model.weights}


@pytest.mark.filterwarnings(KERAS_SAVE_NOTICE)
def test_saved_wrapper_of_a_shared_softmax_dense_still_shares_it_after_loading(tmp_path):
    # The wrapper uses 'head' twice: for its first call, and inside DenseLogits for the logits of
    # its second call. After a .keras round trip both are still ONE layer with one set of weights.
    keras.backend.clear_session()
    x = keras.Input((4,), name="x")
    head = keras.layers.Dense(C, activation="softmax", name="head")
    out = head(keras.layers.Dense(4, activation="tanh", name="mix")(head(x)))
    wrapped = with_class_mask(keras.Model(x, out, name="twice"))
    wrapped.save(str(tmp_path / "twice.keras"))
    loaded = keras.saving.load_model(str(tmp_path / "twice.keras"))
    assert loaded.get_layer("head_logits").dense is loaded.get_layer("head")
    assert len(loaded.weights) == len(wrapped.weights) == 4
    xs = np.random.default_rng(8).normal(size=(6, 4)).astype("float32")
    mask = np.ones((6, C), "float32")
    np.testing.assert_array_equal(
        keras.ops.convert_to_numpy(loaded([xs, mask])),
        keras.ops.convert_to_numpy(wrapped([xs, mask])),
    )


def test_sequential_classifier():
    keras.backend.clear_session()
    model = keras.Sequential(
        [keras.Input((4,)), keras.layers.Dense(3, name="d"), keras.layers.Softmax(name="s")],
        name="seq",
    )
    wrapped = with_class_mask(model)
    x = np.ones((2, 4), "float32")
    p = keras.ops.convert_to_numpy(wrapped([x, np.array([[1, 0, 1], [0, 1, 0]], "float32")]))
    assert p[0, 1] == 0.0 and p[1, 1] == pytest.approx(1.0)


def test_rejects_endings_that_are_not_logits_or_softmax():
    keras.backend.clear_session()
    x = keras.Input((4,), name="x")
    sig = keras.Model(x, keras.layers.Dense(C, activation="sigmoid", name="head")(x), name="sig")
    with pytest.raises(ValueError, match=r"ends in 'head' \(Dense, activation=sigmoid\)"):
        with_class_mask(sig)
    tail = keras.layers.Activation("sigmoid", name="act")(keras.layers.Dense(C, name="d")(x))
    with pytest.raises(ValueError, match=r"'act' \(Activation\)"):
        with_class_mask(keras.Model(x, tail, name="m"))
    with pytest.raises(TypeError, match="needs a keras.Model; got Dense"):
        with_class_mask(keras.layers.Dense(3))


def test_rejects_per_token_logits_and_taken_names():
    keras.backend.clear_session()
    x = keras.Input((6, 4), name="x")
    seq = keras.Model(x, keras.layers.Dense(C, name="head")(x), name="tagger")
    with pytest.raises(ValueError, match=r"logits of shape \(batch, classes\).*\(None, 6, 5\)"):
        with_class_mask(seq)
    model = classifier("logits")
    taken = r"names the mask input 'hidden', but that name is already taken.*closest: \['hidden'"
    with pytest.raises(ValueError, match=taken + r".*pass another mask_name="):
        with_class_mask(model, mask_name="hidden")
    with pytest.raises(ValueError, match=r"names the output layer 'hid_softmax'.*mask_name="):
        x = keras.Input((4,), name="x")
        h = keras.layers.Dense(C, name="hid_softmax")(x)
        with_class_mask(
            keras.Model(x, keras.layers.Dense(C, name="out")(h), name="m"), mask_name="hid"
        )
    with pytest.raises(TypeError, match="mask_name must be a non-empty str; got ''"):
        with_class_mask(model, mask_name="")


def test_rejects_a_taken_name_for_the_recomputed_logits_before_keras_does():
    # A softmax Dense 'head' gets a logits layer 'head_logits' in the wrapper: a model layer of that
    # name (or a mask_name equal to it) would make keras.Model fail with a duplicate-name error.
    keras.backend.clear_session()
    x = keras.Input((4,), name="x")
    h = keras.layers.Dense(8, name="head_logits")(x)
    model = keras.Model(x, keras.layers.Dense(C, activation="softmax", name="head")(h), name="m")
    with pytest.raises(ValueError, match=r"names the logits of 'head' 'head_logits'.*rename that"):
        with_class_mask(model)
    clf = classifier("dense_softmax")
    with pytest.raises(ValueError, match=r"names the mask input 'head_logits'.*mask_name="):
        with_class_mask(clf, mask_name="head_logits")


# ---------------------------------------------------------------- the mistakes in the notebook


@pytest.mark.parametrize("width", [C + 3, C])
def test_mistake_typo_drops_the_dense_and_the_helper_refuses_it(width):
    # The answer's misspelt variable: the Dense output is discarded and the mask multiplies the
    # features instead. Keras refuses it when the widths differ; when they agree it builds
    # silently, without the Dense.
    keras.backend.clear_session()
    x, allowed = keras.Input((C,), name="x"), keras.Input((C,), name="allowed")
    features = keras.layers.Dense(width, activation="relu", name="features")(x)
    if width != C:
        with pytest.raises(ValueError, match=r"incompatible shapes.*\(8,\) and \(5,\)"):
            keras.layers.Multiply(name="mul")([features, allowed])
        return
    outputs_typo = keras.layers.Dense(C, name="logits")(features)  # noqa: F841
    probs = keras.layers.Activation("softmax", name="act")(
        keras.layers.Multiply(name="mul")([features, allowed])
    )
    model = keras.Model([x, allowed], probs, name="typo")
    assert "logits" not in [layer.name for layer in model.layers]
    with pytest.raises(ValueError, match="no Dense layer producing its output"):
        with_class_mask(model)


def test_mistake_multiplying_logits_by_zero_leaks_mass():
    logits, mask = random_case()
    leaky = keras.ops.convert_to_numpy(keras.ops.softmax(logits * mask))
    leaked = leaky[~mask.astype(bool)].reshape(-1)
    assert leaked.min() > 0.0
    ours = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    assert np.all(ours[~mask] == 0.0)


def test_mistake_minus_inf_for_masked_logits_gives_nan_rows():
    logits, mask = random_case(rows=3)
    mask[1] = False
    naive = keras.ops.convert_to_numpy(keras.ops.softmax(np.where(mask, logits, -np.inf)))
    assert np.all(np.isnan(naive[1])) and not np.isnan(naive[[0, 2]]).any()
    assert np.all(keras.ops.convert_to_numpy(masked_softmax(logits, mask))[1] == 0.0)


def test_a_single_allowed_class_gives_probability_one_and_no_gradient(gradients):
    z = keras.Variable(np.array([[0.3, -2.0, 5.0], [1.0, 2.0, 3.0]], "float32"))
    mask = np.array([[0, 1, 0], [1, 1, 0]], "float32")
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    _, (grad,) = gradients(lambda: loss_fn(np.array([1, 0]), masked_softmax(z, mask)), [z])
    assert float(keras.ops.convert_to_numpy(masked_softmax(z, mask))[0, 1]) == 1.0
    assert np.all(grad[0] == 0.0) and np.all(grad[1, :2] != 0.0)


def test_masking_never_lowers_accuracy_when_the_true_class_is_allowed():
    # A masked prediction differs from the plain one only when the plain argmax is not allowed,
    # i.e. already wrong (the true class is always allowed).
    logits, mask = random_case(rows=500, seed=11)
    y = np.array([np.random.default_rng(i).choice(np.flatnonzero(m)) for i, m in enumerate(mask)])
    plain = np.argmax(logits, -1)
    masked = np.argmax(keras.ops.convert_to_numpy(masked_softmax(logits, mask)), -1)
    assert np.all(mask[np.arange(500), masked])
    assert np.mean(masked == y) > np.mean(plain == y)
    assert np.all((plain == masked) | ~mask[np.arange(500), plain])
    # per sample: no sentence that was right without the mask is wrong with it
    assert np.all((plain != y) | (masked == y))
    assert np.any((plain != y) & (masked == y))


def test_wrapper_only_turns_wrong_predictions_right_per_sample():
    model = classifier("dense_softmax", seed=13)
    wrapped = with_class_mask(model)
    rng = np.random.default_rng(13)
    x = rng.normal(size=(300, 4)).astype("float32")
    y = rng.integers(0, C, 300)
    allowed = (rng.random((300, C)) < 0.4).astype("float32")
    allowed[np.arange(300), y] = 1.0
    plain = np.argmax(keras.ops.convert_to_numpy(model(x)), -1)
    masked = np.argmax(keras.ops.convert_to_numpy(wrapped([x, allowed])), -1)
    assert np.all((plain != y) | (masked == y))
    assert np.any((plain != y) & (masked == y))


def test_mistake_multiplying_probabilities_breaks_row_sums():
    logits, mask = random_case()
    p = keras.ops.convert_to_numpy(keras.ops.softmax(logits)) * mask
    partial = ~mask.all(-1)
    assert np.all(p[partial].sum(-1) < 1.0 - 1e-6)


def keras_softmax_mask_model() -> tuple[keras.Model, list[np.ndarray]]:
    """The mistake: Softmax(mask=...) as the output of a compiled model, and data for it."""
    keras.backend.clear_session()
    x, allowed = keras.Input((4,), name="x"), keras.Input((C,), name="allowed")
    logits = keras.layers.Dense(C, name="logits")(x)
    keras_probs = keras.layers.Softmax(name="sm")(logits, mask=allowed)
    model = keras.Model([x, allowed], keras_probs, name="km")
    model.compile("sgd", "sparse_categorical_crossentropy")
    return model, [np.ones((6, 4), "float32"), np.ones((6, C), "float32")]


# TensorFlow's words, then JAX's
SHAPE_CLASH = (
    r"Dimensions must be equal, but are 6 and 5|Incompatible shapes: \[6,5\] vs"
    r"|Incompatible shapes for broadcasting: shapes=\[\(6,\), \(6, 5\)\]"
)


def test_mistake_keras_softmax_mask_in_a_model_breaks_compiled_loss():
    # keras.layers.Softmax supports masking, so Softmax()(logits, mask=allowed) attaches the
    # (batch, classes) mask to its output; the compiled loss then multiplies it into the (batch,)
    # per-sample losses and fails. MaskedSoftmax does not attach a mask.
    model, data = keras_softmax_mask_model()
    predicted = model.predict(data, batch_size=6, verbose=0)  # predict has no loss: it works
    assert predicted.shape == (6, C) and np.allclose(predicted.sum(-1), 1.0, atol=1e-6)
    with pytest.raises((ValueError, tf.errors.InvalidArgumentError), match=SHAPE_CLASH):
        model.evaluate(data, np.zeros(6), batch_size=6, verbose=0)

    # A Dense of its own: on JAX the failed evaluate left the variables of "logits" empty (below).
    x, allowed = model.inputs
    ours = MaskedSoftmax(name="ours")(keras.layers.Dense(C, name="good_logits")(x), allowed)
    good = keras.Model([x, allowed], ours, name="good")
    good.compile("sgd", "sparse_categorical_crossentropy")
    assert np.isfinite(good.evaluate(data, np.zeros(6), batch_size=6, verbose=0))


@pytest.mark.skipif(keras.backend.backend() != "jax", reason="a trap of Keras' JAX trainer")
def test_on_jax_an_evaluate_that_raises_leaves_the_models_variables_empty():
    # Keras 3.15's JAX evaluate detaches the variables' values while it runs and re-attaches them
    # only when it ends normally; if the compiled step raises, every layer of the model (and every
    # other model sharing those layers) is unusable. Rebuild it, or set_weights from a copy.
    model, data = keras_softmax_mask_model()
    weights = model.get_weights()
    with pytest.raises(ValueError, match=SHAPE_CLASH):
        model.evaluate(data, np.zeros(6), batch_size=6, verbose=0)
    with pytest.raises(TypeError, match="'NoneType' object is not callable"):
        model.predict(data, batch_size=6, verbose=0)
    model.set_weights(weights)  # values back: the model works again
    assert model.predict(data, batch_size=6, verbose=0).shape == (6, C)


def test_mistake_class_weight_list_is_rejected_by_keras_and_the_dict_works():
    model = classifier("dense_softmax")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.ones((4, 4), "float32"), np.array([0, 1, 2, 3])
    with pytest.raises(AttributeError, match="'list' object has no attribute 'get'"):
        model.fit(x, y, class_weight=[1.0, 1.0, 0.0, 0.0, 1.0], verbose=0)
    history = model.fit(x, y, class_weight=class_weight_dict(C, [1, 1, 0, 0, 1]), verbose=0)
    assert np.isfinite(history.history["loss"][0])


# ---------------------------------------------------------------- class_weight_dict


def test_class_weight_dict_from_mapping_sequence_and_array():
    assert class_weight_dict(4, {2: 0.0, 3: 0}) == {0: 1.0, 1: 1.0, 2: 0.0, 3: 0.0}
    assert class_weight_dict(4, {np.int64(1): 2}, default=0.0) == {0: 0.0, 1: 2.0, 2: 0.0, 3: 0.0}
    assert class_weight_dict(3, [1, 2.5, 0]) == {0: 1.0, 1: 2.5, 2: 0.0}
    out = class_weight_dict(np.int64(2), np.array([0.5, 1.5]))
    assert out == {0: 0.5, 1: 1.5}
    assert all(type(k) is int and type(v) is float for k, v in out.items())


@pytest.mark.parametrize(
    ("args", "error", "message"),
    [
        ((3, {3: 1.0}), ValueError, r"class 3 is out of range; valid classes are 0\.\.2"),
        ((3, {-1: 1.0}), ValueError, r"class -1 is out of range"),
        ((3, [1.0, -0.5, 1.0]), ValueError, r"weight of class 1 is -0\.5; valid: a finite number"),
        ((3, [1.0, float("nan"), 1.0]), ValueError, r"weight of class 1 is nan"),
        ((3, [0, 0, 0]), ValueError, r"all 3 class weights are 0"),
        ((2, {0: 0.0}, 0.0), ValueError, r"all 2 class weights are 0"),
        ((3, [1.0, 1.0]), ValueError, r"weights has 2 entries but num_classes=3"),
        ((3, {"a": 1.0}), TypeError, r"class keys must be ints; got 'a'"),
        ((3, {True: 1.0}), TypeError, r"class keys must be ints; got True"),
        ((3, "abc"), TypeError, r"mapping \{class: weight\} or a sequence of 3 weights; got str"),
        ((3, [1, "x", 1]), TypeError, r"weight of class 1 must be a number; got 'x'"),
        ((0, []), ValueError, r"num_classes must be a positive int; got 0\."),
        ((2.0, [1, 1]), TypeError, r"num_classes must be a positive int; got float 2\.0\."),
        ((True, [1]), TypeError, r"num_classes must be a positive int; got bool True\."),
        ((3, {0: 1.0}, -1.0), ValueError, r"^default is -1\.0; valid: a finite number >= 0\.$"),
        ((3, {0: 1.0}, "x"), TypeError, r"^default must be a number; got 'x'\.$"),
        ((3, [1.0, 2.0, 1.0], float("inf")), ValueError, r"^default is inf"),
    ],
)
def test_class_weight_dict_errors(args, error, message):
    *positional, default = args if len(args) == 3 else (*args, 1.0)
    with pytest.raises(error, match=message):
        class_weight_dict(*positional, default=default)


def test_class_weight_equals_sample_weight_and_zero_weight_shrinks_the_loss():
    # Keras turns class_weight into sample_weight = w[y]; with the default reduction
    # ("sum_over_batch_size") zero-weight samples still count in the divisor.
    x = np.random.default_rng(4).normal(size=(10, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    weights = class_weight_dict(C, {0: 1.0, 1: 1.0}, default=0.0)
    sample_weight = np.array([weights[int(c)] for c in y], "float32")

    losses = []
    for kwargs in ({"class_weight": weights}, {"sample_weight": sample_weight}):
        model = classifier("dense_softmax", seed=5)
        model.compile("sgd", "sparse_categorical_crossentropy")
        losses.append(model.fit(x, y, batch_size=10, epochs=1, verbose=0, **kwargs))
    assert losses[0].history["loss"] == losses[1].history["loss"]

    model = classifier("dense_softmax", seed=5)
    p = model(x)
    per_sample = keras.ops.convert_to_numpy(
        keras.losses.SparseCategoricalCrossentropy(reduction=None)(y, p)
    )
    default = keras.losses.SparseCategoricalCrossentropy()(y, p, sample_weight=sample_weight)
    by_weight = keras.losses.SparseCategoricalCrossentropy(reduction="mean_with_sample_weight")(
        y, p, sample_weight=sample_weight
    )
    np.testing.assert_allclose(float(default), per_sample[sample_weight > 0].sum() / 10, rtol=1e-6)
    np.testing.assert_allclose(float(by_weight), per_sample[sample_weight > 0].mean(), rtol=1e-6)
    np.testing.assert_allclose(losses[0].history["loss"][0], float(default), rtol=1e-6)
    np.testing.assert_allclose(float(default) / float(by_weight), 4 / 10, rtol=1e-6)


def _first_steps(optimizer: str, reduction: str, weights: dict, epochs: int = 3) -> np.ndarray:
    x = np.random.default_rng(4).normal(size=(10, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    model = classifier("dense_softmax", seed=5)
    before = model.get_weights()
    opt = keras.optimizers.SGD(0.1) if optimizer == "sgd" else keras.optimizers.Adam(0.01)
    loss = keras.losses.SparseCategoricalCrossentropy(reduction=reduction)
    model.compile(optimizer=opt, loss=loss, run_eagerly=True)  # 1-3 steps: skip tracing
    model.fit(x, y, batch_size=10, epochs=epochs, class_weight=weights, verbose=0)
    return np.concatenate(
        [(a - b).ravel() for a, b in zip(model.get_weights(), before, strict=True)]
    )


def test_zero_weights_shrink_sgd_steps_but_adam_largely_cancels_the_loss_scale():
    # sum_over_batch_size = (share of weighted samples) * mean_with_sample_weight: the gradient
    # shrinks by that share (4/10 here). SGD steps shrink with it (one step: exactly); Adam
    # divides by the gradient's running RMS, so a constant factor cancels up to its epsilon.
    weights = class_weight_dict(C, {0: 1.0, 1: 1.0}, default=0.0)
    ratio = {}
    for optimizer in ("sgd", "adam"):
        epochs = 1 if optimizer == "sgd" else 3
        by_batch, by_weight = (
            _first_steps(optimizer, reduction, weights, epochs)
            for reduction in ("sum_over_batch_size", "mean_with_sample_weight")
        )
        ratio[optimizer] = np.linalg.norm(by_batch) / np.linalg.norm(by_weight)
    assert ratio["sgd"] == pytest.approx(0.4, rel=1e-4)
    assert ratio["adam"] == pytest.approx(1.0, abs=1e-2)


def test_evaluate_has_no_class_weight_argument():
    model = classifier("dense_softmax")
    model.compile("sgd", "sparse_categorical_crossentropy")
    x, y = np.ones((4, 4), "float32"), np.array([0, 1, 2, 3])
    with pytest.raises(ValueError, match=r"Arguments not recognized: \{'class_weight'"):
        model.evaluate(x, y, class_weight={0: 1.0}, verbose=0)


def test_class_weight_is_the_same_for_sparse_and_one_hot_targets():
    x = np.random.default_rng(6).normal(size=(10, 4)).astype("float32")
    y = np.array([0, 1, 2, 3, 4, 0, 1, 2, 3, 4])
    weights = class_weight_dict(C, [1.0, 2.0, 0.0, 0.5, 1.0])
    runs = []
    for targets, loss in (
        (y, "sparse_categorical_crossentropy"),
        (np.eye(C)[y], "categorical_crossentropy"),
    ):
        model = classifier("dense_softmax", seed=7)
        model.compile("sgd", loss)
        runs.append(model.fit(x, targets, batch_size=10, class_weight=weights, verbose=0))
    np.testing.assert_allclose(runs[0].history["loss"], runs[1].history["loss"], rtol=1e-6)


def test_weighted_metrics_ignore_zero_weight_samples():
    model = classifier("dense_softmax", seed=8)
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"],
                  weighted_metrics=["accuracy"])  # fmt: skip
    x = np.random.default_rng(9).normal(size=(10, 4)).astype("float32")
    pred = np.argmax(keras.ops.convert_to_numpy(model(x)), -1)
    y = np.where(np.arange(10) < 5, pred, (pred + 1) % C)  # first 5 right, last 5 wrong
    sw = (np.arange(10) < 5).astype("float32")
    result = model.evaluate(x, y, sample_weight=sw, batch_size=10, verbose=0, return_dict=True)
    assert result["accuracy"] == pytest.approx(0.5)
    assert result["weighted_accuracy"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="cannot `class_weight` and `sample_weight` at the same"):
        model.fit(x, y, class_weight=class_weight_dict(C, [1] * C), sample_weight=sw, verbose=0)


def test_masked_softmax_layer_checks_the_mask_width_when_the_model_is_built():
    logits, allowed = keras.Input((5,), name="logits"), keras.Input((3,), name="allowed")
    with pytest.raises(ValueError, match=r"mask of shape \(None, 3\) does not broadcast to logits"):
        MaskedSoftmax(name="probs")(logits, allowed)


def test_a_nan_allowed_logit_gives_a_nan_row_never_an_unnormalised_one():
    nan = float("nan")
    logits = np.array([[1.0, nan, 3.0], [1.0, 2.0, nan], [1.0, 2.0, 3.0]], "float32")
    mask = np.array([[1, 1, 1], [1, 1, 0], [1, 0, 1]])
    probs = keras.ops.convert_to_numpy(masked_softmax(logits, mask))
    assert np.isnan(probs[0]).all()  # a NaN the row reads: the whole row is NaN
    np.testing.assert_allclose(probs[1], [0.26894143, 0.7310586, 0.0], rtol=1e-6)  # masked NaN
    np.testing.assert_allclose(probs[2].sum(), 1.0, rtol=1e-6)


@pytest.mark.parametrize("activation", [None, "softmax"])
def test_with_class_mask_on_a_pointwise_conv_head(activation):
    inputs = keras.Input((5, 5, 2))
    h = keras.layers.GlobalAveragePooling2D(keepdims=True)(keras.layers.Conv2D(4, 3)(inputs))
    z = keras.layers.Conv2D(3, 1, activation=activation, name="conv_preds")(h)
    z = keras.layers.Flatten()(z)
    if activation is None:
        z = keras.layers.Activation("softmax")(z)
    model = keras.Model(inputs, z)
    masked = with_class_mask(model)
    x = np.random.default_rng(0).normal(size=(4, 5, 5, 2)).astype("float32")
    allowed = np.array([[1, 0, 1]] * 4, "float32")
    got = masked.predict([x, allowed], verbose=0)
    probs = model.predict(x, verbose=0)
    want = probs * allowed / (probs * allowed).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(got, want, atol=1e-6)
