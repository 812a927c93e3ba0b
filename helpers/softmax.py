"""The weights behind a softmax classifier's predictions.

A classifier that ends in ``Dense(k)`` (with ``activation="softmax"``, or followed by an
``Activation("softmax")``/``Softmax`` layer) computes ``logits = h @ W + b`` from the penultimate
features ``h`` (n, d); column ``W[:, c]`` (d,) and bias ``b[c]`` belong to class ``c``.

>>> from helpers import softmax
>>> dense = softmax.output_layer(model)          # the Dense that produces the logits
>>> softmax.applies_softmax(dense)               # True: its output is probabilities
"""

from __future__ import annotations

from dataclasses import dataclass

import keras
import numpy as np

_PASS_THROUGH = (keras.layers.Activation, keras.layers.Softmax)


def _describe(layers: list[keras.layers.Layer]) -> str:
    return ", ".join(f"{layer.name!r} ({type(layer).__name__})" for layer in layers)


def _trace_back(model: keras.Model) -> list[keras.layers.Layer]:
    """The layers on the path to the model's output, last first, as far as it can be followed."""
    if isinstance(model, keras.Sequential):
        return list(reversed(model.layers))
    try:
        outputs = model.outputs
    except AttributeError:
        outputs = None
    if not outputs:
        raise ValueError(
            f"output_layer needs a Sequential or Functional model; {model.name!r} "
            f"({type(model).__name__}) has no symbolic outputs to trace. Valid: keras.Sequential "
            "or keras.Model(inputs, outputs)."
        )
    if len(outputs) != 1:
        raise ValueError(
            f"output_layer needs a model with one output; {model.name!r} has {len(outputs)}: "
            f"{[t.name for t in outputs]}. Build a sub-model on the output you mean."
        )
    producer = {}
    for layer in model.layers:
        try:
            out = layer.output  # public; the tensor of the layer's first call
        except (AttributeError, ValueError):
            continue
        producer[id(out)] = layer
    path, tensor = [], outputs[0]
    while id(tensor) in producer:
        layer = producer[id(tensor)]
        path.append(layer)
        if not isinstance(layer, _PASS_THROUGH):
            break
        tensor = layer.input
    return path


def output_head(model: keras.Model) -> tuple[keras.layers.Dense, list[keras.layers.Layer]]:
    """The Dense that produces the logits and the Activation/Softmax layers after it, in call order.

    >>> dense, after = output_head(keras.Sequential([keras.Input((4,)),
    ...     keras.layers.Dense(3, name="head"), keras.layers.Activation("softmax", name="probs")]))
    >>> dense.name, [layer.name for layer in after]
    ('head', ['probs'])
    """
    if not isinstance(model, keras.Model):
        raise TypeError(
            f"output_layer needs a keras.Model; got {type(model).__name__}. "
            "Pass the model, e.g. output_layer(model)."
        )
    path = _trace_back(model)
    for i, layer in enumerate(path):
        if isinstance(layer, keras.layers.Dense):
            return layer, list(reversed(path[:i]))
        if not isinstance(layer, _PASS_THROUGH):
            path = path[: i + 1]
            break
    shown = list(reversed(path[:4]))
    raise ValueError(
        f"model {model.name!r} has no Dense layer producing its output (only Activation/Softmax "
        f"layers may follow it). Its last layers are: {_describe(shown) or 'none'}."
    )


def output_layer(model: keras.Model) -> keras.layers.Dense:
    """The Dense layer that produces a classifier's logits.

    It is the model's final layer if that is a Dense, else the Dense feeding the trailing
    ``Activation``/``Softmax`` layer(s). Works for Sequential and Functional models.

    >>> output_layer(keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="head"),
    ...                                keras.layers.Activation("softmax")])).name
    'head'
    """
    return output_head(model)[0]


def applies_softmax(dense: keras.layers.Dense) -> bool:
    """Whether this Dense applies softmax itself (its output is probabilities, not logits).

    False means its activation is something else; for ``activation=None`` (linear) the output
    is the logits, which a trailing ``Activation("softmax")`` may still turn into probabilities.

    >>> applies_softmax(keras.layers.Dense(3, activation="softmax"))
    True
    """
    if not isinstance(dense, keras.layers.Dense):
        raise TypeError(
            f"applies_softmax needs a keras.layers.Dense; got {type(dense).__name__}. "
            "Find it with output_layer(model)."
        )
    return dense.activation is keras.activations.softmax


def _dense_of(model_or_layer: keras.Model | keras.layers.Dense) -> keras.layers.Dense:
    if isinstance(model_or_layer, keras.layers.Dense):
        dense = model_or_layer
    elif isinstance(model_or_layer, keras.Model):
        dense = output_layer(model_or_layer)
    else:
        raise TypeError(
            f"expected a keras.Model or keras.layers.Dense; got {type(model_or_layer).__name__}."
        )
    if not dense.built:
        raise ValueError(f"Dense {dense.name!r} is not built yet: call the model on data first.")
    return dense


def _class_index(classes: object, units: int, where: str) -> np.ndarray | int:
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
            f"classes must be an int or a 1-D sequence of ints; got {type(classes).__name__} "
            f"with shape {array.shape} and dtype {array.dtype} ({valid})."
        )
    bad = array[(array < 0) | (array >= units)]
    if bad.size:
        raise ValueError(f"classes {bad[:5].tolist()} are out of range for {where} ({valid}).")
    return array.astype(np.int64)


def class_weights(
    model_or_layer: keras.Model | keras.layers.Dense, classes: object = None
) -> tuple[np.ndarray, np.ndarray]:
    """Kernel columns and biases of the given classes of the output Dense.

    ``classes`` is None (all), an int (returns ``W[:, c]`` (d,) and ``b[c]``) or a sequence of
    k ints (returns (d, k) and (k,)), numpy indexing rules. A Dense without bias gives zeros.

    >>> kernel, bias = class_weights(model, [3, 7])   # kernel (d, 2), bias (2,)
    """
    dense = _dense_of(model_or_layer)
    kernel = dense.kernel.numpy()
    bias = dense.bias.numpy() if dense.use_bias else np.zeros(dense.units, dtype=kernel.dtype)
    if classes is None:
        return kernel, bias
    index = _class_index(classes, dense.units, f"{dense.name!r} with {dense.units} classes")
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
    index = np.atleast_1d(
        _class_index(classes, dense.units, f"{dense.name!r} with {dense.units} classes")
    )
    d = dense.kernel.shape[0]
    new_kernel = np.asarray(kernel, dtype=dense.kernel.dtype)
    if new_kernel.shape == (d,) and index.size == 1:
        new_kernel = new_kernel[:, None]
    if new_kernel.shape != (d, index.size):
        raise ValueError(
            f"kernel for {index.size} classes must have shape ({d}, {index.size}); "
            f"got {np.shape(kernel)}."
        )
    if bias is not None:
        if not dense.use_bias:
            raise ValueError(f"Dense {dense.name!r} has no bias (use_bias=False); pass bias=None.")
        new_bias = np.asarray(bias, dtype=dense.bias.dtype).reshape(-1)
        if new_bias.shape != (index.size,):
            raise ValueError(
                f"bias for {index.size} classes must have shape ({index.size},); "
                f"got {np.shape(bias)}."
            )
    full_kernel, full_bias = class_weights(dense)
    full_kernel = full_kernel.copy()
    full_kernel[:, index] = new_kernel
    dense.kernel.assign(full_kernel)
    if bias is not None:
        full_bias = full_bias.copy()
        full_bias[index] = new_bias
        dense.bias.assign(full_bias)


def _require_softmax_classifier(model: keras.Model) -> keras.layers.Dense:
    """The output Dense, after checking the model is softmax-of-logits (or plain logits)."""
    dense, trailing = output_head(model)
    steps = [(dense, dense.activation)]
    for layer in trailing:
        if isinstance(layer, keras.layers.Softmax):
            steps.append((layer, keras.activations.softmax))
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
            f"model {model.name!r} must end in logits or one softmax over them; its head is "
            f"{_describe([layer for layer, _ in steps])} with activations "
            f"{[getattr(act, '__name__', str(act)) for _, act in steps]}."
        )
    return dense


def _inputs_like(model: keras.Model, x: object) -> list[np.ndarray]:
    """x as a list of arrays, one per model input, each checked against the input's shape."""
    try:
        inputs = model.inputs
    except AttributeError:
        inputs = None
    if not inputs:
        raise ValueError(
            f"model {model.name!r} has no defined inputs; build it with keras.Input first."
        )
    arrays = list(x) if isinstance(x, (list, tuple)) else [x]
    if len(arrays) != len(inputs):
        raise ValueError(
            f"model {model.name!r} has {len(inputs)} inputs {[t.name for t in inputs]}; "
            f"got {len(arrays)} array(s)."
        )
    checked = []
    for array, spec in zip(arrays, inputs, strict=True):
        array = np.asarray(array)
        expected = ("n", *spec.shape[1:])
        shown = "(" + ", ".join("any" if e is None else str(e) for e in expected) + ")"
        same = array.ndim == len(expected) and all(
            e is None or e == "n" or e == a for e, a in zip(expected, array.shape, strict=True)
        )
        if not same:
            raise ValueError(
                f"x has shape {array.shape}; model {model.name!r} input {spec.name!r} "
                f"expects {shown}."
            )
        checked.append(array)
    return checked


def _check_positive(name: str, value: object) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive int; got {value!r}.")


def _features(model: keras.Model, x: object, batch_size: int) -> np.ndarray:
    """Penultimate features: the input of the output Dense, (n, d), computed in batches."""
    dense = output_layer(model)
    arrays = _inputs_like(model, x)
    _check_positive("batch_size", batch_size)
    if len(dense.input.shape) != 2:
        raise ValueError(
            f"Dense {dense.name!r} gets inputs of shape {tuple(dense.input.shape)}; these helpers "
            "need one feature vector per sample, (batch, features)."
        )
    sub = keras.Model(model.inputs, dense.input, name=f"{model.name}_features")
    # Plain calls, not predict(): predict traces a new tf.function for every new sub-model, and
    # TensorFlow warns about retracing after a few calls.
    batches = [
        keras.ops.convert_to_numpy(
            sub([a[start : start + batch_size] for a in arrays], training=False)
        )
        for start in range(0, len(arrays[0]), batch_size)
    ]
    return np.concatenate(batches) if batches else np.zeros((0, dense.kernel.shape[0]), "float32")


def logits(model: keras.Model, x: object, batch_size: int = 256) -> np.ndarray:
    """The output Dense's pre-activation outputs ``h @ W + b``, (n, k), in float32.

    >>> logits(model, x_test).shape                  # (n, k)
    """
    h = _features(model, x, batch_size)
    kernel, bias = class_weights(model)
    return keras.ops.convert_to_numpy(keras.ops.matmul(h, kernel) + bias)


@dataclass(frozen=True)
class PredictionWeights:
    """Per sample: the predicted class, its probability, the features and the weights behind it."""

    classes: np.ndarray  # (n,) int: argmax of the logits
    probabilities: np.ndarray  # (n,) softmax of the logits at that class
    features: np.ndarray  # (n, d) penultimate features h
    kernel_rows: np.ndarray  # (n, d) W[:, class].T
    bias: np.ndarray  # (n,) b[class]


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def prediction_weights(model: keras.Model, x: object, batch_size: int = 256) -> PredictionWeights:
    """The weights behind each prediction of a softmax classifier.

    Probabilities are the softmax of ``h @ W + b`` computed in float64 (what ``predict`` gives
    for such a model, up to float32 rounding).

    >>> pw = prediction_weights(model, x_test)       # pw.kernel_rows (n, d), pw.bias (n,)
    """
    dense = _require_softmax_classifier(model)
    h = _features(model, x, batch_size)
    kernel, bias = class_weights(dense)
    z = h.astype(np.float64) @ kernel.astype(np.float64) + bias.astype(np.float64)
    classes = z.argmax(axis=1)
    rows = np.arange(len(classes))
    return PredictionWeights(
        classes=classes,
        probabilities=_softmax(z)[rows, classes],
        features=h,
        kernel_rows=kernel[:, classes].T,
        bias=bias[classes],
    )


def logit_contributions(
    model: keras.Model, x: object, classes: object = None, batch_size: int = 256
) -> np.ndarray:
    """Each feature's share of a logit: ``h * W[:, c]`` per sample, (n, d).

    ``c`` is the predicted class (None), one class for all samples (int) or one per sample
    (sequence of n ints). Row sums plus ``b[c]`` are the logits.

    >>> logit_contributions(model, x_test[:1]).shape   # (1, d)
    """
    dense = output_layer(model)
    if classes is not None:
        where = f"{dense.name!r} with {dense.units} classes"
        index = _class_index(classes, dense.units, where)
    h = _features(model, x, batch_size)
    kernel, bias = class_weights(dense)
    if classes is None:
        index = (h.astype(np.float64) @ kernel + bias).argmax(axis=1)
    elif isinstance(index, int):
        index = np.full(len(h), index)
    elif index.shape != (len(h),):
        raise ValueError(
            f"classes must be one int or {len(h)} ints (one per sample); got {index.shape[0]}."
        )
    return h * kernel[:, index].T


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

    >>> train_classes(model, x_train, y_train, classes=[3, 7], epochs=5)   # only 3 and 7 move
    """
    dense = _require_softmax_classifier(model)
    units = dense.units
    chosen = np.unique(
        np.atleast_1d(_class_index(classes, units, f"{dense.name!r} with {units} classes"))
    )
    if chosen.size == 0:
        raise ValueError(f"classes is empty; choose some of 0..{units - 1}.")
    _check_positive("epochs", epochs)
    _check_positive("batch_size", batch_size)
    n = len(_inputs_like(model, x)[0])
    labels = np.asarray(y)
    if labels.ndim == 1 and np.issubdtype(labels.dtype, np.integer):
        _class_index(labels, units, f"labels y of {dense.name!r} with {units} classes")
        loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    elif labels.ndim == 2 and labels.shape[1] == units:
        loss = keras.losses.CategoricalCrossentropy(from_logits=True)
    else:
        raise ValueError(
            f"y must be integer labels (n,) or one-hot rows (n, {units}); got shape "
            f"{labels.shape} and dtype {labels.dtype}."
        )
    if len(labels) != n:
        raise ValueError(f"x has {n} samples but y has {len(labels)}.")
    h = _features(model, x, batch_size)
    kernel, bias = class_weights(dense)
    head = _ChosenClassesHead(
        kernel, bias, chosen, train_bias=dense.use_bias, name="chosen_classes_head"
    )
    features = keras.Input((kernel.shape[0],), name="features")
    trainer = keras.Model(features, head(features), name="chosen_classes_trainer")
    trainer.compile(optimizer=optimizer, loss=loss)
    history = trainer.fit(h, labels, epochs=epochs, batch_size=batch_size, verbose=0)
    new_kernel = head.chosen_kernel.numpy()
    new_bias = head.chosen_bias.numpy() if dense.use_bias else None
    set_class_weights(dense, chosen, new_kernel, new_bias)
    return history
