"""Shared layers: which layers a model calls more than once, and the output of every call.

A layer instance called on several inputs keeps ONE set of weights; Keras records each call as a
separate node of the model's graph. ``layer.output`` only returns the first call's output, so this
module walks the graph and hands back every call.

    >>> calls = layer_calls(model)            # every call of every layer, nested models flattened
    >>> shared_layers(model)                   # {"shared_dense": 10}
    >>> call_outputs(model, "shared_dense")    # 10 symbolic tensors, one per call

Reading the graph needs private Keras attributes; they are read in ONE function, ``_trace``.
"""

from __future__ import annotations

import heapq
import weakref
from dataclasses import dataclass, field
from typing import Any

import keras

from helpers._checks import closest_first


@dataclass(frozen=True)
class LayerCall:
    """One call of one layer (or one ``keras.ops`` operation) in a model's (flattened) graph.

    ``name`` is the layer path ("dense", or "encoder/dense" inside a nested model; for an
    operation such as a residual ``x + y`` it is Keras' own name for it, e.g. "add"), ``index``
    the 0-based position of this call among the ``calls`` calls of that layer, ``outputs`` this
    call's symbolic output(s), ``inputs`` the flat list of symbolic tensors passed POSITIONALLY,
    and ``keyword_inputs`` the keyword arguments that hold tensors ({"mask": m} for a mask Keras
    passed along or you passed, {"attention_mask": a}, ...), all connected to ``model.inputs``.

        >>> call = layer_calls(model)[0]
        >>> keras.Model(model.inputs, call.outputs)  # works, also for layers of nested models
    """

    name: str
    index: int
    calls: int
    layer: Any  # a keras.layers.Layer, or a keras Operation for a keras.ops result
    outputs: Any
    inputs: list
    keyword_inputs: dict = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The public name of this call: ``name`` if the layer is called once, else ``name@index``.

        >>> [c.key for c in layer_calls(model)]  # ['shared@0', 'shared@1', 'head']
        """
        return self.name if self.calls == 1 else f"{self.name}@{self.index}"

    @property
    def is_layer(self) -> bool:
        """False for a bare ``keras.ops`` operation (``x + y``, ``ops.add``), True for a layer."""
        return isinstance(self.layer, keras.layers.Layer)


def _tensors(structure: Any) -> list:
    """The symbolic tensors in a nested structure of call arguments, in flatten order."""
    return [t for t in keras.tree.flatten(structure) if isinstance(t, keras.KerasTensor)]


class _Arguments:
    """The positional tensors and the keyword tensors of a call's ``args`` and ``kwargs``."""

    args: tuple
    kwargs: dict

    @property
    def inputs(self) -> list:
        """The tensors passed positionally, flat."""
        return _tensors(self.args)

    @property
    def keyword_inputs(self) -> dict:
        """{keyword: value} for the keyword arguments that hold at least one tensor."""
        return {k: v for k, v in self.kwargs.items() if _tensors(v)}


@dataclass(frozen=True)
class _Call(_Arguments):
    """One call event read from Keras' graph: the operation, the positional and keyword arguments
    it was called with (tensors and other values, structure kept) and its flat symbolic outputs."""

    operation: Any
    args: tuple
    kwargs: dict
    outputs: list


def _trace(inputs: list, outputs: list) -> list[_Call]:
    """All call events between ``inputs`` and ``outputs``, InputLayer calls left out.

    The ONLY function of the package that reads private Keras graph attributes
    (``KerasTensor._keras_history``, ``Operation._inbound_nodes``, ``Node.input_tensors``,
    ``Node.arguments.args``/``.kwargs``, ``Node.outputs``, ``Node.is_input``). Every tensor
    argument counts as a dependency, positional or keyword (a ``mask=``, ``attention_mask=``).
    Order: a topological order that traces outputs and arguments depth-first, in order, and
    keeps the calls of one operation in the order they were made (so call 0 is the call behind
    ``layer.output``).

        >>> [c.operation.name for c in _trace(model.inputs, model.outputs)]  # ['dense', 'head']
    """
    input_ids = {id(x) for x in inputs}
    order: list[Any] = []  # nodes in depth-first post-order
    parents: dict[int, list[Any]] = {}
    seen: set[int] = set()
    try:

        def producer(tensor: Any) -> Any:
            if id(tensor) in input_ids:
                return None
            operation, node_index, _ = tensor._keras_history
            return None if operation is None else operation._inbound_nodes[node_index]

        stack = [(producer(t), False) for t in reversed(outputs)]
        while stack:
            node, expanded = stack.pop()
            if node is None or node.is_input or (id(node) in seen and not expanded):
                continue
            if expanded:
                order.append(node)
                continue
            seen.add(id(node))
            node_parents = [producer(t) for t in node.input_tensors]
            parents[id(node)] = [p for p in node_parents if p is not None and not p.is_input]
            stack.append((node, True))
            stack.extend((p, False) for p in reversed(node_parents))
        creation = {id(n): n.operation._inbound_nodes.index(n) for n in order}
        calls = {
            id(n): _Call(
                n.operation, tuple(n.arguments.args), dict(n.arguments.kwargs), list(n.outputs)
            )
            for n in order
        }
    except (AttributeError, TypeError, ValueError) as e:
        raise RuntimeError(
            "helpers.shared._trace could not read the Keras graph; Keras' private graph "
            f"attributes (_keras_history, _inbound_nodes, Node) changed: {type(e).__name__}: {e}"
        ) from e

    # Kahn's algorithm: a call waits for its arguments' producers and for the previous call of
    # its operation; of the calls ready to run, the earliest in depth-first order goes first.
    position = {id(n): i for i, n in enumerate(order)}
    before = {id(n): {id(p): p for p in parents[id(n)]} for n in order}
    previous: dict[int, Any] = {}  # operation -> its latest call so far, in creation order
    for n in sorted(order, key=lambda n: creation[id(n)]):
        if id(n.operation) in previous:
            p = previous[id(n.operation)]
            before[id(n)][id(p)] = p
        previous[id(n.operation)] = n
    waiting = {key: len(nodes) for key, nodes in before.items()}
    after: dict[int, list[Any]] = {id(n): [] for n in order}
    for n in order:
        for p in before[id(n)].values():
            after[id(p)].append(n)
    ready = [(position[id(n)], n) for n in order if waiting[id(n)] == 0]
    heapq.heapify(ready)
    result = []
    while ready:
        _, n = heapq.heappop(ready)
        result.append(calls[id(n)])
        for child in after[id(n)]:
            waiting[id(child)] -= 1
            if waiting[id(child)] == 0:
                heapq.heappush(ready, (position[id(child)], child))
    return result


def _keras_mask(tensor: Any) -> Any:
    """The mask a symbolic tensor carries (Keras' private ``_keras_mask``, set e.g. by
    ``Embedding(mask_zero=True)`` and passed on by layers that support masking), or None.

        >>> _keras_mask(embedding_output)  # <KerasTensor shape=(None, 5), dtype=bool, ...>
    """
    return getattr(tensor, "_keras_mask", None)


def _graph_io(model: keras.Model) -> tuple[list, list] | None:
    """A model's flat symbolic inputs and outputs, or None for a model without a graph."""
    try:
        inputs, outputs = model.inputs, model.outputs
    except (AttributeError, ValueError):
        return None
    if not inputs or not outputs:
        return None
    return list(inputs), list(outputs)


def _as_output(flat: list) -> Any:
    """Keras' convention for ``layer.output``: one tensor alone, several as a list."""
    return flat[0] if len(flat) == 1 else list(flat)


@dataclass(frozen=True)
class _Step(_Arguments):
    """One call in a walk: its path, operation, arguments (structure kept) and outputs."""

    path: str
    operation: Any
    args: tuple
    kwargs: dict
    outputs: Any


def _mask_only(calls: list[_Call], outputs: list) -> set[int]:
    """ids of the bare operations (not layers) that only compute masks: reached from the outputs
    only through ``mask=`` arguments, such as the ``not_equal`` Keras adds for
    ``Embedding(mask_zero=True)``. Those are how a layer passes its mask on, not activations."""
    producer = {id(t): c for c in calls for t in c.outputs}
    data = {id(producer[id(t)]) for t in outputs if id(t) in producer}
    for call in reversed(calls):  # consumers come after their producers
        if id(call) not in data:
            continue
        kept = {k: v for k, v in call.kwargs.items() if k != "mask"}
        for t in _tensors((call.args, kept)):
            if id(t) in producer:
                data.add(id(producer[id(t)]))
    return {
        id(c)
        for c in calls
        if id(c) not in data and not isinstance(c.operation, keras.layers.Layer)
    }


# model -> (its outputs when walked, its calls): walking again returns the same tensors, so
# repeated calls add no nodes to any layer; a Sequential that gains a layer gets new outputs.
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _walk(model: keras.Model) -> list[_Step]:
    """Every call, connected to ``model.inputs``, nested models flattened; bare ``keras.ops``
    operations included except those that only compute masks (``_mask_only``).

    A nested model's inner calls are reached through ONE wrapper Functional per nested model,
    ``keras.Model(nested.inputs, [every inner call's tensors, flattened])`` named
    ``layer_calls__<nested name>``, called ONCE per call of the nested model on that call's outer
    arguments (its positional inputs and its keyword arguments: ``mask=``, ``training=``); each
    inner call's tensors are elements of that one wrapper call. So any set of inner activations
    costs one pass of the nested model per call (the wrapper's); asking also for the nested
    model's output or a layer after it adds the model's own pass, and each deeper level of
    nesting adds one more. This adds one node to the wrapper (never to your layers) per nested
    call, once per model, as results are cached.

        >>> [s.path for s in _walk(model)]  # ['encoder/dense', 'encoder', 'head']
    """
    io = _graph_io(model)
    if io is None and isinstance(model, keras.Sequential):
        raise ValueError(
            f"Model {model.name!r} has no defined inputs, so it has no graph to walk. Start it "
            "with keras.Input(shape=...), call model.build((None, ...)), or call it once on data."
        )
    if io is None:
        raise ValueError(
            f"Model {model.name!r} ({type(model).__name__}) is a subclassed model: its call() is "
            "Python code, not a graph of layer calls, so there is nothing to walk. Use the "
            "functional API or Sequential, or wrap it: keras.Model(inp, model(inp)) lists it as "
            "one layer."
        )
    cached = _CACHE.get(model)
    if (
        cached is not None
        and len(cached[0]) == len(io[1])
        and all(a is b for a, b in zip(cached[0], io[1], strict=True))
    ):
        return cached[1]
    walked: list[_Step] = []
    wrappers: dict[int, keras.Model] = {}  # one per nested model, called once per nested call
    calls = _trace(*io)
    masks = _mask_only(calls, io[1])
    for call in calls:
        operation = call.operation
        if id(call) in masks:
            continue
        inner_io = _graph_io(operation) if isinstance(operation, keras.Model) else None
        if inner_io is not None:
            if len(call.inputs) != len(inner_io[0]):
                raise ValueError(
                    f"Nested model {operation.name!r} was called with {len(call.inputs)} "
                    f"positional tensors but has {len(inner_io[0])} inputs; cannot connect its "
                    "inner layers."
                )
            inner = _walk(operation)
            if inner:
                walked.extend(_through_wrapper(operation, inner_io[0], inner, call, wrappers))
        walked.append(
            _Step(operation.name, operation, call.args, call.kwargs, _as_output(call.outputs))
        )
    _CACHE[model] = (io[1], walked)
    return walked


def _remap(structure: Any, outer: dict[int, Any]) -> Any:
    """``structure`` with each symbolic tensor replaced by ``outer[id(tensor)]``."""
    return keras.tree.map_structure(
        lambda t: outer[id(t)] if isinstance(t, keras.KerasTensor) else t, structure
    )


def _through_wrapper(
    nested: keras.Model,
    nested_inputs: list,
    inner: list[_Step],
    call: _Call,
    wrappers: dict[int, keras.Model],
) -> list[_Step]:
    """``inner`` (the walk of ``nested``) re-expressed on the outer graph of ``call`` (one call
    of ``nested``), through a single call of one wrapper returning every inner tensor. The
    wrapper gets the call's positional inputs and its keyword arguments (``mask=``, ...), so
    inner layers see the same masks as in the model.

        >>> _through_wrapper(encoder, encoder.inputs, _walk(encoder), call, {})  # encoder/...
    """
    unique: dict[int, Any] = {}  # every inner tensor (arguments and outputs), each once
    for step in inner:
        unique.update((id(t), t) for t in _tensors((step.args, step.kwargs, step.outputs)))
    if id(nested) not in wrappers:
        wrapper = keras.Model(
            nested_inputs[0] if len(nested_inputs) == 1 else nested_inputs,
            list(unique.values()),
            name=f"layer_calls__{nested.name}",
        )
        # It takes the call's mask= (for the inner layers) and gives its outputs none, so Keras
        # does not warn, at every run, that a Functional "destroys the mask information".
        wrapper.supports_masking = True
        wrapper.compute_mask = lambda inputs, previous_mask=None: None
        wrappers[id(nested)] = wrapper
    args = call.inputs
    results = keras.tree.flatten(
        wrappers[id(nested)](args[0] if len(args) == 1 else args, **call.kwargs)
    )
    outer = dict(zip(unique, results, strict=True))
    return [
        _Step(
            f"{nested.name}/{step.path}",
            step.operation,
            _remap(step.args, outer),
            _remap(step.kwargs, outer),
            _remap(step.outputs, outer),
        )
        for step in inner
    ]


def _check_model(caller: str, model: object) -> None:
    """TypeError naming ``caller`` (the public function the user called) unless ``model`` is a
    keras.Model.

        >>> _check_model("shared_layers", None)  # TypeError: shared_layers expects a keras.Model...
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{caller} expects a keras.Model (Functional or Sequential) as model, got "
            f"{type(model).__name__}."
        )


def _layer_calls(model: keras.Model) -> list[LayerCall]:
    """``layer_calls`` without the argument check (callers check ``model`` first)."""
    walked = _walk(model)
    totals: dict[str, int] = {}
    for step in walked:
        totals[step.path] = totals.get(step.path, 0) + 1
    seen: dict[str, int] = {}
    result = []
    for step in walked:
        index = seen.get(step.path, 0)
        seen[step.path] = index + 1
        result.append(
            LayerCall(
                step.path,
                index,
                totals[step.path],
                step.operation,
                step.outputs,
                step.inputs,
                step.keyword_inputs,
            )
        )
    return result


def layer_calls(model: keras.Model) -> list[LayerCall]:
    """Every call of every layer in ``model``'s graph, nested models flattened, in execution order.

    InputLayers are left out. A nested model appears itself ("encoder", after its inner calls) and
    through its inner layers ("encoder/dense"). Within one layer, calls keep the order they were
    made. Side effect: see ``_walk`` (one cached wrapper per nested model, called once per call of
    it; your layers and models, their ``output``, predictions and configs are untouched).

        >>> [(c.key, c.calls) for c in layer_calls(model)]  # [('shared@0', 2), ('shared@1', 2)]
    """
    _check_model("layer_calls", model)
    return _layer_calls(model)


def shared_layers(model: keras.Model) -> dict[str, int]:
    """Every layer called more than once in ``model``'s graph, with its number of calls.

    Nested models are included, their layers named ``outer/inner``. Calls are counted per layer
    object: a layer used both directly ("dense") and inside a nested model ("sub/dense") is listed
    under both names, each with the layer's total number of calls.

        >>> shared_layers(model)  # {'shared_dense': 10}
    """
    _check_model("shared_layers", model)
    calls = _layer_calls(model)
    per_layer: dict[int, int] = {}
    for c in calls:
        per_layer[id(c.layer)] = per_layer.get(id(c.layer), 0) + 1
    return {c.name: per_layer[id(c.layer)] for c in calls if per_layer[id(c.layer)] > 1}


def call_outputs(model: keras.Model, layer_name: str) -> list:
    """The symbolic output of each call of ``layer_name``, in call order.

    Each one is connected to ``model.inputs``: ``keras.Model(model.inputs, outs)`` works.
    An unknown name raises KeyError listing the known names, closest match first; the name of
    one of the model's inputs (InputLayers are left out) raises KeyError pointing to
    ``model.inputs``.

        >>> outs = call_outputs(model, "shared_dense")
        >>> keras.Model(model.inputs, outs).predict(xs)  # one array per call
    """
    _check_model("call_outputs", model)
    if not isinstance(layer_name, str):
        raise TypeError(
            f"layer_name must be a str such as 'dense' or 'encoder/dense', "
            f"got {type(layer_name).__name__}."
        )
    calls = _layer_calls(model)
    outputs = [c.outputs for c in calls if c.name == layer_name]
    if outputs:
        return outputs
    input_names = [getattr(t, "name", None) for t in model.inputs]
    if layer_name in input_names:
        k = input_names.index(layer_name)
        raise KeyError(
            f"{layer_name!r} is an input of model {model.name!r}: InputLayers are left out of "
            f"layer_calls and call_outputs, as an input has no call to list. Its tensor is "
            f"model.inputs[{k}]."
        )
    known = list(dict.fromkeys(c.name for c in calls))
    ranked = closest_first(layer_name, known)
    raise KeyError(
        f"No layer named {layer_name!r} in model {model.name!r} (InputLayers are left out; "
        f"the inputs are model.inputs). Known layers (closest first): {', '.join(ranked)}"
    )
