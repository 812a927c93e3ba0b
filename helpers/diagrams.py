"""Diagrams of a Functional model's graph: its edges, and a small matplotlib drawing of them.

No graphviz needed (``keras.utils.plot_model`` needs pydot and graphviz); matplotlib is imported
only when you draw.

    >>> graph_edges(model)  # [("input_0", "shared_dense"), ..., ("shared_dense", "output 9")]
    >>> draw_graph(model)  # a matplotlib Axes: inputs, layers and outputs as boxes
"""

from __future__ import annotations

from typing import Any

import keras

from helpers.shared import _keras_mask, layer_calls

#: Box colour of each kind of node in ``draw_graph``.
KIND_COLORS = {"input": "lightblue", "layer": "wheat", "output": "lightgreen"}


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


def draw_graph(model: keras.Model, ax: Any = None) -> Any:
    """Draw the graph: boxes in columns by depth (inputs left), one arrow per edge, a legend.

    Inputs, layers and model outputs get the colours of ``KIND_COLORS``; a second arrow between the
    same two boxes (a layer reading one producer twice) is bent. Axes are off: columns are depth.

        >>> ax = draw_graph(model)  # then plt.show()
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    edges, depth = graph_edges(model), node_depths(model)
    columns: dict[int, list[str]] = {}
    for node, d in depth.items():
        columns.setdefault(d, []).append(node)
    rows = max(len(ns) for ns in columns.values())
    if ax is None:
        _, ax = plt.subplots(figsize=(6, 1.5 + 0.5 * rows), layout="constrained")
    pos = {n: (d, (len(ns) - 1) / 2 - k) for d, ns in columns.items() for k, n in enumerate(ns)}
    boxes = {}
    for node, (x, y) in pos.items():
        kind = "input" if depth[node] == 0 else "output" if node.startswith("output ") else "layer"
        box = {"boxstyle": "round", "fc": KIND_COLORS[kind]}
        boxes[node] = ax.text(x, y, node, ha="center", va="center", fontsize=8, bbox=box)
    seen: dict[tuple[str, str], int] = {}
    for src, dst in edges:  # from the right edge of one box to the left edge of the next
        k = seen[src, dst] = seen.get((src, dst), -1) + 1  # repeated arrows bend apart
        style = {
            "arrowstyle": "->",
            "shrinkA": 4,
            "shrinkB": 4,
            "connectionstyle": f"arc3,rad={0.3 * k * (-1) ** k}",
        }
        ax.annotate(
            "",
            xy=(0, 0.5),
            xycoords=boxes[dst],
            xytext=(1, 0.5),
            textcoords=boxes[src],
            arrowprops=style,
        )
    ax.set(xlim=(-0.6, max(depth.values()) + 0.6), ylim=(-rows / 2, rows / 2))
    ax.set_title(f"{model.name}: {len(model.weights)} variables")
    ax.axis("off")
    handles = [Patch(fc=color, ec="black", label=kind) for kind, color in KIND_COLORS.items()]
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=3)
    return ax
