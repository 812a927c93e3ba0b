"""Tests for helpers.shared: the graph walker, shared layers and per-call outputs."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

from helpers import shared
from helpers.shared import LayerCall, call_outputs, layer_calls, shared_layers

L = keras.layers
RNG = np.random.default_rng(0)


def data(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype("float32")


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def ten_input_model(width: int = 4) -> keras.Model:
    inputs = [keras.Input((width,), name=f"in_{k}") for k in range(10)]
    dense = L.Dense(3, name="shared_dense")
    return keras.Model(inputs, [dense(x) for x in inputs], name="ten")


def encoder_model(name: str = "encoder", prefix: str = "enc", n_features: int = 4) -> keras.Model:
    x = keras.Input((n_features,), name=f"{prefix}_in")
    h = L.Dense(3, name=f"{prefix}_dense")(x)
    return keras.Model(x, L.Activation("tanh", name=f"{prefix}_act")(h), name=name)


def siamese(n_features: int = 4) -> keras.Model:
    encoder = encoder_model(n_features=n_features)
    a, b = keras.Input((n_features,), name="left"), keras.Input((n_features,), name="right")
    merged = L.Concatenate(name="merge")([encoder(a), encoder(b)])
    return keras.Model([a, b], L.Dense(1, name="head")(merged), name="siamese")


def predict(model: keras.Model, xs) -> list[np.ndarray]:
    out = model.predict(xs, verbose=0)
    return out if isinstance(out, list) else [out]


# --- layer_calls: the contract -------------------------------------------------------------


def test_layer_calls_lists_every_call_of_a_shared_layer_in_call_order():
    model = ten_input_model()
    calls = layer_calls(model)
    assert [c.key for c in calls] == [f"shared_dense@{k}" for k in range(10)]
    assert all(isinstance(c, LayerCall) and c.calls == 10 for c in calls)
    assert [c.index for c in calls] == list(range(10))
    assert all(c.layer is model.get_layer("shared_dense") for c in calls)


def test_key_is_the_bare_name_for_a_layer_called_once():
    x = keras.Input((2,), name="x")
    model = keras.Model(x, L.Dense(1, name="only")(L.Dense(2, name="first")(x)), name="m")
    assert [c.key for c in layer_calls(model)] == ["first", "only"]
    assert [c.calls for c in layer_calls(model)] == [1, 1]


def test_input_layers_are_left_out():
    model = ten_input_model()
    names = {c.name for c in layer_calls(model)}
    assert not any(name.startswith("in_") for name in names)


def test_each_call_output_is_connected_and_equals_the_layer_applied_directly():
    model = ten_input_model()
    xs = [data(5, 4) for _ in range(10)]
    extractor = keras.Model(model.inputs, [c.outputs for c in layer_calls(model)], name="ext")
    dense = model.get_layer("shared_dense")
    for got, x in zip(predict(extractor, xs), xs, strict=True):
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(dense(x)), atol=1e-6)


def test_nested_model_appears_itself_and_through_its_inner_layers():
    model = siamese()
    keys = [c.key for c in layer_calls(model)]
    assert keys == [
        "encoder/enc_dense@0",
        "encoder/enc_act@0",
        "encoder@0",
        "encoder/enc_dense@1",
        "encoder/enc_act@1",
        "encoder@1",
        "merge",
        "head",
    ]
    encoder = model.get_layer("encoder")
    by_key = {c.key: c for c in layer_calls(model)}
    assert by_key["encoder@1"].layer is encoder
    assert by_key["encoder/enc_dense@1"].layer is encoder.get_layer("enc_dense")


def test_inner_layer_outputs_of_a_nested_model_are_connected_to_the_outer_inputs():
    model = siamese()
    left, right = data(6, 4), data(6, 4)
    calls = [c for c in layer_calls(model) if c.name == "encoder/enc_dense"]
    extractor = keras.Model(model.inputs, [c.outputs for c in calls], name="ext")  # no disconnect
    got_left, got_right = predict(extractor, [left, right])
    enc_dense = model.get_layer("encoder").get_layer("enc_dense")
    np.testing.assert_allclose(got_left, keras.ops.convert_to_numpy(enc_dense(left)), atol=1e-6)
    np.testing.assert_allclose(got_right, keras.ops.convert_to_numpy(enc_dense(right)), atol=1e-6)


def test_deeply_nested_model_called_twice_gives_each_inner_call():
    i0 = keras.Input((2,), name="i0")
    inner = keras.Model(i0, L.Dense(2, name="c")(i0), name="b")
    i1 = keras.Input((2,), name="i1")
    middle = keras.Model(i1, inner(inner(i1)), name="a")
    i2 = keras.Input((2,), name="i2")
    top = keras.Model(i2, L.Dense(1, name="h")(middle(i2)), name="top")
    assert [c.key for c in layer_calls(top)] == ["a/b/c@0", "a/b@0", "a/b/c@1", "a/b@1", "a", "h"]
    x = data(3, 2)
    first, second = predict(keras.Model(top.inputs, call_outputs(top, "a/b/c"), name="ext"), x)
    c = inner.get_layer("c")
    np.testing.assert_allclose(first, keras.ops.convert_to_numpy(c(x)), atol=1e-6)
    np.testing.assert_allclose(second, keras.ops.convert_to_numpy(c(c(x))), atol=1e-6)


def test_each_nested_call_goes_through_one_wrapper_call_returning_every_inner_output():
    model = siamese()
    inner = [c for c in layer_calls(model) if "/" in c.name]
    extractor = keras.Model(model.inputs, [c.outputs for c in inner], name="ext")
    assert [layer.name for layer in extractor.layers] == ["left", "right", "layer_calls__encoder"]
    wrapper = extractor.get_layer("layer_calls__encoder")
    encoder = model.get_layer("encoder")
    assert wrapper.inputs == encoder.inputs
    assert len(wrapper.outputs) == 3  # enc_in (enc_dense's input), enc_dense, enc_act
    assert [c.outputs._keras_history[:2] for c in inner] == [
        (wrapper, 0),  # private on purpose: which wrapper call made each output
        (wrapper, 0),
        (wrapper, 1),
        (wrapper, 1),
    ]


def test_multi_output_layer_nested_two_deep_keeps_its_output_structure():
    s_in = keras.Input((5, 3), name="s_in")
    y, h, c = L.LSTM(4, return_state=True, name="lstm")(s_in)
    inner = keras.Model(s_in, L.Add(name="add")([h, c]), name="inner")
    m_in = keras.Input((5, 3), name="m_in")
    middle = keras.Model(m_in, L.Dense(2, name="d")(inner(m_in)), name="middle")
    t_in = keras.Input((5, 3), name="t_in")
    top = keras.Model(t_in, middle(t_in), name="top")
    by_key = {c.key: c for c in layer_calls(top)}
    assert list(by_key) == [
        "middle/inner/lstm",
        "middle/inner/add",
        "middle/inner",
        "middle/d",
        "middle",
    ]
    lstm_outputs = by_key["middle/inner/lstm"].outputs
    assert isinstance(lstm_outputs, list) and len(lstm_outputs) == 3
    x = data(3, 5, 3)
    flat = [*lstm_outputs, by_key["middle/inner/add"].outputs, by_key["middle/d"].outputs]
    got = predict(keras.Model(top.inputs, flat, name="ext"), x)
    expected = [keras.ops.convert_to_numpy(t) for t in inner.get_layer("lstm")(x)]
    expected.append(expected[1] + expected[2])
    expected.append(keras.ops.convert_to_numpy(top(x)))
    for a, b in zip(got, expected, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-5)


@pytest.mark.parametrize("how", ["input", "build", "call"])
def test_sequential_models_with_inputs_work(how):
    layers = [L.Dense(3, name="s1"), L.Dense(2, name="s2")]
    if how == "input":
        model = keras.Sequential([keras.Input((4,)), *layers], name="seq")
    else:
        model = keras.Sequential(layers, name="seq")
        if how == "build":
            model.build((None, 4))
        else:
            model(data(2, 4))
    assert [c.key for c in layer_calls(model)] == ["s1", "s2"]
    x = data(5, 4)
    (got,) = predict(keras.Model(model.inputs, layer_calls(model)[0].outputs, name="ext"), x)
    np.testing.assert_allclose(got, keras.ops.convert_to_numpy(layers[0](x)), atol=1e-6)


def test_nested_sequential_called_twice():
    seq = keras.Sequential([L.Dense(3, name="s1")], name="seq")
    seq.build((None, 4))
    a, b = keras.Input((4,), name="a"), keras.Input((4,), name="b")
    model = keras.Model([a, b], [seq(a), seq(b)], name="m")
    assert shared_layers(model) == {"seq/s1": 2, "seq": 2}
    xa, xb = data(2, 4), data(2, 4)
    got = predict(keras.Model(model.inputs, call_outputs(model, "seq/s1"), name="ext"), [xa, xb])
    s1 = seq.get_layer("s1")
    np.testing.assert_allclose(got[1], keras.ops.convert_to_numpy(s1(xb)), atol=1e-6)


def test_unbuilt_sequential_raises_value_error_saying_how_to_build_it():
    model = keras.Sequential([L.Dense(3, name="s1")], name="never_built")
    with pytest.raises(ValueError) as err:
        layer_calls(model)
    message = str(err.value)
    assert "'never_built' has no defined inputs" in message
    assert "keras.Input(shape=...)" in message
    assert "model.build((None, ...))" in message
    assert "call it once on data" in message


def test_multi_output_layer_call_gives_the_output_structure():
    x = keras.Input((5, 3), name="seq_in")
    lstm = L.LSTM(4, return_state=True, name="lstm")
    y, h, c = lstm(x)
    model = keras.Model(x, [y, h, c], name="m")
    (call,) = layer_calls(model)
    assert isinstance(call.outputs, list) and len(call.outputs) == 3
    assert call.outputs[0] is y and call.outputs[2] is c


def test_call_order_follows_the_order_the_calls_were_made_not_the_output_order():
    p, q = keras.Input((2,), name="p"), keras.Input((2,), name="q")
    dense = L.Dense(2, name="d")
    first, second = dense(p), dense(q)
    model = keras.Model([p, q], [second, first], name="m")  # outputs listed in reverse
    outs = call_outputs(model, "d")
    assert outs[0] is first and outs[1] is second
    assert outs[0] is dense.output


def test_walking_again_changes_nothing_about_the_model():
    model = siamese()
    left, right = data(3, 4), data(3, 4)
    before = predict(model, [left, right])
    config = model.get_config()
    summary_before = []
    model.summary(print_fn=lambda line, **kwargs: summary_before.append(line))
    enc_dense = model.get_layer("encoder").get_layer("enc_dense")
    first_output = enc_dense.output
    nodes = len(enc_dense._inbound_nodes)  # private on purpose: proves no node is added
    reports = [shared_layers(model) for _ in range(3)]
    calls_a, calls_b = layer_calls(model), layer_calls(model)
    assert (
        reports[0]
        == reports[1]
        == reports[2]
        == {
            "encoder/enc_dense": 2,
            "encoder/enc_act": 2,
            "encoder": 2,
        }
    )
    assert all(a.outputs is b.outputs for a, b in zip(calls_a, calls_b, strict=True))
    assert enc_dense.output is first_output
    assert len(enc_dense._inbound_nodes) == nodes
    assert model.get_config() == config
    summary_after = []
    model.summary(print_fn=lambda line, **kwargs: summary_after.append(line))
    assert summary_after == summary_before
    for a, b in zip(before, predict(model, [left, right]), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_sequential_that_gains_a_layer_is_walked_again():
    model = keras.Sequential([keras.Input((4,)), L.Dense(3, name="s1")], name="seq")
    assert [c.key for c in layer_calls(model)] == ["s1"]
    model.add(L.Dense(2, name="s2"))
    assert [c.key for c in layer_calls(model)] == ["s1", "s2"]


def test_subclassed_model_raises_value_error_saying_it_has_no_graph():
    class Twice(keras.Model):
        def __init__(self):
            super().__init__(name="twice")
            self.dense = L.Dense(2, name="d")

        def call(self, x):
            return self.dense(self.dense(x))

    model = Twice()
    model(data(1, 2))
    with pytest.raises(ValueError, match=r"'twice' \(Twice\) is a subclassed model.*wrap it"):
        layer_calls(model)
    x = keras.Input((2,), name="x")
    wrapped = keras.Model(x, model(x), name="wrapped")
    assert [c.key for c in layer_calls(wrapped)] == ["twice"]


def test_layer_calls_rejects_a_non_model():
    with pytest.raises(TypeError, match="^layer_calls expects a keras.Model .* got Dense"):
        layer_calls(L.Dense(2))


@pytest.mark.parametrize(
    "caller, call",
    [
        ("layer_calls", lambda: layer_calls(None)),
        ("shared_layers", lambda: shared_layers(None)),
        ("call_outputs", lambda: call_outputs(None, "dense")),
        ("call_outputs", lambda: call_outputs(None, 3)),  # the model is checked first
    ],
)
def test_a_non_model_error_names_the_function_the_user_called(caller, call):
    with pytest.raises(TypeError) as err:
        call()
    assert str(err.value) == (
        f"{caller} expects a keras.Model (Functional or Sequential) as model, got NoneType."
    )


# --- the one place that reads private Keras attributes -------------------------------------


def test_private_keras_graph_attributes_are_still_there():
    """If this fails, Keras changed its graph internals: fix helpers.shared._trace."""
    x = keras.Input((2,), name="x")
    dense = L.Dense(2, name="d")
    y = dense(dense(x))
    for attr in ("_keras_history", "shape"):
        assert hasattr(y, attr), f"KerasTensor lost {attr}; update helpers.shared._trace"
    operation, node_index, tensor_index = y._keras_history
    assert operation is dense and node_index == 1 and tensor_index == 0, (
        "KerasTensor._keras_history is no longer (operation, node_index, tensor_index)"
    )
    node = dense._inbound_nodes[node_index]
    for attr in ("input_tensors", "outputs", "is_input", "operation"):
        assert hasattr(node, attr), f"keras Node lost {attr}; update helpers.shared._trace"
    assert node.outputs == [y] and node.input_tensors[0] is dense.output
    traced = shared._trace([x], [y])
    assert [c.operation for c in traced] == [dense, dense]
    assert traced[1].outputs == [y]


def test_trace_fails_loudly_when_keras_internals_change():
    class Fake:  # a tensor without _keras_history, as if Keras had renamed it
        pass

    with pytest.raises(RuntimeError, match="Keras' private graph attributes .* changed"):
        shared._trace([], [Fake()])


# --- shared_layers and call_outputs --------------------------------------------------------


def test_shared_layers_reports_only_layers_called_more_than_once():
    assert shared_layers(ten_input_model()) == {"shared_dense": 10}
    x = keras.Input((2,), name="x")
    assert shared_layers(keras.Model(x, L.Dense(1, name="d")(x), name="m")) == {}


def test_shared_layers_counts_a_layer_used_directly_and_inside_a_nested_model():
    dense = L.Dense(3, name="d")
    x = keras.Input((3,), name="x")
    sub = keras.Model(x, dense(x), name="sub")
    y = keras.Input((3,), name="y")
    model = keras.Model(y, dense(sub(y)), name="m")
    assert [c.key for c in layer_calls(model)] == ["sub/d", "sub", "d"]
    assert shared_layers(model) == {"sub/d": 2, "d": 2}


def test_call_outputs_unknown_name_lists_known_names_closest_first():
    with pytest.raises(KeyError) as err:
        call_outputs(siamese(), "encoder/enc_dens")
    message = err.value.args[0]
    assert "No layer named 'encoder/enc_dens' in model 'siamese'" in message
    known = message.split("Known layers (closest first): ")[1].split(", ")
    assert known[0] == "encoder/enc_dense"
    assert sorted(known) == sorted(
        ["encoder/enc_dense", "encoder/enc_act", "encoder", "merge", "head"]
    )


def test_call_outputs_on_an_input_name_says_inputs_are_left_out_and_points_to_model_inputs():
    p, q = keras.Input((2,), name="p"), keras.Input((2,), name="q")
    dense = L.Dense(2, name="d")
    model = keras.Model([p, q], [dense(p), dense(q)], name="m")
    with pytest.raises(KeyError) as err:
        call_outputs(model, "q")
    message = err.value.args[0]
    assert message == (
        "'q' is an input of model 'm': InputLayers are left out of layer_calls and "
        "call_outputs, as an input has no call to list. Its tensor is model.inputs[1]."
    )
    assert model.inputs[1] is q


def test_call_outputs_unknown_name_says_input_layers_are_left_out():
    with pytest.raises(KeyError, match=r"InputLayers are left out; the inputs are model.inputs"):
        call_outputs(siamese(), "no_such_layer")


def test_call_outputs_rejects_a_non_string_name():
    with pytest.raises(TypeError, match="layer_name must be a str .* got int"):
        call_outputs(siamese(), 3)


# --- the properties notebook 04 shows ------------------------------------------------------


@pytest.fixture
def kernel_gradient(gradients):
    """kernel_gradient(layer, loss_fn, *xs): d loss_fn(*xs) / d layer.kernel, any backend."""

    def of(layer: keras.layers.Layer, loss_fn, *xs) -> np.ndarray:
        return gradients(lambda: loss_fn(*xs), [layer.kernel])[1][0]

    return of


def test_batch_gradient_of_the_kernel_is_the_sum_of_per_example_gradients(kernel_gradient):
    proj = L.Dense(8, use_bias=False, name="proj")
    proj.build((None, 5))
    x = data(4, 5)

    def loss(batch):
        return keras.ops.sum(keras.ops.tanh(proj(batch)))

    batch = kernel_gradient(proj, loss, x)
    summed = sum(kernel_gradient(proj, loss, x[i : i + 1]) for i in range(4))
    assert proj.kernel.shape == (5, 8) and len(proj.weights) == 1
    np.testing.assert_allclose(batch, summed, atol=1e-5)


def test_dense_on_a_sequence_equals_time_distributed_dense():
    x = keras.Input((7, 5), name="steps")
    plain = keras.Model(x, L.Dense(3, name="d")(x), name="plain")
    inner = L.Dense(3, name="inner")
    timed = keras.Model(x, L.TimeDistributed(inner, name="td")(x), name="timed")
    inner.set_weights(plain.get_layer("d").get_weights())
    seq = data(2, 7, 5)
    assert plain.get_layer("d").kernel.shape == (5, 3)
    assert plain.count_params() == timed.count_params() == 18
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(plain(seq)), keras.ops.convert_to_numpy(timed(seq)), atol=1e-6
    )


def test_seed_text_model_shares_one_dense_kernel_across_all_steps():
    words = keras.Input((80,), dtype="int32", name="word_ids")
    h = L.Embedding(50, 10, name="embedding")(words)
    h = L.Dense(6, name="per_word_dense")(h)
    model = keras.Model(words, L.Dense(1, name="score")(L.LSTM(4, name="lstm")(h)), name="text")
    assert model.get_layer("per_word_dense").output.shape == (None, 80, 6)
    assert model.get_layer("per_word_dense").count_params() == 10 * 6 + 6  # no factor 80
    assert model(np.zeros((2, 80), "int32")).shape == (2, 1)


def test_ten_calls_share_the_same_variable_objects_and_count_once():
    model = ten_input_model()
    dense = model.get_layer("shared_dense")
    assert len(model.weights) == 2
    assert all(w is v for w, v in zip(model.weights, dense.weights, strict=True))
    assert model.count_params() == 4 * 3 + 3
    lines = []
    model.summary(print_fn=lambda line, **kwargs: lines.append(line))
    summary = "\n".join(lines)
    assert "Total params: 15 " in summary
    assert summary.count("shared_dense") == 1  # one row, not ten


def test_shared_kernel_gradient_is_the_sum_of_the_branch_gradients(kernel_gradient):
    model = ten_input_model()
    dense = model.get_layer("shared_dense")
    xs = [data(5, 4) for _ in range(10)]

    def total(*batch):
        return sum(keras.ops.sum(keras.ops.square(y)) for y in model(list(batch)))

    def branch(x):
        return keras.ops.sum(keras.ops.square(dense(x)))

    joint = kernel_gradient(dense, total, *xs)
    per_branch = [kernel_gradient(dense, branch, x) for x in xs]
    np.testing.assert_allclose(joint, sum(per_branch), atol=1e-4)


def test_bug_layer_output_is_only_the_first_call_and_get_output_at_is_gone():
    model = ten_input_model()
    dense = model.get_layer("shared_dense")
    xs = [data(3, 4) for _ in range(10)]
    first_only = keras.ops.convert_to_numpy(keras.Model(model.inputs, dense.output, name="p")(xs))
    np.testing.assert_allclose(first_only, keras.ops.convert_to_numpy(dense(xs[0])), atol=1e-6)
    assert not np.allclose(first_only, keras.ops.convert_to_numpy(dense(xs[5])), atol=1e-6)
    assert not hasattr(dense, "get_output_at")
    outs = call_outputs(model, "shared_dense")
    assert outs[0] is dense.output
    got = keras.Model(model.inputs, outs, name="fix")(xs)
    for k in range(10):
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(got[k]), keras.ops.convert_to_numpy(dense(xs[k])), atol=1e-6
        )


def edit_check(model: keras.Model, branches: list, variable, pair: list) -> tuple[list[bool], bool]:
    """Add 1 to ``variable``, then: did each branch's output on ``pair`` change, and does the same
    input in both branches still give exactly equal outputs? ``variable`` is restored after."""
    probe = keras.Model(model.inputs, branches, name="branch_probe")

    def run(xs: list) -> list[np.ndarray]:
        return [keras.ops.convert_to_numpy(t) for t in probe(xs)]

    saved = variable.numpy()
    before = run(pair)
    variable.assign(saved + 1.0)
    try:
        after, same_input = run(pair), run([pair[0], pair[0]])
    finally:
        variable.assign(saved)
    changed = [not np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    return changed, bool(np.array_equal(*same_input))


# Keras 3.15's own model.save calls np.array on its variables, which NumPy 2 flags; not our code.
@pytest.mark.filterwarnings("ignore:__array__ implementation doesn't accept a copy keyword")
def test_save_and_load_keeps_the_sub_model_shared(tmp_path):
    model = siamese()
    pair = [data(4, 4), data(4, 4)]
    before = keras.ops.convert_to_numpy(model(pair))
    path = tmp_path / "twin.keras"
    model.save(path)
    loaded = keras.models.load_model(path)  # safe_mode=True by default
    assert len(loaded.weights) == len(model.weights) == 4
    assert shared_layers(loaded) == shared_layers(model)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(pair)), before)
    # one set of variables: editing the loaded encoder's bias moves BOTH branches, and the same
    # input in both branches still gives bit-identical outputs
    bias = loaded.get_layer("encoder").get_layer("enc_dense").bias
    changed, same_input_equal = edit_check(loaded, call_outputs(loaded, "encoder"), bias, pair)
    assert changed == [True, True] and same_input_equal
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(pair)), before)  # restored


def test_the_edit_check_fails_for_two_encoder_copies_with_equal_weights():
    encoder, copy = encoder_model(), encoder_model("encoder_copy", "copy")
    copy.set_weights(encoder.get_weights())
    a, b = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    model = keras.Model([a, b], L.Subtract(name="difference")([encoder(a), copy(b)]), name="copies")
    pair = [data(4, 4), data(4, 4)]
    same = keras.ops.convert_to_numpy(model([pair[0], pair[0]]))
    assert np.all(same == 0)  # "same input -> difference exactly 0" cannot tell copies apart
    assert shared_layers(model) == {}
    branches = call_outputs(model, "encoder") + call_outputs(model, "encoder_copy")
    bias = encoder.get_layer("enc_dense").bias
    changed, same_input_equal = edit_check(model, branches, bias, pair)
    assert changed == [True, False] and not same_input_equal


def test_bug_inputs_of_different_widths_into_one_dense_and_the_fix():
    narrow, wide = keras.Input((4,), name="narrow"), keras.Input((6,), name="wide")
    dense = L.Dense(3, name="one_dense")
    dense(narrow)
    with pytest.raises(ValueError, match="expected axis -1 of input shape to have value 4"):
        dense(wide)
    common = [L.Dense(8, name="p_narrow")(narrow), L.Dense(8, name="p_wide")(wide)]
    after = L.Dense(3, name="shared_after")
    model = keras.Model([narrow, wide], [after(c) for c in common], name="mixed")
    assert shared_layers(model) == {"shared_after": 2}
    assert after.kernel.shape == (8, 3)
    outs = model([data(2, 4), data(2, 6)])
    assert [tuple(o.shape) for o in outs] == [(2, 3), (2, 3)]


def test_one_no_bias_matrix_is_trained_jointly_for_all_examples_and_inputs():
    item = keras.Input((1,), dtype="int32", name="item_id")
    context = keras.Input((1,), dtype="int32", name="context_id")
    W = L.Dense(16, use_bias=False, name="shared_W")
    flat = L.Flatten(name="flatten")
    vecs = [flat(L.Embedding(30, 5, name=f"emb_{k}")(t)) for k, t in enumerate((item, context))]
    out = L.Dense(1, name="target")(L.Concatenate(name="cat")([W(v) for v in vecs]))
    model = keras.Model([item, context], out, name="rec")
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    rng = np.random.default_rng(1)
    xs = [rng.integers(0, 30, (64, 1)), rng.integers(0, 30, (64, 1))]
    before = W.get_weights()[0]
    model.fit(xs, rng.normal(size=(64, 1)), epochs=1, batch_size=32, verbose=0)
    assert shared_layers(model) == {"flatten": 2, "shared_W": 2}
    assert W.kernel.shape == (5, 16) and len(W.weights) == 1
    assert sum(w is W.kernel for w in model.trainable_weights) == 1
    assert not np.allclose(before, W.get_weights()[0])


def test_each_call_lists_the_tensors_it_was_applied_to():
    inputs = keras.Input((4,), name="x")
    twice = keras.layers.Dense(4, name="twice")
    middle = keras.layers.Dense(4, name="pre")(inputs)
    first, second = twice(inputs), twice(middle)
    merged = keras.layers.Concatenate(name="cat")([first, second])
    e_in = keras.Input((8,), name="e_in")
    e1 = keras.layers.Dense(3, name="e1")
    encoder = keras.Model(e_in, keras.layers.Dense(2, name="e2")(e1(e_in)), name="encoder")
    model = keras.Model(inputs, encoder(merged), name="m")
    calls = {c.key: c for c in layer_calls(model)}
    assert [id(t) for t in calls["twice@0"].inputs] == [id(inputs)]
    assert [id(t) for t in calls["twice@1"].inputs] == [id(middle)]
    assert [id(t) for t in calls["cat"].inputs] == [id(first), id(second)]
    # Inside a nested model the inputs are re-expressed on the outer graph: same values.
    x = np.random.default_rng(0).normal(size=(3, 4)).astype("float32")
    probe = keras.Model(
        model.inputs,
        [
            calls["encoder/e1"].inputs[0],
            calls["encoder/e2"].inputs[0],
            merged,
            calls["encoder/e1"].outputs,
        ],
        name="probe",
    )
    e1_in, e2_in, merged_value, e1_out = probe.predict(x, verbose=0)
    np.testing.assert_array_equal(e1_in, merged_value)
    np.testing.assert_array_equal(e2_in, e1_out)


# --- masks and keyword tensors through nested models ---------------------------------------


def masked_encoder_model() -> keras.Model:
    """Embedding(mask_zero=True) -> a nested LSTM encoder (the mask is passed to it as mask=)."""
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    embedded = L.Embedding(10, 4, mask_zero=True, name="emb")(tokens)
    enc_in = keras.Input((5, 4), name="enc_in")
    encoder = keras.Model(enc_in, L.LSTM(3, name="lstm")(enc_in), name="enc")
    return keras.Model(tokens, L.Dense(2, name="head")(encoder(embedded)), name="tagger")


def masked_decoder_model() -> keras.Model:
    """A decoder sub-model taking two inputs (masked target embeddings, encoder context)."""
    target = keras.Input((5,), dtype="int32", name="target")
    source = keras.Input((6,), name="source")
    embedded = L.Embedding(10, 4, mask_zero=True, name="emb")(target)
    context = L.Dense(3, name="ctx")(source)
    d_seq, d_ctx = keras.Input((5, 4), name="d_seq"), keras.Input((3,), name="d_ctx")
    states = L.LSTM(3, return_sequences=True, name="dec_lstm")(d_seq, initial_state=[d_ctx, d_ctx])
    decoder = keras.Model([d_seq, d_ctx], L.Dense(4, name="dec_out")(states), name="dec")
    return keras.Model([target, source], decoder([embedded, context]), name="seq2seq")


MASKED_IDS = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0], [7, 0, 0, 0, 0]])


@pytest.mark.filterwarnings("ignore:Layer 'enc'|Layer 'dec'")
def test_a_nested_encoder_called_on_a_masked_tensor_is_walked_with_its_mask():
    model = masked_encoder_model()
    calls = {c.key: c for c in layer_calls(model)}
    assert list(calls) == ["emb", "enc/lstm", "enc", "head"]  # Keras' not_equal mask op left out
    assert list(calls["enc"].keyword_inputs) == ["mask"] and len(calls["enc"].inputs) == 1
    assert shared_layers(model) == {}
    probe = keras.Model(model.inputs, [calls["enc/lstm"].outputs, calls["enc"].outputs])
    inner, whole = probe.predict(MASKED_IDS, verbose=0)
    embedded = keras.ops.convert_to_numpy(model.get_layer("emb")(MASKED_IDS))
    lstm = model.get_layer("enc").get_layer("lstm")
    masked = keras.ops.convert_to_numpy(lstm(embedded, mask=MASKED_IDS != 0))
    unmasked = keras.ops.convert_to_numpy(lstm(embedded))
    np.testing.assert_array_equal(inner, whole)
    np.testing.assert_allclose(inner, masked, atol=1e-6)
    assert np.abs(inner - unmasked).max() > 1e-3  # the mask matters, and the walk kept it


@pytest.mark.filterwarnings("ignore:Layer 'enc'|Layer 'dec'")
def test_a_nested_decoder_with_two_inputs_and_a_mask_is_walked_with_its_mask():
    model = masked_decoder_model()
    calls = {c.key: c for c in layer_calls(model)}
    assert list(calls) == ["emb", "ctx", "dec/dec_lstm", "dec/dec_out", "dec"]
    assert len(calls["dec"].inputs) == 2 and list(calls["dec"].keyword_inputs) == ["mask"]
    source = RNG.normal(size=(3, 6)).astype("float32")
    probe = keras.Model(model.inputs, [calls["dec/dec_out"].outputs, calls["dec"].outputs])
    inner, whole = probe.predict([MASKED_IDS, source], verbose=0)
    np.testing.assert_array_equal(inner, whole)
    np.testing.assert_allclose(whole, model.predict([MASKED_IDS, source], verbose=0), atol=1e-6)
    # The inner states are what the model computes: through dec_out they give its prediction.
    states = keras.Model(model.inputs, calls["dec/dec_lstm"].outputs).predict(
        [MASKED_IDS, source], verbose=0
    )
    kernel, bias = model.get_layer("dec").get_layer("dec_out").get_weights()
    np.testing.assert_allclose(states @ kernel + bias, whole, atol=1e-5)


def test_the_walk_of_a_masked_nested_model_adds_no_warning_of_its_own():
    with warnings.catch_warnings(record=True) as caught:  # filters as they are, registry reset
        model = masked_encoder_model()
        calls = layer_calls(model)
        keras.Model(model.inputs, calls[1].outputs).predict(MASKED_IDS, verbose=0)
    messages = [str(w.message) for w in caught]
    assert any(m.startswith("Layer 'enc'") for m in messages)  # Keras' own, about the model
    assert not [m for m in messages if "layer_calls__" in m]


def test_keyword_tensors_of_a_call_are_not_its_inputs():
    logits_in = keras.Input((4,), name="logits")
    allowed = keras.Input((4,), dtype="bool", name="allowed")
    probs = L.Softmax(name="probs")(L.Dense(4, name="head")(logits_in), mask=allowed)
    model = keras.Model([logits_in, allowed], probs, name="masked_head")
    call = {c.key: c for c in layer_calls(model)}["probs"]
    assert [id(t) for t in call.inputs] == [id(model.get_layer("head").output)]
    assert call.keyword_inputs == {"mask": allowed}


def test_keras_still_attaches_masks_to_symbolic_tensors():
    """If this fails, Keras changed how masks travel: fix helpers.shared._keras_mask."""
    ids = keras.Input((5,), dtype="int32", name="ids")
    embedded = L.Embedding(10, 3, mask_zero=True, name="emb")(ids)
    states = L.LSTM(2, return_sequences=True, name="lstm")(embedded)
    mask = shared._keras_mask(states)
    assert mask is not None and tuple(mask.shape) == (None, 5) and mask.dtype == "bool"
    assert shared._keras_mask(ids) is None
