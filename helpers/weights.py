"""What shape every weight of a Keras 3 model has, and what its axes mean.

Keras stores a Dense kernel as ``(input_dim, units)`` because the layer computes ``x @ W + b``.
This module names the axes of every common layer's weights (`weight_table`) and slices LSTM
kernels into their gates (`lstm_gates`). PyTorch's layouts of the same weights, and its forward
equations in NumPy, are in `helpers.pytorch`.

    >>> from helpers import weights
    >>> print(weights.format_weight_table(weights.weight_table(model)))  # doctest: +SKIP
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from helpers._layers import numpy_copy, own_weights, require_built, require_layer

__all__ = ["WeightRow", "format_weight_table", "lstm_gates", "weight_table"]

LSTM_GATES = ("input", "forget", "cell", "output")  # Keras and PyTorch share this order
_ATTENTION_AXES = {
    **{
        part: {
            "kernel": ("input_dim", "num_heads", f"{size}_dim"),
            "bias": ("num_heads", f"{size}_dim"),
        }
        for part, size in (("query", "key"), ("key", "key"), ("value", "value"))
    },
    "attention_output": {
        "kernel": ("num_heads", "value_dim", "output_dim"),
        "bias": ("output_dim",),
    },
}
_SPATIAL = {1: ("kernel_w",), 2: ("kernel_h", "kernel_w"), 3: ("kernel_d", "kernel_h", "kernel_w")}
_CONV_LSTM_GATES = "4*filters (i,f,c,o)"  # ConvLSTMCell splits its kernels in this order


def _einsum_axes(layer: keras.layers.EinsumDense, name: str) -> tuple[str, ...] | None:
    """An EinsumDense's axes from its equation: each kernel letter marked (in), (out) or
    (in, out); the bias' letters (out), with 1 where Keras broadcasts it.

    >>> _einsum_axes(keras.layers.EinsumDense("ab,bc->ac", 3, bias_axes="c"), "kernel")
    ('b (in)', 'c (out)')
    """
    operands, output = layer.equation.replace("...", "").split("->")
    inputs, kernel = operands.split(",")
    if name == "kernel":
        roles = {(True, False): "in", (False, True): "out", (True, True): "in, out"}
        return tuple(
            f"{c} ({roles.get((c in inputs, c in output), 'kernel only')})" for c in kernel
        )
    if name == "bias" and layer.bias_axes:
        first = min(output.find(c) for c in layer.bias_axes)
        return tuple(f"{c} (out)" if c in layer.bias_axes else "1" for c in output[first:])
    return None


def _prelu_axes(layer: keras.layers.PReLU, shape: tuple[int, ...]) -> tuple[str, ...]:
    """PReLU's alpha has the input's shape without the batch axis, 1 on each shared axis."""
    shared = set(layer.shared_axes or ())
    return tuple(
        "1 (shared)" if axis in shared else "features" if axis == len(shape) else f"axis{axis}"
        for axis in range(1, len(shape) + 1)
    )


@dataclass(frozen=True)
class WeightRow:
    """One weight variable: which top-level layer holds it, its path, shape and axis names.

    `path` is `variable.path`: the name scopes that were open when the variable was created.
    It is not unique in general (a nested Functional model's Dense "d" and the outer model's
    Dense "d" both give "d/kernel"); `layer`, the top-level layer to pass to
    `model.get_layer`, tells such rows apart.

    >>> WeightRow("dense", "dense/kernel", (4, 2), ("input_dim", "units"), 8, True).params
    8
    """

    layer: str
    path: str
    shape: tuple[int, ...]
    axes: tuple[str, ...]
    params: int
    trainable: bool


# ---------------------------------------------------------------- weight table


def _axes_for(layer: keras.layers.Layer, name: str, shape: tuple[int, ...]) -> tuple[str, ...]:
    """Axis names of variable `name` of `layer`; generic ("dim0", ...) when not known."""
    L = keras.layers
    expected: tuple[str, ...] | None = None
    if isinstance(layer, L.Dense):
        expected = {"kernel": ("input_dim", "units"), "bias": ("units",)}.get(name)
    elif isinstance(layer, L.Embedding):
        expected = {"embeddings": ("vocab", "embed_dim")}.get(name)
    elif isinstance(layer, (L.Conv1D, L.Conv2D, L.Conv3D)):
        spatial = _SPATIAL.get(len(layer.kernel_size), ())
        in_axis = "in_channels" if layer.groups == 1 else "in_channels/groups"
        expected = {"kernel": (*spatial, in_axis, "filters"), "bias": ("filters",)}.get(name)
    elif isinstance(layer, (L.Conv1DTranspose, L.Conv2DTranspose, L.Conv3DTranspose)):
        spatial = _SPATIAL.get(len(layer.kernel_size), ())
        expected = {"kernel": (*spatial, "filters", "in_channels"), "bias": ("filters",)}.get(name)
    elif isinstance(layer, (L.DepthwiseConv1D, L.DepthwiseConv2D)):
        spatial = _SPATIAL.get(len(layer.kernel_size), ())
        expected = {
            "kernel": (*spatial, "in_channels", "depth_multiplier"),
            "bias": ("in_channels*depth_multiplier",),
        }.get(name)
    elif isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D)):
        spatial = _SPATIAL.get(len(layer.kernel_size), ())
        expected = {
            "depthwise_kernel": (*spatial, "in_channels", "depth_multiplier"),
            "pointwise_kernel": (*("1",) * len(spatial), "in_channels*depth_multiplier", "filters"),
            "bias": ("filters",),
        }.get(name)
    elif isinstance(layer, L.LSTMCell):
        gates = "4*units (i,f,c,o)"
        expected = {
            "kernel": ("input_dim", gates),
            "recurrent_kernel": ("units", gates),
            "bias": (gates,),
        }.get(name)
    elif isinstance(layer, L.GRUCell):
        gates = "3*units (z,r,h)"
        bias = ("input|recurrent", gates) if layer.reset_after else (gates,)
        expected = {
            "kernel": ("input_dim", gates),
            "recurrent_kernel": ("units", gates),
            "bias": bias,
        }.get(name)
    elif isinstance(layer, L.SimpleRNNCell):
        expected = {
            "kernel": ("input_dim", "units"),
            "recurrent_kernel": ("units", "units"),
            "bias": ("units",),
        }.get(name)
    elif type(layer).__name__ == "ConvLSTMCell":  # the cell of ConvLSTM1D/2D/3D
        spatial = _SPATIAL.get(len(layer.kernel_size), ())
        expected = {
            "kernel": (*spatial, "in_channels", _CONV_LSTM_GATES),
            "recurrent_kernel": (*spatial, "filters", _CONV_LSTM_GATES),
            "bias": (_CONV_LSTM_GATES,),
        }.get(name)
    elif isinstance(layer, L.EinsumDense) and layer.name in _ATTENTION_AXES:
        # a MultiHeadAttention's projections (Keras names them query, key, value,
        # attention_output), for (batch, seq, features) inputs
        expected = _ATTENTION_AXES[layer.name].get(name)
    elif isinstance(layer, L.EinsumDense):
        expected = _einsum_axes(layer, name)
    elif isinstance(layer, L.PReLU) and name == "alpha":
        expected = _prelu_axes(layer, shape)
    elif isinstance(layer, (L.AdditiveAttention, L.RMSNormalization)) and name == "scale":
        expected = ("features",)
    elif isinstance(layer, L.Normalization) and name in ("mean", "variance"):
        # the statistics of the kept axes (axis=-1: one per feature), adapted or given
        expected = tuple("features" if a == -1 else f"axis{a}" for a in layer.axis)
    elif isinstance(layer, L.SpectralNormalization) and name == "vector_u":
        kernel = layer.kernel  # the wrapped layer's: the estimate spans its last axis
        expected = ("1", _axes_for(layer.layer, kernel.name, tuple(kernel.shape))[-1])
    elif isinstance(
        layer, (L.BatchNormalization, L.LayerNormalization, L.GroupNormalization)
    ) and name in (
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ):
        expected = ("features",)
    if expected is None or len(expected) != len(shape):
        return _generic(shape)
    return expected


def _generic(shape: tuple[int, ...]) -> tuple[str, ...]:
    """The axis names of a variable no rule knows: ("dim0", "dim1", ...)."""
    return tuple(f"dim{i}" for i in range(len(shape)))


def weight_table(model: keras.layers.Layer) -> list[WeightRow]:
    """One row per distinct weight variable of a built model (or layer), in `model.weights` order.

    A layer called twice, or a variable held by two layers, gives one row, so the params add
    up to `model.count_params()`. `layer` is the name to pass to `model.get_layer`.

    >>> rows = weight_table(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    >>> [(r.shape, r.axes) for r in rows]
    [((3, 2), ('input_dim', 'units')), ((2,), ('units',))]
    """
    require_layer(model, "weight_table")
    require_built(model)
    holders: dict[int, list[keras.layers.Layer]] = {}  # a variable may be held by several layers
    for sub, variables in own_weights(model):  # (a tied decoder, SpectralNormalization's kernel)
        for v in variables:
            holders.setdefault(id(v), []).append(sub)
    top: dict[int, str] = {}
    for t in model.layers if isinstance(model, keras.Model) else []:
        for w in t.weights:
            top.setdefault(id(w), t.name)
    rows = []
    for v in model.weights:  # already distinct
        shape = tuple(int(d) for d in v.shape)
        named = [_axes_for(holder, v.name, shape) for holder in holders.get(id(v), [model])]
        rows.append(
            WeightRow(
                layer=top.get(id(v), model.name),
                path=v.path,
                shape=shape,
                axes=next((a for a in named if a != _generic(shape)), named[0]),
                params=int(np.prod(shape, dtype=np.int64)),
                trainable=bool(v.trainable),
            )
        )
    return rows


def format_weight_table(rows: list[WeightRow]) -> str:
    """Render rows as a text table ending with total / trainable / non-trainable counts.

    The first column is the top-level layer, so rows that share a `path` stay distinguishable.

    >>> print(format_weight_table(weight_table(model)).splitlines()[-3])  # doctest: +SKIP
    Total params: 70
    """
    if not isinstance(rows, (list, tuple)):
        hint = " (pass weight_table(model))" if isinstance(rows, keras.layers.Layer) else ""
        raise TypeError(
            "format_weight_table expects the list returned by weight_table(model), "
            f"got {type(rows).__name__}{hint}"
        )
    bad = next((r for r in rows if not isinstance(r, WeightRow)), None)
    if bad is not None:
        raise TypeError(
            "format_weight_table expects the list returned by weight_table(model), "
            f"got a list containing {type(bad).__name__}"
        )
    header = ("layer", "path", "shape", "axes", "params", "trainable")
    body = [
        (
            r.layer,
            r.path,
            str(r.shape),
            "(" + ", ".join(r.axes) + ")",
            f"{r.params:,}",
            str(r.trainable),
        )
        for r in rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def fmt(line: tuple[str, ...]) -> str:
        cells = [
            c.rjust(w) if i == 4 else c.ljust(w)
            for i, (c, w) in enumerate(zip(line, widths, strict=True))
        ]
        return "  ".join(cells).rstrip()

    total = sum(r.params for r in rows)
    trainable = sum(r.params for r in rows if r.trainable)
    lines = [fmt(header), "-" * len(fmt(header)), *(fmt(line) for line in body)]
    lines += [
        f"Total params: {total:,}",
        f"Trainable params: {trainable:,}",
        f"Non-trainable params: {total - trainable:,}",
    ]
    return "\n".join(lines)


# ---------------------------------------------------------------- LSTM gates


def lstm_gates(layer: keras.layers.Layer) -> dict[str, dict[str, np.ndarray]]:
    """Slice a built LSTM's weights into its gates, in Keras' order input, forget, cell, output.

    Accepts an `LSTM` (also `bidi.forward_layer` or `bidi.backward_layer`) or an `LSTMCell`.
    Each gate has "kernel" (input_dim, units), "recurrent_kernel" (units, units) and "bias"
    (units,), zeros when the layer has `use_bias=False`.

    >>> lstm_gates(lstm)["forget"]["kernel"].shape  # doctest: +SKIP
    (3, 4)
    """
    require_layer(layer, "lstm_gates")
    if isinstance(layer, keras.layers.Bidirectional):
        raise ValueError(
            f"lstm_gates got the Bidirectional wrapper '{layer.name}'; pass one direction: "
            f"`{layer.name}.forward_layer` or `{layer.name}.backward_layer`."
        )
    cell = layer.cell if isinstance(layer, keras.layers.RNN) else layer
    if not isinstance(cell, keras.layers.LSTMCell):
        raise ValueError(
            f"lstm_gates needs an LSTM or LSTMCell layer, got {type(layer).__name__} '{layer.name}'"
        )
    require_built(layer)
    u = cell.units
    kernel = numpy_copy(cell.kernel)
    recurrent = numpy_copy(cell.recurrent_kernel)
    bias = numpy_copy(cell.bias) if cell.use_bias else np.zeros(4 * u, dtype=kernel.dtype)
    return {
        gate: {
            "kernel": kernel[:, k * u : (k + 1) * u],
            "recurrent_kernel": recurrent[:, k * u : (k + 1) * u],
            "bias": bias[k * u : (k + 1) * u],
        }
        for k, gate in enumerate(LSTM_GATES)
    }
