"""helpers.weights: weight shapes and axis names, LSTM gates (PyTorch layouts: test_pytorch.py)."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from keras import layers
from layer_helpers import X_SEQ, random_biases, value

from helpers import _layers
from helpers import pytorch as P
from helpers import weights as W

RNG = np.random.default_rng(0)
pytestmark = pytest.mark.usefixtures("fresh_session")


def mixed_model() -> keras.Model:
    """Functional model with a Bidirectional LSTM, a shared Dense and a BatchNormalization."""
    inputs = keras.Input((5, 4), name="x")
    h = layers.Bidirectional(layers.LSTM(3, name="lstm"), name="bi")(inputs)
    h = layers.Dense(6, name="pre")(h)
    shared = layers.Dense(6, name="shared")
    h = shared(shared(h))
    h = layers.BatchNormalization(name="bn")(h)
    return keras.Model(inputs, h, name="mixed")


def conv_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            layers.Conv2D(4, (3, 2), name="c2"),
            layers.DepthwiseConv2D(3, depth_multiplier=2, name="dw"),
            layers.SeparableConv2D(5, 1, name="sep"),
            layers.Conv2DTranspose(2, 2, name="tr"),
            layers.Reshape((-1, 2), name="flat"),
            layers.Conv1D(3, 2, name="c1"),
            layers.GRU(2, name="gru"),
            layers.LayerNormalization(name="ln"),
        ],
        name="convs",
    )


def text_model() -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            layers.Embedding(20, 4, name="emb"),
            layers.GRU(3, reset_after=False, return_sequences=True, name="gru_v1"),
            layers.SimpleRNN(2, name="rnn"),
        ],
        name="text",
    )


MODELS = [mixed_model, conv_model, text_model]


# ---------------------------------------------------------------- weight_table


@pytest.mark.parametrize("make", MODELS)
def test_rows_match_the_variables_and_count_params(make):
    model = make()
    rows = W.weight_table(model)
    assert [r.path for r in rows] == [v.path for v in model.weights]
    for row, v in zip(rows, model.weights, strict=True):
        assert row.shape == tuple(v.shape)
        assert len(row.axes) == len(row.shape)
        assert row.params == int(np.prod(v.shape))
        assert row.trainable == v.trainable
        assert any(w is v for w in model.get_layer(row.layer).weights)
    assert sum(r.params for r in rows) == model.count_params()


@pytest.mark.parametrize("make", MODELS)
def test_format_ends_with_totals_equal_to_count_params(make):
    model = make()
    text = W.format_weight_table(W.weight_table(model))
    trainable = sum(int(np.prod(v.shape)) for v in model.trainable_weights)
    assert text.splitlines()[-3:] == [
        f"Total params: {model.count_params():,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {model.count_params() - trainable:,}",
    ]
    for v in model.weights:
        assert v.path in text


def test_a_shared_layer_is_counted_once():
    model = mixed_model()
    rows = W.weight_table(model)
    shared = [r for r in rows if r.layer == "shared"]
    assert [r.path for r in shared] == ["shared/kernel", "shared/bias"]
    assert len({r.path for r in rows}) == len(rows)


class Tied(layers.Layer):
    """Holds another layer's kernel as its own weight (tied weights)."""

    def __init__(self, source: layers.Dense, **kwargs):
        super().__init__(**kwargs)
        self.source = source

    def build(self, input_shape):
        self.tied = self.source.kernel

    def call(self, x):
        return keras.ops.matmul(x, keras.ops.transpose(self.tied))


def test_a_variable_held_by_two_layers_is_counted_once():
    inputs = keras.Input((3,))
    encoder = layers.Dense(5, name="enc")
    model = keras.Model(inputs, Tied(encoder, name="dec")(encoder(inputs)))
    rows = W.weight_table(model)
    assert [r.path for r in rows] == ["enc/kernel", "enc/bias"]
    assert rows[0].axes == ("input_dim", "units")
    assert sum(r.params for r in rows) == model.count_params() == 20


class Scale(layers.Layer):
    def build(self, input_shape):
        self.scale = self.add_weight(shape=(2, input_shape[-1]), name="scale")

    def call(self, x):
        return x * self.scale[0]


def test_unknown_layers_get_generic_axis_names():
    model = keras.Sequential([keras.Input((3,)), Scale(name="scale_layer")])
    (row,) = W.weight_table(model)
    assert (row.layer, row.shape, row.axes) == ("scale_layer", (2, 3), ("dim0", "dim1"))


AXES = {
    "pre/kernel": ("input_dim", "units"),
    "pre/bias": ("units",),
    "bi/forward_lstm/lstm_cell/kernel": ("input_dim", "4*units (i,f,c,o)"),
    "bi/backward_lstm/lstm_cell/recurrent_kernel": ("units", "4*units (i,f,c,o)"),
    "bi/backward_lstm/lstm_cell/bias": ("4*units (i,f,c,o)",),
    "bn/gamma": ("features",),
    "bn/moving_variance": ("features",),
    "convs/c2/kernel": ("kernel_h", "kernel_w", "in_channels", "filters"),
    "convs/c2/bias": ("filters",),
    "convs/dw/kernel": ("kernel_h", "kernel_w", "in_channels", "depth_multiplier"),
    "convs/sep/pointwise_kernel": ("1", "1", "in_channels*depth_multiplier", "filters"),
    "convs/tr/kernel": ("kernel_h", "kernel_w", "filters", "in_channels"),
    "convs/c1/kernel": ("kernel_w", "in_channels", "filters"),
    "convs/gru/gru_cell/kernel": ("input_dim", "3*units (z,r,h)"),
    "convs/gru/gru_cell/bias": ("input|recurrent", "3*units (z,r,h)"),
    "convs/ln/beta": ("features",),
    "text/emb/embeddings": ("vocab", "embed_dim"),
    "text/gru_v1/gru_cell/bias": ("3*units (z,r,h)",),
    "text/rnn/simple_rnn_cell/recurrent_kernel": ("units", "units"),
}


def test_axes_name_every_supported_layer_kind():
    found = {r.path: r for make in MODELS for r in W.weight_table(make())}
    for path, axes in AXES.items():
        assert found[path].axes == axes, path
    # The named axes really are those sizes.
    assert found["convs/c2/kernel"].shape == (3, 2, 3, 4)
    assert found["convs/tr/kernel"].shape == (2, 2, 2, 5)  # transposed conv: (kh, kw, filters, in)
    assert found["convs/gru/gru_cell/bias"].shape == (2, 6)
    assert found["text/gru_v1/gru_cell/bias"].shape == (9,)


def test_batch_norm_statistics_are_not_trainable():
    rows = {r.path: r.trainable for r in W.weight_table(mixed_model()) if r.layer == "bn"}
    assert rows == {
        "bn/gamma": True,
        "bn/beta": True,
        "bn/moving_mean": False,
        "bn/moving_variance": False,
    }


def test_batch_norm_statistics_move_in_training_mode_only():
    bn = layers.BatchNormalization(name="bn")
    x = RNG.normal(loc=3.0, size=(8, 3)).astype("float32")
    bn(x, training=False)
    before = [w.copy() for w in bn.get_weights()]
    bn(x, training=False)
    assert all(np.array_equal(a, b) for a, b in zip(before, bn.get_weights(), strict=True))
    bn(x, training=True)
    moved = [not np.array_equal(a, b) for a, b in zip(before, bn.get_weights(), strict=True)]
    assert moved == [False, False, True, True]  # gamma, beta, moving_mean, moving_variance


def test_batch_norm_inference_formula():
    bn = layers.BatchNormalization(name="bn")
    bn.build((None, 3))
    bn.set_weights([RNG.uniform(0.5, 2.0, size=3).astype("float32") for _ in range(4)])
    gamma, beta, mean, var = bn.get_weights()
    x = RNG.normal(size=(4, 3)).astype("float32")
    want = gamma * (x - mean) / np.sqrt(var + bn.epsilon) + beta
    np.testing.assert_allclose(value(bn(x, training=False)), want, rtol=1e-5, atol=1e-5)


def test_conv_kernel_layout_does_not_depend_on_data_format():
    last = layers.Conv2D(5, (2, 3), name="last")
    last.build((None, 6, 7, 3))
    first = layers.Conv2D(5, (2, 3), data_format="channels_first", name="first")
    first.build((None, 3, 6, 7))
    assert tuple(first.kernel.shape) == tuple(last.kernel.shape) == (2, 3, 3, 5)


def test_weight_table_of_a_single_layer():
    dense = layers.Dense(2, name="solo")
    dense.build((None, 3))
    rows = W.weight_table(dense)
    assert [(r.layer, r.shape, r.axes) for r in rows] == [
        ("solo", (3, 2), ("input_dim", "units")),
        ("solo", (2,), ("units",)),
    ]


def test_an_unbuilt_model_says_how_to_build_it():
    model = keras.Sequential([layers.Dense(2, name="d")], name="lazy")
    with pytest.raises(ValueError, match="Sequential 'lazy' was never built") as info:
        W.weight_table(model)
    assert "keras.Input(shape=...)" in str(info.value)
    assert "model(x[:1])" in str(info.value)


def test_weight_table_rejects_non_layers():
    with pytest.raises(TypeError, match="weight_table expected a keras Layer or Model, got list"):
        W.weight_table([1, 2])


def test_format_weight_table_says_to_pass_weight_table_of_the_model():
    model = mixed_model()
    with pytest.raises(
        TypeError, match=r"returned by weight_table\(model\), got Functional \(pass weight_table"
    ):
        W.format_weight_table(model)
    with pytest.raises(TypeError, match="got a list containing str$"):
        W.format_weight_table(["row"])
    with pytest.raises(TypeError, match="got a list containing Variable"):
        W.format_weight_table(model.weights)


def test_numpy_conversions_of_a_variable():
    """np.asarray(variable) (what helpers.weights uses) is silent on every backend, and the
    helpers return writable copies; np.array(variable) warns (and Variable.numpy() on JAX)."""
    dense = layers.Dense(2, name="d")
    dense.build((None, 3))
    lstm = layers.LSTM(2, name="l")
    lstm.build((None, 4, 3))
    before = np.asarray(dense.kernel).copy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for array in [*P.to_torch_layout(dense).values(), W.lstm_gates(lstm)["input"]["kernel"]]:
            array += 1.0  # a writable copy, not a view of the variable
        P.to_torch_layout(lstm)
    np.testing.assert_array_equal(np.asarray(dense.kernel), before)
    with pytest.warns(DeprecationWarning, match="copy keyword"):
        np.array(dense.kernel)


def test_private_keras_attributes_still_work():
    """helpers._layers is the one place that uses private Keras attributes: fail loudly here."""
    model = mixed_model()
    own = [(sub.name, [v.path for v in vs]) for sub, vs in _layers.own_weights(model)]
    assert own[0] == ("mixed", [])  # the model itself comes first
    assert ("shared", ["shared/kernel", "shared/bias"]) in own
    assert ("bi", []) in own and ("forward_lstm", []) in own
    cells = sorted(paths for name, paths in own if name == "lstm_cell")
    assert cells == [
        [f"bi/{d}_lstm/lstm_cell/{n}" for n in ("kernel", "recurrent_kernel", "bias")]
        for d in ("backward", "forward")
    ]


# ---------------------------------------------------------------- Keras facts the notebook teaches


def test_dense_is_x_at_kernel_plus_bias():
    dense = layers.Dense(32, name="hidden")
    x = RNG.normal(size=(4, 2000)).astype("float32")
    y = value(dense(x))
    kernel, bias = dense.get_weights()
    assert kernel.shape == (2000, 32) and bias.shape == (32,)
    np.testing.assert_allclose(y, x @ kernel + bias, rtol=1e-5, atol=1e-5)


def test_functional_layers_include_the_input_layer_sequential_does_not():
    inputs = keras.Input((3,), name="x")
    functional = keras.Model(inputs, layers.Dense(2, name="d")(inputs))
    sequential = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="d2")])
    assert [type(layer).__name__ for layer in functional.layers] == ["InputLayer", "Dense"]
    assert [type(layer).__name__ for layer in sequential.layers] == ["Dense"]
    assert functional.layers[0].get_weights() == []


def test_variable_name_is_short_and_path_is_unique_when_every_layer_name_is():
    model = mixed_model()  # no two layers share a name, at any depth, except the two cells
    kernels = [v for v in model.weights if v.name == "kernel"]
    assert len(kernels) > 1  # "kernel" alone cannot identify a variable
    assert len({v.path for v in model.weights}) == len(model.weights)
    for array, v in zip(model.get_weights(), model.weights, strict=True):
        np.testing.assert_array_equal(array, v.numpy())  # get_weights follows model.weights


def test_functional_paths_leave_out_the_model_name_sequential_paths_include_it():
    inputs = keras.Input((3,), name="x")
    functional = keras.Model(inputs, layers.Dense(2, name="body")(inputs), name="func")
    sequential = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="body")], name="seq")
    assert [v.path for v in functional.weights] == ["body/kernel", "body/bias"]
    assert [v.path for v in sequential.weights] == ["seq/body/kernel", "seq/body/bias"]


def nested_functional() -> keras.Model:
    """A Functional model holding a Functional 'inner'; both contain a Dense named 'd'."""
    x = keras.Input((3,), name="x_inner")
    inner = keras.Model(x, layers.Dense(2, name="d")(x), name="inner")
    y = keras.Input((3,), name="x_outer")
    return keras.Model(y, layers.Dense(4, name="d")(inner(y)), name="outer")


def test_nested_models_can_give_two_variables_the_same_path():
    model = nested_functional()
    assert [v.path for v in model.weights] == ["d/kernel", "d/bias", "d/kernel", "d/bias"]
    assert model.weights[0] is not model.weights[2]  # two variables, one path
    # weight_table keys on the variable objects, so all four rows are there, told apart by layer.
    rows = W.weight_table(model)
    assert [(r.layer, r.path, r.shape) for r in rows] == [
        ("inner", "d/kernel", (3, 2)),
        ("inner", "d/bias", (2,)),
        ("d", "d/kernel", (2, 4)),
        ("d", "d/bias", (4,)),
    ]
    assert sum(r.params for r in rows) == model.count_params() == 8 + 12
    body = W.format_weight_table(rows).splitlines()[2:6]
    assert len(set(body)) == 4
    assert body[0].split()[:2] == ["inner", "d/kernel"] and body[2].split()[:2] == ["d", "d/kernel"]


def test_keras_refuses_a_repeated_name_within_one_level_only():
    x = keras.Input((3,), name="x")
    with pytest.raises(ValueError, match='The name "d" is used 2 times in the model'):
        keras.Model(x, layers.Dense(2, name="d")(layers.Dense(2, name="d")(x)))
    model = nested_functional()  # "d" once per level: accepted
    by_path = {v.path: v.numpy() for v in model.weights}  # the notebook's mistake
    assert len(by_path) == 2 and by_path["d/kernel"].shape == (2, 4)


def test_names_unique_across_the_whole_model_give_unique_paths():
    x = keras.Input((3,), name="x_inner")
    inner = keras.Model(x, layers.Dense(2, name="inner_d")(x), name="inner")
    y = keras.Input((3,), name="x_outer")
    outer = keras.Model(y, layers.Dense(4, name="outer_d")(inner(y)), name="outer")
    paths = [v.path for v in outer.weights]
    assert paths == ["inner_d/kernel", "inner_d/bias", "outer_d/kernel", "outer_d/bias"]
    assert outer.get_layer("inner").get_layer("inner_d").kernel is outer.weights[0]


def test_nested_sequential_models_keep_their_names_in_the_path():
    inner = keras.Sequential([keras.Input((3,)), layers.Dense(2, name="d")], name="inner")
    outer = keras.Sequential([keras.Input((3,)), inner, layers.Dense(4, name="d")], name="outer")
    assert [v.path for v in outer.weights] == [
        "inner/d/kernel",
        "inner/d/bias",
        "outer/d/kernel",
        "outer/d/bias",
    ]


def test_set_weights_errors_name_the_problem():
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    kernel, bias = dense.get_weights()
    with pytest.raises(ValueError, match="weight list of length 1, but the layer was expecting 2"):
        dense.set_weights([kernel])
    with pytest.raises(ValueError, match=r"weight shape \(4, 3\) is not compatible .* \(3, 4\)"):
        dense.set_weights([kernel.T, bias])


def test_bidirectional_weights_are_forward_then_backward():
    model = mixed_model()
    bi = model.get_layer("bi")
    paths = [v.path for v in bi.weights]
    assert [p.split("/")[1] for p in paths] == ["forward_lstm"] * 3 + ["backward_lstm"] * 3
    assert len(bi.get_weights()) == 6
    for got, want in zip(bi.get_weights()[:3], bi.forward_layer.get_weights(), strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- LSTM gates


def numpy_lstm(gates: dict, x: np.ndarray, go_backwards: bool = False) -> np.ndarray:
    """An LSTM from gate slices: i, f, o sigmoid, candidate tanh; every step's h."""
    g = {name: (p["kernel"], p["recurrent_kernel"], p["bias"]) for name, p in gates.items()}

    def pre(name, x_t, h):
        k, r, b = g[name]
        return x_t @ k + h @ r + b

    def sigmoid(a):
        return 1 / (1 + np.exp(-a))

    units = gates["input"]["bias"].shape[0]
    h = np.zeros((x.shape[0], units), "float32")
    c = np.zeros_like(h)
    steps = range(x.shape[1] - 1, -1, -1) if go_backwards else range(x.shape[1])
    out = []
    for t in steps:
        i = sigmoid(pre("input", x[:, t], h))
        f = sigmoid(pre("forget", x[:, t], h))
        c = f * c + i * np.tanh(pre("cell", x[:, t], h))
        h = sigmoid(pre("output", x[:, t], h)) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def test_gate_slices_reproduce_the_lstm():
    lstm = layers.LSTM(3, return_sequences=True, name="lstm")
    y = value(lstm(X_SEQ))
    random_biases(lstm)
    y = value(lstm(X_SEQ))
    gates = W.lstm_gates(lstm)
    assert list(gates) == ["input", "forget", "cell", "output"]
    for parts in gates.values():
        assert parts["kernel"].shape == (4, 3)
        assert parts["recurrent_kernel"].shape == (3, 3)
        assert parts["bias"].shape == (3,)
    np.testing.assert_allclose(numpy_lstm(gates, X_SEQ), y, rtol=1e-5, atol=1e-5)


def test_gate_order_puts_the_forget_gate_second():
    """unit_forget_bias=True sets the forget gate's bias to 1: it must land in slice 2 of 4."""
    lstm = layers.LSTM(3, unit_forget_bias=True, name="lstm")
    lstm.build((None, 5, 4))
    gates = W.lstm_gates(lstm)
    assert {k: float(v["bias"].sum()) for k, v in gates.items()} == {
        "input": 0.0,
        "forget": 3.0,
        "cell": 0.0,
        "output": 0.0,
    }


def test_gates_of_both_directions_reproduce_the_bidirectional_output():
    bi = layers.Bidirectional(layers.LSTM(3, name="lstm"), name="bi")
    bi.build((None, 5, 4))
    random_biases(bi)
    y = value(bi(X_SEQ))
    forward = numpy_lstm(W.lstm_gates(bi.forward_layer), X_SEQ)[:, -1]
    backward = numpy_lstm(W.lstm_gates(bi.backward_layer), X_SEQ, go_backwards=True)[:, -1]
    np.testing.assert_allclose(np.concatenate([forward, backward], axis=1), y, rtol=1e-5, atol=1e-5)


def test_lstm_gates_without_bias_are_zero():
    lstm = layers.LSTM(2, use_bias=False, name="lstm")
    lstm.build((None, 5, 4))
    assert all(not g["bias"].any() and g["bias"].shape == (2,) for g in W.lstm_gates(lstm).values())


def test_lstm_gates_errors():
    with pytest.raises(TypeError, match=r"lstm_gates expected a keras Layer .*, got ndarray"):
        W.lstm_gates(np.zeros(3))
    bi = layers.Bidirectional(layers.LSTM(3, name="lstm"), name="bi")
    with pytest.raises(ValueError, match=r"pass one direction: `bi.forward_layer`"):
        W.lstm_gates(bi)
    with pytest.raises(ValueError, match="needs an LSTM or LSTMCell layer, got GRU 'g'"):
        W.lstm_gates(layers.GRU(2, name="g"))
    with pytest.raises(ValueError, match="LSTM 'lazy' was never built"):
        W.lstm_gates(layers.LSTM(2, name="lazy"))


def test_attention_and_group_norm_axes_are_named():
    q, v = keras.Input((4, 6), name="q"), keras.Input((5, 8), name="v")
    h = layers.MultiHeadAttention(2, 3, value_dim=4, name="mha")(q, v)
    model = keras.Model([q, v], layers.GroupNormalization(2, name="gn")(h))
    axes = {r.path: r.axes for r in W.weight_table(model)}
    assert axes == {
        "mha/query/kernel": ("input_dim", "num_heads", "key_dim"),
        "mha/query/bias": ("num_heads", "key_dim"),
        "mha/key/kernel": ("input_dim", "num_heads", "key_dim"),
        "mha/key/bias": ("num_heads", "key_dim"),
        "mha/value/kernel": ("input_dim", "num_heads", "value_dim"),
        "mha/value/bias": ("num_heads", "value_dim"),
        "mha/attention_output/kernel": ("num_heads", "value_dim", "output_dim"),
        "mha/attention_output/bias": ("output_dim",),
        "gn/gamma": ("features",),
        "gn/beta": ("features",),
    }


def test_conv_lstm_einsum_prelu_and_wrapped_axes_are_named():
    frames = keras.Input((5, 6, 6, 2), name="frames")
    h = layers.ConvLSTM2D(3, (2, 3), name="clstm")(frames)  # (batch, 5, 4, 3)
    h = layers.PReLU(shared_axes=[1], name="prelu")(h)
    h = layers.EinsumDense("abcd,de->abce", (5, 4, 7), bias_axes="e", name="ein")(h)
    h = layers.EinsumDense("...c,ce->...e", 5, name="ein_nobias")(h)
    h = layers.SpectralNormalization(layers.Dense(2, name="inner"), name="sn")(h)
    model = keras.Model(frames, h)
    rows = {r.path: (r.shape, r.axes) for r in W.weight_table(model)}
    gates = "4*filters (i,f,c,o)"
    assert rows["clstm/conv_lstm_cell/kernel"] == (
        (2, 3, 2, 12),
        ("kernel_h", "kernel_w", "in_channels", gates),
    )
    assert rows["clstm/conv_lstm_cell/recurrent_kernel"] == (
        (2, 3, 3, 12),
        ("kernel_h", "kernel_w", "filters", gates),
    )
    assert rows["clstm/conv_lstm_cell/bias"] == ((12,), (gates,))
    assert rows["prelu/alpha"] == ((1, 4, 3), ("1 (shared)", "axis2", "features"))
    assert rows["ein/kernel"] == ((3, 7), ("d (in)", "e (out)"))
    assert rows["ein/bias"] == ((7,), ("e (out)",))
    assert rows["ein_nobias/kernel"] == ((7, 5), ("c (in)", "e (out)"))
    assert rows["sn/inner/kernel"] == ((5, 2), ("input_dim", "units"))
    assert rows["sn/vector_u"] == ((1, 2), ("1", "units"))


def test_einsum_bias_broadcast_axes_are_ones():
    x = keras.Input((4, 3))
    dense = layers.EinsumDense("abc,cde->abde", (4, 2, 5), bias_axes="d", name="ein")
    model = keras.Model(x, dense(x))
    rows = {r.path: (r.shape, r.axes) for r in W.weight_table(model)}
    assert rows["ein/kernel"] == ((3, 2, 5), ("c (in)", "d (out)", "e (out)"))
    assert rows["ein/bias"] == ((2, 1), ("d (out)", "1"))


@pytest.mark.parametrize(
    "shape, layer",
    [
        ((3, 6, 2), layers.ConvLSTM1D(2, 3)),
        ((6, 6, 6, 2), layers.Conv3D(2, 3)),
        ((6, 6, 6, 2), layers.Conv3DTranspose(2, 2)),
        ((6, 6, 2), layers.SeparableConv2D(3, 3, depth_multiplier=2)),
        ((6, 6, 2), layers.DepthwiseConv2D(3)),
        ((5, 4), layers.LayerNormalization()),
        ((5, 4), layers.PReLU()),
        ((5, 4), layers.AdditiveAttention()),
        ((5, 4), layers.Attention(use_scale=True)),
        ((5, 4), layers.RMSNormalization()),
        ((5, 4), layers.Normalization(axis=(1, 2))),
    ],
    ids=lambda p: type(p).__name__ if isinstance(p, layers.Layer) else None,
)
def test_common_layers_get_no_generic_axis_names(shape, layer):
    x = keras.Input(shape)
    attention = isinstance(layer, (layers.Attention, layers.AdditiveAttention))
    model = keras.Model(x, layer([x, x]) if attention else layer(x))
    rows = W.weight_table(model)
    assert rows and all(not a.startswith("dim") for r in rows for a in r.axes), rows
    assert all(len(r.axes) == len(r.shape) for r in rows)


def test_normalization_statistics_name_the_kept_axes():
    x = keras.Input((5, 4))
    per_feature, per_position = layers.Normalization(), layers.Normalization(axis=(1, 2))
    data = RNG.normal(size=(8, 5, 4)).astype("float32")
    per_feature.adapt(data)
    per_position.adapt(data)
    model = keras.Model(x, [per_feature(x), per_position(x)])
    rows = {r.path: (r.shape, r.axes) for r in W.weight_table(model) if r.shape}
    assert sorted(rows.values()) == [
        ((4,), ("features",)),
        ((4,), ("features",)),
        ((5, 4), ("axis1", "axis2")),
        ((5, 4), ("axis1", "axis2")),
    ]
