"""Diagrams of a Functional model's graph: its edges, and a small matplotlib drawing of them.

No graphviz needed (``keras.utils.plot_model`` needs pydot and graphviz); matplotlib is imported
only when you draw. A large model (more than ``MAX_NODES`` layers, e.g. EfficientNetV2B0's 273)
is drawn as its blocks (``block_names``: ``block2b`` for ``block2b_expand_conv``), top to bottom.

    >>> graph_edges(model)  # [("input_0", "shared_dense"), ..., ("shared_dense", "output 9")]
    >>> draw_graph(model)  # a matplotlib Axes: inputs, layers and outputs as boxes
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import keras

from helpers.shared import _keras_mask, layer_calls

#: Box colour of each kind of node in ``draw_graph``.
KIND_COLORS = {"input": "lightblue", "layer": "wheat", "output": "lightgreen"}
#: ``draw_graph`` collapses a graph of more layers than this into blocks.
MAX_NODES = 60
#: ``draw_graph`` draws more levels (depths) than this top to bottom instead of left to right.
MAX_COLUMNS = 12


def graph_edges(model: keras.Model) -> list[tuple[str, str]]:
    """The arrows of a Functional model's top level, in call order.

    One ``(producer, reader)`` pair per tensor a top-level layer call reads, positional or by
    keyword (``initial_state=[h, c]``, ``query=q``, ``mask=m``; a layer that reads the same
    producer twice gives two pairs), then ``(producer, "output k")`` per model output. A mask that
    Keras passes along with a positional input adds no pair of its own: it travels with that
    input. Producers are input names or layer names; a nested model is one node.

        >>> graph_edges(twin)  # [('left', 'encoder'), ('right', 'encoder'), ...]
    """
    if not isinstance(model, keras.Model) or not hasattr(model, "inputs"):
        raise ValueError(
            f"graph_edges needs a built Functional keras.Model, got {type(model).__name__}"
        )
    calls = [c for c in layer_calls(model) if "/" not in c.name]  # top level only
    producer = {id(t): t.name for t in model.inputs}
    masks = {}  # the mask a producer's output carries -> that producer
    for c in calls:
        for t in keras.tree.flatten(c.outputs):
            producer[id(t)] = c.layer.name
            if _keras_mask(t) is not None:
                masks[id(_keras_mask(t))] = c.layer.name
    edges = []
    for c in calls:
        carried = {id(_keras_mask(t)) for t in c.inputs if _keras_mask(t) is not None}
        keyword = [
            t
            for value in c.keyword_inputs.values()
            for t in keras.tree.flatten(value)
            if isinstance(t, keras.KerasTensor)
        ]
        for t in [*c.inputs, *(t for t in keyword if id(t) not in carried)]:
            source = producer.get(id(t), masks.get(id(t)))
            if source is None:  # pragma: no cover - only if Keras' graph changes
                raise RuntimeError(
                    f"graph_edges found no producer for tensor {t.name!r} read by "
                    f"'{c.layer.name}' in model '{model.name}'"
                )
            edges.append((source, c.layer.name))
    return edges + [(producer[id(t)], f"output {k}") for k, t in enumerate(model.outputs)]


def node_depths(model: keras.Model) -> dict[str, int]:
    """Each node's column in ``draw_graph``: 0 for inputs, else 1 + the deepest producer read.

    >>> node_depths(twin)  # {'left': 0, 'right': 0, 'encoder': 1, 'difference': 2, 'output 0': 3}
    """
    depth = {t.name: 0 for t in model.inputs}
    for src, dst in graph_edges(model):  # calls are in execution order: sources come first
        depth[dst] = max(depth.get(dst, 0), depth[src] + 1)
    return depth


def _snake_case(name: str) -> str:
    """Keras' rule for a layer's default name: ``ReLU`` -> ``re_lu``, ``Conv2D`` -> ``conv2d``."""
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", re.sub(r"\W+", "", name))
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def _block_of(name: str) -> str:
    """A layer name's block: up to its first part holding a digit (``block2b_expand_conv`` ->
    ``block2b``, ``expanded_conv_3_expand`` -> ``expanded_conv_3``, ``conv_1`` -> ``conv_1``),
    else its first part; a number ending a longer name only numbers that layer in its block
    (``expanded_conv_squeeze_excite_conv_1`` -> ``expanded``)."""
    parts = name.split("_")
    numbered = [
        i
        for i, part in enumerate(parts)
        if re.search(r"\d", part) and not (i == len(parts) - 1 >= 2 and part.isdigit())
    ]
    return "_".join(parts[: (numbered[0] if numbered else 0) + 1])


def block_names(model: keras.Model) -> dict[str, str]:
    """Each top-level layer's block, for drawing a large model: ``_block_of`` its name, except that
    a layer Keras named after its class (``re_lu_3``, ``add``, ``flatten``) joins the block of the
    layer called before it if that layer was named by hand, else is a block of its own (a model
    of default names, ``dense``, ``dense_1``, ..., is drawn layer by layer).

    >>> block_names(keras.applications.EfficientNetV2B0(weights=None))["block2b_add"]  # 'block2b'
    """
    calls = [c for c in layer_calls(model) if "/" not in c.name]  # top level only
    blocks: dict[str, str] = {}
    named = None  # the block of the last layer named by hand, while default names follow it
    for c in calls:
        name = c.layer.name
        default = re.fullmatch(rf"{re.escape(_snake_case(type(c.layer).__name__))}(_\d+)?", name)
        if not default:
            named = _block_of(name)
        blocks[name] = (named or name) if default else named
    return blocks


def _collapse(
    edges: list[tuple[str, str]], block: Callable[[str], str | None]
) -> tuple[list[tuple[str, str]], dict[str, str]]:
    """The edges between runs of consecutive nodes (in call order) of one block, each run a box
    labelled ``"block (n layers)"``; an arrow inside a run is dropped, repeated ones kept once.
    A run is a stretch of a topological order, so the collapsed graph has no cycle."""
    order = list(dict.fromkeys(node for edge in edges for node in edge))
    label, runs, count = {}, [], {}
    for node in order:
        name = block(node)
        if name is None or not runs or runs[-1][0] != name:
            runs.append((name if name is not None else node, []))
        runs[-1][1].append(node)
    for name, nodes in runs:
        if len(nodes) == 1:
            label[nodes[0]] = nodes[0]
            continue
        count[name] = count.get(name, 0) + 1
        text = name if count[name] == 1 else f"{name} #{count[name]}"
        label.update((node, f"{text} ({len(nodes)} layers)") for node in nodes)
    collapsed = [(label[s], label[d]) for s, d in edges if label[s] != label[d]]
    return list(dict.fromkeys(collapsed)), label


def draw_graph(model: keras.Model, ax: Any = None, *, blocks: bool | None = None) -> Any:
    """Draw the graph: boxes in columns by depth (inputs left), one arrow per edge, a legend.

    Inputs, layers and model outputs get the colours of ``KIND_COLORS``; a second arrow between the
    same two boxes (a layer reading one producer twice) is bent. Axes are off: columns are depth.
    ``blocks=True`` draws each run of layers of one block (``block_names``) as one box, ``False``
    every layer; None (default) collapses only a model of more than ``MAX_NODES`` layers. More
    than ``MAX_COLUMNS`` levels are drawn top to bottom. The figure grows with the graph.

        >>> ax = draw_graph(model)  # then plt.show()
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    if not (blocks is None or isinstance(blocks, bool)):
        raise TypeError(f"blocks must be True, False or None (automatic); got {blocks!r}.")
    edges = graph_edges(model)
    inputs = [t.name for t in model.inputs]  # in order: the first input is drawn on top
    depth = dict.fromkeys(inputs, 0)
    layers = {node for edge in edges for node in edge} - set(inputs)
    layers = {node for node in layers if not node.startswith("output ")}
    if blocks or (blocks is None and len(layers) > MAX_NODES):
        names = block_names(model)
        edges, label = _collapse(edges, names.get)
        depth = dict.fromkeys((label.get(name, name) for name in inputs), 0)
    for src, dst in edges:  # calls are in execution order: sources come first
        depth[dst] = max(depth.get(dst, 0), depth[src] + 1)
    columns: dict[int, list[str]] = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    rows, levels = max(len(ns) for ns in columns.values()), len(columns)
    vertical = levels > MAX_COLUMNS
    if ax is None:
        tall = (max(6, 2.2 * rows), 1 + 0.45 * levels)  # 0.45 inch per level, downwards
        size = tall if vertical else (max(6, 1.5 * levels), 1.5 + 0.5 * rows)
        _, ax = plt.subplots(figsize=size, layout="constrained")
    pos = {n: (d, (len(ns) - 1) / 2 - k) for d, ns in columns.items() for k, n in enumerate(ns)}
    if vertical:  # depth downwards, the nodes of one depth side by side
        pos = {n: (-y, -x) for n, (x, y) in pos.items()}
    boxes = {}
    for node, (x, y) in pos.items():
        kind = "input" if depth[node] == 0 else "output" if node.startswith("output ") else "layer"
        box = {"boxstyle": "round", "fc": KIND_COLORS[kind]}
        boxes[node] = ax.text(x, y, node, ha="center", va="center", fontsize=8, bbox=box)
    seen: dict[tuple[str, str], int] = {}
    start, end = ((0.5, 0), (0.5, 1)) if vertical else ((1, 0.5), (0, 0.5))
    for src, dst in edges:  # from the right (bottom) edge of one box to the left (top) of the next
        k = seen[src, dst] = seen.get((src, dst), -1) + 1  # repeated arrows bend apart
        style = {
            "arrowstyle": "->",
            "shrinkA": 4,
            "shrinkB": 4,
            "connectionstyle": f"arc3,rad={0.3 * k * (-1) ** k}",
        }
        ax.annotate(
            "",
            xy=end,
            xycoords=boxes[dst],
            xytext=start,
            textcoords=boxes[src],
            arrowprops=style,
        )
    if vertical:
        ax.set(xlim=(-rows / 2, rows / 2), ylim=(-levels + 0.4, 0.6))
    else:
        ax.set(xlim=(-0.6, max(depth.values()) + 0.6), ylim=(-rows / 2, rows / 2))
    ax.set_title(f"{model.name}: {len(model.weights)} variables")
    ax.axis("off")
    handles = [Patch(fc=color, ec="black", label=kind) for kind, color in KIND_COLORS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3)
    return ax
