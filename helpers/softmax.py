"""The weights behind a softmax classifier's predictions.

A classifier that ends in ``Dense(k)`` (with ``activation="softmax"``, or followed by an
``Activation("softmax")``/``Softmax`` layer) computes ``logits = h @ W + b`` from the penultimate
features ``h`` (n, d); column ``W[:, c]`` (d,) and bias ``b[c]`` belong to class ``c``.
The head is found call by call (``helpers.shared.layer_calls``), so a Dense called more than
once works: the call producing the model's output counts. Features are computed with
``helpers.activations.extract`` (x: an array, a list or dict of arrays, or batches).
A MobileNet v1/v3 head, a pointwise ``Conv2D(k, 1)`` on a 1x1 map then ``Reshape``/``Flatten``
to (batch, k), counts as that Dense: its kernel (1, 1, d, k) is read and written as (d, k).

Per-token heads (a tagger: a Dense on (batch, time, features), or ``TimeDistributed(Dense)``):
``logits``, ``prediction_weights`` and ``logit_contributions`` give every result a time axis after
the sample axis, and they respect the padding mask, which means exactly this: where the head's
input carries a Keras mask (``Embedding(mask_zero=True)``, passed on by the layers before it),
padded tokens are NaN in every float result and -1 in ``classes``, and are never argmax-ed or
refused; real tokens get the model's own values. Without a mask every token is real.

>>> from helpers import softmax
>>> dense = softmax.output_layer(model)          # the Dense that produces the logits
>>> softmax.applies_softmax(dense)               # True: its output is probabilities
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from helpers._checks import check_finite, check_int
from helpers.activations import extract
from helpers.shared import _keras_mask, layer_calls

_PASS_THROUGH = (keras.layers.Activation, keras.layers.Softmax)
_CONVS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_SQUEEZES = (keras.layers.Reshape, keras.layers.Flatten)


def _describe(layers: list[keras.layers.Layer]) -> str:
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


def _is_softmax(activation: object) -> bool:
    """``keras.activations.softmax`` or ``keras.ops.softmax`` (both over the last axis)."""
    return activation is keras.activations.softmax or activation is keras.ops.softmax


def is_pointwise_conv(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` is a Conv1D/2D/3D with kernel size 1 and stride 1 on every axis and one
    group: a Dense over the channels at each position (MobileNet's ``Conv2D(classes, 1)`` head).

    >>> is_pointwise_conv(keras.layers.Conv2D(5, 1)), is_pointwise_conv(keras.layers.Conv2D(5, 3))
    (True, False)
    """
    return (
        isinstance(layer, _CONVS)
        and all(k == 1 for k in layer.kernel_size)
        and all(s == 1 for s in layer.strides)
        and layer.groups == 1
    )


def head_units(layer: keras.layers.Layer) -> int:
    """The number of classes of a head layer: a Dense's ``units``, a pointwise conv's ``filters``.

    >>> head_units(keras.layers.Conv2D(5, 1))
    5
    """
    return layer.filters if is_pointwise_conv(layer) else layer.units


def _squeezes(call: Any, tensor: Any) -> bool:
    """Whether this Reshape/Flatten call only drops size-1 axes, giving ``tensor`` (batch, k)."""
    inputs = _main_input(call)
    if not isinstance(call.layer, _SQUEEZES) or inputs is None or len(tensor.shape) != 2:
        return False
    return [d for d in inputs.shape[1:] if d != 1] == [d for d in tensor.shape[1:] if d != 1]


def is_softmax_layer(layer: keras.layers.Layer) -> bool:
    """Whether ``layer`` is a softmax over the last axis: ``Softmax()`` (axis -1) or
    ``Activation("softmax")``. The one rule the helpers use for "the softmax after the logits".

    >>> is_softmax_layer(keras.layers.Softmax()), is_softmax_layer(keras.layers.Softmax(axis=0))
    (True, False)
    """
    if isinstance(layer, keras.layers.Softmax):
        return layer.axis in (-1, [-1], (-1,))
    return isinstance(layer, keras.layers.Activation) and _is_softmax(layer.activation)


@dataclass(frozen=True)
class HeadCall:
    """The call of the output Dense that produces a model's output, and the layers after it.

    ``features`` (the Dense call's input, (batch, d)) and ``dense_output`` (its output: logits,
    or probabilities if the Dense applies softmax) are symbolic tensors connected to
    ``model.inputs`` and belong to THIS call, also when the Dense is called more than once.
    ``dense`` may also be a pointwise conv (``is_pointwise_conv``) on a 1x1 map whose output a
    Reshape/Flatten squeezes to (batch, k) (MobileNet v1/v3): ``features`` is then its input,
    (batch, 1, 1, d), and ``dense_output`` the squeezed (batch, k).

    >>> head = head_call(model)
    >>> keras.Model(model.inputs, head.features)     # the penultimate features
    """

    dense: keras.layers.Layer  # a Dense, or a pointwise Conv (see above)
    after: list[keras.layers.Layer]  # Activation/Softmax layers after the Dense, in call order
    features: Any
    dense_output: Any


def _main_input(call: Any) -> Any:
    """The one tensor a Dense/Activation/Softmax call reads: passed positionally, or as
    ``inputs=`` (``Dense(3)(inputs=h)``); None when there is not exactly one."""
    if len(call.inputs) == 1:
        return call.inputs[0]
    given = call.keyword_inputs.get("inputs")
    if not call.inputs and isinstance(given, keras.KerasTensor):
        return given
    return None


def _nested_head(call: Any, calls: list, after: list[keras.layers.Layer]) -> HeadCall | None:
    """The head inside a nested model whose output is the model's (a keras.io Transformer's
    decoder ending in its Dense), as the flattened call of the outer model; None if not found."""
    try:
        inner = head_call(call.layer)
    except ValueError:
        return None
    found = [c for c in calls if c.layer is inner.dense and c.name.startswith(f"{call.name}/")]
    if len(found) != 1 or _main_input(found[0]) is None:  # a nested model called twice
        return None
    output = keras.tree.flatten(found[0].outputs)[0]
    return HeadCall(inner.dense, [*inner.after, *after], _main_input(found[0]), output)


def head_call(model: keras.Model, caller: str = "head_call") -> HeadCall:
    """The Dense call that produces the model's output (only Activation/Softmax layers may
    follow it, also when called with ``mask=`` or other keyword tensors), found by walking
    ``helpers.shared.layer_calls`` back from the output. A ``TimeDistributed(Dense)`` counts as
    its Dense (a per-token head, like a Dense on (batch, time, features)); a nested model whose
    output is the model's is entered (its head, its features connected to ``model.inputs``).

    >>> head_call(model).dense.name                  # 'head'
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"{caller} needs a keras.Model; got {type(model).__name__}. "
            f"Pass the model, e.g. {caller}(model)."
        )
    try:
        outputs = model.outputs
    except AttributeError:
        outputs = None
    if not outputs:
        raise ValueError(
            f"{caller} needs a Sequential or Functional model with inputs; {model.name!r} "
            f"({type(model).__name__}) has no symbolic outputs to trace. Valid: "
            "keras.Sequential starting with keras.Input, or keras.Model(inputs, outputs)."
        )
    if len(outputs) != 1:
        raise ValueError(
            f"{caller} needs a model with one output; {model.name!r} has {len(outputs)}: "
            f"{[t.name for t in outputs]}. Build a sub-model on the output you mean."
        )
    calls = layer_calls(model)
    producer = {}
    for call in calls:
        if "/" not in call.name:  # inner calls of nested models are never the model's output
            producer.update((id(t), call) for t in keras.tree.flatten(call.outputs))
    path, after, tensor = [], [], outputs[0]
    squeezed, outside = None, 0  # a Reshape/Flatten's (batch, k) output; the layers after it
    while id(tensor) in producer:
        call = producer[id(tensor)]
        path.append(call.layer)
        if isinstance(call.layer, keras.Model) and squeezed is None:  # a nested model's head
            nested = _nested_head(call, calls, after[::-1])
            if nested is None:
                break
            return nested
        inputs = _main_input(call)
        dense = call.layer
        if isinstance(dense, keras.layers.TimeDistributed):  # a tagger's per-token head
            dense = dense.layer
        if isinstance(dense, keras.layers.Dense) and inputs is not None and squeezed is None:
            return HeadCall(dense, after[::-1], inputs, tensor)
        if is_pointwise_conv(dense) and inputs is not None and squeezed is not None:
            _check_conv_head(caller, dense, after[outside:])
            return HeadCall(dense, after[::-1], inputs, squeezed)
        if squeezed is None and _squeezes(call, tensor):
            squeezed, outside = tensor, len(after)
        elif isinstance(call.layer, _PASS_THROUGH) and inputs is not None:
            after.append(call.layer)
        else:
            break
        tensor = inputs
    raise ValueError(
        f"{caller}: model {model.name!r} has no Dense layer producing its output (only "
        "Activation/Softmax layers may follow it), nor a pointwise Conv (kernel 1, stride 1) on "
        "a 1x1 map followed by a Reshape/Flatten to (batch, classes). Its last layers are: "
        f"{_describe(list(reversed(path[:4]))) or 'none'}."
    )


def _check_conv_head(caller: str, conv: keras.layers.Layer, unsqueezed: list) -> None:
    """Refuse a channels_first conv head with a softmax before its squeeze (in ``unsqueezed``,
    or its own activation): over the last axis of (batch, k, 1, 1) it is over a size-1 spatial
    axis, 1.0 everywhere, not over the classes."""
    if conv.data_format != "channels_first":
        return
    softmaxes = [
        layer
        for layer in unsqueezed
        if isinstance(layer, keras.layers.Softmax) or is_softmax_layer(layer)
    ]
    softmaxes += [conv] if _is_softmax(conv.activation) else []
    if softmaxes:
        raise ValueError(
            f"{caller}: {_describe(softmaxes[:1])} applies softmax to the channels_first output "
            f"of {conv.name!r}, (batch, {conv.filters}, 1, ...), over a size-1 axis, not over "
            "the classes. Valid: the softmax after the Reshape/Flatten to (batch, classes)."
        )


def output_head(model: keras.Model) -> tuple[keras.layers.Dense, list[keras.layers.Layer]]:
    """The Dense that produces the logits and the Activation/Softmax layers after it, in call order.

    >>> dense, after = output_head(keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(3, name="head"), keras.layers.Activation("softmax", name="probs")]))
    >>> dense.name, [layer.name for layer in after]
    ('head', ['probs'])
    """
    head = head_call(model, "output_head")
    return head.dense, head.after


def output_layer(model: keras.Model) -> keras.layers.Dense:
    """The Dense layer that produces a classifier's logits.

    It is the model's final layer if that is a Dense, else the Dense feeding the trailing
    ``Activation``/``Softmax`` layer(s). Works for Sequential and Functional models.

    >>> output_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head"),
    ...                                keras.layers.Activation("softmax")])).name
    'head'
    """
    return head_call(model, "output_layer").dense


def applies_softmax(dense: keras.layers.Dense) -> bool:
    """Whether this Dense applies softmax itself (its output is probabilities, not logits):
    ``activation="softmax"``, ``keras.activations.softmax`` or ``keras.ops.softmax``;
    also for a pointwise Conv head.

    False means its activation is something else; for ``activation=None`` (linear) the output
    is the logits, which a trailing ``Activation("softmax")`` may still turn into probabilities.

    >>> applies_softmax(keras.layers.Dense(3, activation="softmax"))
    True
    """
    if not isinstance(dense, keras.layers.Dense) and not is_pointwise_conv(dense):
        raise TypeError(
            f"applies_softmax needs a keras.layers.Dense (or a pointwise Conv head); got "
            f"{type(dense).__name__}. Find it with output_layer(model)."
        )
    return _is_softmax(dense.activation)


def _dense_of(model_or_layer: keras.Model | keras.layers.Dense) -> keras.layers.Dense:
    if isinstance(model_or_layer, keras.layers.Dense) or is_pointwise_conv(model_or_layer):
        dense = model_or_layer
    elif isinstance(model_or_layer, keras.Model):
        dense = output_layer(model_or_layer)
    else:
        raise TypeError(
            "expected a keras.Model, a keras.layers.Dense or a pointwise Conv (kernel 1, stride "
            f"1); got {type(model_or_layer).__name__}."
        )
    if not dense.built:
        raise ValueError(
            f"{type(dense).__name__} {dense.name!r} is not built yet: call the model on data first."
        )
    return dense


def _class_index(
    classes: object, units: int, where: str, name: str = "classes"
) -> np.ndarray | int:
    """Validate class indices against ``range(units)``; an int stays an int, else a 1-D array."""
    valid = f"valid: integers 0..{units - 1}"

    def is_int(c: object) -> bool:
        return isinstance(c, (int, np.integer)) and not isinstance(c, (bool, np.bool_))

    if is_int(classes):
        if not 0 <= int(classes) < units:
            raise ValueError(f"class {int(classes)} is out of range for {where} ({valid}).")
        return int(classes)
    array = np.asarray(classes)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise TypeError(
            f"{name} must be an int or a 1-D sequence of ints; got {type(classes).__name__} "
            f"with shape {array.shape} and dtype {array.dtype} ({valid})."
        )
    bad = array[(array < 0) | (array >= units)]
    if bad.size:
        raise ValueError(f"{name} {bad[:5].tolist()} are out of range for {where} ({valid}).")
    return array.astype(np.int64)


def class_weights(
    model_or_layer: keras.Model | keras.layers.Dense, classes: object = None
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel columns and biases of the given classes of the output Dense.

    ``classes`` is None (all), an int (returns ``W[:, c]`` (d,) and ``b[c]``) or a sequence of
    k ints (returns (d, k) and (k,)), numpy indexing rules. A Dense without bias gives zeros.
    A pointwise Conv head's kernel (1, 1, d, k) is given as (d, k).

    >>> kernel, bias = class_weights(model, [3, 7])   # kernel (d, 2), bias (2,)
    """
    dense = _dense_of(model_or_layer)
    units = head_units(dense)
    kernel = np.asarray(dense.kernel).reshape(-1, units).copy()
    bias = np.asarray(dense.bias).copy() if dense.use_bias else np.zeros(units, dtype=kernel.dtype)
    if classes is None:
        return kernel, bias
    index = _class_index(classes, units, f"{dense.name!r} with {units} classes")
    return kernel[:, index], bias[index]


def set_class_weights(
    model_or_layer: keras.Model | keras.layers.Dense,
    classes: object,
    kernel: np.ndarray,
    bias: np.ndarray | None = None,
) -> None:
    """Overwrite the kernel columns (and biases) of the given classes; the others stay as they are.

    >>> set_class_weights(model, [3], np.zeros((d, 1)), np.zeros(1))   # silence class 3
    """
    dense = _dense_of(model_or_layer)
    units = head_units(dense)
    index = np.atleast_1d(_class_index(classes, units, f"{dense.name!r} with {units} classes"))
    values, counts = np.unique(index, return_counts=True)
    if (counts > 1).any():
        raise ValueError(
            f"classes repeats {values[counts > 1].tolist()}: each class gets one column (with "
            "repeats, the last would silently win); pass each class once."
        )
    d = dense.kernel.shape[-2]
    new_kernel = np.asarray(kernel, dtype=dense.kernel.dtype)
    if new_kernel.shape == (d,) and index.size == 1:
        new_kernel = new_kernel[:, None]
    if new_kernel.shape != (d, index.size):
        raise ValueError(
            f"kernel for {index.size} classes must have shape ({d}, {index.size}); "
            f"got {np.shape(kernel)}."
        )
    check_finite("kernel", new_kernel)
    if bias is not None:
        if not dense.use_bias:
            raise ValueError(f"Dense {dense.name!r} has no bias (use_bias=False); pass bias=None.")
        new_bias = np.asarray(bias, dtype=dense.bias.dtype).reshape(-1)
        if new_bias.shape != (index.size,):
            raise ValueError(
                f"bias for {index.size} classes must have shape ({index.size},); "
                f"got {np.shape(bias)}."
            )
        check_finite("bias", new_bias)
    full_kernel, full_bias = class_weights(dense)
    full_kernel = full_kernel.copy()
    full_kernel[:, index] = new_kernel
    dense.kernel.assign(full_kernel.reshape(dense.kernel.shape))
    if bias is not None:
        full_bias = full_bias.copy()
        full_bias[index] = new_bias
        dense.bias.assign(full_bias)


def _require_softmax_classifier(model: keras.Model, caller: str) -> HeadCall:
    """The head call, after checking the model ends in logits or one softmax over them."""
    head = head_call(model, caller)
    act = head.dense.activation
    steps = [(head.dense, keras.activations.softmax if _is_softmax(act) else act)]
    for layer in head.after:
        if is_softmax_layer(layer):
            steps.append((layer, keras.activations.softmax))
        elif isinstance(layer, keras.layers.Softmax):
            steps.append((layer, f"softmax over axis {layer.axis}"))
        else:
            steps.append((layer, layer.activation))
    softmaxes = [layer for layer, act in steps if act is keras.activations.softmax]
    others = [
        layer
        for layer, act in steps
        if act not in (keras.activations.softmax, keras.activations.linear)
    ]
    if others or len(softmaxes) > 1:
        raise ValueError(
            f"{caller}: model {model.name!r} must end in logits or one softmax over the last "
            f"axis; its head is {_describe([layer for layer, _ in steps])} with activations "
            f"{[getattr(act, '__name__', str(act)) for _, act in steps]}."
        )
    return head


def _require_classes(dense: keras.layers.Dense, caller: str) -> None:
    """Refuse a one-unit head: a softmax over one class is 1.0 whatever the input."""
    units = head_units(dense)
    if units < 2:
        raise ValueError(
            f"{caller}: the head {dense.name!r} has {units} unit: a softmax over one class is "
            "1.0 for every sample, and a sigmoid head (one logit, a binary classifier) has "
            "no per-class weights to choose. It needs a softmax head of >= 2 units (for a "
            "binary classifier, Dense(2) with softmax); logits and logit_contributions work."
        )


_FEATURES = "softmax__penultimate_features"
_MASK = "softmax__token_mask"
# model -> (model.outputs when built, the features model): one features model per classifier, so
# activations.extract reuses its compiled extractor instead of tracing a new one every call.
_FEATURES_MODELS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _feature_shape(head: HeadCall) -> tuple:
    """The head's features as these helpers use them: a pointwise Conv's (batch, 1, 1, d) input
    as (batch, d); a Dense's input as it is."""
    if is_pointwise_conv(head.dense):
        return (head.features.shape[0], head.dense.kernel.shape[-2])
    return tuple(head.features.shape)


def _features_model(model: keras.Model, head: HeadCall) -> keras.Model:
    """``model.inputs -> head.features`` (through an Identity named ``_FEATURES``, a Reshape to
    (batch, d) for a pointwise Conv head) and, for a
    sequence head whose input carries a padding mask, that mask (an Identity named ``_MASK``);
    cached."""
    if len(_feature_shape(head)) not in (2, 3):
        raise ValueError(
            f"Dense {head.dense.name!r} gets inputs of shape {tuple(head.features.shape)}; these "
            "helpers need one feature vector per sample, (batch, features), or per token, "
            "(batch, time, features)."
        )
    outputs = list(model.outputs)
    cached = _FEATURES_MODELS.get(model)
    if cached is not None and all(a is b for a, b in zip(cached[0], outputs, strict=True)):
        return cached[1]
    inputs = model.inputs[0] if len(model.inputs) == 1 else list(model.inputs)
    if is_pointwise_conv(head.dense):  # (batch, 1, 1, d) -> (batch, d)
        wanted = [keras.layers.Reshape(_feature_shape(head)[1:], name=_FEATURES)(head.features)]
    else:
        wanted = [keras.layers.Identity(name=_FEATURES)(head.features)]
    mask = _keras_mask(head.features) if len(_feature_shape(head)) == 3 else None
    if mask is not None:
        wanted.append(keras.layers.Identity(name=_MASK)(mask))
    # Named like the model, so input errors raised by activations name the user's model.
    features = keras.Model(inputs, wanted, name=model.name)
    _FEATURES_MODELS[model] = (outputs, features)
    return features


def _num_samples(x: object) -> int | None:
    """The number of samples of array input(s) x, None for anything else (batches, bad input)."""
    arrays = keras.tree.flatten(x) if isinstance(x, (list, tuple, dict)) else [x]
    if arrays and all(isinstance(a, np.ndarray) and a.ndim >= 1 for a in arrays):
        return len(arrays[0])
    return None


def _features(model: keras.Model, head: HeadCall, x: object, batch_size: int) -> np.ndarray:
    """Penultimate features, (n, d): the input of the head's Dense call, computed in batches by
    ``helpers.activations.extract`` (which checks x and takes arrays, lists, dicts, batches)."""
    if len(_feature_shape(head)) != 2:
        raise ValueError(
            f"Dense {head.dense.name!r} gets inputs of shape {tuple(head.features.shape)}; this "
            "helper needs one feature vector per sample, (batch, features)."
        )
    return extract(_features_model(model, head), x, [_FEATURES], batch_size)[_FEATURES]


def _token_features(
    model: keras.Model, head: HeadCall, x: object, batch_size: int
) -> tuple[np.ndarray, np.ndarray | None]:
    """The features of a per-sample head (n, d) with None, or of a per-token head (n, T, d) with
    its (n, T) token mask: True for a real token, False where the head's input carries a padding
    mask (``Embedding(mask_zero=True)`` passed on by the layers before it); all True without."""
    extractor = _features_model(model, head)
    names = [layer.name for layer in extractor.layers if layer.name in (_FEATURES, _MASK)]
    out = extract(extractor, x, names, batch_size)
    h = out[_FEATURES]
    if h.ndim == 2:
        return h, None
    return h, out[_MASK].astype(bool) if _MASK in out else np.ones(h.shape[:2], dtype=bool)


def _refuse_non_finite(caller: str, z: np.ndarray, real: np.ndarray | None) -> None:
    """ValueError naming the samples (or (sample, token) pairs) whose logits hold NaN or inf:
    their argmax would silently say class 0."""
    bad = ~np.isfinite(z).all(axis=-1)
    if real is not None:
        bad &= real
    if bad.any():
        where = np.argwhere(bad)
        shown = [int(i[0]) if len(i) == 1 else tuple(int(j) for j in i) for i in where[:10]]
        unit = "sample" if z.ndim == 2 else "(sample, token)"
        raise ValueError(
            f"{caller}: the logits of {len(where)} {unit} row(s) hold NaN or inf, so they have "
            f"no predicted class (argmax would say 0): rows {shown}"
            f"{' ...' if len(where) > 10 else ''}. Check those inputs and the model's weights."
        )


def _logits(h: np.ndarray, kernel: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """``h @ W + b`` in float32: the ONE computation behind logits, classes and contributions."""
    return keras.ops.convert_to_numpy(keras.ops.matmul(h, kernel) + bias).astype(np.float32)


def logits(model: keras.Model, x: object, batch_size: int = 256) -> np.ndarray:
    """The output Dense's pre-activation outputs ``h @ W + b``, (n, k), in float32; for a
    per-token head (n, T, k), NaN at padded tokens (see the module docstring).

    >>> logits(model, x_test).shape                  # (n, k)
    """
    head = head_call(model, "logits")
    check_int("batch_size", batch_size)
    h, real = _token_features(model, head, x, batch_size)
    z = _logits(h, *class_weights(head.dense))
    if real is not None:
        z[~real] = np.nan
    return z


@dataclass(frozen=True)
class PredictionWeights:
    """Per sample (or per token: a time axis after n): the predicted class, its probability, the
    features and the weights behind it; ``real`` marks real tokens (None for per-sample heads)."""

    classes: np.ndarray  # (n,) int: argmax of the logits; (n, T), -1 at padded tokens
    probabilities: np.ndarray  # (n,) softmax of the logits at that class; (n, T), NaN padded
    features: np.ndarray  # (n, d) penultimate features h; (n, T, d) as the model computes them
    kernel_rows: np.ndarray  # (n, d) W[:, class].T; (n, T, d), NaN at padded tokens
    bias: np.ndarray  # (n,) b[class]; (n, T), NaN at padded tokens
    real: np.ndarray | None = None  # (n, T) bool: True for a real token, False for padding


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def prediction_weights(model: keras.Model, x: object, batch_size: int = 256) -> PredictionWeights:
    """The weights behind each prediction of a softmax classifier (or of each token of a
    tagger: see the module docstring on padding).

    Classes are the argmax of ``logits(model, x)`` (the same float32 logits); probabilities are
    their softmax computed in float64 (what ``predict`` gives, up to float32 rounding). Logits
    holding NaN or inf (at a real token) are refused with ValueError naming their rows.

    >>> pw = prediction_weights(model, x_test)       # pw.kernel_rows (n, d), pw.bias (n,)
    """
    head = _require_softmax_classifier(model, "prediction_weights")
    _require_classes(head.dense, "prediction_weights")
    check_int("batch_size", batch_size)
    h, real = _token_features(model, head, x, batch_size)
    kernel, bias = class_weights(head.dense)
    z = _logits(h, kernel, bias)
    _refuse_non_finite("prediction_weights", z, real)
    if real is not None:
        z[~real] = 0.0  # any finite row: its results are replaced below
    classes = z.argmax(axis=-1)
    probabilities = np.take_along_axis(_softmax(z.astype(np.float64)), classes[..., None], axis=-1)[
        ..., 0
    ]
    kernel_rows, class_bias = kernel.T[classes], bias[classes]
    if real is not None:
        classes[~real] = -1
        probabilities[~real] = np.nan
        kernel_rows[~real] = np.nan
        class_bias = class_bias.astype(np.float32)
        class_bias[~real] = np.nan
    return PredictionWeights(
        classes=classes,
        probabilities=probabilities,
        features=h,
        kernel_rows=kernel_rows,
        bias=class_bias,
        real=real,
    )


def logit_contributions(
    model: keras.Model, x: object, classes: object = None, batch_size: int = 256
) -> np.ndarray:
    """Each feature's share of a logit: ``h * W[:, c]`` per sample, (n, d); per token for a
    tagger, (n, T, d), NaN at padded tokens (see the module docstring).

    ``c`` is the predicted class (None; logits with NaN or inf are then refused, naming their
    rows), one class for all samples (int) or one per sample (sequence of n ints; for a tagger
    an (n, T) array of ints, one per token). Sums over d plus ``b[c]`` are the logits.

    >>> logit_contributions(model, x_test[:1]).shape   # (1, d)
    """
    head = head_call(model, "logit_contributions")
    dense = head.dense
    check_int("batch_size", batch_size)
    per_token = len(_feature_shape(head)) == 3
    units = head_units(dense)
    where = f"{dense.name!r} with {units} classes"
    index = None
    if classes is not None:
        if per_token and np.ndim(classes) == 2:
            flat = _class_index(np.asarray(classes).ravel(), units, where)
            index = flat.reshape(np.shape(classes))
        else:
            index = _class_index(classes, units, where)
        n = _num_samples(x)
        if not isinstance(index, int) and n is not None and index.shape[0] != n:
            raise ValueError(
                f"classes must be one int or {n} ints (one per sample of x); got {index.shape[0]}."
            )
    h, real = _token_features(model, head, x, batch_size)
    kernel, bias = class_weights(dense)
    want = h.shape[:-1]
    if index is None:
        z = _logits(h, kernel, bias)
        _refuse_non_finite("logit_contributions", z, real)
        index = z.argmax(axis=-1)
    elif isinstance(index, int):
        index = np.full(want, index)
    elif index.shape != want:
        raise ValueError(
            f"classes must be one int or an array of shape {want} (one per "
            f"{'token' if per_token else 'sample'} of x); got shape {index.shape}."
        )
    contributions = h * kernel.T[index]
    if real is not None:
        contributions[~real] = np.nan
    return contributions


_LAYER_EXTRAS = (
    "kernel_regularizer",
    "bias_regularizer",
    "activity_regularizer",
    "kernel_constraint",
    "bias_constraint",
)


def _extras(dense: keras.layers.Dense) -> list[str]:
    """The regularizers and constraints on a Dense or its variables (set at creation or later)."""
    found = [f"dense.{name}" for name in _LAYER_EXTRAS if getattr(dense, name, None) is not None]
    variables = [("kernel", dense.kernel)] + ([("bias", dense.bias)] if dense.use_bias else [])
    for name, variable in variables:
        for kind in ("regularizer", "constraint"):
            if getattr(variable, kind) is not None and f"dense.{name}_{kind}" not in found:
                found.append(f"dense.{name}.{kind}")
    return found


class _ChosenClassesHead(keras.layers.Layer):
    """``h @ W + b`` where only the chosen classes' columns are variables the optimizer sees."""

    def __init__(
        self, kernel: np.ndarray, bias: np.ndarray, chosen: np.ndarray, train_bias: bool, **kwargs
    ):
        super().__init__(**kwargs)
        d, k = kernel.shape
        fixed = np.setdiff1d(np.arange(k), chosen)
        self.order = np.argsort(np.concatenate([chosen, fixed]))  # back to class order
        self.chosen_kernel = self._constant((d, chosen.size), kernel[:, chosen], True, "chosen_k")
        self.chosen_bias = self._constant((chosen.size,), bias[chosen], train_bias, "chosen_b")
        self.fixed_kernel = self._constant((d, fixed.size), kernel[:, fixed], False, "fixed_k")
        self.fixed_bias = self._constant((fixed.size,), bias[fixed], False, "fixed_b")

    def _constant(self, shape: tuple, value: np.ndarray, trainable: bool, name: str):
        variable = self.add_weight(shape=shape, initializer="zeros", trainable=trainable, name=name)
        variable.assign(value)
        return variable

    def call(self, h):
        chosen = keras.ops.matmul(h, self.chosen_kernel) + self.chosen_bias
        if self.fixed_bias.shape[0] == 0:  # every class chosen (oneDNN aborts on a (d, 0) matmul)
            return keras.ops.take(chosen, self.order, axis=-1)
        fixed = keras.ops.matmul(h, self.fixed_kernel) + self.fixed_bias
        return keras.ops.take(keras.ops.concatenate([chosen, fixed], axis=-1), self.order, axis=-1)


def train_classes(
    model: keras.Model,
    x: object,
    y: np.ndarray,
    classes: object,
    *,
    optimizer: str | keras.optimizers.Optimizer = "adam",
    epochs: int = 1,
    batch_size: int = 32,
) -> keras.callbacks.History:
    """Train only the chosen classes' kernel columns and biases of a softmax classifier.

    Everything else stays bit-identical: the other classes' columns and biases are never
    variables of the optimizer (a split head: chosen columns trainable, the rest fixed, logits
    put back in class order), and the layers before the output Dense are frozen (their features
    are computed once, in inference mode). The loss is cross-entropy on the logits over all
    classes; ``y`` holds integer labels (n,) or one-hot rows (n, k). Pass a fresh optimizer.
    A head with a kernel/bias/activity regularizer or a kernel/bias constraint is refused: the
    split head would not apply them (set them to None first, or train with ``fit``).

    >>> train_classes(model, x_train, y_train, classes=[3, 7], epochs=5)   # only 3 and 7 move
    """
    head = _require_softmax_classifier(model, "train_classes")
    dense = head.dense
    units = head_units(dense)
    _require_classes(dense, "train_classes")
    extras = _extras(dense)
    if extras:
        raise ValueError(
            f"train_classes trains a copy of {dense.name!r}'s chosen columns and would silently "
            f"ignore its {', '.join(extras)}; set them to None first (e.g. "
            f"{extras[0]} = None) or train the whole model with fit."
        )
    where = f"{dense.name!r} with {units} classes"
    chosen = np.unique(np.atleast_1d(_class_index(classes, units, where)))
    if chosen.size == 0:
        raise ValueError(f"classes is empty; choose some of 0..{units - 1}.")
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    labels = np.asarray(y)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        _class_index(labels, units, where, name="labels in y")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif labels.ndim == 2 and labels.shape[1] == units:
        check_finite("y", labels)
        hot = (labels == 1).sum(axis=1)
        bad = np.flatnonzero((hot != 1) | ((labels != 0) & (labels != 1)).any(axis=1))
        if bad.size:
            raise ValueError(
                f"y row {int(bad[0])} is {labels[bad[0]].tolist()}: one-hot rows hold one 1 and "
                f"0 elsewhere ({bad.size} row(s) do not); or pass integer labels (n,)."
            )
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        raise ValueError(
            f"y must be integer labels (n,) or one-hot rows (n, {units}); got shape "
            f"{labels.shape} and dtype {labels.dtype}."
        )
    check_finite("y", labels)
    arrays = keras.tree.flatten(x) if isinstance(x, (list, tuple, dict)) else [x]
    for i, array in enumerate(arrays):
        if isinstance(array, np.ndarray):
            check_finite(f"x (input {i})" if len(arrays) > 1 else "x", array)
    n = _num_samples(x)
    if n is not None and len(labels) != n:
        raise ValueError(f"x has {n} samples but y has {len(labels)}.")
    h = _features(model, head, x, batch_size)
    if len(labels) != len(h):
        raise ValueError(f"x has {len(h)} samples but y has {len(labels)}.")
    kernel, bias = class_weights(dense)
    split = _ChosenClassesHead(
        kernel, bias, chosen, train_bias=dense.use_bias, name="chosen_classes_head"
    )
    features = keras.Input((kernel.shape[0],), name="features")
    trainer = keras.Model(features, split(features), name="chosen_classes_trainer")
    trainer.compile(optimizer=optimizer, loss=loss)
    history = trainer.fit(h, labels, epochs=epochs, batch_size=batch_size, verbose=0)
    new_kernel = np.asarray(split.chosen_kernel).copy()
    new_bias = np.asarray(split.chosen_bias).copy() if dense.use_bias else None
    set_class_weights(dense, chosen, new_kernel, new_bias)
    return history
