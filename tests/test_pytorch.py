"""helpers.pytorch: PyTorch's layouts both ways, checked against its equations in NumPy."""

from __future__ import annotations

import re
import warnings

import keras
import numpy as np
import pytest
from keras import layers
from layer_helpers import X_SEQ, random_biases, value

from helpers import pytorch as P

RNG = np.random.default_rng(0)
pytestmark = pytest.mark.usefixtures("fresh_session")


def random_all(layer: keras.layers.Layer) -> None:
    """Give every float variable random values (variances positive), so that no conversion can
    pass by moving ones, zeros or equal values into the wrong place."""
    for v in layer.weights:
        v.assign(random_values(v.name, v.shape).astype(v.dtype))


def random_state(state: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Random float32 values for every float entry (variances positive), integers kept."""
    return {
        k: v if v.dtype.kind == "i" else random_values(k, v.shape).astype("float32")
        for k, v in state.items()
    }


def random_values(name: str, shape: tuple) -> np.ndarray:
    values = RNG.normal(size=shape)
    return np.abs(values) + 0.1 if "var" in name else values


def built(layer: keras.layers.Layer, x: np.ndarray) -> np.ndarray:
    """Call the layer once, randomise its biases, and return its output on x."""
    layer(x)
    random_biases(layer)
    return value(layer(x))


def test_dense_to_torch_linear():
    dense = layers.Dense(3, name="d")
    x = X_SEQ[:, 0]
    y = built(dense, x)
    state = P.to_torch_layout(dense)
    assert {k: v.shape for k, v in state.items()} == {"weight": (3, 4), "bias": (3,)}
    np.testing.assert_allclose(P.torch_linear(state, x), y, atol=1e-6)


def test_embedding_to_torch_embedding():
    emb = layers.Embedding(10, 3, name="e")
    ids = np.array([[1, 9, 0]])
    y = value(emb(ids))
    state = P.to_torch_layout(emb)
    assert state["weight"].shape == (10, 3)
    np.testing.assert_array_equal(state["weight"][ids], y)


def test_conv1d_to_torch_conv1d():
    conv = layers.Conv1D(6, 3, name="c")
    y = built(conv, X_SEQ)  # (batch, steps, filters)
    state = P.to_torch_layout(conv)
    assert state["weight"].shape == (6, 4, 3)  # (out, in, width)
    got = P.torch_conv(state, X_SEQ.transpose(0, 2, 1))  # PyTorch is channels first
    np.testing.assert_allclose(got.transpose(0, 2, 1), y, rtol=1e-5, atol=1e-5)


def test_conv2d_to_torch_conv2d():
    x = RNG.normal(size=(2, 6, 7, 3)).astype("float32")
    conv = layers.Conv2D(5, (2, 3), name="c")
    y = built(conv, x)
    state = P.to_torch_layout(conv)
    assert state["weight"].shape == (5, 3, 2, 3)  # (out, in, kh, kw)
    got = P.torch_conv(state, x.transpose(0, 3, 1, 2))
    np.testing.assert_allclose(got.transpose(0, 2, 3, 1), y, rtol=1e-5, atol=1e-5)


def test_conv3d_to_torch_conv3d():
    x = RNG.normal(size=(1, 4, 5, 3, 2)).astype("float32")
    conv = layers.Conv3D(2, (2, 3, 1), name="c")
    y = built(conv, x)
    state = P.to_torch_layout(conv)
    assert state["weight"].shape == (2, 2, 2, 3, 1)
    got = P.torch_conv(state, x.transpose(0, 4, 1, 2, 3))
    np.testing.assert_allclose(got.transpose(0, 2, 3, 4, 1), y, rtol=1e-5, atol=1e-5)


def test_torch_conv_is_the_cross_correlation_formula():
    w = RNG.normal(size=(2, 3, 2, 2))
    b = RNG.normal(size=2)
    x = RNG.normal(size=(1, 3, 4, 5))
    want = np.zeros((1, 2, 3, 4))
    for o in range(2):
        for p in range(3):
            for q in range(4):
                want[0, o, p, q] = b[o] + np.sum(w[o] * x[0, :, p : p + 2, q : q + 2])
    np.testing.assert_allclose(P.torch_conv({"weight": w, "bias": b}, x), want, atol=1e-12)
    with pytest.raises(ValueError, match=r"expected \(batch, in, \*spatial\) .* multiple of 3"):
        P.torch_conv({"weight": w}, x[:, :2])


@pytest.mark.parametrize(
    ("cls", "gates", "forward"), [(layers.LSTM, 4, P.torch_lstm), (layers.GRU, 3, P.torch_gru)]
)
def test_rnn_to_torch_rnn(cls, gates, forward):
    rnn = cls(3, return_sequences=True, name="rnn")
    y = built(rnn, X_SEQ)
    state = P.to_torch_layout(rnn)
    g = gates * 3
    shapes = {
        "weight_ih_l0": (g, 4),
        "weight_hh_l0": (g, 3),
        "bias_ih_l0": (g,),
        "bias_hh_l0": (g,),
    }
    assert {k: v.shape for k, v in state.items()} == shapes
    np.testing.assert_allclose(forward(state, X_SEQ), y, rtol=1e-5, atol=1e-5)


def test_torch_gru_starts_with_the_reset_gate():
    gru = layers.GRU(3, name="gru")
    gru.build((None, 5, 4))
    state = P.to_torch_layout(gru)
    kernel = value(gru.cell.kernel)  # Keras blocks z, r, h; PyTorch r, z, n
    np.testing.assert_array_equal(state["weight_ih_l0"][:3], kernel[:, 3:6].T)
    np.testing.assert_array_equal(state["weight_ih_l0"][3:6], kernel[:, :3].T)
    np.testing.assert_array_equal(state["weight_ih_l0"][6:], kernel[:, 6:].T)


def test_layers_without_bias_convert_without_bias_keys():
    for layer, x in [
        (layers.Dense(2, use_bias=False, name="d"), X_SEQ[:, 0]),
        (layers.LSTM(2, use_bias=False, return_sequences=True, name="l"), X_SEQ),
        (layers.GRU(2, use_bias=False, return_sequences=True, name="g"), X_SEQ),
    ]:
        y = value(layer(x))
        state = P.to_torch_layout(layer)
        assert not any("bias" in k for k in state)
        forward = {"Dense": P.torch_linear, "LSTM": P.torch_lstm, "GRU": P.torch_gru}
        np.testing.assert_allclose(forward[type(layer).__name__](state, x), y, rtol=1e-5, atol=1e-5)


def round_trip_layers() -> list[tuple[keras.layers.Layer, tuple]]:
    """One built-from-shape layer of every supported kind, in SUPPORTED_TORCH order, then a
    TimeDistributed layer."""
    return [
        (layers.Dense(3, name="d"), (None, 4)),
        (layers.Embedding(7, 3, name="e"), (None, 2)),
        (layers.Conv1D(3, 2, name="c1"), (None, 6, 4)),
        (layers.Conv2D(4, 2, groups=2, name="c2"), (None, 5, 5, 2)),
        (layers.Conv3D(2, 2, name="c3"), (None, 3, 3, 3, 2)),
        (layers.Conv1DTranspose(3, 2, strides=2, name="t1"), (None, 6, 4)),
        (layers.Conv2DTranspose(4, (2, 3), name="t2"), (None, 5, 5, 2)),
        (layers.Conv3DTranspose(2, 2, name="t3"), (None, 3, 3, 3, 2)),
        (layers.DepthwiseConv1D(2, depth_multiplier=2, name="dw1"), (None, 6, 3)),
        (layers.DepthwiseConv2D(2, depth_multiplier=3, name="dw2"), (None, 5, 5, 2)),
        (layers.SeparableConv1D(3, 2, depth_multiplier=2, name="sc1"), (None, 6, 3)),
        (layers.SeparableConv2D(3, 2, name="sc2"), (None, 5, 5, 2)),
        (layers.LSTM(3, name="l"), (None, 5, 4)),
        (layers.GRU(3, name="g"), (None, 5, 4)),
        (layers.SimpleRNN(3, activation="relu", name="r"), (None, 5, 4)),
        (layers.Bidirectional(layers.LSTM(3, name="l"), name="bi"), (None, 5, 4)),
        (layers.BatchNormalization(name="bn"), (None, 5, 3)),
        (layers.LayerNormalization(name="ln"), (None, 5, 3)),
        (layers.GroupNormalization(2, name="gn"), (None, 5, 4)),
        (layers.MultiHeadAttention(2, 3, name="mha"), (None, 5, 6)),
        (layers.TimeDistributed(layers.Conv1D(3, 2, name="c"), name="td"), (None, 4, 6, 2)),
    ]


def build(layer: keras.layers.Layer, shape: tuple) -> None:
    if isinstance(layer, layers.MultiHeadAttention):  # built on (query, value) shapes
        layer.build(shape, shape)
    else:
        layer.build(shape)


ROUND_TRIP = range(len(round_trip_layers()))


@pytest.mark.parametrize("index", ROUND_TRIP)
def test_round_trip_is_exact(index):
    layer, shape = round_trip_layers()[index]
    build(layer, shape)
    random_all(layer)
    before = [w.copy() for w in layer.get_weights()]
    P.from_torch_layout(layer, P.to_torch_layout(layer))
    for got, want in zip(layer.get_weights(), before, strict=True):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("index", ROUND_TRIP)
def test_loading_a_torch_state_then_exporting_gives_it_back(index):
    layer, shape = round_trip_layers()[index]
    build(layer, shape)
    state = random_state(P.to_torch_layout(layer))
    P.from_torch_layout(layer, state)
    back = P.to_torch_layout(layer)
    for suffix in ("", "_reverse"):
        if f"bias_hh_l0{suffix}" in state and isinstance(
            getattr(layer, "forward_layer", layer), (layers.LSTM, layers.SimpleRNN)
        ):
            # Keras keeps one LSTM bias: PyTorch's two come back as their float32 sum, exactly.
            np.testing.assert_array_equal(
                back.pop(f"bias_ih_l0{suffix}"),
                state.pop(f"bias_ih_l0{suffix}") + state.pop(f"bias_hh_l0{suffix}"),
            )
            assert not back.pop(f"bias_hh_l0{suffix}").any()
    assert back.keys() == state.keys()
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])


IMAGES = RNG.normal(size=(2, 6, 7, 3)).astype("float32")


def channels_first(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, -1, 1)


def channels_last(x: np.ndarray) -> np.ndarray:
    return np.moveaxis(x, 1, -1)


def test_batch_norm_to_torch_batch_norm_with_keras_epsilon():
    bn = layers.BatchNormalization(epsilon=1e-3, name="bn")
    bn.build(IMAGES.shape)
    random_all(bn)
    state = P.to_torch_layout(bn)
    shapes = {k: v.shape for k, v in state.items()}
    assert shapes == {
        "weight": (3,),
        "bias": (3,),
        "running_mean": (3,),
        "running_var": (3,),
        "num_batches_tracked": (),
    }
    assert state["num_batches_tracked"].dtype == np.int64
    y = value(bn(IMAGES, training=False))
    got = channels_last(P.torch_batch_norm(state, channels_first(IMAGES), eps=bn.epsilon))
    np.testing.assert_allclose(got, y, rtol=1e-5, atol=1e-5)
    # PyTorch's default eps (1e-5) is not Keras' (1e-3): with tiny variances it shows.
    bn.moving_variance.assign(np.full(3, 1e-3, dtype="float32"))
    y = value(bn(IMAGES, training=False))
    default_eps = channels_last(P.torch_batch_norm(P.to_torch_layout(bn), channels_first(IMAGES)))
    assert np.abs(default_eps - y).max() > 0.1


@pytest.mark.parametrize(("scale", "center"), [(False, True), (True, False), (False, False)])
def test_batch_norm_without_scale_or_center_converts_with_fixed_ones_or_zeros(scale, center):
    """InceptionV3's BatchNormalization(scale=False): PyTorch's weight is then all ones."""
    bn = layers.BatchNormalization(scale=scale, center=center, name="bn")
    bn.build(IMAGES.shape)
    random_all(bn)
    state = P.to_torch_layout(bn)
    assert ("weight" in state) == ("bias" in state) == (scale or center)  # affine or not
    if "weight" in state and not scale:
        assert (state["weight"] == 1).all()
    if "bias" in state and not center:
        assert (state["bias"] == 0).all()
    got = channels_last(P.torch_batch_norm(state, channels_first(IMAGES), eps=bn.epsilon))
    np.testing.assert_allclose(got, value(bn(IMAGES, training=False)), rtol=1e-5, atol=1e-5)
    before = [w.copy() for w in bn.get_weights()]
    P.from_torch_layout(bn, state)
    for got_w, want in zip(bn.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got_w, want)
    if "weight" in state and not scale:
        with pytest.raises(ValueError, match="'weight' .* must be all 1: the layer has scale"):
            P.from_torch_layout(bn, {**state, "weight": 2 * state["weight"]})


def test_batch_norm_momentum_is_one_minus_torch_momentum():
    """Keras: moving = m * moving + (1 - m) * batch; PyTorch: (1 - m') * running + m' * batch."""
    bn = layers.BatchNormalization(momentum=0.99, name="bn")
    bn.build(IMAGES.shape)
    before = bn.moving_mean.numpy().copy()
    bn(IMAGES, training=True)
    batch_mean = IMAGES.mean(axis=(0, 1, 2))
    torch_momentum = 1 - bn.momentum
    want = (1 - torch_momentum) * before + torch_momentum * batch_mean
    np.testing.assert_allclose(bn.moving_mean.numpy(), want, atol=1e-6)


def test_layer_norm_to_torch_layer_norm():
    ln = layers.LayerNormalization(epsilon=1e-6, name="ln")
    ln.build(X_SEQ.shape)
    random_all(ln)
    state = P.to_torch_layout(ln)
    assert {k: v.shape for k, v in state.items()} == {"weight": (4,), "bias": (4,)}
    got = P.torch_layer_norm(state, X_SEQ, eps=ln.epsilon)
    np.testing.assert_allclose(got, value(ln(X_SEQ)), rtol=1e-5, atol=1e-5)
    two = layers.LayerNormalization(axis=[-2, -1], scale=False, name="ln2")
    two.build(X_SEQ.shape)
    random_all(two)
    state = P.to_torch_layout(two)
    assert {k: v.shape for k, v in state.items()} == {"bias": (5, 4)}
    got = P.torch_layer_norm(state, X_SEQ, normalized_ndim=2, eps=two.epsilon)
    np.testing.assert_allclose(got, value(two(X_SEQ)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("multiplier", [1, 3])
def test_depthwise_conv_is_a_torch_grouped_conv(multiplier):
    conv = layers.DepthwiseConv2D((2, 3), depth_multiplier=multiplier, name="dw")
    conv.build(IMAGES.shape)
    random_all(conv)
    state = P.to_torch_layout(conv)
    assert state["weight"].shape == (3 * multiplier, 1, 2, 3)  # (in*mult, in/groups=1, kh, kw)
    got = channels_last(P.torch_conv(state, channels_first(IMAGES)))
    np.testing.assert_allclose(got, value(conv(IMAGES)), rtol=1e-5, atol=1e-5)


def test_grouped_conv_to_torch_grouped_conv():
    conv = layers.Conv2D(6, 2, groups=3, name="grouped")
    conv.build(IMAGES.shape)
    random_all(conv)
    state = P.to_torch_layout(conv)
    assert state["weight"].shape == (6, 1, 2, 2)
    got = channels_last(P.torch_conv(state, channels_first(IMAGES)))
    np.testing.assert_allclose(got, value(conv(IMAGES)), rtol=1e-5, atol=1e-5)


def test_separable_conv_is_a_depthwise_then_a_pointwise_torch_conv():
    conv = layers.SeparableConv2D(4, (2, 3), depth_multiplier=2, name="sc")
    conv.build(IMAGES.shape)
    random_all(conv)
    state = P.to_torch_layout(conv)
    assert {k: v.shape for k, v in state.items()} == {
        "depthwise.weight": (6, 1, 2, 3),
        "pointwise.weight": (4, 6, 1, 1),
        "pointwise.bias": (4,),
    }
    depthwise = P.torch_conv({"weight": state["depthwise.weight"]}, channels_first(IMAGES))
    pointwise = {"weight": state["pointwise.weight"], "bias": state["pointwise.bias"]}
    got = channels_last(P.torch_conv(pointwise, depthwise))
    np.testing.assert_allclose(got, value(conv(IMAGES)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("key_width", [8, 6])
def test_multi_head_attention_to_torch_multihead_attention(key_width):
    query = RNG.normal(size=(2, 5, 8)).astype("float32")
    memory = RNG.normal(size=(2, 4, key_width)).astype("float32")
    mha = layers.MultiHeadAttention(num_heads=2, key_dim=4, name="mha")
    mha(query, memory)
    random_all(mha)
    state = P.to_torch_layout(mha)
    shapes = {k: v.shape for k, v in state.items()}
    if key_width == 8:  # q, k, v of one width: PyTorch packs them
        assert shapes == {
            "in_proj_weight": (24, 8),
            "in_proj_bias": (24,),
            "out_proj.weight": (8, 8),
            "out_proj.bias": (8,),
        }
    else:  # PyTorch's kdim = vdim = 6
        assert shapes == {
            "q_proj_weight": (8, 8),
            "k_proj_weight": (8, 6),
            "v_proj_weight": (8, 6),
            "in_proj_bias": (24,),
            "out_proj.weight": (8, 8),
            "out_proj.bias": (8,),
        }
    got = P.torch_multihead_attention(state, query, memory, memory, num_heads=2)
    np.testing.assert_allclose(got, value(mha(query, memory)), rtol=1e-5, atol=1e-5)


def test_multi_head_attention_without_a_torch_counterpart_is_refused():
    query = RNG.normal(size=(2, 5, 8)).astype("float32")
    narrow = layers.MultiHeadAttention(num_heads=2, key_dim=3, name="narrow")
    narrow(query, query)
    with pytest.raises(ValueError, match=r"'narrow' has no nn.MultiheadAttention .* 2\*3"):
        P.to_torch_layout(narrow)
    reshaped = layers.MultiHeadAttention(num_heads=2, key_dim=4, output_shape=5, name="out5")
    reshaped(query, query)
    with pytest.raises(ValueError, match=r"output_shape=\(5,\) is set .* query width, \(8,\)"):
        P.to_torch_layout(reshaped)
    same = layers.MultiHeadAttention(num_heads=2, key_dim=4, output_shape=8, name="out8")
    same(query, query)
    random_all(same)
    got = P.torch_multihead_attention(P.to_torch_layout(same), query, query, query, num_heads=2)
    np.testing.assert_allclose(got, value(same(query, query)), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("cls", "forward"), [(layers.LSTM, P.torch_lstm), (layers.GRU, P.torch_gru)]
)
def test_bidirectional_to_torch_bidirectional_rnn(cls, forward):
    bi = layers.Bidirectional(cls(3, return_sequences=True, name="rnn"), name="bi")
    bi.build(X_SEQ.shape)
    random_all(bi)
    state = P.to_torch_layout(bi)
    names = ["weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"]
    assert sorted(state) == sorted([*names, *(f"{n}_reverse" for n in names)])
    np.testing.assert_allclose(forward(state, X_SEQ), value(bi(X_SEQ)), rtol=1e-5, atol=1e-5)


def test_bidirectional_without_a_torch_counterpart_is_refused():
    summed = layers.Bidirectional(layers.LSTM(2, name="l"), merge_mode="sum", name="sum")
    summed.build(X_SEQ.shape)
    with pytest.raises(ValueError, match="merge_mode='sum'; PyTorch's bidirectional RNN"):
        P.to_torch_layout(summed)
    mixed = layers.Bidirectional(
        layers.LSTM(2, name="l"), backward_layer=layers.GRU(2, go_backwards=True, name="g")
    )
    mixed.build(X_SEQ.shape)
    with pytest.raises(ValueError, match="wraps LSTM and GRU"):
        P.to_torch_layout(mixed)


def test_normalization_layers_without_a_torch_counterpart_are_refused():
    renorm = layers.BatchNormalization(renorm=True, name="renorm")
    renorm.build(IMAGES.shape)
    with pytest.raises(ValueError, match="'renorm' uses renorm=True"):
        P.to_torch_layout(renorm)
    middle = layers.LayerNormalization(axis=1, name="middle")
    middle.build(X_SEQ.shape)
    with pytest.raises(ValueError, match=r"normalizes over axis=\[1\]; nn.LayerNorm"):
        P.to_torch_layout(middle)


# ---------------------------------------------------------------- a whole model


def torch_ready_model() -> keras.Model:
    """A nested model, a custom block holding layers, and layers without weights."""

    class Block(keras.layers.Layer):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.norm = layers.LayerNormalization(name="norm")
            self.proj = layers.Dense(6, name="proj")

        def call(self, x):
            return self.proj(self.norm(x))

    inner_in = keras.Input((5, 6), name="inner_in")
    encoder = keras.Model(inner_in, layers.Dense(6, name="d")(inner_in), name="encoder")
    x = keras.Input((5, 4), name="x")
    h = layers.Dense(6, name="d")(x)
    h = layers.Dropout(0.1, name="drop")(encoder(h))
    h = Block(name="block")(h)
    h = layers.BatchNormalization(name="bn")(h)
    return keras.Model(x, layers.GRU(2, name="gru")(h), name="net")


def test_to_torch_layout_of_a_model_is_one_state_dict_keyed_by_layer_path():
    model = torch_ready_model()
    state = P.to_torch_layout(model)
    assert list(state) == [
        "d.weight",
        "d.bias",
        "encoder.d.weight",
        "encoder.d.bias",
        "block.norm.weight",
        "block.norm.bias",
        "block.proj.weight",
        "block.proj.bias",
        "bn.weight",
        "bn.bias",
        "bn.running_mean",
        "bn.running_var",
        "bn.num_batches_tracked",
        "gru.weight_ih_l0",
        "gru.weight_hh_l0",
        "gru.bias_ih_l0",
        "gru.bias_hh_l0",
    ]
    params = sum(v.size for k, v in state.items() if not k.endswith("num_batches_tracked"))
    assert params == model.count_params()  # a GRU with reset_after keeps both biases, as PyTorch
    np.testing.assert_array_equal(
        state["encoder.d.weight"], model.get_layer("encoder").get_layer("d").kernel.numpy().T
    )


def test_a_model_round_trips_through_its_torch_state_dict():
    model = torch_ready_model()
    random_all(model)
    x = X_SEQ
    before = model.predict(x, verbose=0)
    state = random_state(P.to_torch_layout(model))
    P.from_torch_layout(model, state)
    assert not np.allclose(model.predict(x, verbose=0), before)
    back = P.to_torch_layout(model)
    assert back.keys() == state.keys()
    for k in state:
        np.testing.assert_array_equal(back[k], state[k])


def test_a_model_with_layers_that_cannot_convert_lists_them_all_at_once():
    x = keras.Input((6, 6, 3), name="x")
    h = layers.EinsumDense("abcd,de->abce", (6, 6, 2), name="up")(x)
    h = layers.Conv2D(2, 2, name="ok")(h)
    h = layers.BatchNormalization(renorm=True, name="renorm")(h)
    h = layers.PReLU(name="prelu")(h)
    model = keras.Model(x, h, name="partly")
    with pytest.raises(ValueError) as info:
        P.to_torch_layout(model)
    message = str(info.value)
    assert message.startswith("to_torch_layout: 3 layer(s) of model 'partly' hold weights but")
    assert "up (EinsumDense)" in message and "prelu (PReLU)" in message
    assert "renorm: BatchNormalization 'renorm' uses renorm=True" in message
    assert "'ok'" not in message


def test_unsupported_layers_name_the_supported_ones():
    with pytest.raises(ValueError, match="supported: Dense, Embedding, Conv1D, Conv2D"):
        P.to_torch_layout(layers.PReLU(name="prelu"))


def test_gru_reset_before_has_no_torch_counterpart():
    gru = layers.GRU(3, reset_after=False, name="g")
    with pytest.raises(ValueError, match="reset_after=False, which has no exact PyTorch"):
        P.to_torch_layout(gru)


def test_non_default_rnn_activations_are_refused():
    with pytest.raises(ValueError, match="activation=relu, .*fixed to tanh and sigmoid"):
        P.to_torch_layout(layers.LSTM(2, activation="relu", name="l"))
    with pytest.raises(ValueError, match="recurrent_activation=hard_sigmoid;"):
        P.to_torch_layout(layers.GRU(2, recurrent_activation="hard_sigmoid", name="g"))


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
def test_go_backwards_rnns_are_refused_alone_and_convert_inside_a_bidirectional(cls):
    backwards = cls(3, go_backwards=True, return_sequences=True, name="back")
    y = value(backwards(X_SEQ))
    # Why: the same weights in nn.LSTM/GRU compute another function on x (it matches on x
    # reversed only), so a silent conversion would be wrong.
    forward = cls(3, return_sequences=True, name="fwd")
    forward(X_SEQ)
    forward.set_weights(backwards.get_weights())
    assert np.abs(value(forward(X_SEQ)) - y).max() > 1e-2
    np.testing.assert_allclose(value(forward(X_SEQ[:, ::-1])), y, atol=1e-5)
    with pytest.raises(ValueError, match=r"'back' has go_backwards=True: .*Bidirectional"):
        P.to_torch_layout(backwards)
    bi = layers.Bidirectional(cls(3, return_sequences=True, name="r"), name="bi")
    bi(X_SEQ)
    with pytest.raises(ValueError, match=r"'backward_r' has go_backwards=True"):
        P.to_torch_layout(bi.backward_layer)
    assert "weight_ih_l0_reverse" in P.to_torch_layout(bi)  # the whole wrapper converts
    inputs = keras.Input((5, 4), name="x")
    model = keras.Model(inputs, cls(3, go_backwards=True, name="back")(inputs))
    with pytest.raises(ValueError, match=r"1 layer\(s\) .*back: .*go_backwards=True"):
        P.to_torch_layout(model)


def test_a_lambda_activation_is_refused_without_a_warning_or_bytecode():
    lstm = layers.LSTM(2, activation=lambda t: keras.ops.tanh(t), name="l")
    lstm.build((None, 5, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError) as info:
            P.to_torch_layout(lstm)
    message = str(info.value)
    assert message.startswith("LSTM 'l' uses activation=<lambda>, recurrent_activation=sigmoid;")
    assert len(message) < 400  # no serialized function inside


def test_non_layers_are_a_type_error():
    with pytest.raises(TypeError, match="to_torch_layout expected a keras Layer or Model, got str"):
        P.to_torch_layout("dense")
    with pytest.raises(TypeError, match="from_torch_layout expected a keras Layer .*, got dict"):
        P.from_torch_layout({"weight": np.zeros((2, 2))}, {})


def test_supported_torch_kinds_are_the_ones_that_convert():
    assert P.SUPPORTED_TORCH == (
        "Dense",
        "Embedding",
        "Conv1D",
        "Conv2D",
        "Conv3D",
        "Conv1DTranspose",
        "Conv2DTranspose",
        "Conv3DTranspose",
        "DepthwiseConv1D",
        "DepthwiseConv2D",
        "SeparableConv1D",
        "SeparableConv2D",
        "LSTM",
        "GRU",
        "SimpleRNN",
        "Bidirectional",
        "BatchNormalization",
        "LayerNormalization",
        "GroupNormalization",
        "MultiHeadAttention",
    )
    kinds = [type(layer).__name__ for layer, _ in round_trip_layers()]
    assert kinds == [*P.SUPPORTED_TORCH, "TimeDistributed"]


def test_to_torch_layout_of_an_unbuilt_layer_says_how_to_build_it():
    with pytest.raises(ValueError, match=r"Dense 'd' was never built.*layer.build\(input_shape\)"):
        P.to_torch_layout(layers.Dense(2, name="d"))


def test_from_torch_layout_checks_everything_before_writing():
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    before = [w.copy() for w in dense.get_weights()]
    good = P.to_torch_layout(dense)
    with pytest.raises(KeyError, match=r"unexpected key 'weights'.*closest first\): \['weight'"):
        P.from_torch_layout(dense, {"weights": good["weight"], "bias": good["bias"]})
    with pytest.raises(KeyError, match=r"missing key\(s\) \['bias'\]"):
        P.from_torch_layout(dense, {"weight": good["weight"]})
    with pytest.raises(ValueError, match=r"'bias' .* has shape \(4,\); PyTorch's layout here is"):
        P.from_torch_layout(dense, {"weight": 2 * good["weight"], "bias": np.zeros(4)})
    with pytest.raises(TypeError, match="state must be a dict"):
        P.from_torch_layout(dense, [good["weight"], good["bias"]])
    for got, want in zip(dense.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)  # nothing was written by the failed calls


def test_from_torch_layout_checks_every_array_before_writing_any():
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    before = [w.copy() for w in dense.get_weights()]
    good = {k: 2 * v + 1 for k, v in P.to_torch_layout(dense).items()}
    with pytest.raises(TypeError, match=r"'bias' for Dense 'd' has dtype <U1; expected a float"):
        P.from_torch_layout(dense, {"weight": good["weight"], "bias": np.array(["a", "b", "c"])})
    with pytest.raises(TypeError, match="'weight' for Dense 'd' has dtype object"):
        P.from_torch_layout(dense, {"weight": good["weight"].astype(object), "bias": good["bias"]})
    nan_bias = good["bias"].copy()
    nan_bias[1] = np.nan
    with pytest.raises(
        ValueError, match=r"'bias' for Dense 'd' holds 1 non-finite value \(NaN or inf\): nan at \["
    ):
        P.from_torch_layout(dense, {"weight": good["weight"], "bias": nan_bias})
    inf_weight = good["weight"].copy()
    inf_weight[0, :2] = np.inf
    with pytest.raises(ValueError, match="'weight' for Dense 'd' holds 2 non-finite"):
        P.from_torch_layout(dense, {"weight": inf_weight, "bias": good["bias"]})
    for got, want in zip(dense.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)  # the kernel was not written before the bias


def test_from_torch_layout_of_a_model_writes_nothing_when_one_array_is_bad():
    model = torch_ready_model()
    before = [w.copy() for w in model.get_weights()]
    state = {k: v if v.dtype.kind == "i" else v + 1 for k, v in P.to_torch_layout(model).items()}
    state["gru.bias_hh_l0"] = np.full(6, np.nan, dtype="float32")  # the very last entry
    with pytest.raises(ValueError, match="'gru.bias_hh_l0' for GRU 'gru' holds 6 non-finite"):
        P.from_torch_layout(model, state)
    state["gru.bias_hh_l0"] = np.zeros(6, dtype="float32")
    state["bn.num_batches_tracked"] = np.array(1.5)
    with pytest.raises(TypeError, match="'bn.num_batches_tracked' .* expected an integer array"):
        P.from_torch_layout(model, state)
    for got, want in zip(model.get_weights(), before, strict=True):
        np.testing.assert_array_equal(got, want)


# ---------------------------------------------------------------- the mistakes the notebook shows


def test_mistake_loading_a_square_torch_linear_without_transposing():
    """(out, in) loaded as (in, out) raises nothing when in == out, but computes x @ W.T.T."""
    dense = layers.Dense(4, name="d")
    x = X_SEQ[:, 0]
    dense.build((None, 4))
    torch_state = {"weight": RNG.normal(size=(4, 4)).astype("float32"), "bias": np.zeros(4)}
    want = P.torch_linear(torch_state, x)
    dense.set_weights([torch_state["weight"], torch_state["bias"]])  # the mistake: no error
    assert not np.allclose(value(dense(x)), want, atol=1e-3)
    P.from_torch_layout(dense, torch_state)  # the fix
    np.testing.assert_allclose(value(dense(x)), want, rtol=1e-5, atol=1e-5)


def test_mistake_reshape_is_not_transpose():
    """Reshaping a (out, in) Linear weight to Keras' (in, out) fits set_weights but is wrong."""
    dense = layers.Dense(3, name="d")
    dense.build((None, 4))
    x = X_SEQ[:, 0]
    torch_state = {
        "weight": RNG.normal(size=(3, 4)).astype("float32"),
        "bias": RNG.normal(size=3).astype("float32"),
    }
    want = P.torch_linear(torch_state, x)
    dense.set_weights([torch_state["weight"].reshape(4, 3), torch_state["bias"]])  # no error
    assert not np.allclose(value(dense(x)), want, atol=1e-3)
    P.from_torch_layout(dense, torch_state)  # the fix: a transpose
    np.testing.assert_array_equal(dense.kernel.numpy(), torch_state["weight"].T)
    np.testing.assert_allclose(value(dense(x)), want, rtol=1e-5, atol=1e-5)


def test_mistake_copying_gru_gates_in_keras_order():
    gru = layers.GRU(3, return_sequences=True, name="g")
    y = built(gru, X_SEQ)
    wrong = {
        "weight_ih_l0": value(gru.cell.kernel).T,
        "weight_hh_l0": value(gru.cell.recurrent_kernel).T,
        "bias_ih_l0": value(gru.cell.bias)[0],
        "bias_hh_l0": value(gru.cell.bias)[1],
    }
    assert not np.allclose(P.torch_gru(wrong, X_SEQ), y, atol=1e-3)
    np.testing.assert_allclose(P.torch_gru(P.to_torch_layout(gru), X_SEQ), y, rtol=1e-5, atol=1e-5)


def test_a_trained_kernel_shows_which_input_features_matter():
    """The notebook's heatmap: only rows 0-2 of the kernel drive the targets, so they dominate."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(256, 12)).astype("float32")
    true_kernel = np.zeros((12, 4), dtype="float32")
    true_kernel[:3] = rng.choice([-1.5, 1.5], size=(3, 4))
    model = keras.Sequential([keras.Input((12,)), layers.Dense(4, name="dense")], name="reg")
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="mse")
    model.fit(x, x @ true_kernel, epochs=20, batch_size=64, verbose=0)
    strength = np.abs(model.get_layer("dense").get_weights()[0]).mean(axis=1)
    assert sorted(np.argsort(strength)[-3:].tolist()) == [0, 1, 2]
    assert strength[:3].min() > 10 * strength[3:].max()


@pytest.mark.parametrize(("dtype", "big"), [("float32", 1e300), ("float16", 1e5)])
def test_a_finite_value_that_overflows_the_variable_dtype_is_refused(dtype, big):
    dense = layers.Dense(2, dtype=dtype, name="d")
    dense.build((None, 3))
    before = [value(v).copy() for v in dense.weights]
    state = {k: v.astype("float64") for k, v in P.to_torch_layout(dense).items()}
    state["weight"][1, 2] = big
    match = rf"d/kernel \({dtype}\) holds {re.escape(str(big))}.* would load as inf"
    with pytest.raises(ValueError, match=match):
        P.from_torch_layout(dense, state)
    assert all(np.array_equal(value(v), b) for v, b in zip(dense.weights, before, strict=True))


def test_a_negative_running_var_is_refused():
    bn = layers.BatchNormalization(name="bn")
    bn.build((None, 3))
    state = P.to_torch_layout(bn)
    state["running_var"] = np.array([1.0, -1.0, 1.0], "float32")
    with pytest.raises(ValueError, match=r"'running_var' .* negative variance, -1.0 at \[1\]"):
        P.from_torch_layout(bn, state)


def test_two_layers_giving_the_same_keys_are_refused():
    x = keras.Input((3,), name="x")
    inner_in = keras.Input((3,), name="inner_in")
    enc = keras.Model(inner_in, layers.Dense(3, name="d")(inner_in), name="enc")
    y = layers.Dense(3, name="enc.d")(enc(x))
    model = keras.Model(x, y)
    for convert in (P.to_torch_layout, lambda m: P.from_torch_layout(m, {})):
        with pytest.raises(ValueError, match=r"give the same keys 'enc.d.\*': 'd' and 'enc.d'"):
            convert(model)


def test_a_layer_shared_by_an_outer_and_a_nested_model_needs_one_value():
    shared = layers.Dense(3, name="shared")
    inner_in = keras.Input((3,), name="inner_in")
    inner = keras.Model(inner_in, shared(inner_in), name="inner")
    x = keras.Input((3,), name="x")
    model = keras.Model(x, shared(inner(x)), name="outer")
    state = P.to_torch_layout(model)
    assert np.array_equal(state["shared.weight"], state["inner.shared.weight"])  # as PyTorch
    P.from_torch_layout(model, state)  # the same values: fine
    state["inner.shared.weight"] = state["inner.shared.weight"] + 1
    with pytest.raises(ValueError, match="'shared' is shared: .*different values"):
        P.from_torch_layout(model, state)


@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_simple_rnn_is_torch_rnn_alone_and_bidirectional(activation):
    rnn = layers.SimpleRNN(4, activation=activation, return_sequences=True, name="r")
    y = built(rnn, X_SEQ)
    state = P.to_torch_layout(rnn)
    assert {k: v.shape for k, v in state.items()} == {
        "weight_ih_l0": (4, 4), "weight_hh_l0": (4, 4), "bias_ih_l0": (4,), "bias_hh_l0": (4,)
    }  # fmt: skip
    np.testing.assert_allclose(P.torch_rnn(state, X_SEQ, activation), y, atol=1e-5)
    bi = layers.Bidirectional(
        layers.SimpleRNN(3, activation=activation, return_sequences=True, name="r"), name="bi"
    )
    y = built(bi, X_SEQ)
    np.testing.assert_allclose(P.torch_rnn(P.to_torch_layout(bi), X_SEQ, activation), y, atol=1e-5)


def test_simple_rnn_without_a_torch_nonlinearity_is_refused():
    rnn = layers.SimpleRNN(2, activation="sigmoid", name="s")
    rnn(X_SEQ)
    with pytest.raises(ValueError, match="activation=sigmoid; nn.RNN's nonlinearity is 'tanh'"):
        P.to_torch_layout(rnn)
    with pytest.raises(ValueError, match="nonlinearity must be 'tanh' or 'relu'"):
        P.torch_rnn({}, X_SEQ, "sigmoid")


# ---------------------------------------------------------------- transposed convs, GroupNorm


@pytest.mark.parametrize(
    ("make", "x"),
    [
        (lambda: layers.Conv1DTranspose(5, 3, strides=2, name="t"), X_SEQ),
        (lambda: layers.Conv1DTranspose(5, 2, strides=3, name="t"), X_SEQ),  # stride > kernel
        (lambda: layers.Conv2DTranspose(3, (3, 2), strides=(2, 1), name="t"), IMAGES),
    ],
)
def test_conv_transpose_to_torch_conv_transpose(make, x):
    conv = make()
    conv.build(x.shape)
    random_all(conv)
    state = P.to_torch_layout(conv)
    rank = x.ndim - 2
    # (in, out, *kernel), nothing flipped
    assert state["weight"].shape == (x.shape[-1], conv.filters, *conv.kernel_size)
    extra = [max(s - k, 0) for s, k in zip(conv.strides, conv.kernel_size, strict=True)]
    got = P.torch_conv_transpose(state, channels_first(x), conv.strides, 0, extra)
    np.testing.assert_allclose(channels_last(got), value(conv(x)), rtol=1e-5, atol=1e-5)
    assert got.ndim == rank + 2


def test_torch_conv_transpose_is_the_scatter_formula():
    w = RNG.normal(size=(3, 2, 3))  # (in, out, k)
    b = RNG.normal(size=2)
    x = RNG.normal(size=(1, 3, 4))
    stride, dilation, padding, extra = 2, 2, 1, 1
    full = np.zeros((1, 2, (4 - 1) * stride + dilation * (3 - 1) + 1 + extra))
    for i in range(4):
        for k in range(3):
            full[0, :, i * stride + k * dilation] += x[0, :, i] @ w[:, :, k]
    want = full[:, :, padding : full.shape[2] - padding] + b[:, None]
    got = P.torch_conv_transpose({"weight": w, "bias": b}, x, stride, padding, extra, dilation)
    assert got.shape == (1, 2, (4 - 1) * 2 - 2 * 1 + 2 * 2 + 1 + 1)  # PyTorch's output length
    np.testing.assert_allclose(got, want, atol=1e-12)


def test_torch_conv_transpose_bad_arguments_are_refused_before_work():
    w = {"weight": np.ones((2, 1, 3))}
    x = np.ones((1, 2, 4))
    with pytest.raises(ValueError, match=r"expected \(batch, 2, \*spatial\)"):
        P.torch_conv_transpose(w, np.ones((1, 3, 4)))
    with pytest.raises(ValueError, match="stride must be a positive int; got 0"):
        P.torch_conv_transpose(w, x, stride=0)
    with pytest.raises(TypeError, match="stride must be a positive int; got bool True"):
        P.torch_conv_transpose(w, x, stride=True)
    with pytest.raises(ValueError, match=r"output_padding=\(2,\) must be smaller than stride"):
        P.torch_conv_transpose(w, x, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding=.* leaves no output"):
        P.torch_conv_transpose(w, x, padding=3)


@pytest.mark.parametrize("affine", [True, False])
def test_group_norm_to_torch_group_norm(affine):
    x = RNG.normal(size=(2, 5, 3, 4)).astype("float32")
    norm = layers.GroupNormalization(2, scale=affine, center=affine, epsilon=1e-3, name="gn")
    norm.build(x.shape)
    random_all(norm)
    state = P.to_torch_layout(norm)
    assert {k: v.shape for k, v in state.items()} == (
        {"weight": (4,), "bias": (4,)} if affine else {}
    )
    got = channels_last(P.torch_group_norm(state, channels_first(x), 2, eps=norm.epsilon))
    np.testing.assert_allclose(got, value(norm(x)), rtol=1e-5, atol=1e-5)


def test_torch_group_norm_groups_contiguous_channels():
    x = np.array([[1.0, 3.0, 10.0, 30.0]])  # groups (1, 3) and (10, 30)
    np.testing.assert_allclose(P.torch_group_norm({}, x, 2, eps=0.0), [[-1, 1, -1, 1]])
    with pytest.raises(ValueError, match="num_groups=3 must divide the channels"):
        P.torch_group_norm({}, x, 3)
    with pytest.raises(TypeError, match="num_groups must be a positive int; got bool"):
        P.torch_group_norm({}, x, True)


def test_group_norm_with_only_scale_or_center_is_refused():
    norm = layers.GroupNormalization(2, center=False, name="half")
    norm.build((None, 4))
    with pytest.raises(ValueError, match="'half' has scale=True, center=False; nn.GroupNorm"):
        P.to_torch_layout(norm)


@pytest.mark.parametrize(
    ("inner", "x"),
    [
        (lambda: layers.Dense(3, name="d"), X_SEQ),
        (lambda: layers.Conv1D(3, 2, name="c"), RNG.normal(size=(2, 4, 6, 3)).astype("float32")),
    ],
)
def test_time_distributed_alone_is_its_inner_layer(inner, x):
    td = layers.TimeDistributed(inner(), name="td")
    y = built(td, x)
    state = P.to_torch_layout(td)
    assert state.keys() == P.to_torch_layout(td.layer).keys() == {"weight", "bias"}
    flat = x.reshape(-1, *x.shape[2:])  # PyTorch: the module on (batch * time, ...)
    if isinstance(td.layer, layers.Dense):
        got = P.torch_linear(state, flat)
    else:
        got = channels_last(P.torch_conv(state, channels_first(flat)))
    np.testing.assert_allclose(got.reshape(y.shape), y, rtol=1e-5, atol=1e-5)
    P.from_torch_layout(td, random_state(state))
    np.testing.assert_array_equal(value(td.layer.bias), P.to_torch_layout(td)["bias"])


def test_a_time_distributed_layer_without_a_layout_is_refused():
    td = layers.TimeDistributed(layers.PReLU(name="prelu"), name="td")
    td.build((None, 3, 4))
    with pytest.raises(ValueError, match="no PyTorch layout for PReLU 'prelu'.*TimeDistributed"):
        P.to_torch_layout(td)


# ---------------------------------------------------------------- torch_conv's arguments


def keras_same_padding(n: int, k: int, s: int, d: int) -> tuple[int, int]:
    """TensorFlow's and JAX's 'same': the total padding split with the odd one after."""
    span = d * (k - 1) + 1
    total = max((-(-n // s) - 1) * s + span - n, 0)
    return total // 2, total - total // 2


@pytest.mark.parametrize(
    ("kwargs", "torch_args"),
    [
        ({"strides": 2}, {"stride": 2}),
        ({"padding": "same"}, {"padding": "same"}),
        ({"dilation_rate": 2, "padding": "causal"}, {"dilation": 2, "padding": [(4, 0)]}),
        ({"groups": 2, "padding": "causal"}, {"groups": 2, "padding": [(2, 0)]}),
        (
            {"strides": 3, "padding": "same"},
            {"stride": 3, "padding": [keras_same_padding(11, 3, 3, 1)]},
        ),
    ],
)
def test_torch_conv_with_stride_padding_dilation_groups_is_keras_conv1d(kwargs, torch_args):
    x = RNG.normal(size=(2, 11, 4)).astype("float32")
    conv = layers.Conv1D(6, 3, name="c", **kwargs)
    conv.build(x.shape)
    random_all(conv)
    got = P.torch_conv(P.to_torch_layout(conv), channels_first(x), **torch_args)
    np.testing.assert_allclose(channels_last(got), value(conv(x)), rtol=1e-5, atol=1e-5)


def test_torch_conv2d_with_stride_padding_dilation_groups_is_keras_conv2d():
    x = RNG.normal(size=(2, 9, 8, 4)).astype("float32")
    conv = layers.Conv2D(6, (3, 2), strides=(2, 1), dilation_rate=1, groups=2, padding="same")
    conv.build(x.shape)
    random_all(conv)
    pads = [keras_same_padding(9, 3, 2, 1), keras_same_padding(8, 2, 1, 1)]
    got = P.torch_conv(P.to_torch_layout(conv), channels_first(x), (2, 1), pads, 1, 2)
    np.testing.assert_allclose(channels_last(got), value(conv(x)), rtol=1e-5, atol=1e-5)
    dilated = layers.Conv2D(4, 3, dilation_rate=(2, 1), padding="same", name="dil")
    dilated.build(x.shape)
    random_all(dilated)
    got = P.torch_conv(
        P.to_torch_layout(dilated), channels_first(x), dilation=(2, 1), padding="same"
    )
    np.testing.assert_allclose(channels_last(got), value(dilated(x)), rtol=1e-5, atol=1e-5)


def test_torch_conv_with_stride_and_dilation_is_the_formula():
    w = RNG.normal(size=(2, 3, 2))
    x = RNG.normal(size=(1, 3, 9))
    stride, dilation, (before, after) = 2, 3, (1, 2)
    padded = np.pad(x, ((0, 0), (0, 0), (before, after)))
    n = (padded.shape[2] - dilation * (2 - 1) - 1) // stride + 1
    want = np.zeros((1, 2, n))
    for o in range(2):
        for p in range(n):
            for k in range(2):
                want[0, o, p] += w[o, :, k] @ padded[0, :, p * stride + k * dilation]
    got = P.torch_conv({"weight": w}, x.tolist(), stride, [(before, after)], dilation)
    np.testing.assert_allclose(got, want, atol=1e-12)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"stride": 0}, ValueError, "stride must be a positive int; got 0"),
        ({"stride": True}, TypeError, "stride must be a positive int; got bool True"),
        (
            {"dilation": (1, 2)},
            ValueError,
            r"dilation=\(1, 2\) gives 2 values; expected one int or 1",
        ),
        ({"groups": 3}, ValueError, r"groups=3 does not fit x of shape \(1, 4, 6\)"),
        ({"groups": False}, TypeError, "groups must be a positive int; got bool False"),
        ({"padding": -1}, ValueError, "padding must be an int >= 0; got -1"),
        (
            {"padding": (2, 0)},
            ValueError,
            r"padding=\(2, 0\) gives 2 values.*\[\(2, 0\)\] for a causal",
        ),
        ({"padding": "causal"}, ValueError, "padding='causal': expected 'valid', 'same'"),
        ({"padding": "same", "stride": 2}, ValueError, "padding='same' needs stride 1"),
        (
            {"padding": [(1, 2, 3)]},
            ValueError,
            r"padding pair \(1, 2, 3\) must be \(before, after\)",
        ),
        (
            {"dilation": 3},
            ValueError,
            r"padded spatial shape \(6,\) is smaller than the dilated kernel \(7,\)",
        ),
    ],
)
def test_torch_conv_bad_arguments_are_refused_before_work(kwargs, error, match):
    with pytest.raises(error, match=match):
        P.torch_conv({"weight": np.ones((2, 2, 3))}, np.ones((1, 4, 6)), **kwargs)


# ---------------------------------------------------------------- sequences of different lengths

LENGTHS = np.array([5, 2, 4])
MASK = np.arange(5) < LENGTHS[:, None]
X_PADDED = np.where(MASK[..., None], X_SEQ, 0.0).astype("float32")  # post-padded with zeros
RNNS = [(layers.LSTM, P.torch_lstm), (layers.GRU, P.torch_gru), (layers.SimpleRNN, P.torch_rnn)]


def masked(layer: keras.layers.Layer) -> keras.Model:
    """`layer` after a Masking layer, so padded steps (all zeros) are skipped, as Keras users do."""
    x = keras.Input((5, 4))
    return keras.Model(x, layer(layers.Masking(0.0)(x)))


def first_state(state: object) -> np.ndarray:
    """h_n of torch_rnn/torch_gru, or h_n of torch_lstm's (h_n, c_n)."""
    return state[0] if isinstance(state, tuple) else state


@pytest.mark.parametrize(("cls", "forward"), RNNS)
def test_lengths_zero_padded_outputs_and_take_the_last_valid_state(cls, forward):
    rnn = cls(3, return_sequences=True, return_state=True, name="rnn")
    model = masked(rnn)
    random_biases(rnn)
    outputs, h, *rest = (value(t) for t in model(X_PADDED))
    state = P.to_torch_layout(rnn)
    got, final = forward(state, X_PADDED, lengths=LENGTHS, return_state=True)
    # Keras repeats the last valid output on masked steps; PyTorch's pad_packed_sequence has 0.
    assert np.abs(outputs[~MASK]).max() > 0.01
    assert not got[~MASK].any()
    np.testing.assert_allclose(got[MASK], outputs[MASK], rtol=1e-5, atol=1e-5)
    assert first_state(final).shape == (1, 3, 3)  # (directions, batch, units), as PyTorch
    np.testing.assert_allclose(first_state(final)[0], h, rtol=1e-5, atol=1e-5)
    if cls is layers.LSTM:
        np.testing.assert_allclose(final[1][0], rest[0], rtol=1e-5, atol=1e-5)
    # Without lengths the padding is read as input: the last state is another one.
    _, unpacked = forward(state, X_PADDED, return_state=True)
    assert np.abs(first_state(unpacked)[0] - h).max() > 0.01


@pytest.mark.parametrize(("cls", "forward"), RNNS)
def test_lengths_in_a_bidirectional_rnn_reverse_each_sequence_from_its_last_step(cls, forward):
    both = layers.Bidirectional(cls(3, return_sequences=True, name="rnn"), name="bi")
    last = layers.Bidirectional(cls(3, name="rnn"), name="bi_last")
    outputs = value(masked(both)(X_PADDED))
    value(masked(last)(X_PADDED))
    last.set_weights(both.get_weights())
    finals = value(masked(last)(X_PADDED))
    state = P.to_torch_layout(both)
    got, final = forward(state, X_PADDED, lengths=LENGTHS, return_state=True)
    np.testing.assert_allclose(got, outputs, rtol=1e-5, atol=1e-5)  # Keras zeros them here too
    h = first_state(final)
    assert h.shape == (2, 3, 3)
    np.testing.assert_allclose(np.concatenate([h[0], h[1]], -1), finals, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("lengths", "error", "match"),
    [
        (np.array([5, 6, 1]), ValueError, r"lengths\[1\] = 6: each length must be 1 ... 5"),
        (np.array([5, -1, 1]), ValueError, r"lengths\[1\] = -1: each length must be 1 ... 5"),
        (np.array([5, 0, 1]), ValueError, "pack_padded_sequence refuses 0"),
        (np.array([5, 2]), ValueError, r"lengths has shape \(2,\); expected \(3,\)"),
        (MASK, TypeError, "lengths must be integers .* got dtype bool.*mask.sum"),
        (np.array([5.0, 2.0, 4.0]), TypeError, "got dtype float64"),
    ],
)
def test_bad_lengths_are_refused_before_work(lengths, error, match):
    for cls, forward in RNNS:
        rnn = cls(2, name="rnn")
        rnn.build(X_SEQ.shape)
        with pytest.raises(error, match=match):
            forward(P.to_torch_layout(rnn), X_PADDED, lengths=lengths)


def test_return_state_must_be_a_bool_and_x_a_batch_of_sequences():
    rnn = layers.LSTM(2, name="rnn")
    rnn.build(X_SEQ.shape)
    state = P.to_torch_layout(rnn)
    with pytest.raises(TypeError, match="return_state must be True or False"):
        P.torch_lstm(state, X_SEQ, return_state=1)
    with pytest.raises(
        ValueError, match=r"x must be \(batch, time, features\); got shape \(5, 4\)"
    ):
        P.torch_lstm(state, X_SEQ[0])


# ---------------------------------------------------------------- MultiHeadAttention widths


def test_one_head_of_the_full_width_converts_and_more_heads_are_refused_saying_why():
    x = RNG.normal(size=(2, 5, 8)).astype("float32")
    one = layers.MultiHeadAttention(num_heads=1, key_dim=8, name="one")  # key_dim = E
    one(x, x)
    random_all(one)
    state = P.to_torch_layout(one)
    assert state["in_proj_weight"].shape == (24, 8)
    got = P.torch_multihead_attention(state, x, x, x, num_heads=1)
    np.testing.assert_allclose(got, value(one(x, x)), rtol=1e-5, atol=1e-5)
    keras_io = layers.MultiHeadAttention(num_heads=2, key_dim=8, name="keras_io")
    keras_io(x, x)
    with pytest.raises(ValueError, match=r"key_dim = value_dim = E / num_heads \(here 8 / 2\)"):
        P.to_torch_layout(keras_io)
    with pytest.raises(ValueError, match="key_dim = E .* converts with num_heads=1 only"):
        P.from_torch_layout(keras_io, state)


# ---------------------------------------------------------------- check_torch_layout


def check_cases() -> list[tuple[keras.layers.Layer, object]]:
    """(layer, Keras input) for every kind, with strides, dilation, causal and 'same' padding."""
    seq = RNG.normal(size=(2, 11, 4)).astype("float32")
    return [
        (layers.Dense(4, activation="relu", name="d"), seq),
        (layers.Embedding(7, 3, name="e"), np.array([[1, 6, 0]])),
        (layers.Conv1D(6, 3, strides=2, padding="same", name="c"), seq),
        (layers.Conv1D(6, 3, dilation_rate=2, padding="causal", groups=2, name="c"), seq),
        (
            layers.Conv2D(6, (3, 2), strides=(2, 3), padding="same", groups=2, name="c"),
            IMAGES[..., :2],
        ),
        (
            layers.DepthwiseConv2D(3, strides=2, padding="same", depth_multiplier=2, name="dw"),
            IMAGES,
        ),
        (layers.SeparableConv1D(5, 3, padding="same", dilation_rate=2, name="sc"), seq),
        (layers.Conv1DTranspose(5, 3, strides=2, name="t"), seq),
        (layers.Conv1DTranspose(5, 4, strides=2, padding="same", name="t"), seq),
        (layers.Conv2DTranspose(3, (3, 2), strides=(2, 1), name="t"), IMAGES),
        (layers.LSTM(3, name="l"), seq),
        (layers.GRU(3, return_sequences=True, name="g"), seq),
        (layers.SimpleRNN(3, activation="relu", name="r"), seq),
        (layers.Bidirectional(layers.GRU(3, name="g"), name="bi"), seq),
        (layers.Bidirectional(layers.LSTM(3, return_sequences=True, name="l"), name="bi"), seq),
        (layers.BatchNormalization(name="bn"), IMAGES),
        (layers.LayerNormalization(name="ln"), seq),
        (layers.GroupNormalization(2, name="gn"), seq),
        (layers.MultiHeadAttention(2, 2, name="mha"), seq),
        (layers.TimeDistributed(layers.Conv1D(3, 2, name="c"), name="td"), IMAGES),
    ]


@pytest.mark.parametrize("index", range(len(check_cases())))
def test_check_torch_layout_agrees_with_every_converted_layer(index):
    layer, x = check_cases()[index]
    run = (
        (lambda: layer(x, x))
        if isinstance(layer, layers.MultiHeadAttention)
        else (lambda: layer(x))
    )
    run()
    random_all(layer)
    # float32 rounding grows with the outputs (a relu SimpleRNN's reach 10 or more), so the
    # bound is relative to the largest output, and absolute below 1.
    scale = max(1.0, float(np.abs(value(run())).max()))
    assert P.check_torch_layout(layer, P.to_torch_layout(layer), x) < 1e-5 * scale


def test_check_torch_layout_of_attention_takes_query_value_and_key():
    query = RNG.normal(size=(2, 5, 4)).astype("float32")
    memory = RNG.normal(size=(2, 3, 6)).astype("float32")
    mha = layers.MultiHeadAttention(2, 2, name="mha")
    mha(query, memory)
    random_all(mha)
    state = P.to_torch_layout(mha)
    assert P.check_torch_layout(mha, state, (query, memory)) < 1e-5
    assert P.check_torch_layout(mha, state, (query, memory, memory)) < 1e-5
    with pytest.raises(ValueError, match="is 4 arrays; give query, .*\\(query, value, key\\)"):
        P.check_torch_layout(mha, state, (query,) * 4)


def planted(layer: keras.layers.Layer, x: np.ndarray, mistake) -> float:
    """check_torch_layout's error for the layer's state with one `mistake` planted in it."""
    layer(x, x) if isinstance(layer, layers.MultiHeadAttention) else layer(x)
    random_all(layer)
    state = P.to_torch_layout(layer)
    assert P.check_torch_layout(layer, state, x) < 1e-5
    return P.check_torch_layout(layer, mistake(state), x)


def swapped_gates(name: str, order: list[int]):
    def mistake(state):
        gates = len(order)
        return {
            k: np.concatenate([np.split(v, gates)[i] for i in order]) if name in k else v
            for k, v in state.items()
        }

    return mistake


def swapped_directions(state):
    return {
        (k.removesuffix("_reverse") if k.endswith("_reverse") else f"{k}_reverse"): v
        for k, v in state.items()
    }


@pytest.mark.parametrize(
    ("make", "x", "mistake"),
    [  # each mistake keeps every shape: from_torch_layout would accept it
        (lambda: layers.Dense(4, name="d"), X_SEQ, lambda s: {**s, "weight": s["weight"].T}),
        (lambda: layers.LSTM(3, name="l"), X_SEQ, swapped_gates("weight", [1, 0, 2, 3])),
        (lambda: layers.GRU(3, name="g"), X_SEQ, swapped_gates("_l0", [1, 0, 2])),  # Keras' z, r
        (
            lambda: layers.Bidirectional(layers.LSTM(3, name="l"), name="bi"),
            X_SEQ,
            swapped_directions,
        ),
        (
            lambda: layers.MultiHeadAttention(2, 2, name="mha"),
            X_SEQ,
            swapped_gates("in_proj", [1, 0, 2]),  # k stacked before q
        ),
        (
            lambda: layers.Conv2D(3, 3, name="c"),
            IMAGES,
            lambda s: {**s, "weight": s["weight"].swapaxes(2, 3)},  # kh and kw swapped
        ),
        (
            lambda: layers.BatchNormalization(name="bn"),
            IMAGES,
            lambda s: {
                **s,
                "running_mean": s["running_var"],
                "running_var": s["running_mean"] ** 2,
            },
        ),
    ],
)
def test_check_torch_layout_catches_the_mistakes_shapes_cannot(make, x, mistake):
    assert planted(make(), x, mistake) > 0.05


def test_check_torch_layout_refuses_bad_input_before_running():
    dense = layers.Dense(2, name="d")
    dense.build((None, 4))
    state = P.to_torch_layout(dense)
    with pytest.raises(KeyError, match="missing key"):
        P.check_torch_layout(dense, {"weight": state["weight"]}, X_SEQ)
    with pytest.raises(ValueError, match=r"'weight' for Dense 'd' has shape \(4, 2\)"):
        P.check_torch_layout(dense, {**state, "weight": state["weight"].T}, X_SEQ)
    with pytest.raises(
        TypeError, match="x for Dense 'd' has dtype <U1; expected an array of floats"
    ):
        P.check_torch_layout(dense, state, np.array(["a"]))
    model = keras.Sequential([keras.Input((4,)), dense])
    with pytest.raises(ValueError, match="checks one layer, and 'sequential' is a model"):
        P.check_torch_layout(model, state, X_SEQ)
    td = layers.TimeDistributed(keras.Sequential([keras.Input((4,)), dense]), name="td")
    td.build((None, 5, 4))
    with pytest.raises(ValueError, match="checks one layer, and 'td' holds a model"):
        P.check_torch_layout(td, P.to_torch_layout(td), X_SEQ)
    same = layers.Conv1DTranspose(2, 3, strides=2, padding="same", name="odd")
    same.build(X_SEQ.shape)
    with pytest.raises(ValueError, match="'odd' has padding='same' .* cannot express"):
        P.check_torch_layout(same, P.to_torch_layout(same), X_SEQ)
