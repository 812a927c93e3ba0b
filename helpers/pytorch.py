"""PyTorch's layout of a Keras 3 model's weights, both ways, and PyTorch's equations in NumPy.

Keras stores a Dense kernel as ``(input_dim, units)`` and computes ``x @ W + b``; PyTorch stores
``nn.Linear.weight`` as ``(out_features, in_features)`` and computes ``x @ W.T + b``.
`to_torch_layout` gives a layer's (or a whole model's) weights as a PyTorch ``state_dict`` of
NumPy arrays, `from_torch_layout` loads one back, and the ``torch_*`` functions are NumPy versions
of PyTorch's documented forward formulas, so a conversion can be checked without installing
PyTorch.

    >>> from helpers import pytorch
    >>> state = pytorch.to_torch_layout(dense)  # doctest: +SKIP
    >>> pytorch.torch_linear(state, x)  # the Dense layer's output  # doctest: +SKIP
    >>> pytorch.check_torch_layout(dense, state, x)  # the largest difference  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from helpers._checks import check_bool, check_finite, check_int, closest_first
from helpers._layers import children, numpy_copy, own_weights, require_built, require_layer

__all__ = [
    "SUPPORTED_TORCH",
    "check_torch_layout",
    "from_torch_layout",
    "to_torch_layout",
    "torch_batch_norm",
    "torch_conv",
    "torch_conv_transpose",
    "torch_group_norm",
    "torch_gru",
    "torch_layer_norm",
    "torch_linear",
    "torch_lstm",
    "torch_multihead_attention",
    "torch_rnn",
]

TORCH_GRU_ORDER = (1, 0, 2)  # PyTorch: r, z, n, i.e. Keras blocks 1, 0, 2
_TORCH_KINDS: dict[str, type[keras.layers.Layer]] = {
    "Dense": keras.layers.Dense,
    "Embedding": keras.layers.Embedding,
    "Conv1D": keras.layers.Conv1D,
    "Conv2D": keras.layers.Conv2D,
    "Conv3D": keras.layers.Conv3D,
    "Conv1DTranspose": keras.layers.Conv1DTranspose,
    "Conv2DTranspose": keras.layers.Conv2DTranspose,
    "Conv3DTranspose": keras.layers.Conv3DTranspose,
    "DepthwiseConv1D": keras.layers.DepthwiseConv1D,
    "DepthwiseConv2D": keras.layers.DepthwiseConv2D,
    "SeparableConv1D": keras.layers.SeparableConv1D,
    "SeparableConv2D": keras.layers.SeparableConv2D,
    "LSTM": keras.layers.LSTM,
    "GRU": keras.layers.GRU,
    "SimpleRNN": keras.layers.SimpleRNN,
    "Bidirectional": keras.layers.Bidirectional,
    "BatchNormalization": keras.layers.BatchNormalization,
    "LayerNormalization": keras.layers.LayerNormalization,
    "GroupNormalization": keras.layers.GroupNormalization,
    "MultiHeadAttention": keras.layers.MultiHeadAttention,
}
SUPPORTED_TORCH = tuple(_TORCH_KINDS)
_RNNS = ("LSTM", "GRU", "SimpleRNN")  # nn.LSTM, nn.GRU, nn.RNN
_RNN_ACTIVATIONS = {"tanh": keras.activations.tanh, "relu": keras.activations.relu}
_WITH_BIAS = (
    "Dense",
    "Conv1D",
    "Conv2D",
    "Conv3D",
    "Conv1DTranspose",
    "Conv2DTranspose",
    "Conv3DTranspose",
    "DepthwiseConv1D",
    "DepthwiseConv2D",
)  # kinds whose PyTorch bias key is "bias"


# ---------------------------------------------------------------- PyTorch layout


def _function_name(fn: object) -> str:
    """A short name for an activation function: its `__name__`, else its type's name."""
    return getattr(fn, "__name__", type(fn).__name__)


def _config(layer: keras.layers.Layer, key: str) -> object:
    """One entry of the layer's public config (None when the layer has no such entry)."""
    return layer.get_config().get(key)


def _refusal(layer: keras.layers.Layer, kind: str, alone: bool = True) -> str | None:
    """Why this layer of a supported kind has no exact PyTorch counterpart, or None. `alone`:
    the layer is converted on its own, not as one direction of a Bidirectional."""
    name = f"{kind} '{layer.name}'"
    if kind in _RNNS:
        cell = layer.cell
        torch_name = "RNN" if kind == "SimpleRNN" else kind
        if alone and layer.go_backwards:
            return (
                f"{name} has go_backwards=True: it reads the sequence last step first and "
                f"returns its steps in that reversed order. nn.{torch_name} has no such flag, so "
                "its "
                "weights alone would silently compute another function. Convert the whole "
                "Bidirectional it belongs to (PyTorch's `_reverse` weights), or a layer with "
                "go_backwards=False that you feed x[:, ::-1]."
            )
        if kind == "SimpleRNN":
            if cell.activation not in _RNN_ACTIVATIONS.values():
                return (
                    f"{name} uses activation={_function_name(cell.activation)}; nn.RNN's "
                    "nonlinearity is 'tanh' or 'relu' only (keras.activations.tanh or .relu)."
                )
            return None
        act, rec = cell.activation, cell.recurrent_activation
        if act is not keras.activations.tanh or rec is not keras.activations.sigmoid:
            return (
                f"{name} uses activation={_function_name(act)}, "
                f"recurrent_activation={_function_name(rec)}; PyTorch's nn.{kind} is fixed to "
                "tanh and sigmoid, so these weights would not compute the same function there. "
                "Only the defaults keras.activations.tanh and keras.activations.sigmoid convert."
            )
        if kind == "GRU" and not cell.reset_after:
            return (
                f"GRU '{layer.name}' has reset_after=False, which has no exact PyTorch "
                "counterpart: nn.GRU applies the reset gate after the recurrent matmul, "
                "r * (W_hn h + b_hn). Use keras.layers.GRU(..., reset_after=True) (the default)."
            )
    if kind == "Bidirectional":
        directions = (layer.forward_layer, layer.backward_layer)
        kinds = [
            next((k for k in _RNNS if isinstance(d, _TORCH_KINDS[k])), None) for d in directions
        ]
        if None in kinds or kinds[0] != kinds[1]:
            return (
                f"{name} wraps {type(directions[0]).__name__} and {type(directions[1]).__name__}; "
                "PyTorch's bidirectional nn.LSTM/GRU/RNN needs one of LSTM, GRU or SimpleRNN in "
                "both directions."
            )
        if kinds[0] == "SimpleRNN" and directions[0].cell.activation is not (
            directions[1].cell.activation
        ):
            return f"{name}'s two directions use different activations; nn.RNN uses one."
        if layer.merge_mode != "concat":
            return (
                f"{name} has merge_mode={layer.merge_mode!r}; PyTorch's bidirectional RNN "
                "concatenates the two directions, i.e. merge_mode='concat'."
            )
        if directions[0].go_backwards or not directions[1].go_backwards:
            return (
                f"{name} has a forward layer with go_backwards={directions[0].go_backwards} and "
                f"a backward layer with go_backwards={directions[1].go_backwards}; PyTorch's "
                "bidirectional RNN reads forward, then backward (False, then True)."
            )
        return _refusal(directions[0], kinds[0], False) or _refusal(directions[1], kinds[1], False)
    if kind == "BatchNormalization" and layer.renorm:
        return f"{name} uses renorm=True, which nn.BatchNorm has no counterpart for."
    if kind == "LayerNormalization":
        axes = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
        if layer.rms_scaling:
            return f"{name} uses rms_scaling=True; that is nn.RMSNorm, not nn.LayerNorm."
        if sorted(axes) != list(range(-len(axes), 0)):
            return (
                f"{name} normalizes over axis={layer.axis}; nn.LayerNorm normalizes the last "
                "axes only: give them as trailing negative axes, e.g. axis=-1 or [-2, -1]."
            )
    if kind == "GroupNormalization" and layer.scale != layer.center:
        return (
            f"{name} has scale={layer.scale}, center={layer.center}; nn.GroupNorm has both "
            "weight and bias (affine=True) or neither (affine=False): give both flags one value."
        )
    if kind == "MultiHeadAttention":
        e_q = layer.query_dense.kernel.shape[0] if layer.built else None
        problems = []
        if _config(layer, "use_gate") or _config(layer, "sliding_window") is not None:
            problems.append("use_gate/sliding_window are set")
        if layer.query_dense.equation != "abc,cde->abde" or tuple(layer.attention_axes) != (1,):
            problems.append("inputs are not (batch, seq, features) attending over axis 1")
        out = _config(layer, "output_shape")
        if out is not None and tuple(out) != (e_q,):  # Keras keeps it as a tuple
            problems.append(
                f"output_shape={out} is set (nn.MultiheadAttention's output width is the "
                f"query width, ({e_q},))"
            )
        if layer.key_dim != layer.value_dim or layer.num_heads * layer.key_dim != e_q:
            problems.append(
                f"num_heads*key_dim = {layer.num_heads}*{layer.key_dim} and "
                f"num_heads*value_dim = {layer.num_heads}*{layer.value_dim} must both equal the "
                f"query width E = {e_q}: nn.MultiheadAttention projects q, k and v to E features "
                "and splits them into num_heads heads of E // num_heads, so it expresses only "
                f"key_dim = value_dim = E / num_heads (here {e_q} / {layer.num_heads}); "
                "key_dim = E (the keras.io Transformer style) converts with num_heads=1 only"
            )
        if problems:
            return f"{name} has no nn.MultiheadAttention counterpart: {'; '.join(problems)}."
    return None


def _kind(layer: keras.layers.Layer, caller: str) -> str:
    """The supported layer kind of `layer`, or a ValueError naming the supported ones."""
    require_layer(layer, caller)
    kind = _kind_of(layer)
    if kind is None:
        raise ValueError(
            f"no PyTorch layout for {type(layer).__name__} "
            f"'{layer.name}'; supported: {', '.join(SUPPORTED_TORCH)}, and a TimeDistributed "
            "around one of them."
        )
    # An attention layer's projections (and so its widths) exist only once it is built.
    refusal = None if kind == "MultiHeadAttention" and not layer.built else _refusal(layer, kind)
    if refusal is not None:
        raise ValueError(refusal)
    require_built(layer)
    return kind


def _gru_blocks(a: np.ndarray, axis: int) -> np.ndarray:
    """Reorder the 3 gate blocks along `axis` between Keras (z, r, h) and PyTorch (r, z, n)."""
    blocks = np.split(a, 3, axis=axis)
    return np.concatenate([blocks[i] for i in TORCH_GRU_ORDER], axis=axis)


def _depthwise_to_torch(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, in, mult) -> PyTorch grouped conv (in*mult, 1, *k); out channel c*mult + m."""
    rank = kernel.ndim - 2
    moved = kernel.transpose(rank, rank + 1, *range(rank))  # (in, mult, *k)
    return moved.reshape(-1, 1, *kernel.shape[:rank])


def _depthwise_from_torch(weight: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    rank = len(shape) - 2
    return weight.reshape(shape[rank], shape[rank + 1], *shape[:rank]).transpose(
        *range(2, rank + 2), 0, 1
    )


def _conv_to_torch(kernel: np.ndarray) -> np.ndarray:
    """Keras (*k, in/groups, out) -> PyTorch (out, in/groups, *k): nothing is flipped."""
    rank = kernel.ndim - 2
    return kernel.transpose(rank + 1, rank, *range(rank))


def _conv_from_torch(weight: np.ndarray) -> np.ndarray:
    rank = weight.ndim - 2
    return weight.transpose(*range(2, rank + 2), 1, 0)


def _mha_parts(layer: keras.layers.Layer) -> tuple:
    """The query, key, value and output EinsumDense projections of a MultiHeadAttention."""
    return layer.query_dense, layer.key_dense, layer.value_dense, layer.output_dense


def _rnn_state(layer: keras.layers.Layer, kind: str, suffix: str = "") -> dict[str, np.ndarray]:
    cell = layer.cell
    w_ih, w_hh = numpy_copy(cell.kernel).T, numpy_copy(cell.recurrent_kernel).T
    if kind == "GRU":
        w_ih, w_hh = _gru_blocks(w_ih, 0), _gru_blocks(w_hh, 0)
    state = {f"weight_ih_l0{suffix}": w_ih, f"weight_hh_l0{suffix}": w_hh}
    if cell.use_bias:
        bias = numpy_copy(cell.bias)
        if kind in ("LSTM", "SimpleRNN"):  # one Keras bias: PyTorch's two add up to it
            state[f"bias_ih_l0{suffix}"] = bias
            state[f"bias_hh_l0{suffix}"] = np.zeros_like(bias)
        else:
            state[f"bias_ih_l0{suffix}"] = _gru_blocks(bias[0], 0)
            state[f"bias_hh_l0{suffix}"] = _gru_blocks(bias[1], 0)
    return state


def _rnn_values(
    layer: keras.layers.Layer, kind: str, arrays: dict[str, np.ndarray], suffix: str = ""
) -> list[tuple[object, np.ndarray]]:
    cell = layer.cell
    w_ih, w_hh = arrays[f"weight_ih_l0{suffix}"], arrays[f"weight_hh_l0{suffix}"]
    if kind == "GRU":  # the permutation (1, 0, 2) is its own inverse
        w_ih, w_hh = _gru_blocks(w_ih, 0), _gru_blocks(w_hh, 0)
    values = [(cell.kernel, w_ih.T), (cell.recurrent_kernel, w_hh.T)]
    if cell.use_bias:
        b_ih, b_hh = arrays[f"bias_ih_l0{suffix}"], arrays[f"bias_hh_l0{suffix}"]
        if kind in ("LSTM", "SimpleRNN"):
            values.append((cell.bias, b_ih + b_hh))
        else:
            values.append((cell.bias, np.stack([_gru_blocks(b_ih, 0), _gru_blocks(b_hh, 0)])))
    return values


def _fixed(layer: keras.layers.Layer, value: float) -> np.ndarray:
    """The constant gamma (1) or beta (0) of a BatchNormalization with scale/center=False."""
    return np.full(layer.moving_mean.shape, value, dtype=layer.moving_mean.dtype)


def _layer_to_torch(layer: keras.layers.Layer, kind: str) -> dict[str, np.ndarray]:
    """The PyTorch state of one checked layer of a supported kind."""
    if kind == "Dense":
        state = {"weight": numpy_copy(layer.kernel).T}
    elif kind == "Embedding":
        state = {"weight": numpy_copy(layer.embeddings)}
    elif kind.startswith("Conv"):
        state = {"weight": _conv_to_torch(numpy_copy(layer.kernel))}
    elif kind.startswith("DepthwiseConv"):
        state = {"weight": _depthwise_to_torch(numpy_copy(layer.kernel))}
    elif kind.startswith("SeparableConv"):
        state = {
            "depthwise.weight": _depthwise_to_torch(numpy_copy(layer.depthwise_kernel)),
            "pointwise.weight": _conv_to_torch(numpy_copy(layer.pointwise_kernel)),
        }
        if layer.use_bias:
            state["pointwise.bias"] = numpy_copy(layer.bias)
    elif kind in _RNNS:
        state = _rnn_state(layer, kind)
    elif kind == "Bidirectional":
        inner = _kind_of(layer.forward_layer)
        state = {
            **_rnn_state(layer.forward_layer, inner),
            **_rnn_state(layer.backward_layer, inner, "_reverse"),
        }
    elif kind == "BatchNormalization":
        state = {}
        if layer.scale or layer.center:  # PyTorch's affine=True has both: ones / zeros stand in
            state["weight"] = numpy_copy(layer.gamma) if layer.scale else _fixed(layer, 1.0)
            state["bias"] = numpy_copy(layer.beta) if layer.center else _fixed(layer, 0.0)
        state["running_mean"] = numpy_copy(layer.moving_mean)
        state["running_var"] = numpy_copy(layer.moving_variance)
        state["num_batches_tracked"] = np.array(0, dtype=np.int64)
    elif kind in ("LayerNormalization", "GroupNormalization"):
        state = {}
        if layer.scale:
            state["weight"] = numpy_copy(layer.gamma)
        if layer.center:
            state["bias"] = numpy_copy(layer.beta)
    else:  # MultiHeadAttention
        q, k, v, out = _mha_parts(layer)
        w = [numpy_copy(p.kernel).reshape(p.kernel.shape[0], -1).T for p in (q, k, v)]
        if w[0].shape == w[1].shape == w[2].shape:
            state = {"in_proj_weight": np.concatenate(w)}
        else:
            state = dict(zip(("q_proj_weight", "k_proj_weight", "v_proj_weight"), w, strict=True))
        if layer.use_bias:
            state["in_proj_bias"] = np.concatenate(
                [numpy_copy(p.bias).reshape(-1) for p in (q, k, v)]
            )
        state["out_proj.weight"] = numpy_copy(out.kernel).reshape(-1, out.kernel.shape[-1]).T
        if layer.use_bias:
            state["out_proj.bias"] = numpy_copy(out.bias)
    if kind in _WITH_BIAS and layer.use_bias:
        state["bias"] = numpy_copy(layer.bias)
    return {k: np.require(v, requirements="C") for k, v in state.items()}  # keeps 0-d arrays 0-d


def _layer_values(
    layer: keras.layers.Layer, kind: str, arrays: dict[str, np.ndarray]
) -> list[tuple[object, np.ndarray]]:
    """(variable, value in Keras' layout) for every variable of one layer, from checked arrays."""
    if kind == "Dense":
        values = [(layer.kernel, arrays["weight"].T)]
    elif kind == "Embedding":
        values = [(layer.embeddings, arrays["weight"])]
    elif kind.startswith("Conv"):
        values = [(layer.kernel, _conv_from_torch(arrays["weight"]))]
    elif kind.startswith("DepthwiseConv"):
        values = [(layer.kernel, _depthwise_from_torch(arrays["weight"], layer.kernel.shape))]
    elif kind.startswith("SeparableConv"):
        depthwise = arrays["depthwise.weight"]
        values = [
            (
                layer.depthwise_kernel,
                _depthwise_from_torch(depthwise, layer.depthwise_kernel.shape),
            ),
            (layer.pointwise_kernel, _conv_from_torch(arrays["pointwise.weight"])),
        ]
        if layer.use_bias:
            values.append((layer.bias, arrays["pointwise.bias"]))
    elif kind in _RNNS:
        values = _rnn_values(layer, kind, arrays)
    elif kind == "Bidirectional":
        inner = _kind_of(layer.forward_layer)
        values = [
            *_rnn_values(layer.forward_layer, inner, arrays),
            *_rnn_values(layer.backward_layer, inner, arrays, "_reverse"),
        ]
    elif kind == "BatchNormalization":
        if (arrays["running_var"] < 0).any():
            where = int(np.argmax(arrays["running_var"] < 0))
            raise ValueError(
                f"'running_var' for BatchNormalization '{layer.name}' holds a negative variance, "
                f"{arrays['running_var'][where]} at [{where}]; a variance is >= 0"
            )
        values = [
            (layer.moving_mean, arrays["running_mean"]),
            (layer.moving_variance, arrays["running_var"]),
        ]  # num_batches_tracked has no Keras counterpart: checked, not stored
        for variable, key, fixed in (
            (layer.gamma if layer.scale else None, "weight", 1.0),
            (layer.beta if layer.center else None, "bias", 0.0),
        ):
            if variable is not None:
                values.append((variable, arrays[key]))
            elif key in arrays and not (arrays[key] == fixed).all():
                flag = "scale" if key == "weight" else "center"
                raise ValueError(
                    f"{key!r} for BatchNormalization '{layer.name}' must be all {fixed:g}: the "
                    f"layer has {flag}=False, so it has no variable to hold other values"
                )
    elif kind in ("LayerNormalization", "GroupNormalization"):
        values = [(layer.gamma, arrays["weight"])] if layer.scale else []
        if layer.center:
            values.append((layer.beta, arrays["bias"]))
    else:  # MultiHeadAttention
        q, k, v, out = _mha_parts(layer)
        if "in_proj_weight" in arrays:
            w = np.split(arrays["in_proj_weight"], 3)
        else:
            w = [arrays[f"{p}_proj_weight"] for p in "qkv"]
        values = [
            (p.kernel, w_p.T.reshape(p.kernel.shape)) for p, w_p in zip((q, k, v), w, strict=True)
        ]
        values.append((out.kernel, arrays["out_proj.weight"].T.reshape(out.kernel.shape)))
        if layer.use_bias:
            b = np.split(arrays["in_proj_bias"], 3)
            values += [
                (p.bias, b_p.reshape(p.bias.shape)) for p, b_p in zip((q, k, v), b, strict=True)
            ]
            values.append((out.bias, arrays["out_proj.bias"]))
    if kind in _WITH_BIAS and layer.use_bias:
        values.append((layer.bias, arrays["bias"]))
    return values


def _kind_of(layer: keras.layers.Layer) -> str | None:
    return next((k for k, cls in _TORCH_KINDS.items() if isinstance(layer, cls)), None)


def _torch_layers(
    layer: keras.layers.Layer, prefix: str = ""
) -> tuple[list[tuple[str, keras.layers.Layer, str]], list[str]]:
    """("module.path.", layer, kind) for every convertible layer holding weights inside `layer`
    (nested models and custom blocks without variables of their own are entered), and the
    layers holding weights that cannot be converted, each as "path (Type)" or "path: why"."""
    found: list[tuple[str, keras.layers.Layer, str]] = []
    refused: list[str] = []
    for sub in children(layer):
        if not sub.weights:
            continue
        path = f"{prefix}{sub.name}"
        kind = _kind_of(sub)
        if kind is not None:
            reason = _refusal(sub, kind)
            if reason is None:
                found.append((f"{path}.", sub, kind))
            else:
                refused.append(f"{path}: {reason}")
        elif isinstance(sub, keras.Model) or not own_weights(sub)[0][1]:
            inner_found, inner_refused = _torch_layers(sub, f"{path}.")
            found += inner_found
            refused += inner_refused
        else:
            refused.append(f"{path} ({type(sub).__name__})")
    return found, refused


def _entries(layer: keras.layers.Layer, caller: str) -> list[tuple[str, keras.layers.Layer, str]]:
    """(key prefix, layer, kind) to convert: the layer itself (prefix ""), or for a model every
    layer holding weights (prefix "path."), after refusing, all at once, those that cannot be."""
    require_layer(layer, caller)
    if isinstance(layer, keras.layers.TimeDistributed):  # the same module applied at every step
        require_built(layer)
        return _entries(layer.layer, caller)
    if not isinstance(layer, keras.Model):
        return [("", layer, _kind(layer, caller))]
    require_built(layer)
    found, refused = _torch_layers(layer)
    owner: dict[str, keras.layers.Layer] = {}
    for prefix, sub, _ in found:
        if owner.setdefault(prefix, sub) is not sub:
            raise ValueError(
                f"{caller}: two layers of model '{layer.name}' give the same keys "
                f"'{prefix}*': '{owner[prefix].name}' and '{sub.name}' (a '.' in a layer name "
                "reads as a nesting level); rename one so that no name contains '.'"
            )
    if refused:
        raise ValueError(
            f"{caller}: {len(refused)} layer(s) of model '{layer.name}' hold weights but have no "
            f"PyTorch layout: {'; '.join(refused)}. Supported kinds: {', '.join(SUPPORTED_TORCH)}."
        )
    return found


def to_torch_layout(layer: keras.layers.Layer) -> dict[str, np.ndarray]:
    """A built layer's (or a whole model's) weights as PyTorch `state_dict` entries (numpy).

    Dense -> nn.Linear `weight` (out, in), `bias`; Embedding -> nn.Embedding `weight`;
    ConvND (also grouped) -> nn.ConvNd `weight` (out, in/groups, *kernel), `bias` (both are
    cross-correlations, so nothing is flipped); ConvNDTranspose -> nn.ConvTransposeNd `weight`
    (in, out, *kernel), `bias` (Keras' padding='valid' is padding=0 with output_padding
    max(stride - kernel, 0); 'same' is padding (kernel - stride) // 2 when that is even);
    DepthwiseConvND -> nn.ConvNd(in, in*mult,
    groups=in) `weight` (in*mult, 1, *kernel); SeparableConvND -> two nn.ConvNd
    `depthwise.weight` (groups=in, no bias) and `pointwise.weight` (1x1), `pointwise.bias`;
    LSTM/GRU/SimpleRNN (nn.RNN, nonlinearity its activation, tanh or relu) -> `weight_ih_l0`
    (G*units, in), `weight_hh_l0` (G*units, units), `bias_ih_l0`, `bias_hh_l0` (Keras' single
    LSTM or SimpleRNN bias goes to `bias_ih_l0`, `bias_hh_l0` is zeros, as PyTorch adds the
    two; GRU gates are reordered from Keras' (z, r, h) to PyTorch's (r, z, n));
    Bidirectional(LSTM|GRU|SimpleRNN, merge_mode="concat") -> bidirectional=True, the
    backward direction under the same names with `_reverse`. An RNN with go_backwards=True on
    its own (also a Bidirectional's `backward_layer` taken alone) is refused: nn.LSTM/GRU/RNN
    have no such flag, and the same weights compute another function there.
    BatchNormalization -> nn.BatchNormNd `weight` (gamma; ones with scale=False), `bias` (beta;
    zeros with center=False; neither key with both False: affine=False), `running_mean`,
    `running_var`, `num_batches_tracked` (0: Keras does not count batches). Create the module
    with eps=layer.epsilon (Keras' default 1e-3, PyTorch's 1e-5) and momentum=1 - layer.momentum
    (Keras' 0.99 is PyTorch's 0.01: Keras keeps `momentum` of the OLD statistic, PyTorch keeps
    `1 - momentum`; PyTorch also updates running_var with the unbiased batch variance).
    LayerNormalization (axis=-1 or trailing negative axes) -> nn.LayerNorm `weight`, `bias`,
    again with eps=layer.epsilon (defaults 1e-3 vs 1e-5). GroupNormalization (scale and center
    both True or both False) -> nn.GroupNorm(groups, channels, eps=layer.epsilon) `weight`,
    `bias`. A TimeDistributed layer on its own gives its inner layer's keys: in PyTorch the same
    module is applied to (batch * time, ...) (inside a model its keys are `td.inner.key`).
    MultiHeadAttention (num_heads*key_dim == num_heads*value_dim == query width E, output_shape
    None or (E,); so key_dim = E, the keras.io Transformer style, only with num_heads=1) ->
    nn.MultiheadAttention(E, num_heads, batch_first=True) `in_proj_weight`
    (3E, E) and `in_proj_bias` (3E,) (q, k, v stacked; `q_proj_weight`, `k_proj_weight`,
    `v_proj_weight` when key/value widths differ, as with PyTorch's kdim/vdim),
    `out_proj.weight` (E, E), `out_proj.bias`.
    A keras.Model gives one dict for all its layers with weights, keys `layer.key` (nested
    models and custom blocks: `outer.inner.key`); layers without weights are skipped, and
    layers with weights but no layout are refused together in one ValueError.

    >>> to_torch_layout(keras.layers.Dense(2, name="d"))  # doctest: +SKIP
    ValueError: Dense 'd' was never built ...
    """
    return {
        f"{prefix}{key}": value
        for prefix, sub, kind in _entries(layer, "to_torch_layout")
        for key, value in _layer_to_torch(sub, kind).items()
    }


def _checked(key: str, value: object, want: np.ndarray, where: str) -> np.ndarray:
    """`value` as an array, refused unless its dtype, shape and values fit `want` (the array
    `to_torch_layout` gives for that key): numeric, the same shape, finite."""
    array = np.asarray(value)
    kinds = "iu" if want.dtype.kind in "iu" else "iuf"
    if array.dtype.kind not in kinds:
        wanted = "an integer" if kinds == "iu" else "a float (or integer)"
        raise TypeError(
            f"{key!r} for {where} has dtype {array.dtype}; expected {wanted} array of shape "
            f"{want.shape}"
        )
    if array.shape != want.shape:
        raise ValueError(
            f"{key!r} for {where} has shape {array.shape}; PyTorch's layout here is {want.shape}"
        )
    return check_finite(f"{key!r} for {where}", array)


def _checked_state(
    layer: keras.layers.Layer, state: object, caller: str
) -> tuple[list[tuple[str, keras.layers.Layer, str]], dict[str, dict[str, np.ndarray]]]:
    """The layer's (prefix, layer, kind) entries and the state's arrays grouped by prefix, every
    key, shape, dtype and value checked against what `to_torch_layout(layer)` gives."""
    entries = _entries(layer, caller)
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of name -> array, got {type(state).__name__}")
    expected = {
        f"{prefix}{key}": (prefix, sub, kind, want)
        for prefix, sub, kind in entries
        for key, want in _layer_to_torch(sub, kind).items()
    }
    where = f"{type(layer).__name__} '{layer.name}'"
    unknown = [k for k in state if k not in expected]
    if unknown:
        close = closest_first(unknown[0], expected)[:10]
        raise KeyError(
            f"unexpected key {unknown[0]!r} for {where}; expected keys (closest first): {close}"
        )
    missing = [k for k in expected if k not in state]
    if missing:
        shown = list(expected) if len(expected) <= 20 else f"{len(expected)} keys"
        raise KeyError(f"missing key(s) {missing} for {where}; expected keys: {shown}")
    arrays: dict[str, dict[str, np.ndarray]] = {}
    for key, (prefix, sub, kind, want) in expected.items():
        sub_where = f"{kind} '{sub.name}'"
        arrays.setdefault(prefix, {})[key[len(prefix) :]] = _checked(
            key, state[key], want, sub_where
        )
    _same_for_shared_layers(entries, arrays)
    return entries, arrays


def from_torch_layout(layer: keras.layers.Layer, state: dict[str, np.ndarray]) -> None:
    """Load a PyTorch `state_dict` (arrays or tensors' `.numpy()`) into a built Keras layer or
    model (keys as `to_torch_layout` gives them).

    The names and shapes must be exactly those `to_torch_layout(layer)` returns, every array
    numeric and finite (also once cast to the variable's dtype: 1e300 does not fit float32), a
    BatchNorm `running_var` >= 0, and the keys of a layer reached by two paths (shared by an
    outer and a nested model) equal; ALL of it is checked before any weight is written. Two
    layers whose keys would be the same (`enc.d` beside a nested `enc/d`) are refused. LSTM
    biases are summed (`bias_ih + bias_hh`, in the state's dtype, then cast to the variable's
    dtype: with float32 arrays the Keras bias is exactly their float32 sum).
    `num_batches_tracked` is checked (an integer) and dropped: Keras has no counterpart.
    `from_torch_layout(layer, to_torch_layout(layer))` leaves every weight bit-identical.

    Shapes cannot catch every mistake in a state dict made by hand: a square (n x n) Linear
    weight left untransposed, LSTM or GRU gates in another order, the two directions of a
    bidirectional RNN swapped, q/k/v stacked in another order in `in_proj_weight`, a square conv
    kernel's spatial axes swapped, a depthwise weight's channel and multiplier order, or
    `running_mean` and `running_var` swapped all have the right shapes. Check one forward pass:
    `check_torch_layout(layer, state, x)` runs the layer and the matching PyTorch equation
    (`torch_linear`, `torch_conv`, `torch_conv_transpose`, `torch_lstm`, `torch_gru`,
    `torch_rnn`, `torch_batch_norm`, `torch_layer_norm`, `torch_group_norm` or
    `torch_multihead_attention`) on the same input and gives the largest difference.

    >>> from_torch_layout(dense, {"weight": w, "bias": b})  # doctest: +SKIP
    """
    entries, arrays = _checked_state(layer, state, "from_torch_layout")
    values = [
        (variable, _cast(value, variable))
        for prefix, sub, kind in entries
        for variable, value in _layer_values(sub, kind, arrays[prefix])
    ]
    for variable, value in values:
        variable.assign(value)


def _cast(value: np.ndarray, variable: keras.Variable) -> np.ndarray:
    """``value`` in the variable's dtype, refused if a finite value overflows it (1e300 into
    float32, 1e5 into float16 would load as inf)."""
    with np.errstate(over="ignore"):
        cast = value.astype(variable.dtype)
    if cast.dtype.kind == "f" and not np.isfinite(cast).all():
        where = tuple(int(i) for i in np.argwhere(~np.isfinite(cast))[0])
        raise ValueError(
            f"the value for {variable.path} ({variable.dtype}) holds {value[where]} at "
            f"{list(where)}, beyond {variable.dtype}'s range (max {np.finfo(cast.dtype).max:.4g}): "
            "it would load as inf"
        )
    return cast


def _same_for_shared_layers(
    entries: list[tuple[str, keras.layers.Layer, str]], arrays: dict[str, dict[str, np.ndarray]]
) -> None:
    """A layer reached by two paths (shared by an outer and a nested model) has two sets of keys,
    as in PyTorch's state_dict: refuse them unless they hold the same values."""
    first: dict[int, str] = {}
    for prefix, sub, _ in entries:
        if id(sub) not in first:
            first[id(sub)] = prefix
            continue
        other = first[id(sub)]
        for key, value in arrays[prefix].items():
            if not np.array_equal(value, arrays[other][key]):
                raise ValueError(
                    f"layer '{sub.name}' is shared: {other}{key!s} and {prefix}{key!s} are one "
                    "variable, but the state gives them different values; give both the same"
                )


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


def _per_axis(name: str, value: object, rank: int, minimum: int) -> tuple[int, ...]:
    """`value` (one int, or one int per spatial axis) as `rank` ints >= `minimum`."""
    values = tuple(value) if isinstance(value, (tuple, list)) else (value,) * rank
    if len(values) != rank:
        raise ValueError(
            f"{name}={value!r} gives {len(values)} values; expected one int or {rank} (one per "
            "spatial axis)"
        )
    return tuple(check_int(name, v, minimum=minimum) for v in values)


def _padding_pairs(
    padding: object, kernel: tuple[int, ...], stride: tuple[int, ...], dilation: tuple[int, ...]
) -> tuple[tuple[int, int], ...]:
    """nn.ConvNd's `padding` as one (before, after) pair per spatial axis."""
    rank = len(kernel)
    if isinstance(padding, str):
        if padding == "valid":
            return ((0, 0),) * rank
        if padding == "same":
            if any(s != 1 for s in stride):
                raise ValueError(
                    f"padding='same' needs stride 1 (PyTorch refuses it for stride={stride}); "
                    "give the padding as ints or (before, after) pairs instead"
                )
            totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
            return tuple((t // 2, t - t // 2) for t in totals)
        raise ValueError(
            f"padding={padding!r}: expected 'valid', 'same', an int, one int per spatial axis or "
            "one (before, after) pair per spatial axis"
        )
    items = tuple(padding) if isinstance(padding, (tuple, list)) else (padding,) * rank
    if len(items) != rank:
        raise ValueError(
            f"padding={padding!r} gives {len(items)} values; expected one int, or {rank} ints or "
            f"(before, after) pairs (one per spatial axis), e.g. [(2, 0)] for a causal width-3 conv"
        )
    pairs = []
    for item in items:
        pair = tuple(item) if isinstance(item, (tuple, list)) else (item, item)
        if len(pair) != 2:
            raise ValueError(f"padding pair {item!r} must be (before, after)")
        pairs.append(tuple(check_int("padding", p, minimum=0) for p in pair))
    return tuple(pairs)


def torch_conv(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    stride: int | tuple[int, ...] = 1,
    padding: int | str | tuple = 0,
    dilation: int | tuple[int, ...] = 1,
    groups: int | None = None,
) -> np.ndarray:
    """nn.Conv1d/2d/3d (and F.pad before it) in numpy, channels first.

    x is (batch, in, *spatial); weight (out, in/groups, *kernel); output channel o of group
    g = o // (out/groups) sees input channels g*(in/groups) ... ; the result is the
    cross-correlation ``y[n, o, p] = bias[o] + sum_{c, k} weight[o, c, k] * x[n, g*in/groups + c,
    p*stride + k*dilation]`` on x zero-padded by `padding`: an int, one int per spatial axis,
    'valid' (0), 'same' (stride 1 only, as in PyTorch), or one (before, after) pair per axis,
    which is what ``F.pad`` does: Keras' padding='causal' is ``[(dilation * (k - 1), 0)]``.
    `groups` defaults to in / weight.shape[1]; a depthwise conv is the case groups = in.

    >>> torch_conv({"weight": np.ones((1, 1, 2))}, np.arange(4.0).reshape(1, 1, 4))
    array([[[1., 3., 5.]]])
    """
    w, x = np.asarray(state["weight"]), np.asarray(x)
    rank = w.ndim - 2
    if groups is None:
        if x.ndim != w.ndim or x.shape[1] % w.shape[1] or w.shape[0] % (x.shape[1] // w.shape[1]):
            raise ValueError(
                f"x of shape {x.shape} does not fit weight {w.shape}: expected (batch, "
                f"in, *spatial) with {rank} spatial axes and in a multiple of {w.shape[1]}"
            )
        groups = x.shape[1] // w.shape[1]
    groups = check_int("groups", groups)
    if x.ndim != w.ndim or x.shape[1] != groups * w.shape[1] or w.shape[0] % groups:
        raise ValueError(
            f"groups={groups} does not fit x of shape {x.shape} and weight {w.shape}: expected "
            f"x (batch, in, *spatial) with {rank} spatial axes, in = groups * {w.shape[1]} "
            f"and out {w.shape[0]} divisible by groups"
        )
    kernel = w.shape[2:]
    stride = _per_axis("stride", stride, rank, 1)
    dilation = _per_axis("dilation", dilation, rank, 1)
    pads = _padding_pairs(padding, kernel, stride, dilation)
    x = np.pad(x, ((0, 0), (0, 0), *pads))
    span = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True))
    if any(n < s for n, s in zip(x.shape[2:], span, strict=True)):
        raise ValueError(
            f"x's padded spatial shape {x.shape[2:]} is smaller than the dilated kernel {span}"
        )
    windows = np.lib.stride_tricks.sliding_window_view(x, span, axis=tuple(range(2, x.ndim)))
    steps = (*(slice(None, None, s) for s in stride), *(slice(None, None, d) for d in dilation))
    windows = windows[(slice(None), slice(None), *steps)]  # (batch, in, *out_spatial, *kernel)
    w_axes = [1, *range(2 + rank, 2 + 2 * rank)]
    per_group = [
        np.tensordot(x_g, w_g, axes=(w_axes, [1, *range(2, 2 + rank)]))  # (batch, *out, out/g)
        for x_g, w_g in zip(
            np.split(windows, groups, axis=1), np.split(w, groups, axis=0), strict=True
        )
    ]
    y = np.concatenate(per_group, axis=-1)
    if "bias" in state:
        y = y + state["bias"]
    return np.moveaxis(y, -1, 1)


def torch_conv_transpose(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    stride: int | tuple[int, ...] = 1,
    padding: int | tuple[int, ...] = 0,
    output_padding: int | tuple[int, ...] = 0,
    dilation: int | tuple[int, ...] = 1,
) -> np.ndarray:
    """nn.ConvTranspose1d/2d/3d (groups=1) in numpy, channels first: x (batch, in, *spatial),
    weight (in, out, *kernel). Every input position i scatters ``x[n, c, i] * weight[c, :, k]``
    to position ``i*stride + k*dilation``; then `padding` positions are cut from both ends and
    the length is ``(L - 1)*stride - 2*padding + dilation*(k - 1) + output_padding + 1``.

    >>> torch_conv_transpose({"weight": np.ones((1, 1, 2))}, np.ones((1, 1, 2)), stride=2)
    array([[[1., 1., 1., 1.]]])
    """
    w, x = np.asarray(state["weight"]), np.asarray(x)
    rank = w.ndim - 2
    if x.ndim != w.ndim or x.shape[1] != w.shape[0]:
        raise ValueError(
            f"x of shape {x.shape} does not fit weight {w.shape}: expected (batch, "
            f"{w.shape[0]}, *spatial) with {rank} spatial axes"
        )
    kernel = w.shape[2:]
    stride = _per_axis("stride", stride, rank, 1)
    pads = _per_axis("padding", padding, rank, 0)
    extra = _per_axis("output_padding", output_padding, rank, 0)
    dilation = _per_axis("dilation", dilation, rank, 1)
    if any(e >= max(s, d) for e, s, d in zip(extra, stride, dilation, strict=True)):
        raise ValueError(
            f"output_padding={extra} must be smaller than stride {stride} or dilation {dilation} "
            "on each axis (as in PyTorch)"
        )
    full = [
        (n - 1) * s + d * (k - 1) + 1 + e
        for n, s, d, k, e in zip(x.shape[2:], stride, dilation, kernel, extra, strict=True)
    ]
    out = [f - 2 * p for f, p in zip(full, pads, strict=True)]
    if any(n < 1 for n in out):
        raise ValueError(f"padding={pads} leaves no output (uncut length {full})")
    y = np.zeros((x.shape[0], w.shape[1], *full), dtype=np.result_type(x, w))
    for offset in np.ndindex(*kernel):
        tap = w[(slice(None), slice(None), *offset)]  # (in, out)
        contribution = np.moveaxis(np.tensordot(x, tap, (1, 0)), -1, 1)
        where = tuple(
            slice(k * d, k * d + (n - 1) * s + 1, s)
            for k, d, n, s in zip(offset, dilation, x.shape[2:], stride, strict=True)
        )
        y[(slice(None), slice(None), *where)] += contribution
    y = y[(slice(None), slice(None), *(slice(p, p + n) for p, n in zip(pads, out, strict=True)))]
    if "bias" in state:
        y = y + state["bias"].reshape((1, -1) + (1,) * rank)
    return y


def torch_group_norm(
    state: dict[str, np.ndarray], x: np.ndarray, num_groups: int, eps: float = 1e-5
) -> np.ndarray:
    """nn.GroupNorm in numpy, channels on axis 1: the C channels split into `num_groups`
    contiguous groups, each normalized over its channels and all positions (biased variance),
    then ``* weight[c] + bias[c]`` per channel.

    >>> torch_group_norm({}, np.array([[1.0, 3.0, 0.0, 4.0]]), 2, eps=0.0)
    array([[-1.,  1., -1.,  1.]])
    """
    num_groups = check_int("num_groups", num_groups)
    x = np.asarray(x)
    if x.ndim < 2 or x.shape[1] % num_groups:
        raise ValueError(
            f"num_groups={num_groups} must divide the channels on axis 1 of x {x.shape}"
        )
    grouped = x.reshape(x.shape[0], num_groups, -1)
    mean = grouped.mean(axis=-1, keepdims=True)
    var = grouped.var(axis=-1, keepdims=True)
    y = ((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    if "weight" in state:
        y = y * state["weight"].reshape(shape)
    return y + state["bias"].reshape(shape) if "bias" in state else y


def torch_batch_norm(state: dict[str, np.ndarray], x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """nn.BatchNorm1d/2d/3d in eval mode in numpy, channels on axis 1:
    ``(x - running_mean) / sqrt(running_var + eps) * weight + bias`` per channel.

    >>> torch_batch_norm({"running_mean": np.zeros(1), "running_var": np.ones(1)},
    ...                  np.ones((1, 1)), eps=0.0)
    array([[1.]])
    """
    shape = (1, -1) + (1,) * (x.ndim - 2)
    y = (x - state["running_mean"].reshape(shape)) / np.sqrt(
        state["running_var"].reshape(shape) + eps
    )
    if "weight" in state:
        y = y * state["weight"].reshape(shape) + state["bias"].reshape(shape)
    return y


def torch_layer_norm(
    state: dict[str, np.ndarray], x: np.ndarray, normalized_ndim: int = 1, eps: float = 1e-5
) -> np.ndarray:
    """nn.LayerNorm in numpy over the last `normalized_ndim` axes (biased variance):
    ``(x - mean) / sqrt(var + eps) * weight + bias``.

    >>> torch_layer_norm({}, np.array([[1.0, 3.0]]), eps=0.0)
    array([[-1.,  1.]])
    """
    axes = tuple(range(-normalized_ndim, 0))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    if "weight" in state:
        y = y * state["weight"]
    return y + state["bias"] if "bias" in state else y


def torch_multihead_attention(
    state: dict[str, np.ndarray],
    query: np.ndarray,
    key: np.ndarray,
    value: np.ndarray,
    num_heads: int,
) -> np.ndarray:
    """nn.MultiheadAttention(batch_first=True) in numpy, no mask, eval mode: project q, k, v
    (``in_proj_weight`` split in three, or ``q/k/v_proj_weight``), split E into num_heads heads
    of E // num_heads (head h is features h*d ... h*d + d - 1), ``softmax(q k^T / sqrt(d)) v``
    per head, concatenate the heads, ``out_proj``.

    >>> torch_multihead_attention(to_torch_layout(mha), q, k, v, 2).shape  # doctest: +SKIP
    (batch, target_len, E)
    """
    if "in_proj_weight" in state:
        w_q, w_k, w_v = np.split(state["in_proj_weight"], 3)
    else:
        w_q, w_k, w_v = (state[f"{p}_proj_weight"] for p in "qkv")
    e = w_q.shape[0]
    b_q, b_k, b_v = np.split(state.get("in_proj_bias", np.zeros(3 * e, dtype=query.dtype)), 3)
    d = e // num_heads

    def heads(x: np.ndarray, w: np.ndarray, b: np.ndarray) -> np.ndarray:
        projected = x @ w.T + b  # (batch, len, E)
        return projected.reshape(*x.shape[:2], num_heads, d).transpose(0, 2, 1, 3)

    q, k, v = heads(query, w_q, b_q), heads(key, w_k, b_k), heads(value, w_v, b_v)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d)  # (batch, heads, target, source)
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    attended = (scores / scores.sum(axis=-1, keepdims=True)) @ v
    merged = attended.transpose(0, 2, 1, 3).reshape(*query.shape[:2], e)
    out = {"weight": state["out_proj.weight"]}
    if "out_proj.bias" in state:
        out["bias"] = state["out_proj.bias"]
    return torch_linear(out, merged)


Carry = tuple[np.ndarray, ...]
Step = Callable[[np.ndarray, Carry], Carry]


def _checked_lengths(lengths: object, x: np.ndarray) -> np.ndarray | None:
    """`lengths` as an int array of one length per sequence, each 1 ... x.shape[1], or None."""
    if x.ndim != 3:
        raise ValueError(f"x must be (batch, time, features); got shape {x.shape}")
    if lengths is None:
        return None
    array = np.asarray(lengths)
    if array.dtype.kind not in "iu":
        raise TypeError(
            f"lengths must be integers (one per sequence); got dtype {array.dtype}. For a Keras "
            "mask of post-padded sequences, lengths = mask.sum(axis=1)"
        )
    if array.shape != (x.shape[0],):
        raise ValueError(f"lengths has shape {array.shape}; expected ({x.shape[0]},), one per row")
    bad = np.flatnonzero((array < 1) | (array > x.shape[1]))
    if bad.size:
        raise ValueError(
            f"lengths[{bad[0]}] = {array[bad[0]]}: each length must be 1 ... {x.shape[1]} (the "
            "sequence's time steps; pack_padded_sequence refuses 0)"
        )
    return array


def _reverse_steps(x: np.ndarray, lengths: np.ndarray | None) -> np.ndarray:
    """Each sequence's valid steps in reverse order, its padding left in place."""
    if lengths is None:
        return x[:, ::-1]
    t = np.arange(x.shape[1])
    index = np.where(t < lengths[:, None], lengths[:, None] - 1 - t, t)
    return x[np.arange(x.shape[0])[:, None], index]


def _recurrent(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    lengths: object,
    return_state: object,
    make_step: Callable[[dict[str, np.ndarray]], Step],
    n_carry: int,
) -> np.ndarray | tuple:
    """The loop shared by torch_rnn, torch_lstm and torch_gru: one direction or both (`_reverse`
    keys), steps past a sequence's length output zeros and keep the carry (h, or h and c)."""
    x = np.asarray(x)
    lengths = _checked_lengths(lengths, x)
    return_state = check_bool("return_state", return_state)
    directions = [{k: v for k, v in state.items() if not k.endswith("_reverse")}]
    if any(k.endswith("_reverse") for k in state):
        directions.append(
            {k.removesuffix("_reverse"): v for k, v in state.items() if k.endswith("_reverse")}
        )
    outputs, finals = [], []
    for backward, weights in enumerate(directions):
        step = make_step(weights)
        units = weights["weight_hh_l0"].shape[1]
        carry = (np.zeros((x.shape[0], units), dtype=x.dtype),) * n_carry
        seq = _reverse_steps(x, lengths) if backward else x
        out = []
        for t in range(x.shape[1]):
            new = step(seq[:, t], carry)
            if lengths is None:
                carry = new
                out.append(new[0])
            else:
                live = (t < lengths)[:, None]
                carry = tuple(np.where(live, n, c) for n, c in zip(new, carry, strict=True))
                out.append(np.where(live, new[0], 0).astype(x.dtype))
        y = np.stack(out, axis=1)
        outputs.append(_reverse_steps(y, lengths) if backward else y)
        finals.append(carry)
    output = np.concatenate(outputs, axis=-1)
    if not return_state:
        return output
    stacked = tuple(np.stack([f[i] for f in finals]) for i in range(n_carry))
    return output, stacked[0] if n_carry == 1 else stacked


def _bias(weights: dict[str, np.ndarray], units: int, dtype: np.dtype) -> tuple:
    zeros = np.zeros(units, dtype=dtype)
    return weights.get("bias_ih_l0", zeros), weights.get("bias_hh_l0", zeros)


def torch_lstm(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    lengths: object = None,
    *,
    return_state: bool = False,
) -> np.ndarray | tuple:
    """nn.LSTM(batch_first=True) in numpy; returns every step's h, shape (batch, time, units).

    Gates in PyTorch's order i, f, g, o:
    ``i, f, g, o = split(x W_ih^T + b_ih + h W_hh^T + b_hh)``, ``c = σ(f) c + σ(i) tanh(g)``,
    ``h = σ(o) tanh(c)``. With `_reverse` keys (a bidirectional nn.LSTM) both directions are
    concatenated.

    `lengths` (one int per sequence, 1 ... time) is pack_padded_sequence's: steps past a
    sequence's length output zeros (pad_packed_sequence's padding; Keras repeats the last valid
    output there unless zero_output_for_mask) and the final state is its last valid step's; the
    reverse direction reads each sequence from its own last valid step. From a Keras mask of
    post-padded sequences: ``lengths = mask.sum(axis=1)``. `return_state=True` also returns
    ``(h_n, c_n)``, each (directions, batch, units), as nn.LSTM does.

    >>> torch_lstm(to_torch_layout(lstm), x).shape  # doctest: +SKIP
    (2, 5, 4)
    """

    def make_step(weights: dict[str, np.ndarray]) -> Step:
        w_ih, w_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
        b_ih, b_hh = _bias(weights, w_ih.shape[0], x.dtype)

        def step(x_t: np.ndarray, carry: Carry) -> Carry:
            h, c = carry
            i, f, g, o = np.split(x_t @ w_ih.T + b_ih + h @ w_hh.T + b_hh, 4, axis=1)
            c = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)
            return _sigmoid(o) * np.tanh(c), c

        return step

    return _recurrent(state, x, lengths, return_state, make_step, 2)


def torch_rnn(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    nonlinearity: str = "tanh",
    lengths: object = None,
    *,
    return_state: bool = False,
) -> np.ndarray | tuple:
    """nn.RNN(batch_first=True) in numpy; returns every step's h, shape (batch, time, units):
    ``h = act(x W_ih^T + b_ih + h W_hh^T + b_hh)`` with act ``nonlinearity``, "tanh" or "relu"
    (Keras SimpleRNN's activation). With `_reverse` keys both directions are concatenated.
    `lengths` and `return_state` (then also h_n, (directions, batch, units)) as in torch_lstm.

    >>> torch_rnn(to_torch_layout(simple_rnn), x).shape  # doctest: +SKIP
    (2, 5, 4)
    """
    if nonlinearity not in _RNN_ACTIVATIONS:
        raise ValueError(f"nonlinearity must be 'tanh' or 'relu' (nn.RNN's); got {nonlinearity!r}")

    def make_step(weights: dict[str, np.ndarray]) -> Step:
        w_ih, w_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
        b_ih, b_hh = _bias(weights, w_ih.shape[0], x.dtype)

        def step(x_t: np.ndarray, carry: Carry) -> Carry:
            z = x_t @ w_ih.T + b_ih + carry[0] @ w_hh.T + b_hh
            return (np.tanh(z) if nonlinearity == "tanh" else np.maximum(z, 0),)

        return step

    return _recurrent(state, x, lengths, return_state, make_step, 1)


def torch_gru(
    state: dict[str, np.ndarray],
    x: np.ndarray,
    lengths: object = None,
    *,
    return_state: bool = False,
) -> np.ndarray | tuple:
    """nn.GRU(batch_first=True) in numpy; returns every step's h, shape (batch, time, units).

    Gates in PyTorch's order r, z, n: ``r = σ(W_ir x + b_ir + W_hr h + b_hr)``, z likewise,
    ``n = tanh(W_in x + b_in + r * (W_hn h + b_hn))``, ``h = (1 - z) n + z h``.
    With `_reverse` keys (a bidirectional nn.GRU) both directions are concatenated.
    `lengths` and `return_state` (then also h_n, (directions, batch, units)) as in torch_lstm.

    >>> torch_gru(to_torch_layout(gru), x).shape  # doctest: +SKIP
    (2, 5, 4)
    """

    def make_step(weights: dict[str, np.ndarray]) -> Step:
        w_ih, w_hh = weights["weight_ih_l0"], weights["weight_hh_l0"]
        b_ih, b_hh = _bias(weights, w_ih.shape[0], x.dtype)

        def step(x_t: np.ndarray, carry: Carry) -> Carry:
            xi_r, xi_z, xi_n = np.split(x_t @ w_ih.T + b_ih, 3, axis=1)
            hh_r, hh_z, hh_n = np.split(carry[0] @ w_hh.T + b_hh, 3, axis=1)
            r, z = _sigmoid(xi_r + hh_r), _sigmoid(xi_z + hh_z)
            n = np.tanh(xi_n + r * hh_n)
            return ((1.0 - z) * n + z * carry[0],)

        return step

    return _recurrent(state, x, lengths, return_state, make_step, 1)


# ---------------------------------------------------------------- one forward pass as a check


def _channels_first(layer: keras.layers.Layer) -> bool:
    return getattr(layer, "data_format", "channels_last") == "channels_first"


def _conv_padding(
    layer: keras.layers.Layer, spatial: tuple[int, ...], kernel: tuple[int, ...]
) -> list[tuple[int, int]]:
    """The (before, after) zero padding per spatial axis Keras' padding string means for this
    input: 'valid' none, 'causal' all on the left, 'same' as TensorFlow and JAX pad (the odd
    one after)."""
    stride, dilation = layer.strides, layer.dilation_rate
    spans = [d * (k - 1) + 1 for k, d in zip(kernel, dilation, strict=True)]
    if layer.padding == "valid":
        return [(0, 0)] * len(kernel)
    if layer.padding == "causal":
        return [(span - 1, 0) for span in spans]
    totals = [
        max((-(-n // s) - 1) * s + span - n, 0)
        for n, s, span in zip(spatial, stride, spans, strict=True)
    ]
    return [(t // 2, t - t // 2) for t in totals]


def _transpose_padding(layer: keras.layers.Layer) -> tuple[list[int], list[int]]:
    """nn.ConvTransposeNd's (padding, output_padding) for a Keras ConvNDTranspose, or a
    ValueError when the Keras padding has no PyTorch counterpart."""
    pads, extras = [], []
    given = layer.output_padding or (None,) * len(layer.strides)
    for k, s, d, op in zip(
        layer.kernel_size, layer.strides, layer.dilation_rate, given, strict=True
    ):
        span = d * (k - 1) + 1
        if layer.padding == "valid":
            pads.append(0)
            extras.append(max(s - span, 0) if op is None else op)
        elif op is None and (span <= s or (span - s) % 2 == 0):
            pads.append(max(span - s, 0) // 2)
            extras.append(max(s - span, 0))
        else:
            raise ValueError(
                f"{type(layer).__name__} '{layer.name}' has padding='same' with kernel "
                f"{layer.kernel_size}, strides {layer.strides}, output_padding "
                f"{layer.output_padding}: Keras then cuts a different amount from each end, "
                "which nn.ConvTranspose's padding cannot express; check a padding='valid' copy"
            )
    return pads, extras


def _torch_forward(
    layer: keras.layers.Layer, kind: str, state: dict[str, np.ndarray], x: object
) -> np.ndarray:
    """The matching torch_* equation on Keras-layout input `x`, its output in Keras' layout."""
    if kind == "MultiHeadAttention":
        query, value, key = x
        return torch_multihead_attention(state, query, key, value, layer.num_heads)
    if kind == "Embedding":
        return state["weight"][x]
    if kind in _RNNS or kind == "Bidirectional":
        inner = layer.forward_layer if kind == "Bidirectional" else layer
        inner_kind = _kind_of(inner)
        if inner_kind == "SimpleRNN":
            name = "tanh" if inner.cell.activation is keras.activations.tanh else "relu"
            y = torch_rnn(state, x, name)
        else:
            y = (torch_lstm if inner_kind == "LSTM" else torch_gru)(state, x)
        if inner.return_sequences:
            return y
        units = y.shape[-1] // (2 if kind == "Bidirectional" else 1)
        last = y[:, -1, :units]  # the backward direction ends at step 0
        return np.concatenate([last, y[:, 0, units:]], axis=-1) if kind == "Bidirectional" else last
    if kind == "Dense":
        y = torch_linear(state, x)
    elif kind.endswith("Normalization"):
        if kind == "LayerNormalization":
            return torch_layer_norm(state, x, len(layer.axis), layer.epsilon)
        moved = np.moveaxis(x, layer.axis, 1)
        if kind == "BatchNormalization":
            y = torch_batch_norm(state, moved, layer.epsilon)
        else:
            y = torch_group_norm(state, moved, layer.groups, layer.epsilon)
        return np.moveaxis(y, 1, layer.axis)
    else:  # the convolutions
        first = x if _channels_first(layer) else np.moveaxis(x, -1, 1)
        if kind.endswith("Transpose"):
            pads, extras = _transpose_padding(layer)
            y = torch_conv_transpose(state, first, layer.strides, pads, extras, layer.dilation_rate)
        else:
            pads = _conv_padding(layer, first.shape[2:], layer.kernel_size)
            steps = {"stride": layer.strides, "padding": pads, "dilation": layer.dilation_rate}
            if kind.startswith("SeparableConv"):
                depthwise = {"weight": state["depthwise.weight"]}
                pointwise = {
                    k.removeprefix("pointwise."): v
                    for k, v in state.items()
                    if k.startswith("pointwise.")
                }
                y = torch_conv(pointwise, torch_conv(depthwise, first, **steps))
            else:
                y = torch_conv(state, first, **steps)
        y = y if _channels_first(layer) else np.moveaxis(y, 1, -1)
    return keras.ops.convert_to_numpy(layer.activation(keras.ops.convert_to_tensor(y)))


def check_torch_layout(layer: keras.layers.Layer, state: dict[str, np.ndarray], x: object) -> float:
    """The largest absolute difference between the Keras layer's output on `x` and PyTorch's
    equation (the matching ``torch_*`` function) on `state`: about 1e-6 when `state` is the
    layer's weights in PyTorch's layout, far larger for the mistakes shapes cannot catch (a
    square Linear weight untransposed, gates in another order, swapped directions, q and k
    swapped, ...), so run it after converting weights by hand either way.

    `layer` is one built layer of a kind `to_torch_layout` converts (or a TimeDistributed around
    one); `state` is checked as `from_torch_layout` checks it (keys, shapes, finite values);
    `x` is the layer's input in Keras' layout (channels last unless the layer says otherwise),
    for a MultiHeadAttention an array (self-attention) or (query, value) or (query, value, key).
    The layer's strides, padding (also 'causal' and 'same'), dilation, groups, epsilon, number
    of heads and groups, return_sequences and activation are used.

    >>> check_torch_layout(dense, to_torch_layout(dense), x)  # doctest: +SKIP
    1.1920929e-07
    """
    if isinstance(layer, keras.Model):
        raise ValueError(
            f"check_torch_layout checks one layer, and '{layer.name}' is a model: check each of "
            "its layers with its own input"
        )
    entries, arrays = _checked_state(layer, state, "check_torch_layout")
    (prefix, sub, kind) = entries[0]
    if prefix:  # a TimeDistributed around a model
        raise ValueError(
            f"check_torch_layout checks one layer, and '{layer.name}' holds a model: check each "
            "of its layers with its own input"
        )
    weights = arrays[""]
    if kind == "MultiHeadAttention":
        parts = tuple(x) if isinstance(x, (tuple, list)) else (x,)
        if not 1 <= len(parts) <= 3:
            raise ValueError(
                f"x for MultiHeadAttention '{sub.name}' is {len(parts)} arrays; give query, "
                "(query, value) or (query, value, key)"
            )
        query, *rest = (_checked_input(p, "f", sub) for p in parts)
        value = rest[0] if rest else query
        key = rest[1] if len(rest) > 1 else value
        keras_out = sub(query, value, key)
        torch_in: object = (query, value, key)
    else:
        array = _checked_input(x, "iu" if kind == "Embedding" else "f", sub)
        keras_out = layer(array)
        torch_in = array
    if isinstance(keras_out, (list, tuple)):  # return_state=True: the output comes first
        keras_out = keras_out[0]
    keras_out = keras.ops.convert_to_numpy(keras_out)
    if layer is not sub:  # TimeDistributed: the module on (batch * time, ...)
        steps = torch_in.shape[:2]
        flat = torch_in.reshape(-1, *torch_in.shape[2:])
        got = _torch_forward(sub, kind, weights, flat)
        got = got.reshape(*steps, *got.shape[1:])
    else:
        got = _torch_forward(sub, kind, weights, torch_in)
    if got.shape != keras_out.shape:
        raise ValueError(f"PyTorch's equation gave shape {got.shape}, Keras {keras_out.shape}")
    return float(np.max(np.abs(got.astype(np.float64) - keras_out)))


def _checked_input(x: object, kinds: str, layer: keras.layers.Layer) -> np.ndarray:
    """`x` as a numpy array of a numeric kind in `kinds` ("f": floats, "iu": integer ids)."""
    array = np.asarray(x)
    if array.dtype.kind not in kinds:
        wanted = "integer ids" if kinds == "iu" else "floats"
        raise TypeError(
            f"x for {type(layer).__name__} '{layer.name}' has dtype {array.dtype}; expected "
            f"an array of {wanted}"
        )
    return array
