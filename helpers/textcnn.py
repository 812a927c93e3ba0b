"""Kim's (2014) TextCNN in Keras 3: a named 100-d feature layer and its parameter formula.

    >>> model = build_textcnn(20, 2, vocab_size=100, embedding_size=8)
    >>> model.get_layer("extractor").output.shape
    (None, 100)

Its command line is `helpers.cli` (``python -m helpers.cli``); ``python -m helpers.textcnn``,
the command's old name, still runs it. Keras is imported only when a model is built, so the
command's ``--help`` loads no TensorFlow.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # run as a command: no TensorFlow C++ start-up logs (set before keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from helpers._checks import check_bool, check_finite, check_int

if TYPE_CHECKING:  # keras is imported where it is used, so that --help loads no TensorFlow
    import keras

POOLINGS = ("window", "max_over_time")
FILTER_SIZES = (3, 4, 5)
POOL_SIZE = 2


def _check_config(
    sequence_length: int | None,
    num_classes: int,
    vocab_size: int,
    embedding_size: int,
    filter_sizes: Sequence[int],
    num_filters: int,
    feature_dim: int | None,
    pooling: str,
    pool_size: int,
) -> dict[str, Any]:
    """The configuration with Python ints (numpy ints accepted), or TypeError/ValueError for an
    impossible one, before anything is built."""
    config: dict[str, Any] = {
        name: check_int(name, value)
        for name, value in (
            ("vocab_size", vocab_size),
            ("embedding_size", embedding_size),
            ("num_filters", num_filters),
            ("pool_size", pool_size),
        )
    }
    config["sequence_length"] = check_int("sequence_length", sequence_length, allow_none=True)
    config["feature_dim"] = check_int("feature_dim", feature_dim, allow_none=True)
    config["num_classes"] = check_int("num_classes", num_classes, minimum=2)
    if isinstance(filter_sizes, str | bytes) or not (
        isinstance(filter_sizes, Sequence)
        or (isinstance(filter_sizes, np.ndarray) and filter_sizes.ndim == 1)
    ):
        raise TypeError(
            f"filter_sizes must be a list of ints such as (3, 4, 5), got "
            f"{type(filter_sizes).__name__} {filter_sizes!r}"
        )
    if len(filter_sizes) == 0:
        raise ValueError(f"filter_sizes must be a non-empty list of ints, got {filter_sizes!r}")
    sizes = tuple(check_int("each filter size", size) for size in filter_sizes)
    if len(set(sizes)) != len(sizes):
        raise ValueError(f"filter_sizes must be distinct (they name the layers), got {sizes}")
    config["filter_sizes"] = sizes
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    config["pooling"] = pooling
    length = config["sequence_length"]
    if length is None and pooling == "window":
        raise ValueError(
            "sequence_length=None (any length) needs pooling='max_over_time'; "
            "pooling='window' flattens a fixed number of steps"
        )
    if length is None:
        return config
    if pooling == "max_over_time" and max(sizes) > length:
        raise ValueError(
            f"sequence_length={length} is shorter than the widest filter "
            f"({max(sizes)}); 'valid' convolutions need sequence_length >= filter size"
        )
    if pooling == "window" and config["pool_size"] > length:
        raise ValueError(f"pool_size={config['pool_size']} exceeds sequence_length={length}")
    return config


def build_textcnn(
    sequence_length: int | None,
    num_classes: int,
    vocab_size: int,
    embedding_size: int,
    filter_sizes: Sequence[int] = FILTER_SIZES,
    num_filters: int = 50,
    feature_dim: int | None = 100,
    pooling: str = "window",
    pool_size: int = POOL_SIZE,
    dropout: float = 0.5,
    embedding_matrix: np.ndarray | None = None,
    trainable_embedding: bool = True,
    max_norm: float | None = None,
    embedding_constraint: keras.constraints.Constraint | None = None,
    kim_code: bool = False,
) -> keras.Model:
    """A compiled TextCNN whose ``Dense(feature_dim, relu)`` layer is named ``"extractor"``.

    tokens -> Embedding -> per filter size k: Conv1D(num_filters, k, relu) -> pooling
    -> Concatenate -> extractor -> Dropout -> Dense(num_classes, softmax).

    ``feature_dim=None`` leaves the extractor out, which is Kim's own model: Concatenate ->
    Dropout -> softmax (the features are then the ``"concat"`` layer's). ``max_norm=s`` is the
    paper's constraint on the softmax weights: after each update, every class's weight column
    with an L2 norm above ``s`` is scaled back to ``s`` (``keras.constraints.MaxNorm(s, axis=0)``).
    ``embedding_constraint`` is the Embedding's ``embeddings_constraint`` (e.g.
    ``kim.PaddingStaysZero()``); it is saved with the model.

    ``kim_code=True`` builds the model as Kim's code (``conv_net_classes.py``) does, where Keras'
    defaults differ:

    - convolution kernels ~ U(-0.01, 0.01), softmax weights at zero (both biases zero);
    - word id 0 (padding) embeds to zeros whatever row 0 holds (a ``padding_mask`` multiply, so
      row 0 gets no gradient), and the table is a ``sparse_table.RowEmbedding``, which reads
      only the rows a batch uses;
    - with ``pooling="max_over_time"``, his wide convolution: window size k pads the sentence
      with k - 1 zero vectors in front and k behind (``wide_k`` layers), so it pools every
      window that touches a word and one all-zero window, ``relu(bias)``, which his padding to
      the longest sentence gives nearly every row. More zero padding in the input changes
      nothing, so ``kim.encode``'s padded rows and unpadded ones get the same probabilities;
    - his dropout, which does not scale the kept features up in training but scales them by
      ``1 - dropout`` at inference (a Rescaling layer ``dropout_scale`` after ``dropout``), so
      the softmax weights, and ``max_norm`` on them, are in his units (Keras' inverted dropout
      would make ``max_norm=3`` his limit of 6).

    ``pooling="window"`` (the paper's "max pooling with window 2"): ``padding="same"`` convolutions
    and ``MaxPooling1D(pool_size)``, which keeps a shortened sequence axis, then Flatten. With
    ``"same"`` padding, conv_k position p sees tokens p - (k-1)//2 .. p + k//2 (zeros outside the
    sentence), so pooled step t (window 2) sees tokens 2t - (k-1)//2 .. 2t + 1 + k//2.
    ``pooling="max_over_time"`` (Kim 2014): ``padding="valid"`` and ``GlobalMaxPooling1D``, one
    number per filter; there ``sequence_length=None`` takes batches of any length (at least the
    widest filter, or any with ``kim_code``), e.g. each padded to its own longest sentence.
    Layer names: ``tokens, embedding, (padding_mask, wide_k), conv_k, pool_k, concat, (flatten),
    extractor, dropout, (dropout_scale), output``. Compiled with Adam, sparse categorical
    cross-entropy, accuracy.

    >>> build_textcnn(10, 2, 50, 4, pooling="max_over_time").get_layer("concat").output.shape
    (None, 150)
    """
    import keras

    from helpers.sparse_table import RowEmbedding

    config = _check_config(
        sequence_length,
        num_classes,
        vocab_size,
        embedding_size,
        filter_sizes,
        num_filters,
        feature_dim,
        pooling,
        pool_size,
    )
    sequence_length, num_classes = config["sequence_length"], config["num_classes"]
    vocab_size, embedding_size = config["vocab_size"], config["embedding_size"]
    filter_sizes, num_filters = config["filter_sizes"], config["num_filters"]
    feature_dim, pool_size = config["feature_dim"], config["pool_size"]
    if isinstance(dropout, bool) or not isinstance(dropout, numbers.Real):
        raise TypeError(
            f"dropout is the rate to drop, a float in [0, 1); got {type(dropout).__name__} "
            f"{dropout!r}"
        )
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is the rate to drop, in [0, 1), got {dropout!r}")
    dropout = float(dropout)
    trainable_embedding = check_bool("trainable_embedding", trainable_embedding)
    kim_code = check_bool("kim_code", kim_code)
    if max_norm is not None and (
        isinstance(max_norm, bool)
        or not isinstance(max_norm, numbers.Real)
        or not 0 < max_norm < float("inf")
    ):
        raise ValueError(
            f"max_norm must be a positive number or None (no constraint), and finite; got "
            f"{max_norm!r}"
        )
    constraint = None if max_norm is None else keras.constraints.MaxNorm(float(max_norm), axis=0)
    try:
        keras.constraints.get(embedding_constraint)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"embedding_constraint must be a keras.constraints.Constraint (e.g. "
            f"kim.PaddingStaysZero()), a Keras constraint name, or None; got "
            f"{embedding_constraint!r} ({error})"
        ) from None
    weights = None
    if embedding_matrix is not None:
        try:
            embedding_matrix = np.asarray(embedding_matrix, dtype="float32")
        except (TypeError, ValueError) as error:
            raise TypeError(
                f"embedding_matrix must be an array of numbers; got {type(embedding_matrix)} "
                f"({error})"
            ) from None
        check_finite("embedding_matrix", embedding_matrix)
        if embedding_matrix.shape != (vocab_size, embedding_size):
            raise ValueError(
                f"embedding_matrix has shape {embedding_matrix.shape}, expected "
                f"(vocab_size, embedding_size) = ({vocab_size}, {embedding_size})"
            )
        weights = [embedding_matrix]
    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    # kim_code: Kim's training steps the table row by row (kim.SparseAdadelta), so read it so too
    embedding = RowEmbedding if kim_code else keras.layers.Embedding
    embedded = embedding(
        vocab_size,
        embedding_size,
        weights=weights,
        trainable=trainable_embedding,
        embeddings_constraint=embedding_constraint,
        name="embedding",
    )(tokens)
    kernels = "glorot_uniform"
    if kim_code:
        kernels = keras.initializers.RandomUniform(-0.01, 0.01)
        keep = keras.ops.cast(keras.ops.not_equal(tokens, 0), embedded.dtype)
        embedded = keras.layers.Multiply(name="padding_mask")(
            [embedded, keras.ops.expand_dims(keep, -1)]
        )
    padding = "same" if pooling == "window" else "valid"
    wide = kim_code and pooling == "max_over_time"
    branches = []
    for size in filter_sizes:
        x = embedded
        if wide:  # k - 1 zeros before (a wide convolution) and k after (one all-zero window)
            x = keras.layers.ZeroPadding1D((size - 1, size), name=f"wide_{size}")(x)
        x = keras.layers.Conv1D(
            num_filters,
            size,
            padding=padding,
            activation="relu",
            kernel_initializer=kernels,
            name=f"conv_{size}",
        )(x)
        if pooling == "window":
            x = keras.layers.MaxPooling1D(pool_size, name=f"pool_{size}")(x)
        else:
            x = keras.layers.GlobalMaxPooling1D(name=f"pool_{size}")(x)
        branches.append(x)
    if len(branches) > 1:
        x = keras.layers.Concatenate(axis=-1, name="concat")(branches)
    else:
        x = keras.layers.Identity(name="concat")(branches[0])
    if pooling == "window":
        x = keras.layers.Flatten(name="flatten")(x)
    if feature_dim is not None:
        x = keras.layers.Dense(feature_dim, activation="relu", name="extractor")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(x)
    if kim_code:  # kept features x (not x / (1 - rate)) in training, x * (1 - rate) at inference
        x = keras.layers.Rescaling(1 - dropout, name="dropout_scale")(x)
    outputs = keras.layers.Dense(
        num_classes,
        activation="softmax",
        kernel_initializer="zeros" if kim_code else "glorot_uniform",
        kernel_constraint=constraint,
        name="output",
    )(x)
    model = keras.Model(tokens, outputs, name=f"textcnn_{pooling}")
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


def param_formula(
    sequence_length: int,
    num_classes: int,
    vocab_size: int,
    embedding_size: int,
    filter_sizes: Sequence[int] = FILTER_SIZES,
    num_filters: int = 50,
    feature_dim: int | None = 100,
    pooling: str = "window",
    pool_size: int = POOL_SIZE,
) -> dict[str, int]:
    """Parameters of each weighted layer of ``build_textcnn``, from the formulas, by layer name.

    embedding V*E; conv_k (k*E + 1)*F; extractor (D_in + 1)*feature_dim with D_in = len(sizes)*F
    for max-over-time and (L // pool_size)*len(sizes)*F for window pooling; output
    (feature_dim + 1)*num_classes, or (D_in + 1)*num_classes without an extractor
    (``feature_dim=None``).

    >>> param_formula(10, 2, 50, 4, filter_sizes=(3,), num_filters=5, feature_dim=7)["conv_3"]
    65
    """
    c = _check_config(
        sequence_length,
        num_classes,
        vocab_size,
        embedding_size,
        filter_sizes,
        num_filters,
        feature_dim,
        pooling,
        pool_size,
    )
    counts = {"embedding": c["vocab_size"] * c["embedding_size"]}
    for size in c["filter_sizes"]:
        counts[f"conv_{size}"] = (size * c["embedding_size"] + 1) * c["num_filters"]
    steps = c["sequence_length"] // c["pool_size"] if pooling == "window" else 1
    inputs = steps * len(c["filter_sizes"]) * c["num_filters"]
    if c["feature_dim"] is not None:
        counts["extractor"] = (inputs + 1) * c["feature_dim"]
        inputs = c["feature_dim"]
    counts["output"] = (inputs + 1) * c["num_classes"]
    return counts


if __name__ == "__main__":  # the command's old name: helpers.cli imported only now, so no cycle
    import sys

    from helpers.cli import main

    sys.exit(main())
