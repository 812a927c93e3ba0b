"""Tests for helpers.activations: extract, feature_extractor, extract_to_disk."""

from __future__ import annotations

import gc
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import weakref
import zlib

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest
import tensorflow as tf

from helpers import _featurefolder, activations
from helpers._files import LOCK_FILE
from helpers.activations import (
    activation_names,
    extract,
    extract_to_disk,
    feature_extractor,
    index_entry,
    load_features,
    verify_features,
)

L = keras.layers
RNG = np.random.default_rng(0)
CLOSE = {"rtol": 1e-5, "atol": 1e-6}


def files(folder) -> list[str]:
    """The names in ``folder`` (a finished or failed run leaves no lock file)."""
    return sorted(p.name for p in folder.iterdir())


def data(*shape: int) -> np.ndarray:
    return RNG.normal(size=shape).astype("float32")


def tokens(n: int, length: int = 12, vocab: int = 30) -> np.ndarray:
    return RNG.integers(0, vocab, (n, length)).astype("int32")


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session(free_memory=False)  # its gc.collect: ~0.7 s a test
    keras.utils.set_random_seed(0)


def textcnn(length: int = 12, vocab: int = 30) -> keras.Model:
    """A small TextCNN, as in seed 003: embedding, 3 conv widths, pooling, Dense 'extractor'."""
    inp = keras.Input((length,), dtype="int32", name="tokens")
    emb = L.Embedding(vocab, 8, name="embedding")(inp)
    pooled = []
    for width in (3, 4, 5):
        conv = L.Conv1D(4, width, padding="same", activation="relu", name=f"conv{width}")(emb)
        pooled.append(L.MaxPooling1D(2, name=f"pool{width}")(conv))
    h = L.Flatten(name="flatten")(L.Concatenate(name="concat")(pooled))
    h = L.Dense(6, activation="relu", name="extractor")(h)
    out = L.Dense(3, activation="softmax", name="softmax")(L.Dropout(0.5, name="dropout")(h))
    return keras.Model(inp, out, name="textcnn")


def sub_model(model: keras.Model, name: str, x) -> np.ndarray:
    """The classic per-layer reference: a sub-model to one layer's output, then predict."""
    return keras.Model(model.inputs, model.get_layer(name).output).predict(x, verbose=0)


# --- extract equals a per-layer sub-model, for each kind of model ----------------------------


def test_functional_every_layer_matches_one_sub_model_per_layer():
    model, x = textcnn(), tokens(40)
    acts = extract(model, x, batch_size=16)
    names = [layer.name for layer in model.layers[1:]]
    assert sorted(acts) == sorted(names)
    assert list(acts) == activation_names(model)
    for name in names:
        np.testing.assert_allclose(acts[name], sub_model(model, name, x), **CLOSE)
    assert acts["extractor"].shape == (40, 6)
    assert acts["embedding"].shape == (40, 12, 8)


def test_returns_the_layers_asked_for_in_that_order():
    model, x = textcnn(), tokens(10)
    acts = extract(model, x, ["extractor", "conv4"])
    assert list(acts) == ["extractor", "conv4"]
    assert all(isinstance(a, np.ndarray) for a in acts.values())


def test_sequential_with_input():
    model = keras.Sequential(
        [keras.Input((5,)), L.Dense(4, name="d1"), L.Dense(2, name="d2")], name="seq"
    )
    x = data(20, 5)
    acts = extract(model, x, batch_size=8)
    assert list(acts) == ["d1", "d2"]
    np.testing.assert_allclose(acts["d1"], sub_model(model, "d1", x), **CLOSE)
    np.testing.assert_allclose(acts["d2"], model.predict(x, verbose=0), **CLOSE)


def test_sequential_without_input_is_built_from_the_data():
    model = keras.Sequential([L.Dense(4, name="d1"), L.Dense(2, name="d2")], name="unbuilt")
    x = data(20, 5)
    acts = extract(model, x, ["d1"])
    assert model.built and tuple(model.inputs[0].shape) == (None, 5)
    np.testing.assert_allclose(acts["d1"], sub_model(model, "d1", x), **CLOSE)


def test_sequential_without_input_from_a_generator_of_batches():
    model = keras.Sequential([L.Embedding(30, 4, name="emb"), L.Flatten(name="flat")], name="seq")
    x = tokens(9)
    acts = extract(model, (x[i : i + 4] for i in range(0, 9, 4)), ["flat"])
    np.testing.assert_allclose(acts["flat"], sub_model(model, "flat", x), **CLOSE)


def test_nested_models_name_inner_layers_outer_slash_inner():
    inner_seq = keras.Sequential(
        [keras.Input((5,)), L.Dense(4, name="s1"), L.Dense(3, name="s2")], name="block"
    )
    e_in = keras.Input((3,), name="e_in")
    encoder = keras.Model(e_in, L.Dense(2, name="e1")(e_in), name="encoder")
    x_in = keras.Input((5,), name="x")
    out = L.Dense(1, name="head")(encoder(inner_seq(x_in)))
    model = keras.Model(x_in, out, name="outer")
    x = data(11, 5)
    acts = extract(model, x, batch_size=4)
    assert activation_names(model) == [
        "block/s1", "block/s2", "block", "encoder/e1", "encoder", "head"
    ]  # fmt: skip
    block_in = x
    np.testing.assert_allclose(acts["block/s1"], sub_model(inner_seq, "s1", block_in), **CLOSE)
    np.testing.assert_allclose(acts["block"], inner_seq.predict(x, verbose=0), **CLOSE)
    np.testing.assert_allclose(acts["encoder/e1"], sub_model(encoder, "e1", acts["block"]), **CLOSE)
    np.testing.assert_allclose(acts["head"], model.predict(x, verbose=0), **CLOSE)


def siamese() -> keras.Model:
    e_in = keras.Input((4,), name="e_in")
    encoder = keras.Model(e_in, L.Dense(3, activation="tanh", name="e_dense")(e_in), name="encoder")
    a, b = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    merged = L.Concatenate(name="merge")([encoder(a), encoder(b)])
    return keras.Model([a, b], L.Dense(1, name="head")(merged), name="siamese")


def test_siamese_nested_model_called_twice_names_each_call():
    model = siamese()
    left, right = data(7, 4), data(7, 4)
    acts = extract(model, [left, right], ["encoder", "encoder/e_dense"])
    assert list(acts) == ["encoder@0", "encoder@1", "encoder/e_dense@0", "encoder/e_dense@1"]
    encoder = model.get_layer("encoder")
    np.testing.assert_allclose(acts["encoder@0"], encoder.predict(left, verbose=0), **CLOSE)
    np.testing.assert_allclose(acts["encoder@1"], encoder.predict(right, verbose=0), **CLOSE)
    np.testing.assert_allclose(acts["encoder/e_dense@1"], acts["encoder@1"], **CLOSE)


def two_in_two_out() -> keras.Model:
    a, b = keras.Input((3,), name="a"), keras.Input((2,), name="b")
    h = L.Dense(4, name="mix")(L.Concatenate(name="cat")([a, b]))
    return keras.Model([a, b], [L.Dense(1, name="y1")(h), L.Dense(2, name="y2")(h)], name="mimo")


def test_multi_input_list_and_dict_give_the_same_activations():
    model = two_in_two_out()
    a, b = data(13, 3), data(13, 2)
    from_list = extract(model, [a, b], batch_size=5)
    from_dict = extract(model, {"b": b, "a": a}, batch_size=5)
    y1, y2 = model.predict([a, b], verbose=0)
    for name in ("cat", "mix", "y1", "y2"):
        np.testing.assert_array_equal(from_list[name], from_dict[name])
    np.testing.assert_allclose(from_list["y1"], y1, **CLOSE)
    np.testing.assert_allclose(from_list["y2"], y2, **CLOSE)
    np.testing.assert_allclose(from_list["mix"], sub_model(model, "mix", [a, b]), **CLOSE)


def shared_dense_model() -> tuple[keras.Model, list]:
    x = keras.Input((3,), name="x")
    dense = L.Dense(3, name="dense")
    first = dense(x)
    second = dense(L.Activation("relu", name="relu")(first))
    return keras.Model(x, L.Dense(1, name="out")(second), name="twice"), [first, second]


def test_a_layer_called_twice_gives_name_at_k_in_call_order():
    model, outputs = shared_dense_model()
    x = data(9, 3)
    acts = extract(model, x, ["dense"])  # the plain name stands for every call
    assert list(acts) == ["dense@0", "dense@1"]
    for k, tensor in enumerate(outputs):
        reference = keras.Model(model.inputs, tensor).predict(x, verbose=0)
        np.testing.assert_allclose(acts[f"dense@{k}"], reference, **CLOSE)
    assert list(extract(model, x, ["dense@1"])) == ["dense@1"]


def test_a_layer_with_several_outputs_gives_key_index():
    x_in = keras.Input((5, 3), name="seq")
    out, h, c = L.LSTM(4, return_state=True, name="lstm")(x_in)
    model = keras.Model(x_in, L.Dense(1, name="head")(L.Concatenate(name="cat")([out, h, c])))
    x = data(6, 5, 3)
    acts = extract(model, x, ["lstm"])
    assert list(acts) == ["lstm[0]", "lstm[1]", "lstm[2]"]
    reference = keras.Model(model.inputs, [out, h, c]).predict(x, verbose=0)
    for k in range(3):
        np.testing.assert_allclose(acts[f"lstm[{k}]"], reference[k], **CLOSE)
    assert list(extract(model, x, ["lstm[1]"])) == ["lstm[1]"]


# --- data plumbing ---------------------------------------------------------------------------


def test_every_kind_of_data_gives_the_same_arrays_in_input_order():
    model, x = textcnn(), tokens(23)
    y = np.zeros(23)
    expected = sub_model(model, "extractor", x)
    batches = [x[i : i + 5] for i in range(0, 23, 5)]
    sources = {
        "array": x,
        "generator of x": iter(batches),
        "list of (x, y)": [(b, y[: len(b)]) for b in batches],
        "generator of (x,)": ((b,) for b in batches),
        "tf.data (x, y)": tf.data.Dataset.from_tensor_slices((x, y)).batch(5),
        "tf.data x": tf.data.Dataset.from_tensor_slices(x).batch(7),
        "TensorFlow tensor": tf.constant(x),  # on JAX too: each batch becomes numpy
        "generator of TensorFlow tensors": (tf.constant(b) for b in batches),
    }
    for kind, source in sources.items():
        got = extract(model, source, ["extractor"], batch_size=5)["extractor"]
        assert got.shape == (23, 6), kind
        np.testing.assert_allclose(got, expected, **CLOSE, err_msg=kind)


def test_a_dict_keyed_by_input_name_also_works_for_one_input():
    model, x = textcnn(), tokens(9)
    from_dict = extract(model, {"tokens": x}, ["extractor"])["extractor"]
    np.testing.assert_array_equal(from_dict, extract(model, x, ["extractor"])["extractor"])


def test_batch_size_does_not_change_the_result():
    model, x = textcnn(), tokens(30)
    whole = extract(model, x, ["extractor"], batch_size=30)["extractor"]
    small = extract(model, x, ["extractor"], batch_size=7)["extractor"]
    np.testing.assert_allclose(small, whole, **CLOSE)


class _TraceCounter(keras.layers.Layer):
    """Identity whose Python body runs once per trace of the compiled step, never per batch."""

    traces = 0

    def call(self, x):
        type(self).traces += 1
        return x


def test_a_short_last_batch_is_padded_so_the_step_is_traced_once_and_rows_trimmed():
    inputs = keras.Input((3,), name="x")
    counted = _TraceCounter(name="counted")(keras.layers.Dense(4, name="d")(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="out")(counted), name="m")
    x = data(10, 3)
    feature_extractor(model, ["d", "out"])  # built (one symbolic call) before counting
    _TraceCounter.traces = 0
    got = extract(model, x, ["d", "out"], batch_size=4)  # batches of 4, 4 and 2 (+2 padded)
    assert _TraceCounter.traces == 1  # unpadded, the batch of 2 would trace a second time
    assert got["out"].shape == (10, 2) and got["d"].shape == (10, 4)
    np.testing.assert_allclose(got["out"], sub_model(model, "out", x), atol=1e-6)
    np.testing.assert_allclose(got["d"], sub_model(model, "d", x), atol=1e-6)


def test_unbatched_dataset_is_refused_with_a_hint():
    model = textcnn()
    with pytest.raises(ValueError, match=r"expects batches of shape \(None, 12\).*dataset.batch"):
        extract(model, tf.data.Dataset.from_tensor_slices(tokens(4)), ["extractor"])
    with pytest.raises(ValueError, match=r"got \(12,\) \(one sample needs a batch axis: x\[None\]"):
        extract(model, tokens(1)[0], ["extractor"])


@pytest.mark.parametrize(
    ("x", "error", "message"),
    [
        ("not data", TypeError, "data must be a numpy array.*got str"),
        (5, TypeError, "got int"),
        (np.zeros((0, 12), "int32"), ValueError, "0 samples"),
        (iter([]), ValueError, "no batches"),
        ([np.zeros((3, 12)), np.zeros((4, 12))], ValueError, r"first \(batch\) size.*\(4, 12\)"),
        ([np.zeros((3, 12)), np.zeros((3, 12))], ValueError, r"takes 1 input.*2 array"),
        ({"wrong": np.zeros((3, 12))}, ValueError, r"inputs named \['tokens'\].*\['wrong'\]"),
        (iter([(1, 2, 3, 4)]), ValueError, r"\(x, y, sample_weight\).*4 items"),
    ],
)
def test_bad_data_is_refused_saying_what_was_given(x, error, message):
    with pytest.raises(error, match=message):
        extract(textcnn(), x, ["extractor"])


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"batch_size": 0}, ValueError, r"batch_size must be a positive int; got 0\."),
        ({"batch_size": 2.5}, TypeError, r"batch_size must be a positive int; got float 2\.5"),
        ({"batch_size": True}, TypeError, r"batch_size must be a positive int; got bool True"),
        ({"layers": []}, ValueError, "layers is empty"),
        ({"layers": [3]}, TypeError, r"strings; got 3 \(int\)"),
        ({"layers": 3}, TypeError, "got int"),
    ],
)
def test_bad_arguments_are_refused(kwargs, error, message):
    with pytest.raises(error, match=message):
        extract(textcnn(), tokens(3), **kwargs)


def test_a_numpy_int_batch_size_is_accepted():
    model, x = textcnn(), tokens(10)
    got = extract(model, x, ["extractor"], batch_size=np.int64(4))["extractor"]
    np.testing.assert_array_equal(got, extract(model, x, ["extractor"], batch_size=4)["extractor"])


def test_unknown_name_raises_key_error_listing_valid_names_closest_first():
    model = textcnn()
    with pytest.raises(KeyError) as excinfo:
        extract(model, tokens(3), ["extracter"])
    message = excinfo.value.args[0]
    assert "no layer named 'extracter' in model 'textcnn'" in message
    listed = message.split("closest first: ")[1]
    assert listed.startswith("'extractor'")
    assert all(f"'{name}'" in listed for name in activation_names(model))


def test_an_unknown_name_is_refused_before_any_data_is_read():
    read = []

    def batches():
        read.append(1)
        yield tokens(3)

    with pytest.raises(KeyError, match="extracter"):
        extract(textcnn(), batches(), ["extracter"])
    assert read == []


def test_a_model_without_a_graph_says_how_to_build_it():
    with pytest.raises(ValueError, match=r"keras.Input\(shape=...\).*model.build"):
        feature_extractor(keras.Sequential([L.Dense(2)], name="seq"), ["x"])
    with pytest.raises(TypeError, match="keras.Model; got Dense"):
        extract(L.Dense(2), data(2, 2))


def test_a_subclassed_model_says_wrap_it_even_after_it_was_called_or_built():
    class Subclassed(keras.Model):
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            self.dense = L.Dense(2, name="dense")

        def call(self, x):
            return self.dense(x)

    model = Subclassed(name="sub")
    model(data(2, 3))  # called once on data, and built: still no graph to cut
    model.build((None, 3))
    wrap = r"subclassed model.*Wrap it in a functional model.*keras.Model\(inp, model\(inp\)\)"
    with pytest.raises(ValueError, match=wrap):
        feature_extractor(model, ["dense"])
    with pytest.raises(ValueError, match=wrap):
        extract(model, data(2, 3))
    # the advice works: the wrapped model's output is the activation named after the model
    inp = keras.Input((3,), name="x")
    wrapped = keras.Model(inp, model(inp))
    x = data(2, 3)
    np.testing.assert_allclose(extract(wrapped, x, ["sub"])["sub"], model(x), rtol=1e-6)
    with pytest.raises(TypeError, match="keras.Model; got Dense"):
        extract(L.Dense(2), data(2, 2))


# --- feature_extractor: one model, built once --------------------------------------------------


def test_feature_extractor_is_cached_and_extract_reuses_it(monkeypatch):
    model, x = textcnn(), tokens(20)
    fx = feature_extractor(model, ["extractor"])
    assert feature_extractor(model, ["extractor"]) is fx
    assert feature_extractor(model, "extractor") is fx  # one name as a str: same request
    assert feature_extractor(model, ["extractor", "conv3"]) is not fx
    walks, steps = [], []
    walk = activations.layer_calls
    monkeypatch.setattr(activations, "layer_calls", lambda m: walks.append(m) or walk(m))
    real_step = fx.predict_on_batch
    monkeypatch.setattr(fx, "predict_on_batch", lambda b: steps.append(len(b)) or real_step(b))
    for _ in range(2):
        extract(model, x, ["extractor"], batch_size=8)
    assert walks == []  # no graph walk, no new sub-model
    assert steps == [8, 8, 8, 8, 8, 8]  # one compiled step per batch (last: 4 rows + 4 padded)


def test_feature_extractor_returns_a_dict_model_and_follows_sequential_add():
    model = keras.Sequential([keras.Input((3,)), L.Dense(2, name="d1")], name="grow")
    fx = feature_extractor(model)
    assert isinstance(fx.predict(data(4, 3), verbose=0), dict)
    model.add(L.Dense(5, name="d2"))
    grown = feature_extractor(model)
    assert grown is not fx
    assert list(extract(model, data(4, 3))) == ["d1", "d2"]


def test_the_cache_does_not_keep_the_model_alive():
    model = textcnn()
    feature_extractor(model, ["extractor"])
    extract(model, tokens(4), ["extractor"])
    ref = weakref.ref(model)
    del model
    gc.collect()
    assert ref() is None


class Counter(L.Layer):
    """Identity that counts how often its call() runs."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.count = 0

    def call(self, x):
        self.count += 1
        return x


def test_every_layer_runs_once_per_batch_whatever_is_extracted():
    x_in = keras.Input((3,), name="x")
    counter = Counter(name="counter")
    h = counter(L.Dense(4, name="d1")(x_in))
    model = keras.Model(x_in, L.Dense(2, name="d3")(L.Dense(4, name="d2")(h)), name="counted")
    fx = feature_extractor(model)  # every layer: d1, counter, d2, d3
    counter.count = 0
    fx(data(5, 3))  # eager: call() runs as often as the graph calls it
    assert counter.count == 1
    assert len(fx.layers) == len(model.layers)  # no layer added or duplicated


class RunCounter(L.Layer):
    """Identity that counts its runs in a variable, so compiled predict batches count too."""

    def build(self, input_shape):
        self.runs = self.add_weight(shape=(), initializer="zeros", trainable=False, name="runs")

    def call(self, x):
        self.runs.assign_add(1.0)
        return x


def counted_encoder() -> keras.Model:
    """Dense, counter, three times over: d1 n1 d2 n2 d3 n3."""
    e_in = keras.Input((4,), name="e_in")
    h = e_in
    for k in (1, 2, 3):
        h = RunCounter(name=f"n{k}")(L.Dense(4, activation="tanh", name=f"d{k}")(h))
    return keras.Model(e_in, h, name="encoder")


def runs(encoder: keras.Model) -> list[int]:
    return [int(encoder.get_layer(f"n{k}").runs.numpy()) for k in (1, 2, 3)]


def test_several_inner_layers_of_a_nested_model_run_once_per_call_per_batch():
    encoder = counted_encoder()
    x_in = keras.Input((4,), name="x")
    model = keras.Model(x_in, L.Dense(1, name="head")(encoder(x_in)), name="nested")
    a, b = keras.Input((4,), name="left"), keras.Input((4,), name="right")
    merged = L.Concatenate(name="merge")([encoder(a), encoder(b)])
    twin = keras.Model([a, b], L.Dense(1, name="head")(merged), name="twin")
    x, left, right = data(20, 4), data(20, 4), data(20, 4)
    inner = ["encoder/d1", "encoder/d2", "encoder/n2", "encoder/d3"]
    reference = {name: sub_model(encoder, name, x) for name in ("d1", "d2", "n2", "d3")}
    twin_reference = {
        name: [sub_model(encoder, name, side) for side in (left, right)]
        for name in ("d1", "d2", "n2", "d3")
    }

    before = runs(encoder)
    acts = extract(model, x, inner, batch_size=8)  # 3 batches, one call of the encoder each
    assert [r - b for r, b in zip(runs(encoder), before, strict=True)] == [3, 3, 3]
    for name in inner:
        np.testing.assert_allclose(acts[name], reference[name.split("/")[1]], **CLOSE)

    before = runs(encoder)
    acts = extract(twin, [left, right], inner, batch_size=8)  # 3 batches, two calls each
    assert [r - b for r, b in zip(runs(encoder), before, strict=True)] == [6, 6, 6]
    for name in inner:
        for k, expected in enumerate(twin_reference[name.split("/")[1]]):
            np.testing.assert_allclose(acts[f"{name}@{k}"], expected, **CLOSE)

    # The bound: asking also for what follows the encoder adds the model's own pass, no more.
    before = runs(encoder)
    extract(model, x, batch_size=8)  # every activation, "head" included
    assert [r - b for r, b in zip(runs(encoder), before, strict=True)] == [6, 6, 6]


def test_a_model_nested_two_deep_adds_one_pass_per_level():
    encoder = counted_encoder()
    b_in = keras.Input((4,), name="b_in")
    block = keras.Model(b_in, L.Dense(2, name="post")(encoder(b_in)), name="block")
    x_in = keras.Input((4,), name="x")
    model = keras.Model(x_in, L.Dense(1, name="head")(block(x_in)), name="top")
    x = data(20, 4)
    reference = {name: sub_model(encoder, name, x) for name in ("d1", "n2", "d3")}
    before = runs(encoder)
    acts = extract(model, x, ["block/encoder/d1", "block/encoder/n2", "block/encoder/d3"], 10)
    # 2 batches x 2 passes: the block's wrapper runs the encoder itself (for block/post) and
    # through the encoder's wrapper (for its inner layers); still one pass per level, not per layer.
    assert [r - b for r, b in zip(runs(encoder), before, strict=True)] == [4, 4, 4]
    for name in ("d1", "n2", "d3"):
        np.testing.assert_allclose(acts[f"block/encoder/{name}"], reference[name], **CLOSE)


# --- extract_to_disk --------------------------------------------------------------------------


def test_disk_equals_memory_and_index_describes_the_files(tmp_path):
    model, x = textcnn(), tokens(37)
    paths = extract_to_disk(
        model, x, ["extractor", "conv3"], tmp_path, batch_size=8, progress=False
    )
    memory = extract(model, x, ["extractor", "conv3"], batch_size=8)
    assert set(paths) == {"extractor", "conv3"}
    for name, path in paths.items():
        on_disk = np.load(path, mmap_mode="r")
        np.testing.assert_array_equal(on_disk, memory[name])
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["samples"] == 37
    conv3 = np.load(paths["conv3"])
    assert index["activations"]["conv3"] == {
        "file": "conv3.npy",
        "shape": [37, 12, 4],
        "dtype": "float32",
        "samples": 37,
        "bytes": paths["conv3"].stat().st_size,
        "crc32": f"{zlib.crc32(conv3.tobytes()):08x}",  # of the data after the header
    }
    for name, path in paths.items():  # computed while streaming == recomputed from the file
        assert index["activations"][name] == index_entry(path)
    assert LOCK_FILE not in files(tmp_path)  # the lock file goes with the run
    assert files(tmp_path) == [
        "conv3.npy",
        "extractor.npy",
        "index.json",
    ]


def test_disk_from_a_generator_of_unknown_length(tmp_path):
    model, x = textcnn(), tokens(19)
    paths = extract_to_disk(
        model, (x[i : i + 6] for i in range(0, 19, 6)), "extractor", tmp_path, progress=False
    )
    expected = extract(model, x, ["extractor"], batch_size=6)["extractor"]
    # Close, not equal: the generator's last batch of 1 is not padded to 6 as the array's is, and
    # XLA on JAX may round a batch of 1 differently in the last bit.
    np.testing.assert_allclose(np.load(paths["extractor"]), expected, **CLOSE)


def test_disk_builds_a_sequential_without_input_from_the_first_batch(tmp_path):
    model = keras.Sequential([L.Dense(4, name="d1"), L.Dense(2, name="d2")], name="unbuilt")
    x = data(10, 5)
    paths = extract_to_disk(model, iter([x[:6], x[6:]]), ["d2"], tmp_path, progress=False)
    np.testing.assert_allclose(np.load(paths["d2"]), model.predict(x, verbose=0), **CLOSE)


def test_npy_header_keeps_its_size_as_the_file_grows(tmp_path):
    first = np.zeros((1, 7), "float32")
    writer = _featurefolder.NpyAppender(tmp_path, "a.npy", first)
    for _ in range(3000):
        writer.append(first)
    writer.finish()
    assert np.load(writer.path).shape == (3000, 7)
    assert writer.header_size % 64 == 0


def test_files_appear_only_when_complete(tmp_path):
    model, x = textcnn(), tokens(12)
    seen = []

    def batches():
        for i in range(0, 12, 4):
            seen.append(files(tmp_path))
            yield x[i : i + 4]

    extract_to_disk(model, batches(), ["extractor"], tmp_path, progress=False)
    assert all(not name.endswith((".npy", ".json")) for names in seen for name in names)
    assert any(name.endswith(".partial") for name in seen[-1])  # work in progress was hidden


@pytest.mark.parametrize("interruption", [RuntimeError("disk gone"), KeyboardInterrupt()])
def test_an_iterator_that_fails_midway_leaves_no_file(tmp_path, interruption):
    model, x = textcnn(), tokens(12)

    def batches():
        yield x[:4]
        yield x[4:8]
        raise interruption

    with pytest.raises(type(interruption)):
        extract_to_disk(model, batches(), ["extractor", "conv5"], tmp_path, progress=False)
    assert files(tmp_path) == []


def test_written_files_follow_the_umask_like_np_save(tmp_path):
    paths = extract_to_disk(textcnn(), tokens(4), ["extractor"], tmp_path, progress=False)
    np.save(tmp_path / "reference.npy", np.zeros(1))
    mode = (tmp_path / "reference.npy").stat().st_mode & 0o777
    assert paths["extractor"].stat().st_mode & 0o777 == mode
    assert (tmp_path / "index.json").stat().st_mode & 0o777 == mode


def test_existing_outputs_are_refused_unless_overwrite(tmp_path):
    model = textcnn()
    first, second = tokens(5), tokens(8)
    path = extract_to_disk(model, first, ["extractor"], tmp_path, progress=False)["extractor"]
    before = path.read_bytes()
    read = []

    def batches():
        read.append(1)
        yield second

    with pytest.raises(FileExistsError, match=r"extractor.npy, index.json; pass overwrite=True"):
        extract_to_disk(model, batches(), ["extractor"], tmp_path, progress=False)
    assert read == [] and path.read_bytes() == before  # refused before reading any data
    extract_to_disk(model, second, ["extractor"], tmp_path, progress=False, overwrite=True)
    assert np.load(path).shape == (8, 6)
    assert json.loads((tmp_path / "index.json").read_text())["samples"] == 8


def test_file_names_are_distinct_and_portable():
    keys = ("dense@0", "dense@1", "dense_1", "enc/d", "enc__d", "Dense@0", "index", "x[0]")
    names = _featurefolder.file_names(keys)
    lowered = [n.lower() for n in names.values()]
    assert len(set(lowered)) == len(keys) and "index.json" not in lowered
    assert all("/" not in n and n.endswith(".npy") for n in names.values())


def test_nested_names_are_written_as_files(tmp_path):
    model = siamese()
    xs = [data(5, 4), data(5, 4)]
    paths = extract_to_disk(model, xs, ["encoder/e_dense"], tmp_path, progress=False)
    assert [p.name for p in paths.values()] == ["encoder__e_dense@0.npy", "encoder__e_dense@1.npy"]
    memory = extract(model, xs, ["encoder/e_dense"])
    for key, path in paths.items():
        np.testing.assert_array_equal(np.load(path), memory[key])


def test_progress_bar_is_shown_only_when_asked(tmp_path, capsys):
    model, x = textcnn(), tokens(12)
    extract_to_disk(model, x, ["extractor"], tmp_path / "quiet", batch_size=4, progress=False)
    assert capsys.readouterr().out == ""
    extract_to_disk(model, x, ["extractor"], tmp_path / "loud", batch_size=4)
    assert "3/3" in capsys.readouterr().out


def resident_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="reads Linux /proc")
def test_streaming_memory_stays_flat_while_the_file_grows(tmp_path):
    """Resident memory after 120 batches is that after 20, although 100 MiB more were written."""
    model = keras.Sequential([keras.Input((16,)), L.Dense(4096, name="wide")], name="wide")
    batch = data(64, 16)  # 64 x 4096 float32 = 1 MiB of activations per batch
    rss = []

    def batches():
        for _ in range(120):
            rss.append(resident_mib())
            yield batch

    extract_to_disk(model, batches(), ["wide"], tmp_path, progress=False)
    assert np.load(tmp_path / "wide.npy", mmap_mode="r").shape == (120 * 64, 4096)
    growth = max(rss[20:]) - rss[20]
    assert growth < 30, f"resident memory grew {growth:.0f} MiB from batch 20 to 120"


# --- activations must have one row per sample (review item 1) ---------------------------------


class BatchMean(L.Layer):
    """Mean over the batch axis: one row for the whole batch, not one per sample."""

    def call(self, x):
        return keras.ops.mean(x, axis=0)


class FlattenAll(L.Layer):
    """Reshapes the whole batch to one vector; symbolically (None,), so only a run can tell."""

    def call(self, x):
        return keras.ops.reshape(x, (-1,))


def batch_mean_model(batch_size: int | None = None) -> keras.Model:
    x_in = keras.Input((3,), batch_size=batch_size, name="x")
    stat = BatchMean(name="stat")(x_in)
    out = L.Dense(1, name="d")(keras.ops.expand_dims(stat, 0))
    return keras.Model(x_in, out, name="batch_mean")


def flatten_all_model() -> keras.Model:
    x_in = keras.Input((3,), name="x")
    pre = L.Dense(3, name="pre")(x_in)
    flat = FlattenAll(name="flat")(pre)
    return keras.Model(x_in, L.Dense(1, name="d")(keras.ops.expand_dims(flat, -1)), name="flat")


@pytest.mark.parametrize("layers", [["stat"], ["stat", "d"], ["d", "stat"]])
def test_a_batch_reduction_is_refused_before_any_data_is_read(layers, tmp_path):
    read = []

    def batches():
        read.append(1)
        yield data(5, 3)

    shape = r"\(3,\)" if layers[0] == "stat" else r"\(1, 1\)"
    message = rf"activation '{layers[0]}' has shape {shape} whatever the batch size.*not the batch"
    with pytest.raises(ValueError, match=message):
        extract(batch_mean_model(), batches(), layers)
    with pytest.raises(ValueError, match=message):
        extract_to_disk(batch_mean_model(), batches(), layers, tmp_path, progress=False)
    assert read == [] and files(tmp_path) == []


def test_a_batch_reduction_is_refused_even_when_its_size_equals_the_batch():
    with pytest.raises(ValueError, match=r"'stat' has shape \(3,\) whatever the batch size"):
        extract(batch_mean_model(), data(3, 3), ["stat"])  # 3 rows in, 3 numbers out


def test_with_a_fixed_batch_input_the_run_compares_with_the_batch_length(tmp_path):
    """The reviewer's case: extract(["stat"]) on 5 rows returned 3 values and 2 np.empty slots."""
    model = batch_mean_model(batch_size=5)
    message = r"activation 'stat' has shape \(3,\) for a batch of 5 samples.*not the batch axis"
    with pytest.raises(ValueError, match=message):
        extract(model, data(5, 3), ["stat"])
    with pytest.raises(ValueError, match=message):
        extract_to_disk(model, data(5, 3), ["stat"], tmp_path, progress=False)
    assert files(tmp_path) == []


@pytest.mark.parametrize("layers", [["flat"], ["pre", "flat"], ["flat", "pre"]])
def test_a_reshape_across_samples_is_refused_naming_that_activation(layers, tmp_path):
    message = r"activation 'flat' has shape \(15,\) for a batch of 5 samples"
    with pytest.raises(ValueError, match=message):
        extract(flatten_all_model(), data(5, 3), layers)
    with pytest.raises(ValueError, match=message):
        extract(flatten_all_model(), iter([data(5, 3)]), layers)  # unknown length too
    with pytest.raises(ValueError, match=message):
        extract_to_disk(flatten_all_model(), data(5, 3), layers, tmp_path, progress=False)
    assert files(tmp_path) == []


def test_extract_refuses_to_return_rows_it_did_not_fill(monkeypatch):
    model, x = textcnn(), tokens(6)
    run = activations._run

    def short_run(*args):
        for size, out in run(*args):
            yield size - 1, {k: v[:-1] for k, v in out.items()}

    monkeypatch.setattr(activations, "_run", short_run)
    with pytest.raises(RuntimeError, match="filled 5 of 6 rows"):
        extract(model, x, ["extractor"])


def test_disk_samples_count_the_input_rows(tmp_path):
    model, x = textcnn(), tokens(11)
    extract_to_disk(model, x, ["extractor", "conv3"], tmp_path, batch_size=4, progress=False)
    index = json.loads((tmp_path / "index.json").read_text())
    assert index["samples"] == 11
    assert [a["samples"] for a in index["activations"].values()] == [11, 11]


# --- every fixed input size is checked before any work (review item 5) -------------------------


def test_a_wrong_width_is_refused_before_any_batch_runs(monkeypatch):
    model = textcnn()
    fx = feature_extractor(model, ["extractor"])
    steps = []
    monkeypatch.setattr(fx, "predict_on_batch", lambda b: steps.append(1))
    message = r"input 'tokens' .*expects batches of shape \(None, 12\); got \(3, 10\) \(axis 1: "
    with pytest.raises(ValueError, match=message + r"expected 12, got 10\)"):
        extract(model, tokens(3, length=10), ["extractor"])
    with pytest.raises(ValueError, match=message):
        extract(model, iter([tokens(3, length=10)]), ["extractor"])
    assert steps == []


def test_a_later_batch_with_a_wrong_width_is_our_error_not_tensorflows(tmp_path):
    model = textcnn()
    batches = iter([tokens(4), tokens(4), tokens(3, length=10)])
    with pytest.raises(ValueError, match=r"expects batches of shape \(None, 12\); got \(3, 10\)"):
        extract_to_disk(model, batches, ["extractor"], tmp_path, progress=False)
    assert files(tmp_path) == []


@pytest.mark.parametrize("as_dict", [False, True])
def test_multi_input_widths_are_checked_for_every_input(as_dict):
    model = two_in_two_out()  # a: (None, 3), b: (None, 2)
    a, b = data(4, 3), data(4, 5)
    x = {"a": a, "b": b} if as_dict else [a, b]
    with pytest.raises(
        ValueError, match=r"input 'b' .*\(None, 2\); got \(4, 5\) \(axis 1: expected 2, got 5\)"
    ):
        extract(model, x, ["mix"])


def test_inputs_of_one_batch_must_share_their_batch_length():
    model = two_in_two_out()
    with pytest.raises(ValueError, match=r"one batch must share.*\[\(4, 3\), \(3, 2\)\]"):
        extract(model, iter([([data(4, 3), data(3, 2)],)]), ["mix"])


# --- a Python list of batches (review item 13) -----------------------------------------------


def test_a_list_of_batches_is_refused_with_the_iter_hint():
    model, x = textcnn(), tokens(12)
    batches = [x[:4], x[4:8], x[8:]]
    with pytest.raises(ValueError, match=r"holds 3 array\(s\) .*one array per model input.*iter"):
        extract(model, batches, ["extractor"])
    got = extract(model, iter(batches), ["extractor"])["extractor"]
    np.testing.assert_allclose(got, sub_model(model, "extractor", x), **CLOSE)


def test_the_iter_hint_also_comes_with_uneven_batches_and_unbuilt_sequentials():
    with pytest.raises(ValueError, match=r"first \(batch\) size.*one array per model input.*iter"):
        extract(two_in_two_out(), [data(4, 3), data(2, 3)], ["mix"])
    unbuilt = keras.Sequential([L.Dense(2, name="d")], name="unbuilt")
    with pytest.raises(ValueError, match=r"takes one input.*2 arrays \(a list/tuple.*iter"):
        extract(unbuilt, [data(4, 3), data(4, 3)], ["d"])


# --- overwrite=True leaves exactly what the new index lists (review item 14) -----------------


def test_overwrite_with_fewer_layers_removes_the_old_indexed_files_only(tmp_path):
    model, x = textcnn(), tokens(6)
    extract_to_disk(model, x, ["extractor", "conv3", "conv4"], tmp_path, progress=False)
    (tmp_path / "notes.txt").write_text("mine")
    np.save(tmp_path / "other.npy", np.zeros(2))  # a .npy the index does not list
    extract_to_disk(model, x, ["conv3"], tmp_path, progress=False, overwrite=True)
    index = json.loads((tmp_path / "index.json").read_text())
    assert [a["file"] for a in index["activations"].values()] == ["conv3.npy"]
    assert files(tmp_path) == [
        "conv3.npy",
        "index.json",
        "notes.txt",
        "other.npy",
    ]


@pytest.mark.parametrize(
    "old_index",
    [
        "{not json",
        json.dumps({"activations": {"a": {"file": "../outside.npy"}}}),
        json.dumps({"activations": {"a": {"file": "notes.txt"}, "b": {"file": ".hidden.npy"}}}),
        json.dumps({"activations": ["other.npy"]}),
    ],
)
def test_overwrite_never_deletes_what_a_strange_index_names(tmp_path, old_index):
    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "index.json").write_text(old_index)
    for name in ("notes.txt", ".hidden.npy", "other.npy"):
        (folder / name).write_text("keep")
    (tmp_path / "outside.npy").write_text("keep")
    extract_to_disk(textcnn(), tokens(3), ["extractor"], folder, progress=False, overwrite=True)
    assert files(folder) == [
        ".hidden.npy",
        "extractor.npy",
        "index.json",
        "notes.txt",
        "other.npy",
    ]
    assert (tmp_path / "outside.npy").read_text() == "keep"


# --- reliability: bad arguments, bad data, faults ----------------------------------------------


def finished_run(folder):
    model, x = textcnn(), tokens(8)
    extract_to_disk(model, x, ["extractor"], folder, progress=False)
    return model, x


@pytest.mark.parametrize(("argument", "value"), [("overwrite", "False"), ("progress", "no")])
def test_bool_arguments_must_be_real_bools_and_a_finished_run_stays(tmp_path, argument, value):
    model, x = finished_run(tmp_path)
    before = (tmp_path / "index.json").read_bytes()
    kwargs = {"overwrite": True, "progress": False, argument: value}
    with pytest.raises(TypeError, match=f"{argument} must be True or False; got str"):
        extract_to_disk(model, tokens(8), ["extractor"], tmp_path, **kwargs)
    assert (tmp_path / "index.json").read_bytes() == before


@pytest.mark.parametrize(
    ("out_dir", "error"), [("", ValueError), (None, TypeError), (3, TypeError)]
)
def test_out_dir_must_be_a_non_empty_path_named_in_the_error(tmp_path, monkeypatch, out_dir, error):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(error, match="^out_dir "):
        extract_to_disk(textcnn(), tokens(4), ["extractor"], out_dir, progress=False)
    for reader in (verify_features, load_features):
        with pytest.raises(error, match="^out_dir "):
            reader(out_dir)
    assert list(tmp_path.iterdir()) == []  # nothing written into the current folder


def test_a_failed_call_leaves_an_unbuilt_sequential_unbuilt():
    model = keras.Sequential([L.Dense(3, name="dense")], name="seq")
    with pytest.raises(ValueError, match=r"cannot be built from the data's batch shape \(None,\)"):
        extract(model, data(4))  # one sample without its batch axis
    assert not model.built
    assert extract(model, data(2, 4))["dense"].shape == (2, 3)  # the next correct call works


def test_text_fed_to_a_float_model_is_our_error_and_builds_nothing():
    model = keras.Sequential([L.Dense(3, name="dense")], name="seq")
    with pytest.raises(TypeError, match=r"takes float32 numbers, but the data is an array of <U"):
        extract(model, np.array([["a", "b"], ["c", "d"]]))
    assert not model.built
    built = keras.Sequential([keras.Input((2,)), L.Dense(3, name="dense")], name="built")
    with pytest.raises(TypeError, match=r"input .* of model 'built' takes float32 numbers"):
        extract(built, iter([data(2, 2), np.array([["a", "b"]], dtype=object)]))


@pytest.mark.parametrize(("bad", "shown"), [(99, "id 99"), (-1, "id -1")])
def test_token_ids_outside_the_vocabulary_name_the_batch_and_position(tmp_path, bad, shown):
    model, x = textcnn(vocab=30), tokens(12, vocab=30)
    x[9, 4] = bad  # batch 2 of 4-sample batches, row 1 of it
    message = (
        rf"batch 2 \(samples 8..11\) of input 'tokens', which Embedding 'embedding' of model "
        rf"'textcnn' reads: {shown} at position \[1, 4\] is outside \[0, 30\)"
    )
    with pytest.raises(ValueError, match=message):
        extract(model, x, ["extractor"], batch_size=4)
    with pytest.raises(ValueError, match=message):
        extract_to_disk(model, x, ["extractor"], tmp_path, batch_size=4, progress=False)
    assert files(tmp_path) == []


def test_the_reader_refuses_an_unfinished_or_changed_folder(tmp_path):
    model, x = finished_run(tmp_path)
    loaded = load_features(tmp_path)
    np.testing.assert_array_equal(
        loaded["extractor"], extract(model, x, ["extractor"])["extractor"]
    )
    assert verify_features(tmp_path)["samples"] == 8
    path = tmp_path / "extractor.npy"
    data_bytes = bytearray(path.read_bytes())
    data_bytes[-1] ^= 0xFF  # one changed byte: same size, same header
    path.write_bytes(bytes(data_bytes))
    load_features(tmp_path)  # sizes and headers still match (checksum=False by default)...
    with pytest.raises(ValueError, match=r"extractor.npy .* does not match index.json \(crc32"):
        load_features(tmp_path, checksum=True)  # ...every byte does not
    np.save(path, np.zeros((5, 6), "float32"))  # e.g. an interrupted --overwrite run
    with pytest.raises(ValueError, match=r"shape: index \[8, 6\], file \[5, 6\]"):
        load_features(tmp_path)
    (tmp_path / "index.json").unlink()
    with pytest.raises(FileNotFoundError, match="has no index.json: the run that wrote it did not"):
        load_features(tmp_path)


def test_load_features_names_a_file_or_a_missing_folder(tmp_path):
    """A file given as the folder is named as a file (not as missing); a missing one as missing."""
    (tmp_path / "features.npy").write_bytes(b"x")
    for read in (load_features, verify_features):
        with pytest.raises(NotADirectoryError, match="features.npy' is a file, not a folder"):
            read(tmp_path / "features.npy")
        with pytest.raises(FileNotFoundError, match="nowhere' does not exist"):
            read(tmp_path / "nowhere")


def run_python(code: str, **kwargs) -> subprocess.Popen:
    """A Python child process running ``code`` (keras on this backend, quiet TF logs)."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for(path, process, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        if process.poll() is not None:
            raise AssertionError(f"child exited early: {process.communicate()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError("child did not get ready in time")
        time.sleep(0.05)


def test_a_second_process_into_the_same_folder_fails_fast(tmp_path):
    out, ready = tmp_path / "out", tmp_path / "ready"
    holder = run_python(
        f"""
        import pathlib, time
        from helpers._files import locked_folder
        with locked_folder(pathlib.Path({str(out)!r})):
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(120)
        """
    )
    try:
        wait_for(ready, holder)
        start = time.monotonic()
        with pytest.raises(activations.FolderBusyError, match="is in use by another run"):
            extract_to_disk(textcnn(), tokens(4), ["extractor"], out, progress=False)
        assert time.monotonic() - start < 5  # no waiting for the other run
        assert files(out) == [LOCK_FILE]  # the holder's lock; nothing written by the second run
    finally:
        holder.kill()
        holder.wait()
    extract_to_disk(textcnn(), tokens(4), ["extractor"], out, progress=False)  # a killed holder
    assert verify_features(out)["samples"] == 4  # releases the lock with its process


def test_a_killed_run_leaves_partials_that_the_next_run_removes(tmp_path):
    out, ready = tmp_path / "out", tmp_path / "ready"
    child = run_python(
        f"""
        import pathlib, time
        import keras, numpy as np
        from helpers.activations import extract_to_disk
        inp = keras.Input((6,), name="x")
        model = keras.Model(inp, keras.layers.Dense(50, name="wide")(inp))
        def batches():
            for i in range(1000):
                if i == 3:
                    pathlib.Path({str(ready)!r}).touch()
                if i >= 3:
                    time.sleep(1)
                yield np.ones((64, 6), "float32")
        extract_to_disk(model, batches(), ["wide"], {str(out)!r}, progress=False)
        """
    )
    try:
        wait_for(ready, child)
        child.send_signal(signal.SIGKILL)
        child.wait()
    finally:
        child.kill()
    left = [p.name for p in out.iterdir() if p.name.endswith(".partial")]
    assert len(left) == 1 and left[0].startswith(".wide.npy.")
    model = textcnn()
    with pytest.warns(
        UserWarning, match=r"removed 1 unfinished temporary file\(s\) .*\.wide\.npy\."
    ):
        extract_to_disk(model, tokens(4), ["extractor"], out, progress=False)
    assert files(out) == ["extractor.npy", "index.json"]


def mount_tmpfs(folder, size: str) -> str | None:
    """Mount a small tmpfs on ``folder``; None if done, else why it could not be."""
    folder.mkdir()
    try:
        result = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
            capture_output=True,
            text=True,
        )
    except OSError as error:
        return f"mount not available: {error}"
    return None if result.returncode == 0 else f"cannot mount a tmpfs: {result.stderr.strip()}"


def test_a_full_disk_removes_every_temporary_file_of_every_layer(tmp_path):
    disk = tmp_path / "disk"
    why = mount_tmpfs(disk, "256k")
    if why is not None:
        print(f"SKIPPED full-disk test: {why}")
        pytest.skip(why)
    try:
        free = os.statvfs(disk).f_bavail
        inp = keras.Input((4,), name="x")
        a = L.Dense(64, name="a")(inp)
        model = keras.Model(inp, L.Dense(64, name="b")(a))
        x = np.ones((4000, 4), "float32")  # 2 layers x 4000 x 64 x 4 bytes = 2 MB > 256 kB
        with pytest.raises(OSError, match="No space left on device"):
            extract_to_disk(model, x, ["a", "b"], disk / "out", batch_size=16, progress=False)
        assert files(disk / "out") == []  # no .partial of either layer left
        assert os.statvfs(disk).f_bavail == free  # and the space is given back (files closed)
    finally:
        subprocess.run(["umount", str(disk)], check=True)


# ---- keras.ops results (residual sums) --------------------------------------------------------


def residual_model() -> keras.Model:
    x = keras.Input((4,), name="x")
    h = L.Dense(4, name="d1")(x)
    r1 = h + L.Dense(4, name="d2")(h)  # an operator: Keras' ops.add, named "add"
    r2 = keras.ops.multiply(r1, L.Dense(4, name="gate")(r1))
    return keras.Model(x, L.Dense(2, name="head")(r2), name="residual")


def test_residual_sums_and_ops_results_are_listed_and_extracted_like_layers():
    model = residual_model()
    ops = [op for op in model.operations if not isinstance(op, keras.layers.Layer)]
    add, mul = (op.name for op in ops if type(op).__name__ in ("Add", "Multiply"))
    names = activation_names(model)
    assert names == ["d1", "d2", add, "gate", mul, "head"]
    x = data(7, 4)
    acts = extract(model, x, [add, mul])
    d1, d2, gate = (sub_model(model, n, x) for n in ("d1", "d2", "gate"))
    np.testing.assert_allclose(acts[add], d1 + d2, **CLOSE)
    np.testing.assert_allclose(acts[mul], (d1 + d2) * gate, **CLOSE)
    np.testing.assert_array_equal(extract(model, x)[add], acts[add])


def test_the_mask_op_keras_adds_for_mask_zero_is_not_an_activation():
    tokens_in = keras.Input((5,), dtype="int32", name="ids")
    emb = L.Embedding(10, 3, mask_zero=True, name="emb")(tokens_in)
    model = keras.Model(tokens_in, L.LSTM(2, name="lstm")(emb), name="masked")
    assert any(type(op).__name__ == "NotEqual" for op in model.operations)
    assert activation_names(model) == ["emb", "lstm"]


@pytest.mark.filterwarnings("ignore:Layer 'enc'")  # Keras' own, about the model
def test_a_masked_nested_encoder_is_listed_and_extracted_with_its_mask():
    """The issue's reproducer: Embedding(mask_zero=True) -> nested LSTM encoder -> softmax head."""
    tok = keras.Input((5,), dtype="int32", name="tok")
    embedded = L.Embedding(10, 4, mask_zero=True, name="emb")(tok)
    enc_in = keras.Input((5, 4), name="enc_in")
    encoder = keras.Model(enc_in, L.LSTM(3, name="lstm")(enc_in), name="enc")
    head = L.Dense(2, activation="softmax", name="head")
    model = keras.Model(tok, head(encoder(embedded)), name="masked_nested")
    assert activation_names(model) == ["emb", "enc/lstm", "enc", "head"]
    ids = np.array([[1, 2, 0, 0, 0], [3, 4, 5, 6, 0], [7, 0, 0, 0, 0]], dtype="int32")
    acts = extract(model, ids)
    np.testing.assert_array_equal(acts["enc/lstm"], acts["enc"])
    np.testing.assert_allclose(acts["head"], model.predict(ids, verbose=0), **CLOSE)


@pytest.mark.parametrize("name", [".hidden", "..", "_.hidden"])
def test_a_layer_named_like_a_hidden_file_or_a_parent_folder_extracts_and_loads(tmp_path, name):
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, L.Dense(2, name=name)(inp))
    paths = extract_to_disk(model, data(4, 3), [name], tmp_path, progress=False)
    assert paths[name].parent == tmp_path and not paths[name].name.startswith(".")
    assert load_features(tmp_path)[name].shape == (4, 2)


def rewrite_index(folder, change) -> None:
    path = folder / "index.json"
    index = json.loads(path.read_text())
    change(index)
    path.write_text(json.dumps(index))


def test_verify_features_refuses_an_index_it_cannot_trust(tmp_path):
    inp = keras.Input((3,), name="x")
    model = keras.Model(inp, L.Dense(2, name="b")(L.Dense(2, name="a")(inp)))
    extract_to_disk(model, data(4, 3), ["a", "b"], tmp_path, progress=False)
    original = (tmp_path / "index.json").read_text()
    cases = [
        (lambda i: i.update(version=99), "has version 99; this helpers package reads version 1"),
        (lambda i: i.update(activations={}), "lists no activations"),
        (lambda i: i["activations"]["b"].update(file="a.npy"), "lists one file, 'a.npy', for two"),
    ]
    for change, message in cases:
        rewrite_index(tmp_path, change)
        with pytest.raises(ValueError, match=message):
            verify_features(tmp_path)
        (tmp_path / "index.json").write_text(original)
    rewrite_index(tmp_path, lambda i: i["activations"]["a"].pop("crc32"))
    raw = bytearray((tmp_path / "a.npy").read_bytes())
    raw[-1] ^= 0xFF  # a changed byte, same size
    (tmp_path / "a.npy").write_bytes(bytes(raw))
    assert verify_features(tmp_path, checksum=False)["samples"] == 4  # sizes still match
    with pytest.raises(ValueError, match="records no crc32 for 'a', so checksum=True cannot"):
        verify_features(tmp_path, checksum=True)


def test_every_layer_leaves_out_only_an_activation_without_a_batch_axis_and_says_so():
    inp = keras.Input((3,), name="x")
    h = L.Dense(4, name="h")(inp)
    mean = keras.ops.mean(h, axis=0)  # (4,): one row for the whole batch
    out = L.Dense(2, name="out")(h - mean)
    model = keras.Model(inp, out)
    x = data(5, 3)
    names = activation_names(model)
    mean_name = next(n for n in names if n.startswith("mean"))
    with pytest.warns(UserWarning, match=rf"left out 1 activation.*'{mean_name}' \(4,\)"):
        got = extract(model, x)
    assert list(got) == [n for n in names if n != mean_name]
    np.testing.assert_allclose(got["out"], model.predict(x, verbose=0), **CLOSE)
    with pytest.raises(ValueError, match=rf"activation '{mean_name}' has shape \(4,\)"):
        extract(model, x, [mean_name])
