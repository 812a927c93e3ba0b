"""Restricting a classifier's prediction to allowed classes, and weighting classes in training.

Three tools answer three different questions:

- ``masked_softmax(logits, mask)``: softmax over the allowed classes only; the others are exactly 0.
- ``with_class_mask(model)``: wraps a classifier into ``[inputs..., allowed] -> probabilities``, so
  each sample carries its own set of allowed classes, in training and at prediction time.
- ``class_weight_dict(num_classes, weights)``: the ``{class: weight}`` dict that
  ``fit(class_weight=...)`` needs (Keras 3 rejects a list).

>>> from helpers import masking
>>> masking.masked_softmax([[1.0, 2.0, 3.0]], [[1, 0, 1]])   # [[0.1192, 0., 0.8808]]
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from helpers import softmax
from helpers._checks import check_int, closest_first

_FLOATS = ("float16", "bfloat16", "float32", "float64")
_MASK_DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
_MASK_DTYPES += _FLOATS


def _as_tensor(x):
    """Backend tensor for arrays/lists; symbolic tensors (keras.Input graphs) pass through."""
    return x if isinstance(x, keras.KerasTensor) else ops.convert_to_tensor(x)


def _dtype_name(x) -> str:
    """Keras' name for ``x``'s dtype (lists via numpy), or the raw name if Keras has none."""
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    try:
        return keras.backend.standardize_dtype(dtype)
    except ValueError:
        return str(getattr(dtype, "name", dtype))


def _check_broadcast(logits_shape: tuple, mask_shape: tuple, axis: int) -> None:
    """Raise ValueError unless ``mask_shape`` broadcasts to ``logits_shape`` without growing it."""
    ok = len(mask_shape) <= len(logits_shape) and all(
        m in (1, None) or i is None or m == i
        for m, i in zip(reversed(mask_shape), reversed(logits_shape), strict=False)
    )
    if not ok:
        axis %= len(logits_shape)
        shared = tuple(n if i == axis else 1 for i, n in enumerate(logits_shape))
        raise ValueError(
            f"mask of shape {mask_shape} does not broadcast to logits of shape {logits_shape}. "
            "Valid: the logits' shape, or a shape with 1s where the mask is shared "
            f"(e.g. {shared}: one mask along axis={axis}, shared by all the other positions)."
        )


def masked_softmax(logits, mask, axis: int = -1):
    """Softmax over the entries where ``mask`` is true; masked entries are exactly 0.

    ``mask`` is boolean, or numeric with 1 = allowed and 0 = masked (like
    ``keras.layers.Softmax``, values > 0.5 count as allowed). It must broadcast to ``logits``.
    The allowed entries of each row sum to 1. A row with no allowed entry gives all zeros (not
    NaN, not uniform). The largest allowed logit is subtracted before ``exp`` and masked logits
    never reach ``exp``, so float16 and float32 stay finite for any finite logits, and masked
    logits get exactly zero gradient. A NaN among a row's allowed logits makes that row's
    allowed entries NaN, as a plain softmax would (a NaN masked logit is never read).

    >>> masked_softmax([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]], [[1, 0, 1], [0, 0, 0]])
    [[0.1192, 0.    , 0.8808],
     [0.    , 0.    , 0.    ]]
    """
    dtype, mask_dtype = _dtype_name(logits), _dtype_name(mask)
    if dtype not in _FLOATS:
        raise TypeError(f"logits must be floating point ({', '.join(_FLOATS)}); got {dtype}.")
    if mask_dtype not in _MASK_DTYPES:
        raise TypeError(
            f"mask must be boolean or numeric (bool, int or float; 1 = allowed, 0 = masked); "
            f"got {mask_dtype}."
        )
    logits, mask = _as_tensor(logits), _as_tensor(mask)
    dtype = keras.backend.standardize_dtype(logits.dtype)
    shape, mask_shape = tuple(logits.shape), tuple(mask.shape)
    if not isinstance(axis, int) or isinstance(axis, bool) or not -len(shape) <= axis < len(shape):
        raise ValueError(
            f"axis={axis!r} is out of range for logits of shape {shape}; "
            f"valid: an int in [{-len(shape)}, {len(shape) - 1}]."
        )
    _check_broadcast(shape, mask_shape, axis)

    keep = mask if keras.backend.standardize_dtype(mask.dtype) == "bool" else ops.greater(mask, 0.5)
    zero = ops.zeros((), dtype=dtype)
    # Shift by the largest *allowed* logit (a constant per row: softmax ignores it, so no gradient).
    row_max = ops.max(ops.where(keep, logits, float("-inf")), axis=axis, keepdims=True)
    row_max = ops.stop_gradient(ops.where(ops.isfinite(row_max), row_max, zero))
    # Masked logits are replaced by 0 *before* exp: no overflow, no inf * 0 in the gradient.
    shifted = ops.where(keep, ops.subtract(logits, row_max), zero)
    numer = ops.where(keep, ops.exp(shifted), zero)
    denom = ops.sum(numer, axis=axis, keepdims=True)
    # An allowed row has denom >= 1 (its max gives exp(0)); an empty row has 0 and stays 0; a
    # row with a NaN allowed logit has a NaN denom and becomes NaN, never an unnormalised row.
    usable = ops.logical_or(denom > 0, ops.isnan(denom))
    return ops.divide(numer, ops.where(usable, denom, ops.ones((), dtype=dtype)))


@keras.saving.register_keras_serializable(package="helpers")
class MaskedSoftmax(keras.layers.Layer):
    """Layer form of :func:`masked_softmax`, called as ``MaskedSoftmax()(logits, allowed)``.

    Unlike ``keras.layers.Softmax()(logits, mask=allowed)`` it does not attach ``allowed`` to its
    output as a Keras mask, so ``compile``d losses do not try to apply a (batch, classes) mask to
    (batch,) per-sample losses.

    >>> MaskedSoftmax(name="probs")(keras.Input((3,)), keras.Input((3,))).shape
    (None, 3)
    """

    def __init__(self, axis: int = -1, **kwargs):
        super().__init__(**kwargs)
        self.axis = axis

    def build(self, logits_shape, allowed_shape):
        _check_broadcast(tuple(logits_shape), tuple(allowed_shape), self.axis)

    def call(self, logits, allowed):
        return masked_softmax(logits, allowed, axis=self.axis)

    def compute_output_shape(self, logits_shape, allowed_shape):
        # Keras builds the model from this, not from call(): check the mask's shape here too.
        _check_broadcast(tuple(logits_shape), tuple(allowed_shape), self.axis)
        return logits_shape

    def get_config(self) -> dict:
        return {**super().get_config(), "axis": self.axis}


@keras.saving.register_keras_serializable(package="helpers")
class DenseLogits(keras.layers.Layer):
    """``h @ W + b`` of an existing Dense, before its activation, using that Dense's variables;
    also of a pointwise Conv head (``softmax.is_pointwise_conv``), its kernel read as (d, k).

    The Dense is tracked as a sub-layer, so a model holding this layer saves and loads it (the
    Dense's config and weights are saved with this layer) and trains the Dense's own variables.

    >>> head = keras.layers.Dense(3, activation="softmax", name="head")
    >>> DenseLogits(head, name="head_logits")(keras.Input((4,))).shape
    (None, 3)
    """

    def __init__(self, dense: keras.layers.Dense, **kwargs):
        if isinstance(dense, dict):  # from_config: the serialised Dense
            dense = keras.saving.deserialize_keras_object(dense)
        if not isinstance(dense, keras.layers.Dense) and not softmax.is_pointwise_conv(dense):
            raise TypeError(
                "DenseLogits needs a keras.layers.Dense or a pointwise Conv (kernel 1, stride 1); "
                f"got {type(dense).__name__}."
            )
        kwargs.setdefault("dtype", dense.dtype_policy)
        super().__init__(**kwargs)
        self.dense = dense  # tracked: the wrapped model's weights are the Dense's own variables

    def build(self, input_shape):
        if not self.dense.built:
            self.dense.build(input_shape)

    def call(self, inputs):
        kernel = ops.reshape(self.dense.kernel, (-1, softmax.head_units(self.dense)))
        logits = ops.matmul(inputs, kernel)
        return ops.add(logits, self.dense.bias) if self.dense.use_bias else logits

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], softmax.head_units(self.dense))

    def get_config(self) -> dict:
        return {**super().get_config(), "dense": keras.saving.serialize_keras_object(self.dense)}


def _logits_source(model: keras.Model) -> tuple[softmax.HeadCall, bool, object]:
    """The output Dense's call, whether its logits must be recomputed, the output's dtype policy.

    Recompute (with :class:`DenseLogits`, from that call's input) when the Dense applies softmax
    itself; otherwise that call's output is the logits. The policy is that of the layer making
    the model's output, so the wrapper's probabilities have the original's dtype (e.g. float32
    under mixed precision with a float32 output layer).
    """
    head = softmax.head_call(model, caller="with_class_mask")
    dense, tail = head.dense, head.after
    if softmax.applies_softmax(dense) and not tail:
        return head, True, dense.dtype_policy
    linear = dense.activation is keras.activations.linear
    if linear and (not tail or (len(tail) == 1 and softmax.is_softmax_layer(tail[0]))):
        return head, False, (tail[-1] if tail else dense).dtype_policy
    found = [f"{dense.name!r} ({type(dense).__name__}, activation={dense.activation.__name__})"]
    found += [f"{lay.name!r} ({type(lay).__name__})" for lay in tail]
    raise ValueError(
        f"with_class_mask needs a classifier ending in logits or a softmax over the last axis; "
        f"model {model.name!r} ends in {', '.join(found)}. Valid endings: Dense(k), "
        "Dense(k, activation='softmax'), or Dense(k) followed by one Softmax() or "
        "Activation('softmax')."
    )


def with_class_mask(
    model: keras.Model, *, mask_name: str = "allowed_classes", name: str | None = None
) -> keras.Model:
    """Wrap a classifier into ``[inputs..., allowed] -> probabilities over the allowed classes``.

    The classifier may end in logits or in a softmax (inside its last Dense or as a separate
    layer). The new model reuses the original's layers, so it shares the same variable objects
    (training one trains the other), and its probabilities are the original's renormalised over
    the allowed classes, exactly 0 elsewhere, in the dtype of the original's output (float32
    under mixed precision when the output layer is float32). ``allowed`` has shape
    ``(num_classes,)`` per sample, 1 = allowed, 0 = not. The wrapper saves and loads as a
    ``.keras`` file (``import helpers.masking`` before loading); or save the classifier and wrap
    it again after loading.

    >>> masked = with_class_mask(model)              # model: x -> (batch, 5) logits or probs
    >>> masked.predict([x, allowed])                 # allowed: (batch, 5) of 0/1
    """
    if not isinstance(mask_name, str) or not mask_name:
        raise TypeError(f"mask_name must be a non-empty str; got {mask_name!r}.")
    head, recompute, policy = _logits_source(model)
    dense, units = head.dense, softmax.head_units(head.dense)
    logits = head.features if recompute else head.dense_output
    if recompute and softmax.is_pointwise_conv(dense):  # its (batch, 1, 1, d) input
        logits = keras.layers.Reshape((dense.kernel.shape[-2],))(logits)
    if len(logits.shape) != 2:
        shape = (*logits.shape[:-1], units)
        raise ValueError(
            f"with_class_mask needs logits of shape (batch, classes); model {model.name!r} gives "
            f"{shape}. Valid: a classifier with one prediction per sample."
        )
    taken = [layer.name for layer in model.layers]
    other_mask = "pass another mask_name="
    added = [
        (mask_name, "the mask input", other_mask),
        (f"{mask_name}_softmax", "the output layer", other_mask),
    ]
    if recompute:  # first, so a mask_name equal to it is reported as the mask's clash
        rename = f"rename that layer of model {model.name!r}"
        added.insert(0, (f"{dense.name}_logits", f"the logits of {dense.name!r}", rename))
    for wanted, role, fix in added:
        if wanted in taken:
            close = closest_first(wanted, taken)[:3]
            raise ValueError(
                f"with_class_mask names {role} {wanted!r}, but that name is already taken in "
                f"model {model.name!r} (closest: {close}); {fix}."
            )
        taken.append(wanted)
    if recompute:
        logits = DenseLogits(dense, name=f"{dense.name}_logits")(logits)
    allowed = keras.Input(shape=(units,), name=mask_name)
    probs = MaskedSoftmax(name=f"{mask_name}_softmax", dtype=policy)(logits, allowed)
    return keras.Model([*model.inputs, allowed], probs, name=name or f"{model.name}_masked")


def _check_weight(what: str, w: object) -> float:
    """``w`` as a float if it is a finite number >= 0; the errors start with ``what``."""
    try:
        value = float(w)
    except (TypeError, ValueError):
        raise TypeError(f"{what} must be a number; got {w!r}.") from None
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"{what} is {value}; valid: a finite number >= 0.")
    return value


def class_weight_dict(
    num_classes: int, weights: Mapping[int, float] | Sequence[float], *, default: float = 1.0
) -> dict[int, float]:
    """The ``{class_index: weight}`` dict for ``fit(class_weight=...)``, with every class present.

    ``weights`` is a sequence of ``num_classes`` weights, or a mapping of some classes to weights
    (classes left out get ``default``; Keras itself uses 1.0 for a missing class). Weights must
    be finite, >= 0, and not all 0 (no class would train).

    >>> class_weight_dict(4, {2: 0.0, 3: 0.0})
    {0: 1.0, 1: 1.0, 2: 0.0, 3: 0.0}
    """
    num_classes = check_int("num_classes", num_classes)
    default = _check_weight("default", default)
    if isinstance(weights, Mapping):
        for key in weights:
            if isinstance(key, bool) or not isinstance(key, (int, np.integer)):
                raise TypeError(f"class keys must be ints; got {key!r} ({type(key).__name__}).")
            if not 0 <= key < num_classes:
                raise ValueError(
                    f"class {key} is out of range; valid classes are 0..{num_classes - 1}."
                )
        full = {c: weights.get(c, default) for c in range(num_classes)}
    elif isinstance(weights, (Sequence, np.ndarray)) and not isinstance(weights, (str, bytes)):
        if len(weights) != num_classes:
            raise ValueError(
                f"weights has {len(weights)} entries but num_classes={num_classes}; valid: one "
                "weight per class, or a mapping {class: weight}."
            )
        full = dict(enumerate(weights))
    else:
        raise TypeError(
            f"weights must be a mapping {{class: weight}} or a sequence of {num_classes} weights; "
            f"got {type(weights).__name__}."
        )
    out = {c: _check_weight(f"weight of class {c}", w) for c, w in full.items()}
    if not any(out.values()):
        raise ValueError(
            f"all {num_classes} class weights are 0, so no sample would contribute to the loss; "
            "give at least one class a weight > 0."
        )
    return out
