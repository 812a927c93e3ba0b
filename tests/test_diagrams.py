"""Tests for helpers.diagrams: a model's graph edges and their drawing."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import matplotlib
import pytest

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from helpers.diagrams import (  # noqa: E402
    KIND_COLORS,
    MAX_NODES,
    block_names,
    draw_graph,
    graph_edges,
    node_depths,
)

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


def residual_blocks(n: int) -> keras.Model:
    """n blocks of 4 layers named like keras.applications: block{k}_a, block{k}_b, then a ReLU
    and an Add that keep Keras' default names."""
    x = inputs = keras.Input((4,), name="image")
    for k in range(n):
        h = L.Dense(4, name=f"block{k}_a")(x)
        h = L.ReLU()(L.Dense(4, name=f"block{k}_b")(h))
        x = L.Add()([x, h])
    return keras.Model(inputs, x, name="tower")


def boxes_and_arrows(ax) -> tuple[list[str], int]:
    texts = [t.get_text() for t in ax.texts if t.get_text()]
    return texts, sum(1 for t in ax.texts if not t.get_text())


def test_block_names_follow_the_names_and_default_names_join_the_block_before():
    names = block_names(residual_blocks(2))
    assert list(names.values()) == ["block0"] * 4 + ["block1"] * 4
    assert names["re_lu"] == "block0" and names["add_1"] == "block1"


def test_a_large_model_is_drawn_as_its_blocks_top_to_bottom():
    model = residual_blocks(16)  # 64 layers > MAX_NODES
    assert len(model.layers) - 1 > MAX_NODES
    ax = draw_graph(model)
    texts, arrows = boxes_and_arrows(ax)
    width, height = ax.figure.get_size_inches()
    plt.close(ax.figure)
    assert texts == ["image"] + [f"block{k} (4 layers)" for k in range(16)] + ["output 0"]
    assert arrows == 17  # the residual arrows into a block come from the block before: one arrow
    assert (width, height) == (6, pytest.approx(1 + 0.45 * 18))  # 0.45 inch per level


def test_blocks_false_draws_every_layer_and_the_figure_grows_with_it():
    model = residual_blocks(16)
    ax = draw_graph(model, blocks=False)
    texts, arrows = boxes_and_arrows(ax)
    levels = len(set(node_depths(model).values()))
    height = ax.figure.get_size_inches()[1]
    plt.close(ax.figure)
    assert sorted(texts) == sorted(node_depths(model)) and arrows == len(graph_edges(model))
    assert height == pytest.approx(1 + 0.45 * levels) and levels > 60


def test_a_small_graph_keeps_its_layers_and_a_long_chain_gets_a_wider_figure():
    ax = draw_graph(twin(), blocks=True)  # no two consecutive layers share a block
    assert sorted(boxes_and_arrows(ax)[0]) == sorted(node_depths(twin()))
    plt.close(ax.figure)
    x = keras.Input((2,), name="x")
    y = x
    for k in range(7):
        y = L.Dense(2, name=f"d{k}")(y)
    ax = draw_graph(keras.Model(x, y))  # 9 levels: left to right, 1.5 inch each
    assert tuple(ax.figure.get_size_inches()) == (pytest.approx(13.5), 2.0)
    plt.close(ax.figure)


@pytest.mark.parametrize("bad", ["yes", 1])
def test_draw_graph_rejects_blocks_that_are_not_a_bool(bad):
    with pytest.raises(TypeError, match=f"blocks must be True, False or None .*got {bad!r}"):
        draw_graph(twin(), blocks=bad)


def test_inputs_are_drawn_in_the_models_order_top_down():
    ax = draw_graph(ten_inputs())
    tops = {t.get_text(): t.get_position()[1] for t in ax.texts if t.get_text().startswith("in_")}
    plt.close(ax.figure)
    assert sorted(tops, key=lambda name: -tops[name]) == [f"in_{k}" for k in range(10)]


def test_a_large_model_of_default_names_is_drawn_layer_by_layer():
    x = inputs = keras.Input((2,), name="x")
    for _ in range(70):
        x = L.Dense(2)(x)  # dense, dense_1, ...: no block to collapse into
    model = keras.Model(inputs, x)
    assert len(set(block_names(model).values())) == 70
    ax = draw_graph(model)
    texts = boxes_and_arrows(ax)[0]
    height = ax.figure.get_size_inches()[1]
    plt.close(ax.figure)
    assert len(texts) == 72 and height == pytest.approx(1 + 0.45 * 72)
