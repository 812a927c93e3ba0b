"""What shape every weight of a Keras 3 model has, what its axes mean, and PyTorch's layout.

Keras stores a Dense kernel as ``(input_dim, units)`` because the layer computes ``x @ W + b``;
PyTorch stores ``nn.Linear.weight`` as ``(out_features, in_features)`` and computes
``x @ W.T + b``. This module names the axes of every common layer's weights, slices LSTM
kernels into their gates, and converts weights to and from PyTorch's layout.

    >>> from helpers import weights
    >>> print(weights.format_weight_table(weights.weight_table(model)))  # doctest: +SKIP

The ``torch_*`` functions are numpy versions of PyTorch's documented forward formulas, so a
conversion can be checked without installing PyTorch.
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

from helpers._checks import closest_first

__all__ = [
    "WeightRow",
    "format_weight_table",
    "from_torch_layout",
    "lstm_gates",
    "to_torch_layout",
    "torch_conv",
    "torch_gru",
    "torch_linear",
    "torch_lstm",
    "weight_table",
]

LSTM_GATES = ("input", "forget", "cell", "output")  # Keras and PyTorch share this order
TORCH_GRU_ORDER = (1, 0, 2)  # PyTorch: r, z, n, i.e. Keras blocks 1, 0, 2
_TORCH_KINDS: dict[str, type[keras.layers.Layer]] = {
    "Dense": keras.layers.Dense,
    "Embedding": keras.layers.Embedding,
    "Conv1D": keras.layers.Conv1D,
    "Conv2D": keras.layers.Conv2D,
    "Conv3D": keras.layers.Conv3D,
    "LSTM": keras.layers.LSTM,
    "GRU": keras.layers.GRU,
}
SUPPORTED_TORCH = tuple(_TORCH_KINDS)
_WITH_BIAS = ("Dense", "Conv1D", "Conv2D", "Conv3D")  # kinds whose PyTorch bias key is "bias"
_SPATIAL = {1: ("kernel_w",), 2: ("kernel_h", "kernel_w"), 3: ("kernel_d", "kernel_h", "kernel_w")}


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


# ---------------------------------------------------------------- argument checks


def _require_layer(layer: object, caller: str) -> None:
    """Raise TypeError, naming the type given, if `layer` is not a Keras layer or model."""
    if not isinstance(layer, keras.layers.Layer):
        raise TypeError(f"{caller} expected a keras Layer or Model, got {type(layer).__name__}")


def _require_built(layer: keras.layers.Layer) -> None:
    """Raise ValueError, saying how to build it, if `layer` has not created its weights yet."""
    if not layer.built:
        raise ValueError(
            f"{type(layer).__name__} '{layer.name}' was never built, so it has no weights yet. "
            "Build it first: call it once on a batch (e.g. `model(x[:1])`), call "
            "`layer.build(input_shape)`, or start the model with `keras.Input(shape=...)`."
        )


def _own_weights(layer: keras.layers.Layer) -> list[tuple[keras.layers.Layer, list]]:
    """Every layer inside `layer` (itself first) with the variables it holds directly.

    The only place this module touches private Keras attributes (`_flatten_layers`,
    `_trainable_variables`, `_non_trainable_variables`); tests/test_weights.py checks them.

    >>> [(l.name, [v.name for v in vs]) for l, vs in _own_weights(dense)]  # doctest: +SKIP
    [('dense', ['kernel', 'bias'])]
    """
    try:
        return [
            (sub, list(sub._trainable_variables) + list(sub._non_trainable_variables))
            for sub in layer._flatten_layers(include_self=True, recursive=True)
        ]
    except AttributeError as e:  # pragma: no cover - only if Keras renames its internals
        raise RuntimeError(
            f"Keras {keras.version()} changed a private Layer attribute that "
            f"helpers.weights relies on: {e}"
        ) from e


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
    elif isinstance(layer, (L.BatchNormalization, L.LayerNormalization)) and name in (
        "gamma",
        "beta",
        "moving_mean",
        "moving_variance",
    ):
        expected = ("features",)
    if expected is None or len(expected) != len(shape):
        return tuple(f"dim{i}" for i in range(len(shape)))
    return expected


def weight_table(model: keras.layers.Layer) -> list[WeightRow]:
    """One row per distinct weight variable of a built model (or layer), in `model.weights` order.

    A layer called twice, or a variable held by two layers, gives one row, so the params add
    up to `model.count_params()`. `layer` is the name to pass to `model.get_layer`.

    >>> rows = weight_table(keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)]))
    >>> [(r.shape, r.axes) for r in rows]
    [((3, 2), ('input_dim', 'units')), ((2,), ('units',))]
    """
    _require_layer(model, "weight_table")
    _require_built(model)
    owner: dict[int, keras.layers.Layer] = {}
    for sub, variables in _own_weights(model):
        for v in variables:
            owner.setdefault(id(v), sub)
    top: dict[int, str] = {}
    for t in model.layers if isinstance(model, keras.Model) else []:
        for w in t.weights:
            top.setdefault(id(w), t.name)
    rows = []
    for v in model.weights:  # already distinct
        shape = tuple(int(d) for d in v.shape)
        rows.append(
            WeightRow(
                layer=top.get(id(v), model.name),
                path=v.path,
                shape=shape,
                axes=_axes_for(owner.get(id(v), model), v.name, shape),
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
    _require_layer(layer, "lstm_gates")
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
    _require_built(layer)
    u = cell.units
    kernel = np.asarray(cell.kernel).copy()
    recurrent = np.asarray(cell.recurrent_kernel).copy()
    bias = np.asarray(cell.bias).copy() if cell.use_bias else np.zeros(4 * u, dtype=kernel.dtype)
    return {
        gate: {
            "kernel": kernel[:, k * u : (k + 1) * u],
            "recurrent_kernel": recurrent[:, k * u : (k + 1) * u],
            "bias": bias[k * u : (k + 1) * u],
        }
        for k, gate in enumerate(LSTM_GATES)
    }


# ---------------------------------------------------------------- PyTorch layout


def _function_name(fn: object) -> str:
    """A short name for an activation function: its `__name__`, else its type's name."""
    return getattr(fn, "__name__", type(fn).__name__)


def _kind(layer: keras.layers.Layer, caller: str) -> str:
    """The supported layer kind of `layer`, or a ValueError naming the supported ones."""
    _require_layer(layer, caller)
    kind = next((k for k, cls in _TORCH_KINDS.items() if isinstance(layer, cls)), None)
    if kind is None:
        hint = ""
        if isinstance(layer, keras.layers.Bidirectional):
            hint = (
                f" For a Bidirectional layer convert `{layer.name}.forward_layer` and "
                f"`{layer.name}.backward_layer` separately; PyTorch names the backward "
                "direction's parameters with a `_reverse` suffix (e.g. weight_ih_l0_reverse)."
            )
        raise ValueError(
            f"no PyTorch layout for {type(layer).__name__} "
            f"'{layer.name}'; supported: {', '.join(SUPPORTED_TORCH)}.{hint}"
        )
    if kind in ("LSTM", "GRU"):
        cell = layer.cell
        act, rec = cell.activation, cell.recurrent_activation
        if act is not keras.activations.tanh or rec is not keras.activations.sigmoid:
            raise ValueError(
                f"{kind} '{layer.name}' uses activation={_function_name(act)}, "
                f"recurrent_activation={_function_name(rec)}; PyTorch's nn.{kind} is fixed to "
                "tanh and sigmoid, so these weights would not compute the same function there. "
                "Only the defaults keras.activations.tanh and keras.activations.sigmoid convert."
            )
        if kind == "GRU" and not cell.reset_after:
            raise ValueError(
                f"GRU '{layer.name}' has reset_after=False, which has no exact PyTorch "
                "counterpart: nn.GRU applies the reset gate after the recurrent matmul, "
                "r * (W_hn h + b_hn). Use keras.layers.GRU(..., reset_after=True) (the default)."
            )
    _require_built(layer)
    return kind


def _gru_blocks(a: np.ndarray, axis: int) -> np.ndarray:
    """Reorder the 3 gate blocks along `axis` between Keras (z, r, h) and PyTorch (r, z, n)."""
    blocks = np.split(a, 3, axis=axis)
    return np.concatenate([blocks[i] for i in TORCH_GRU_ORDER], axis=axis)


def to_torch_layout(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """A built layer's weights as the `state_dict` of the matching PyTorch module (numpy arrays).

    Dense -> nn.Linear `weight` (out, in), `bias`; Embedding -> nn.Embedding `weight`;
    ConvND -> nn.ConvNd `weight` (out, in/groups, *kernel), `bias` (both are
    cross-correlations, so nothing is flipped); LSTM/GRU -> `weight_ih_l0` (G*units, in),
    `weight_hh_l0` (G*units, units), `bias_ih_l0`, `bias_hh_l0`. Keras' single LSTM bias goes
    to `bias_ih_l0` and `bias_hh_l0` is zeros (PyTorch adds the two). GRU gates are reordered
    from Keras' (z, r, h) to PyTorch's (r, z, n).

    >>> to_torch_layout(keras.layers.Dense(2, name="d"))  # doctest: +SKIP
    ValueError: Dense 'd' was never built ...
    """
    kind = _kind(layer, "to_torch_layout")
    if kind == "Dense":
        state = {"weight": np.asarray(layer.kernel).T}
    elif kind == "Embedding":
        state = {"weight": np.asarray(layer.embeddings)}
    elif kind.startswith("Conv"):
        rank = len(layer.kernel_size)  # Keras (*kernel, in, out) -> PyTorch (out, in, *kernel)
        state = {"weight": np.asarray(layer.kernel).transpose(rank + 1, rank, *range(rank))}
    else:
        cell = layer.cell
        w_ih, w_hh = np.asarray(cell.kernel).T, np.asarray(cell.recurrent_kernel).T
        if kind == "GRU":
            w_ih, w_hh = _gru_blocks(w_ih, 0), _gru_blocks(w_hh, 0)
        state = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh}
        if cell.use_bias:
            bias = np.asarray(cell.bias)
            if kind == "LSTM":
                state["bias_ih_l0"] = bias
                state["bias_hh_l0"] = np.zeros_like(bias)
            else:
                state["bias_ih_l0"] = _gru_blocks(bias[0], 0)
                state["bias_hh_l0"] = _gru_blocks(bias[1], 0)
    if kind in _WITH_BIAS and layer.use_bias:
        state["bias"] = np.asarray(layer.bias)
    return {k: np.array(v, order="C") for k, v in state.items()}  # copies, writable


def from_torch_layout(layer: keras.layers.Layer, state: dict[str, np.ndarray]) -> None:
    """Load a PyTorch `state_dict` (arrays or tensors' `.numpy()`) into a built Keras layer.

    The names and shapes must be exactly those `to_torch_layout(layer)` returns; everything
    is checked before any weight is written. LSTM biases are summed (`bias_ih + bias_hh`, in
    the state's dtype, then cast to the variable's dtype: with float32 arrays the Keras bias is
    exactly their float32 sum).
    `from_torch_layout(layer, to_torch_layout(layer))` leaves every weight bit-identical.

    >>> from_torch_layout(dense, {"weight": w, "bias": b})  # doctest: +SKIP
    """
    kind = _kind(layer, "from_torch_layout")
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of name -> array, got {type(state).__name__}")
    expected = {k: v.shape for k, v in to_torch_layout(layer).items()}
    unknown = [k for k in state if k not in expected]
    if unknown:
        close = closest_first(unknown[0], expected)
        raise KeyError(
            f"unexpected key {unknown[0]!r} for {kind} '{layer.name}'; "
            f"expected keys (closest first): {close}"
        )
    missing = [k for k in expected if k not in state]
    if missing:
        raise KeyError(
            f"missing key(s) {missing} for {kind} '{layer.name}'; expected keys: {list(expected)}"
        )
    arrays = {k: np.asarray(v) for k, v in state.items()}
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ValueError(
                f"{k!r} for {kind} '{layer.name}' has shape {arrays[k].shape}; "
                f"PyTorch's layout here is {shape}"
            )

    if kind == "Dense":
        values = [(layer.kernel, arrays["weight"].T)]
    elif kind == "Embedding":
        values = [(layer.embeddings, arrays["weight"])]
    elif kind.startswith("Conv"):
        rank = len(layer.kernel_size)  # PyTorch (out, in, *kernel) -> Keras (*kernel, in, out)
        values = [(layer.kernel, arrays["weight"].transpose(*range(2, rank + 2), 1, 0))]
    else:
        cell = layer.cell
        w_ih, w_hh = arrays["weight_ih_l0"], arrays["weight_hh_l0"]
        if kind == "GRU":  # the permutation (1, 0, 2) is its own inverse
            w_ih, w_hh = _gru_blocks(w_ih, 0), _gru_blocks(w_hh, 0)
        values = [(cell.kernel, w_ih.T), (cell.recurrent_kernel, w_hh.T)]
        if cell.use_bias:
            b_ih, b_hh = arrays["bias_ih_l0"], arrays["bias_hh_l0"]
            if kind == "LSTM":
                values.append((cell.bias, b_ih + b_hh))
            else:
                values.append((cell.bias, np.stack([_gru_blocks(b_ih, 0), _gru_blocks(b_hh, 0)])))
    if kind in _WITH_BIAS and layer.use_bias:
        values.append((layer.bias, arrays["bias"]))
    for variable, value in values:
        variable.assign(value.astype(variable.dtype))


# ---------------------------------------------------------------- PyTorch formulas in numpy


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def torch_linear(state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """nn.Linear in numpy: ``x @ weight.T + bias``.

    >>> torch_linear({"weight": np.eye(2)}, np.ones((1, 2)))
    array([[1., 1.]])
    """
    y = x @ state["weight"].T
    return y + state["bias"] if "bias" in state else y


def torch_conv(state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """nn.Conv1d/2d/3d in numpy, channels first, stride 1, no padding, groups 1.

    x is (batch, in, *spatial); weight (out, in, *kernel); the result is the cross-correlation
    ``y[n, o, p] = bias[o] + sum_{c, k} weight[o, c, k] * x[n, c, p + k]``.

    >>> torch_conv({"weight": np.ones((1, 1, 2))}, np.arange(4.0).reshape(1, 1, 4))
    array([[[1., 3., 5.]]])
    """
    w = state["weight"]
    kernel = w.shape[2:]
    if x.ndim != w.ndim or x.shape[1] != w.shape[1]:
        raise ValueError(
            f"x of shape {x.shape} does not fit weight {w.shape}: "
            f"expected (batch, {w.shape[1]}, *spatial) with {w.ndim - 2} spatial axes"
        )
    windows = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=tuple(range(2, x.ndim)))
    # windows: (batch, in, *out_spatial, *kernel)
    r = len(kernel)
    w_axes = [1, *range(2 + r, 2 + 2 * r)]
    y = np.tensordot(windows, w, axes=(w_axes, [1, *range(2, 2 + r)]))  # (batch, *out, out_ch)
    if "bias" in state:
        y = y + state["bias"]
    return np.moveaxis(y, -1, 1)


def torch_lstm(state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """nn.LSTM(batch_first=True) in numpy; returns every step's h, shape (batch, time, units).

    Gates in PyTorch's order i, f, g, o:
    ``i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``c = σ(f) c + σ(i) tanh(g)``,
    ``h = σ(o) tanh(c)``.

    >>> torch_lstm(to_torch_layout(lstm), x).shape  # doctest: +SKIP
    (2, 5, 4)
    """
    w_ih, w_hh = state["weight_ih_l0"], state["weight_hh_l0"]
    b = state.get("bias_ih_l0", 0.0) + state.get("bias_hh_l0", 0.0)
    units = w_hh.shape[1]
    h = np.zeros((x.shape[0], units), dtype=x.dtype)
    c = np.zeros_like(h)
    out = []
    for t in range(x.shape[1]):
        i, f, g, o = np.split(x[:, t] @ w_ih.T + h @ w_hh.T + b, 4, axis=1)
        c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
        h = _sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out, axis=1)


def torch_gru(state: dict[str, np.ndarray], x: np.ndarray) -> np.ndarray:
    """nn.GRU(batch_first=True) in numpy; returns every step's h, shape (batch, time, units).

    Gates in PyTorch's order r, z, n: ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, z likewise,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h = (1 - z) n + z h``.

    >>> torch_gru(to_torch_layout(gru), x).shape  # doctest: +SKIP
    (2, 5, 4)
    """
    w_ih, w_hh = state["weight_ih_l0"], state["weight_hh_l0"]
    units = w_hh.shape[1]
    b_ih = state.get("bias_ih_l0", np.zeros(3 * units, dtype=x.dtype))
    b_hh = state.get("bias_hh_l0", np.zeros(3 * units, dtype=x.dtype))
    h = np.zeros((x.shape[0], units), dtype=x.dtype)
    out = []
    for t in range(x.shape[1]):
        xi_r, xi_z, xi_n = np.split(x[:, t] @ w_ih.T + b_ih, 3, axis=1)
        hh_r, hh_z, hh_n = np.split(h @ w_hh.T + b_hh, 3, axis=1)
        r = _sigmoid(xi_r + hh_r)
        z = _sigmoid(xi_z + hh_z)
        n = np.tanh(xi_n + r * hh_n)
        h = (1.0 - z) * n + z * h
        out.append(h)
    return np.stack(out, axis=1)
