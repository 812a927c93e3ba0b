"""Tests for helpers.diagrams: a model's graph edges and their drawing."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers.diagrams import KIND_COLORS, draw_graph, graph_edges, node_depths  # noqa: E402

L = keras.layers


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def ten_inputs() -> keras.Model:
    inputs = [keras.Input((4,), name=f"in_{k}") for k in range(10)]
    dense = L.Dense(3, name="shared_dense")
    return keras.Model(inputs, [dense(x) for x in inputs], name="ten")


def twin() -> keras.Model:
    x = keras.Input((6,), name="enc_in")
    encoder = keras.Model(x, L.Dense(2, name="enc_out")(x), name="encoder")
    left, right = keras.Input((6,), name="left"), keras.Input((6,), name="right")
    diff = L.Subtract(name="difference")([encoder(left), encoder(right)])
    return keras.Model([left, right], diff, name="twin")


def test_edges_of_a_layer_called_ten_times_follow_the_inputs_and_outputs():
    model = ten_inputs()
    edges = graph_edges(model)
    assert edges[:10] == [(t.name, "shared_dense") for t in model.inputs]
    assert edges[10:] == [("shared_dense", f"output {k}") for k in range(10)]


def test_a_nested_model_is_one_node_and_a_layer_reading_it_twice_gets_two_edges():
    model = twin()
    difference = model.get_layer("difference")  # called once: .input is its inputs
    assert len(difference.input) == 2
    assert graph_edges(model) == [
        ("left", "encoder"),
        ("right", "encoder"),
        ("encoder", "difference"),
        ("encoder", "difference"),
        ("difference", "output 0"),
    ]
    assert node_depths(model) == {
        "left": 0,
        "right": 0,
        "encoder": 1,
        "difference": 2,
        "output 0": 3,
    }


def config_edges(model: keras.Model) -> list[tuple[str, str]]:
    """(producer, reader) pairs read from plain Keras: model.get_config()'s inbound nodes (the
    keras_history of each serialized tensor), then its output_layers."""

    def producers(obj):
        if isinstance(obj, dict) and obj.get("class_name") == "__keras_tensor__":
            return [obj["config"]["keras_history"][0]]
        items = (
            obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else []
        )
        return [name for item in items for name in producers(item)]

    config = model.get_config()
    edges = [
        (src, layer["name"])
        for layer in config["layers"]
        for node in layer["inbound_nodes"]
        for src in producers(node)
    ]
    outputs = config["output_layers"]  # [name, node, index] per output; unnested if only one
    outputs = [outputs] if isinstance(outputs[0], str) else outputs
    return edges + [(name, f"output {k}") for k, (name, _, _) in enumerate(outputs)]


@pytest.mark.parametrize("build", [ten_inputs, twin])
def test_graph_edges_are_the_arrows_of_the_plain_config(build):
    model = build()
    assert sorted(graph_edges(model)) == sorted(config_edges(model))


def test_chain_depths_count_calls_from_the_inputs():
    x = keras.Input((3,), name="x")
    y = L.Dense(2, name="b")(L.Dense(2, name="a")(x))
    model = keras.Model(x, y, name="chain")
    assert node_depths(model) == {"x": 0, "a": 1, "b": 2, "output 0": 3}


def test_draw_graph_draws_one_box_per_node_one_arrow_per_edge_and_a_legend():
    model = twin()
    ax = draw_graph(model)
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    arrows = [t for t in ax.texts if not t.get_text()]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(ax.figure)
    assert sorted(texts) == sorted(node_depths(model))
    assert len(arrows) == len(graph_edges(model))
    assert legend == list(KIND_COLORS)


def test_draw_graph_uses_the_given_axes():
    fig, ax = plt.subplots()
    assert draw_graph(ten_inputs(), ax) is ax
    plt.close(fig)


def test_graph_edges_rejects_a_layer():
    with pytest.raises(ValueError, match="Functional keras.Model, got Dense"):
        graph_edges(L.Dense(2))


def test_tensors_passed_by_keyword_are_arrows_too():
    """initial_state=[h, c] of a seq2seq decoder: one arrow per state from the encoder."""
    enc_in, dec_in = keras.Input((5, 3), name="enc_in"), keras.Input((4, 3), name="dec_in")
    _, h, c = L.LSTM(4, return_state=True, name="encoder")(enc_in)
    y = L.LSTM(4, name="decoder")(dec_in, initial_state=[h, c])
    model = keras.Model([enc_in, dec_in], y, name="seq2seq")
    assert graph_edges(model) == [
        ("enc_in", "encoder"),
        ("dec_in", "decoder"),
        ("encoder", "decoder"),
        ("encoder", "decoder"),
        ("decoder", "output 0"),
    ]
    assert node_depths(model)["decoder"] == 2


def test_a_layer_called_with_keywords_only_is_drawn():
    """MultiHeadAttention(query=, value=, key=) and Dense(inputs=): no KeyError, every arrow."""
    q, v = keras.Input((4, 8), name="q"), keras.Input((6, 8), name="v")
    attended = L.MultiHeadAttention(2, 4, name="mha")(query=q, value=v, key=v)
    model = keras.Model([q, v], L.Dense(2, name="d")(inputs=attended), name="kw")
    edges = graph_edges(model)
    assert edges == [("q", "mha"), ("v", "mha"), ("v", "mha"), ("mha", "d"), ("d", "output 0")]
    ax = draw_graph(model)
    assert len([t for t in ax.texts if not t.get_text()]) == len(edges)
    plt.close(ax.figure)


def test_a_mask_passed_along_adds_no_arrow_a_mask_given_by_keyword_does():
    tokens = keras.Input((5,), dtype="int32", name="tokens")
    embedded = L.Embedding(10, 4, mask_zero=True, name="emb")(tokens)
    lstm = L.LSTM(3, name="lstm")(embedded)  # Keras passes the Embedding's mask along
    chosen = keras.Input((5,), dtype="bool", name="chosen")
    other = L.LSTM(3, name="other")(embedded, mask=chosen)
    model = keras.Model([tokens, chosen], [lstm, other], name="masks")
    edges = graph_edges(model)
    assert edges.count(("emb", "lstm")) == 1
    assert ("chosen", "other") in edges and edges.count(("emb", "other")) == 1
