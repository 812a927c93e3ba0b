"""Intermediate activations of any Keras 3 model, one forward pass per batch, in memory or on disk.

How activations are named (``activation_names(model)`` lists them, in execution order):

- a layer's own name, e.g. ``"extractor"``;
- Keras' own operation name for a ``keras.ops`` result in the graph, e.g. ``"add"`` for a
  residual ``x + layer(x)`` (``model.operations`` lists them); the ops Keras adds only to
  compute a mask (``not_equal`` for ``Embedding(mask_zero=True)``) are left out;
- ``"outer/inner"`` for a layer inside a nested model (the nested model itself is ``"outer"``);
- ``"name@k"`` for the k-th call (0-based, execution order) of a layer called more than once;
- ``"key[i]"`` (or ``"key[dict_key]"``) for each tensor of a call whose output is a list/tuple/dict.

Asking for a layer's plain name returns every call and output of it (``"dense"`` -> ``"dense@0"``,
``"dense@1"``). The graph walking itself is ``helpers.shared.layer_calls``.

Cost: one compiled call of a cached sub-model per batch (``predict_on_batch``), in which every layer
of the model runs once, whatever is extracted. One exception: ``layer_calls`` reaches the layers
inside a nested model through one wrapper model per nested model, called once per call of it.
Inner activations alone run the nested model once per call; also asking for the nested model's
output or a layer after it runs it once more (plus one more per deeper level of nesting), never
once per inner layer.

On disk (``extract_to_disk``), a finished folder holds one ``.npy`` per activation and
``index.json``, written last (its presence means the run finished)::

    {"version": 1, "model": "textcnn", "samples": 10662,
     "activations": {"extractor": {"file": "extractor.npy", "shape": [10662, 100],
                                   "dtype": "float32", "samples": 10662, "bytes": 4264928,
                                   "crc32": "9a3c5e1f"}}}

(``crc32``: ``zlib.crc32`` of the bytes after the ``.npy`` header, as 8 hex digits.)

``index_entry(path)`` computes one entry of a written ``.npy`` (for other writers of this
layout), ``verify_features(out_dir)`` checks a folder against its index and
``load_features(out_dir)`` returns its arrays. While a run writes, it holds the folder's lock
(``.helpers.lock``): a second run into the same folder fails at once with FolderBusyError.

>>> acts = extract(model, x, ["extractor"])   # {"extractor": array of shape (len(x), 100)}
"""

from __future__ import annotations

import contextlib
import json
import math
import operator
import os
import sys
import warnings
import weakref
import zlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import keras
import numpy as np

from helpers._checks import check_bool, check_ids, check_int, check_path, closest_first
from helpers._featurefolder import (
    INDEX_FILE,
    INDEX_VERSION,
    OUR_FILE,
    NpyAppender,
    file_names,
    publish,
    refuse_existing,
)
from helpers._files import FolderBusyError, locked_folder
from helpers.shared import layer_calls

__all__ = [
    "INDEX_FILE",
    "FolderBusyError",
    "activation_names",
    "extract",
    "extract_to_disk",
    "feature_extractor",
    "index_entry",
    "load_features",
    "verify_features",
]
_MAX_LISTED = 25

# model -> {requested names: (model.inputs + outputs when built, extractor, activation names)}
_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# model -> (model.inputs + outputs, _embedding_inputs(model))
_EMBEDDINGS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


# ---------------------------------------------------------------------------------------------
# Names
# ---------------------------------------------------------------------------------------------


def _targets(model: keras.Model) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """{activation name: symbolic tensor}, and {any name a user may ask for: activation names}."""
    tensors: dict[str, Any] = {}
    aliases: dict[str, list[str]] = {}
    for call in layer_calls(model):
        if keras.tree.is_nested(call.outputs):
            keys = []
            for path, tensor in keras.tree.flatten_with_path(call.outputs):
                keys.append(f"{call.key}[{','.join(str(p) for p in path)}]")
                tensors[keys[-1]] = tensor
        else:
            keys = [call.key]
            tensors[call.key] = call.outputs
        for alias, names in [*((k, [k]) for k in keys), (call.key, keys), (call.name, keys)]:
            known = aliases.setdefault(alias, [])
            known.extend(k for k in names if k not in known)
    return tensors, aliases


def _unknown(name: str, model: keras.Model, valid: list[str]) -> KeyError:
    ranked = closest_first(name, valid)
    shown = ", ".join(repr(v) for v in ranked[:_MAX_LISTED])
    more = len(ranked) - _MAX_LISTED
    tail = f", ... and {more} more (see activation_names(model))" if more > 0 else ""
    return KeyError(
        f"no layer named {name!r} in model {model.name!r}; "
        f"valid names, closest first: {shown}{tail}"
    )


def _resolve(model: keras.Model, layers: tuple[str, ...] | None) -> tuple[dict[str, Any], tuple]:
    tensors, aliases = _targets(model)
    if layers is None:
        return tensors, tuple(tensors)
    keys: dict[str, None] = {}
    for name in layers:
        if name not in aliases:
            raise _unknown(name, model, list(tensors))
        keys.update(dict.fromkeys(aliases[name]))
    return tensors, tuple(keys)


def _layer_request(layers: Any) -> tuple[str, ...] | None:
    """Validate ``layers`` (None, one name, or an iterable of names) into a tuple of names."""
    if layers is None:
        return None
    if isinstance(layers, str):
        return (layers,)
    if not isinstance(layers, Iterable) or isinstance(layers, (bytes, Mapping)):
        raise TypeError(
            "layers must be None (every layer), a layer name, or a list of layer names; "
            f"got {type(layers).__name__}"
        )
    names = tuple(layers)
    if not names:
        raise ValueError("layers is empty; pass None for every layer, or a list of layer names")
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"layer names must be strings; got {name!r} ({type(name).__name__})")
    return names


def activation_names(model: keras.Model) -> list[str]:
    """The names ``extract(model, x)`` returns (every layer call), in execution order.

    >>> activation_names(model)   # ['embedding', 'conv3', ..., 'extractor', 'dropout', 'softmax']
    """
    _check_model(model)
    return list(_targets(model)[0])


# ---------------------------------------------------------------------------------------------
# The sub-model
# ---------------------------------------------------------------------------------------------


def _check_model(model: Any) -> None:
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    if not _has_inputs(model) and not isinstance(model, keras.Sequential):
        raise ValueError(
            f"model {model.name!r} ({type(model).__name__}) is a subclassed model: its call() is "
            "Python code, not a graph of layers, so no layer output can be cut out of it (calling "
            "or building it does not change that). Wrap it in a functional model: "
            "inp = keras.Input(shape=...); keras.Model(inp, model(inp)) (its output is then the "
            "activation named after it), or write it with the functional API or Sequential"
        )
    if not _has_inputs(model):
        raise ValueError(
            f"model {model.name!r} ({type(model).__name__}) has no defined inputs yet: start it "
            "with keras.Input(shape=...), call model.build((None, ...)), or call it once on data "
            "(extract and extract_to_disk build a Sequential model from the data's shape)"
        )


def _has_inputs(model: keras.Model) -> bool:
    try:
        return bool(model.inputs)
    except AttributeError:
        return False


def _build_from(model: Any, batches: _Batches) -> None:
    """Give a Sequential model without inputs its inputs from the first batch's shape. This builds
    the user's model in place, exactly as ``model.build((None, *x.shape[1:]))`` would."""
    if not isinstance(model, keras.Sequential) or _has_inputs(model):
        return
    if keras.tree.is_nested(batches.first):
        raise ValueError(
            f"Sequential model {model.name!r} takes one input, but each batch of data holds "
            f"{len(keras.tree.flatten(batches.first))} arrays{batches.hint}"
        )
    shape = (None, *tuple(batches.first.shape)[1:])
    _refuse_text(f"Sequential model {model.name!r}", "float32", batches.first)
    try:  # on a copy first: a failed build must leave the user's model as it was
        keras.Sequential.from_config(model.get_config()).build(shape)
    except Exception as error:
        raise ValueError(
            f"Sequential model {model.name!r} has no inputs yet and cannot be built from the "
            f"data's batch shape {shape} ({type(error).__name__}: {error}). Does x have a batch "
            "axis (one sample: x[None])? The model was left unbuilt."
        ) from None
    model.build(shape)


def _extractor(model: keras.Model, layers: Any) -> tuple[keras.Model, tuple[str, ...]]:
    request = _layer_request(layers)
    _check_model(model)
    per_model = _CACHE.setdefault(model, {})
    inputs = list(model.inputs)
    graph = [*inputs, *model.outputs]  # Sequential.add keeps the inputs but makes new outputs
    hit = per_model.get(request)
    if hit is not None and len(hit[0]) == len(graph) and all(map(operator.is_, hit[0], graph)):
        return hit[1], hit[2]
    tensors, keys = _resolve(model, request)
    left_out: tuple[tuple[str, tuple], ...] = ()
    if request is None and all(t.shape[0] is None for t in inputs):  # every layer: skip these
        left_out = tuple(
            (k, tuple(tensors[k].shape))
            for k in keys
            if not tensors[k].shape or tensors[k].shape[0] is not None
        )
        keys = tuple(k for k in keys if k not in dict(left_out))
        if not keys:
            raise _not_batch_first(*left_out[0], None)
    extractor = keras.Model(
        inputs[0] if len(inputs) == 1 else inputs,
        {k: tensors[k] for k in keys},
        name=f"{model.name}_features",
    )
    per_model[request] = (graph, extractor, keys, left_out)
    _embedding_inputs(model)  # cached with the sub-model: extract's per-batch id checks
    return extractor, keys


def feature_extractor(model: keras.Model, layers: Any = None) -> keras.Model:
    """The model from ``model.inputs`` to {activation name: tensor} for the chosen layers.

    Built once per (model, layers) and then reused: the same object comes back until the model's
    inputs change (e.g. after ``Sequential.add``). ``layers=None`` means every layer call.

    >>> fx = feature_extractor(model, ["extractor"])
    >>> fx.predict(x, verbose=0)["extractor"].shape   # (len(x), 100)
    """
    return _extractor(model, layers)[0]


# ---------------------------------------------------------------------------------------------
# Data -> batches of x
# ---------------------------------------------------------------------------------------------


def _is_array(a: Any) -> bool:
    return isinstance(a, np.ndarray) or (
        hasattr(a, "shape") and hasattr(a, "dtype") and hasattr(a, "__array__")
    )


def _is_arrays(data: Any) -> bool:
    """An array, or a non-empty list/tuple/dict of arrays (the inputs of a multi-input model)."""
    if _is_array(data):
        return True
    if isinstance(data, (list, tuple)):
        return bool(data) and all(_is_array(a) for a in data)
    if isinstance(data, Mapping):
        return bool(data) and all(_is_array(a) for a in data.values())
    return False


_LIST_HINT = (
    " (a list/tuple of arrays is read as one array per model input; to pass a list of "
    "batches, wrap it: iter(batches))"
)


def _is_dataset(data: Any) -> bool:
    tf = sys.modules.get("tensorflow")  # only recognised if TensorFlow is already loaded
    return tf is not None and isinstance(data, tf.data.Dataset)


def _x_of(element: Any) -> Any:
    """x of a batch, following Keras' predict: x, (x,), (x, y) or (x, y, sample_weight)."""
    if isinstance(element, (list, tuple)):
        if not 1 <= len(element) <= 3:
            raise ValueError(
                "each batch must be x, (x,), (x, y) or (x, y, sample_weight) as in "
                f"model.predict; got a {type(element).__name__} of {len(element)} items (wrap a "
                "multi-input x in a tuple: (x_list,), or use a dict keyed by input name)"
            )
        return element[0]
    return element


class _Batches:
    """The batches of x in ``data``, with the first one already read (to build and check).

    Arrays are cut into batches of ONE shape: a short last batch is padded with copies of its
    last sample (``padding`` rows, which ``_run`` drops again), because every new batch shape
    traces the compiled predict step once more.
    """

    def __init__(self, data: Any, batch_size: int) -> None:
        batch_size = check_int("batch_size", batch_size)
        self.num_samples: int | None = None
        self.num_batches: int | None = None
        self.padding = 0  # rows added to the last batch
        # A list of arrays is the inputs of a multi-input model, never a list of batches.
        self.hint = _LIST_HINT if isinstance(data, (list, tuple)) and _is_arrays(data) else ""
        if _is_arrays(data):
            sizes = {tuple(a.shape)[0] if a.shape else None for a in keras.tree.flatten(data)}
            if len(sizes) != 1 or None in sizes:
                shapes = [tuple(a.shape) for a in keras.tree.flatten(data)]
                raise ValueError(
                    f"the input arrays must share their first (batch) size; {shapes}{self.hint}"
                )
            self.num_samples = sizes.pop()
            self.num_batches = math.ceil(self.num_samples / batch_size)
            if self.num_batches > 1:
                self.padding = -self.num_samples % batch_size
            starts = range(0, self.num_samples, batch_size)
            rest: Iterator[Any] = (
                keras.tree.map_structure(
                    lambda a, s=s: _padded(a[s : s + batch_size], batch_size), data
                )
                if s + batch_size > self.num_samples and self.padding
                else keras.tree.map_structure(lambda a, s=s: a[s : s + batch_size], data)
                for s in starts
            )
        elif _is_dataset(data):
            cardinality = int(data.cardinality())
            self.num_batches = cardinality if cardinality >= 0 else None
            rest = map(_x_of, iter(data))
        elif isinstance(data, Iterable) and not isinstance(data, (str, bytes, Mapping)):
            self.num_batches = len(data) if hasattr(data, "__len__") else None
            rest = map(_x_of, iter(data))
        else:
            raise TypeError(
                "data must be a numpy array, a list/tuple/dict of arrays (one per model input), "
                "an iterable of batches, or a tf.data.Dataset of batches; got "
                f"{type(data).__name__}"
            )
        if self.num_samples == 0:
            raise ValueError("data holds 0 samples")
        self.first = next(rest, None)
        if self.first is None:
            raise ValueError("data yielded no batches")
        self._rest = rest

    def __iter__(self) -> Iterator[Any]:
        first, self.first = self.first, None
        if first is None:
            raise RuntimeError("these batches were already read")
        yield first
        yield from self._rest


def _padded(batch: np.ndarray, size: int) -> np.ndarray:
    """``batch`` with copies of its last sample appended up to ``size`` samples."""
    return np.concatenate([batch, np.repeat(batch[-1:], size - len(batch), axis=0)])


def _as_inputs(model: keras.Model, x: Any, hint: str = "") -> list:
    """One batch of x as a list of arrays ordered like ``model.inputs`` (a dict: by input name)."""
    names = [t.name for t in model.inputs]
    if isinstance(x, Mapping):
        if set(x) != set(names):
            raise ValueError(
                f"model {model.name!r} takes inputs named {names}; the data's dict has keys "
                f"{sorted(x)}"
            )
        return [x[name] for name in names]
    arrays = keras.tree.flatten(x)
    if len(arrays) != len(names):
        raise ValueError(
            f"model {model.name!r} takes {len(names)} input(s) {names}; each batch of the "
            f"data holds {len(arrays)} array(s){hint}"
        )
    return arrays


def _dtype_kind(array: Any) -> str:
    """numpy's kind letter of an array's dtype ("U"/"S"/"O" for text), also for TF tensors."""
    dtype = getattr(array.dtype, "as_numpy_dtype", array.dtype)
    try:
        return np.dtype(dtype).kind
    except TypeError:
        return "?"


def _refuse_text(what: str, dtype: str, array: Any) -> None:
    """TypeError if ``array`` holds text or Python objects but ``what`` takes ``dtype`` numbers."""
    if dtype != "string" and _dtype_kind(array) in "USO":
        raise TypeError(
            f"{what} takes {dtype} numbers, but the data is an array of {array.dtype} (text or "
            "Python objects); turn text into token ids first (e.g. helpers.data.vectorize) or "
            "convert the array, e.g. x.astype('float32')"
        )


def _embedding_inputs(model: keras.Model) -> list[tuple[int, str, int]]:
    """(input position, Embedding call name, its number of rows) for every Embedding called
    directly on one of ``model.inputs``: the integer ids ``_run`` range-checks per batch."""
    graph = [*model.inputs, *model.outputs]
    hit = _EMBEDDINGS.get(model)
    if hit is not None and len(hit[0]) == len(graph) and all(map(operator.is_, hit[0], graph)):
        return hit[1]
    found = []
    for call in layer_calls(model):
        if isinstance(call.layer, keras.layers.Embedding):
            for i, tensor in enumerate(model.inputs):
                if any(t is tensor for t in call.inputs):
                    found.append((i, call.key, int(call.layer.input_dim)))
    _EMBEDDINGS[model] = (graph, found)
    return found


def _check_batch(model: keras.Model, arrays: list, hint: str = "") -> int:
    """The batch length of one batch (from ``_as_inputs``), once its arrays are checked against
    the model's inputs: rank, every fixed size after the batch axis, one batch length, and no
    text for a numeric input."""
    for spec, array in zip(model.inputs, arrays, strict=True):
        expected = tuple(spec.shape)
        shape = tuple(array.shape) if _is_array(array) else None
        if shape is None or len(shape) != len(expected):
            raise ValueError(
                f"input {spec.name!r} of model {model.name!r} expects batches of shape "
                f"{expected}; got {type(array).__name__ if shape is None else shape} (one sample "
                "needs a batch axis: x[None]; a tf.data.Dataset must be batched: dataset.batch(n))"
            )
        _refuse_text(f"input {spec.name!r} of model {model.name!r}", spec.dtype, array)
        wrong = [
            f"axis {axis}: expected {want}, got {got}"
            for axis, (want, got) in enumerate(zip(expected, shape, strict=True))
            if axis > 0 and want is not None and want != got  # axis 0: a last batch is shorter
        ]
        if wrong:
            raise ValueError(
                f"input {spec.name!r} of model {model.name!r} expects batches of shape "
                f"{expected}; got {shape} ({'; '.join(wrong)}){hint}"
            )
    sizes = [int(array.shape[0]) for array in arrays]
    if len(set(sizes)) != 1:
        shapes = [tuple(array.shape) for array in arrays]
        raise ValueError(
            f"the inputs of one batch must share their first (batch) size; got {shapes}{hint}"
        )
    return sizes[0]


def _not_batch_first(key: str, shape: tuple, batch: int | None) -> ValueError:
    """The error for an activation without one row per sample (batch None: seen symbolically)."""
    seen = "whatever the batch size" if batch is None else f"for a batch of {batch} samples"
    return ValueError(
        f"activation {key!r} has shape {shape} {seen}: its first axis is not the batch axis (a "
        "layer up to it reduces or reshapes across samples), so it has no row per sample to "
        "extract; call feature_extractor(model, [...]) on one batch yourself"
    )


def _check_batch_first(model: keras.Model, extractor: keras.Model, keys: tuple) -> None:
    """Refuse, before any data is run, an activation whose symbolic first axis is not the batch
    axis (only decidable when the model's inputs leave the batch size open)."""
    if any(tensor.shape[0] is not None for tensor in model.inputs):
        return
    for key in keys:
        shape = tuple(extractor.output[key].shape)
        if not shape or shape[0] is not None:
            raise _not_batch_first(key, shape, None)


def _prepare(
    model: Any,
    data: Any,
    layers: Any,
    batch_size: int,
    check: Callable[[tuple[str, ...]], None] | None = None,
) -> tuple[_Batches, keras.Model, tuple[str, ...]]:
    """Check the arguments, the layer names and ``check(names)`` before reading any data when the
    model has inputs; then read batch one, build a Sequential from it if needed, check it."""
    if not isinstance(model, keras.Model):
        raise TypeError(f"model must be a keras.Model; got {type(model).__name__}")
    request = _layer_request(layers)
    if _has_inputs(model):
        extractor, keys = _extractor(model, request)
        _check_batch_first(model, extractor, keys)
        if check is not None:
            check(keys)
    batches = _Batches(data, batch_size)
    _build_from(model, batches)
    extractor, keys = _extractor(model, request)
    _check_batch_first(model, extractor, keys)
    if check is not None:
        check(keys)
    _check_batch(model, _as_inputs(model, batches.first, batches.hint), batches.hint)
    left_out = _CACHE[model][request][3]
    if left_out:
        shown = ", ".join(f"{key!r} {shape}" for key, shape in left_out)
        warnings.warn(
            f"left out {len(left_out)} activation(s) of model {model.name!r} without a batch "
            f"axis: {shown}. They reduce or reshape across samples (e.g. a mean over the "
            "batch), so they have no row per sample; every other layer is extracted",
            stacklevel=3,
        )
    return batches, extractor, keys


def _from_tensorflow(arrays: list) -> list:
    """TensorFlow tensors (a tf.data.Dataset's batches, tf.constant) as numpy arrays on another
    backend, whose compiled predict step cannot take them; as they are on TensorFlow."""
    tf = sys.modules.get("tensorflow")  # no TensorFlow loaded: there are no TensorFlow tensors
    if tf is None or keras.backend.backend() == "tensorflow":
        return arrays
    return [np.asarray(a) if isinstance(a, (tf.Tensor, tf.Variable)) else a for a in arrays]


def _run(
    model: keras.Model, extractor: keras.Model, keys: tuple, batches: _Batches
) -> Iterator[tuple[int, dict]]:
    """(batch length, the batch's activations as numpy arrays): one compiled pass per batch.
    Token ids going into an Embedding are range-checked first; every activation is checked to
    hold one row per sample of the batch."""
    embeddings = _embedding_inputs(model)
    start = 0
    for i, x in enumerate(batches):
        arrays = _as_inputs(model, x, batches.hint)
        size = _check_batch(model, arrays, batches.hint)
        arrays = _from_tensorflow(arrays)
        for position, layer, rows in embeddings:
            check_ids(
                f"batch {i} (samples {start}..{start + size - 1}) of input "
                f"{model.inputs[position].name!r}, which Embedding {layer!r} of model "
                f"{model.name!r} reads",
                arrays[position],
                rows,
            )
        start += size
        out = extractor.predict_on_batch(arrays[0] if len(arrays) == 1 else arrays)
        for key in keys:
            if out[key].ndim == 0 or len(out[key]) != size:
                raise _not_batch_first(key, out[key].shape, size)
        if i + 1 == batches.num_batches and batches.padding:
            size -= batches.padding
        yield size, {k: out[k][:size] for k in keys}


# ---------------------------------------------------------------------------------------------
# In memory
# ---------------------------------------------------------------------------------------------


def extract(
    model: keras.Model, x: Any, layers: Any = None, batch_size: int = 256
) -> dict[str, np.ndarray]:
    """Activations of the named layers (every layer call when None), one forward pass per batch.

    ``x``: a numpy array, a list/dict of arrays (multi-input), an iterable of batches, or a
    tf.data.Dataset of batches (batches follow ``model.predict``: x, (x,), (x, y) or
    (x, y, sample_weight)). A plain list of arrays is always one array per model input; pass a
    list of batches as ``iter(batches)``. A Sequential model without inputs is built from x's
    shape. Returns {activation name: numpy array} with one row per sample, in input order, in
    the order asked for. An activation without a batch axis (e.g. a mean over the batch) is
    refused with ValueError when named; with ``layers=None`` it is left out, with a warning
    naming it (``feature_extractor(model)`` leaves it out too).

    >>> extract(model, x, ["extractor"])["extractor"].shape   # (len(x), 100)
    """
    batches, extractor, keys = _prepare(model, x, layers, batch_size)
    total = batches.num_samples
    stacked: dict[str, np.ndarray] = {}
    chunks: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    start = 0
    for size, out in _run(model, extractor, keys, batches):
        if total is None:
            for key in keys:
                chunks[key].append(out[key])
        else:
            if not stacked:
                stacked = {k: np.empty((total, *v.shape[1:]), v.dtype) for k, v in out.items()}
            for key in keys:
                _check_tail(key, stacked[key], out[key])
                stacked[key][start : start + size] = out[key]
        start += size
    if total is None:
        for key in keys:
            _check_tail(key, chunks[key][0], *chunks[key][1:])
        return {k: np.concatenate(chunks[k]) for k in keys}
    if start != total:  # every row of np.empty must have been written
        raise RuntimeError(f"filled {start} of {total} rows; please report this as a bug")
    return stacked


def _check_tail(key: str, first: np.ndarray, *others: np.ndarray) -> None:
    for other in others:
        if other.shape[1:] != first.shape[1:]:
            raise ValueError(
                f"activation {key!r} changes shape between batches ({first.shape[1:]} then "
                f"{other.shape[1:]}); pad the inputs to one length to stack them"
            )


# ---------------------------------------------------------------------------------------------
# On disk
# ---------------------------------------------------------------------------------------------


def extract_to_disk(
    model: keras.Model,
    data: Any,
    layers: Any,
    out_dir: str | os.PathLike,
    batch_size: int = 256,
    progress: bool = True,
    overwrite: bool = False,
) -> dict[str, Path]:
    """Stream the activations of ``layers`` into one ``.npy`` file each under ``out_dir``.

    Memory holds one batch, not the dataset. ``data`` is what ``extract`` takes. Files are written
    under hidden temporary names and renamed only once complete (on any error, a full disk or
    Ctrl-C included, every temporary file is removed); ``index.json`` (activation -> file, shape,
    dtype, samples, bytes, crc32; see the module docstring) is written last, so its presence
    means the run finished. The run holds the folder's lock: a second run into the same folder
    raises FolderBusyError at once, and temporary files a killed run left are removed (with a
    warning). Existing outputs are refused (FileExistsError) unless ``overwrite=True``, which
    also deletes the ``.npy`` files an earlier run's ``index.json`` lists that this run does not
    write (no other file is touched), so the folder holds exactly what the new index describes.
    Returns {activation: path}; read the folder back with ``load_features(out_dir)``.

    >>> paths = extract_to_disk(model, x, ["extractor"], "features", progress=False)
    >>> load_features("features")["extractor"].shape   # (len(x), 100)
    """
    out_dir = check_path("out_dir", out_dir)
    progress = check_bool("progress", progress)
    overwrite = check_bool("overwrite", overwrite)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(f"out_dir {str(out_dir)!r} exists and is not a folder")
    batches, extractor, keys = _prepare(
        model,
        data,
        layers,
        batch_size,
        lambda k: refuse_existing(out_dir, file_names(k), overwrite),
    )
    names = file_names(keys)
    with locked_folder(out_dir, "out_dir"):
        refuse_existing(out_dir, names, overwrite)  # again: another run may have finished since
        return _stream(model, extractor, keys, batches, out_dir, names, progress)


def _stream(
    model: keras.Model,
    extractor: keras.Model,
    keys: tuple[str, ...],
    batches: _Batches,
    out_dir: Path,
    names: dict[str, str],
    progress: bool,
) -> dict[str, Path]:
    """extract_to_disk's writing, with the folder locked: the files, then ``index.json``."""
    progbar = keras.utils.Progbar(batches.num_batches, verbose=1 if progress else 0)
    writers: dict[str, NpyAppender] = {}
    try:
        for step, (_, out) in enumerate(_run(model, extractor, keys, batches), start=1):
            for key in keys:
                if key not in writers:
                    writers[key] = NpyAppender(out_dir, names[key], out[key])
                writers[key].append(out[key])
            progbar.update(step)
        for writer in writers.values():
            writer.finish()
        paths = publish(out_dir, model.name, names, writers)
    except BaseException:
        for writer in writers.values():
            with contextlib.suppress(OSError):
                writer.abort()
        raise
    if batches.num_batches is None:
        progbar.update(step, finalize=True)
    return paths


# ---------------------------------------------------------------------------------------------
# Reading a finished folder back
# ---------------------------------------------------------------------------------------------


def index_entry(path: str | os.PathLike, checksum: bool = True) -> dict[str, Any]:
    """The ``index.json`` entry of a written ``.npy`` file: file, shape, dtype, samples, bytes
    and (when ``checksum``) the CRC-32 of the bytes after its header (``zlib.crc32``, 8 hex
    digits: a cheap checksum against changed or mixed-up files, not a cryptographic hash).

    For other writers of the ``extract_to_disk`` layout, and what ``verify_features`` compares.

    >>> index_entry("features/extractor.npy")["shape"]   # [10662, 100]
    """
    path = check_path("path", path)
    checksum = check_bool("checksum", checksum)
    with open(path, "rb") as file:
        try:
            version = np.lib.format.read_magic(file)
            read = {(1, 0): np.lib.format.read_array_header_1_0}.get(
                version, np.lib.format.read_array_header_2_0
            )
            shape, fortran_order, dtype = read(file)
        except ValueError as error:
            raise ValueError(f"{str(path)!r} is not a readable .npy file: {error}") from None
        if fortran_order or dtype.hasobject:
            raise ValueError(f"{str(path)!r}: a C-ordered numeric .npy file is expected")
        size = os.fstat(file.fileno()).st_size
        entry: dict[str, Any] = {
            "file": path.name,
            "shape": list(shape),
            "dtype": dtype.name,
            "samples": int(shape[0]) if shape else None,
            "bytes": size,
        }
        expected = file.tell() + math.prod(shape) * dtype.itemsize
        if size != expected:
            raise ValueError(
                f"{str(path)!r} holds {size} bytes but its header {tuple(shape)} {dtype.name} "
                f"needs {expected}: the file is truncated or was changed"
            )
        if checksum:
            crc = 0
            while chunk := file.read(1 << 20):
                crc = zlib.crc32(chunk, crc)
            entry["crc32"] = f"{crc:08x}"
    return entry


def verify_features(out_dir: str | os.PathLike, checksum: bool = True) -> dict[str, Any]:
    """Check a folder ``extract_to_disk`` wrote against its ``index.json``; return the index.

    Refuses (ValueError; FileNotFoundError for a missing file; NotADirectoryError for a file
    given as ``out_dir``) a folder without an index (an
    unfinished or interrupted run), an index of another version, listing no activation or one
    file twice, and any file whose shape, dtype, samples, size or (when ``checksum``, which
    reads every byte) CRC-32 differs from what the index records (or has no CRC-32 recorded).

    >>> verify_features("features")["samples"]   # 10662
    """
    out_dir = check_path("out_dir", out_dir)
    checksum = check_bool("checksum", checksum)
    if out_dir.exists() and not out_dir.is_dir():
        raise NotADirectoryError(
            f"out_dir {str(out_dir)!r} is a file, not a folder: pass the folder extract_to_disk "
            "wrote"
        )
    if not out_dir.is_dir():
        raise FileNotFoundError(f"out_dir {str(out_dir)!r} does not exist")
    index_path = out_dir / INDEX_FILE
    if not index_path.is_file():
        found = sorted(p.name for p in out_dir.iterdir() if not p.name.startswith("."))
        raise FileNotFoundError(
            f"out_dir {str(out_dir)!r} has no {INDEX_FILE}: the run that wrote it did not finish "
            f"(or is still running), so its files cannot be trusted (it holds {found}); run "
            "extract_to_disk into it again"
        )
    try:
        index = json.loads(index_path.read_text(encoding="utf-8"))
        entries = index["activations"]
        files = {key: entry["file"] for key, entry in entries.items()}
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise ValueError(
            f"{str(index_path)!r} is not an index written by extract_to_disk "
            f"({type(error).__name__}: {error})"
        ) from None
    if index.get("version") != INDEX_VERSION:
        raise ValueError(
            f"{str(index_path)!r} has version {index.get('version')!r}; this helpers package "
            f"reads version {INDEX_VERSION} (written by its extract_to_disk)"
        )
    if not entries:
        raise ValueError(f"{str(index_path)!r} lists no activations; it describes no features")
    seen: dict[str, str] = {}
    for key, name in files.items():
        other = seen.setdefault(str(name).lower(), key)
        if other != key:
            raise ValueError(
                f"{str(index_path)!r} lists one file, {name!r}, for two activations, {other!r} "
                f"and {key!r}; each activation has its own file"
            )
    for key, entry in entries.items():
        name = files[key]
        if not isinstance(name, str) or not OUR_FILE.fullmatch(name):
            raise ValueError(f"{str(index_path)!r} lists an invalid file name {name!r} for {key!r}")
        if checksum and "crc32" not in entry:
            raise ValueError(
                f"{str(index_path)!r} records no crc32 for {key!r}, so checksum=True cannot "
                "check its bytes; run extract_to_disk into the folder again (or pass "
                "checksum=False to check sizes, shapes and dtypes only)"
            )
        path = out_dir / name
        if not path.is_file():
            raise FileNotFoundError(
                f"{str(index_path)!r} lists {name} for activation {key!r}, but it is missing"
            )
        actual = index_entry(path, checksum=checksum)
        wrong = [
            f"{field}: index {entry.get(field)!r}, file {actual[field]!r}"
            for field in actual
            if entry.get(field, actual[field]) != actual[field]
        ]
        if entry.get("samples") != index.get("samples"):
            wrong.append(f"samples: {entry.get('samples')!r}, total {index.get('samples')!r}")
        if wrong:
            raise ValueError(
                f"{name} in {str(out_dir)!r} does not match {INDEX_FILE} ({'; '.join(wrong)}): "
                "it was changed or replaced after the run that wrote the index (e.g. by an "
                "interrupted or concurrent run); run extract_to_disk into the folder again"
            )
    return index


def load_features(
    out_dir: str | os.PathLike, mmap_mode: str | None = "r", checksum: bool = False
) -> dict[str, np.ndarray]:
    """{activation: array} of a finished ``extract_to_disk`` folder, after ``verify_features``
    (sizes, shapes and dtypes always; every byte's CRC-32 when ``checksum=True``).

    ``mmap_mode`` is ``np.load``'s: ``"r"`` (default) maps the files read-only instead of
    reading them into memory; None reads them.

    >>> load_features("features")["extractor"].shape   # (10662, 100)
    """
    modes = (None, "r", "r+", "c")
    if mmap_mode not in modes:
        raise ValueError(f"mmap_mode must be one of {modes}; got {mmap_mode!r}")
    out_dir = check_path("out_dir", out_dir)
    index = verify_features(out_dir, checksum=checksum)
    return {
        key: np.load(out_dir / entry["file"], mmap_mode=mmap_mode, allow_pickle=False)
        for key, entry in index["activations"].items()
    }
