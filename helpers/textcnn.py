"""Kim's (2014) TextCNN in Keras 3: a named 100-d feature layer, its parameter formula, a CLI.

    >>> model = build_textcnn(20, 2, vocab_size=100, embedding_size=8)
    >>> model.get_layer("extractor").output.shape
    (None, 100)

Command line (a polarity-format folder, or the synthetic corpus when ``--data`` is left out):

    python -m helpers.textcnn --data rt-polaritydata --out features --glove glove.840B.300d.txt
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

POOLINGS = ("window", "max_over_time")


def _check_positive_int(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def _check_config(
    sequence_length: int,
    num_classes: int,
    vocab_size: int,
    embedding_size: int,
    filter_sizes: Sequence[int],
    num_filters: int,
    feature_dim: int,
    pooling: str,
    pool_size: int,
) -> None:
    """Raise ValueError for an impossible TextCNN configuration, before anything is built."""
    for name, value in (
        ("sequence_length", sequence_length),
        ("vocab_size", vocab_size),
        ("embedding_size", embedding_size),
        ("num_filters", num_filters),
        ("feature_dim", feature_dim),
        ("pool_size", pool_size),
    ):
        _check_positive_int(name, value)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 2:
        raise ValueError(f"num_classes must be an int >= 2, got {num_classes!r}")
    if isinstance(filter_sizes, str | bytes) or not filter_sizes:
        raise ValueError(f"filter_sizes must be a non-empty list of ints, got {filter_sizes!r}")
    for size in filter_sizes:
        _check_positive_int("each filter size", size)
    if len(set(filter_sizes)) != len(filter_sizes):
        raise ValueError(
            f"filter_sizes must be distinct (they name the layers), got {filter_sizes}"
        )
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, got {pooling!r}")
    if pooling == "max_over_time" and max(filter_sizes) > sequence_length:
        raise ValueError(
            f"sequence_length={sequence_length} is shorter than the widest filter "
            f"({max(filter_sizes)}); 'valid' convolutions need sequence_length >= filter size"
        )
    if pooling == "window" and pool_size > sequence_length:
        raise ValueError(f"pool_size={pool_size} exceeds sequence_length={sequence_length}")


def build_textcnn(
    sequence_length: int,
    num_classes: int,
    vocab_size: int,
    embedding_size: int,
    filter_sizes: Sequence[int] = (3, 4, 5),
    num_filters: int = 50,
    feature_dim: int = 100,
    pooling: str = "window",
    pool_size: int = 2,
    dropout: float = 0.5,
    embedding_matrix: np.ndarray | None = None,
    trainable_embedding: bool = True,
) -> keras.Model:
    """A compiled TextCNN whose ``Dense(feature_dim, relu)`` layer is named ``"extractor"``.

    tokens -> Embedding -> per filter size k: Conv1D(num_filters, k, relu) -> pooling
    -> Concatenate -> extractor -> Dropout -> Dense(num_classes, softmax).

    ``pooling="window"`` (the paper's "max pooling with window 2"): ``padding="same"`` convolutions
    and ``MaxPooling1D(pool_size)``, which keeps a shortened sequence axis, then Flatten.
    ``pooling="max_over_time"`` (Kim 2014): ``padding="valid"`` and ``GlobalMaxPooling1D``, one
    number per filter. Layer names: ``tokens, embedding, conv_k, pool_k, concat, (flatten),
    extractor, dropout, output``. Compiled with Adam, sparse categorical cross-entropy, accuracy.

    >>> build_textcnn(10, 2, 50, 4, pooling="max_over_time").get_layer("concat").output.shape
    (None, 150)
    """
    _check_config(
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
    if not 0 <= dropout < 1:
        raise ValueError(f"dropout is the rate to drop, in [0, 1), got {dropout!r}")
    weights = None
    if embedding_matrix is not None:
        embedding_matrix = np.asarray(embedding_matrix, dtype="float32")
        if embedding_matrix.shape != (vocab_size, embedding_size):
            raise ValueError(
                f"embedding_matrix has shape {embedding_matrix.shape}, expected "
                f"(vocab_size, embedding_size) = ({vocab_size}, {embedding_size})"
            )
        weights = [embedding_matrix]
    tokens = keras.Input(shape=(sequence_length,), dtype="int32", name="tokens")
    embedded = keras.layers.Embedding(
        vocab_size,
        embedding_size,
        weights=weights,
        trainable=trainable_embedding,
        name="embedding",
    )(tokens)
    padding = "same" if pooling == "window" else "valid"
    branches = []
    for size in filter_sizes:
        x = keras.layers.Conv1D(
            num_filters, size, padding=padding, activation="relu", name=f"conv_{size}"
        )(embedded)
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
    features = keras.layers.Dense(feature_dim, activation="relu", name="extractor")(x)
    x = keras.layers.Dropout(dropout, name="dropout")(features)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="output")(x)
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
    filter_sizes: Sequence[int] = (3, 4, 5),
    num_filters: int = 50,
    feature_dim: int = 100,
    pooling: str = "window",
    pool_size: int = 2,
) -> dict[str, int]:
    """Parameters of each weighted layer of ``build_textcnn``, from the formulas, by layer name.

    embedding V*E; conv_k (k*E + 1)*F; extractor (D_in + 1)*feature_dim with D_in = len(sizes)*F
    for max-over-time and (L // pool_size)*len(sizes)*F for window pooling; output
    (feature_dim + 1)*num_classes.

    >>> param_formula(10, 2, 50, 4, filter_sizes=(3,), num_filters=5, feature_dim=7)["conv_3"]
    65
    """
    _check_config(
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
    counts = {"embedding": vocab_size * embedding_size}
    for size in filter_sizes:
        counts[f"conv_{size}"] = (size * embedding_size + 1) * num_filters
    steps = sequence_length // pool_size if pooling == "window" else 1
    counts["extractor"] = (steps * len(filter_sizes) * num_filters + 1) * feature_dim
    counts["output"] = (feature_dim + 1) * num_classes
    return counts


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.textcnn",
        description=(
            "Train a TextCNN on a polarity-format folder (rt-polarity.pos/.neg) or, without "
            "--data, on the synthetic corpus; print held-out accuracy (10%% split); write the "
            "(n, feature_dim) 'extractor' features of every sentence and the labels to --out."
        ),
    )
    parser.add_argument("--data", type=Path, help="folder with rt-polarity.pos and rt-polarity.neg")
    parser.add_argument("--out", type=Path, required=True, help="output folder for the features")
    parser.add_argument("--glove", type=Path, help="GloVe text file to initialise the embedding")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--sequence-length", type=int, default=56)
    parser.add_argument("--embedding-dim", type=int, default=300)
    parser.add_argument("--max-tokens", type=int, default=20000)
    parser.add_argument("--num-filters", type=int, default=50)
    parser.add_argument("--feature-dim", type=int, default=100)
    parser.add_argument("--pooling", choices=POOLINGS, default="window")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--synthetic-size", type=int, default=2000)
    parser.add_argument("--freeze-embedding", action="store_true", help="keep GloVe vectors fixed")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; every argument is checked before any data is read or model built."""
    from helpers import activations, data

    parser = _parser()
    args = parser.parse_args(argv)
    for name in (
        "epochs",
        "sequence_length",
        "embedding_dim",
        "max_tokens",
        "num_filters",
        "feature_dim",
        "batch_size",
        "synthetic_size",
    ):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.max_tokens < 3:
        parser.error(f"--max-tokens must be >= 3 (padding, [UNK], one word), got {args.max_tokens}")
    if args.pooling == "max_over_time" and args.sequence_length < 5:
        parser.error(f"--sequence-length must be >= 5 (widest filter), got {args.sequence_length}")
    if args.data is not None and not args.data.is_dir():
        parser.error(f"--data {args.data} is not a folder (expected rt-polarity.pos/.neg in it)")
    if args.glove is not None and not args.glove.is_file():
        parser.error(f"--glove {args.glove} does not exist (a GloVe text file, e.g. 840B.300d)")
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if args.out.is_dir() and any(args.out.iterdir()) and not args.overwrite:
        parser.error(f"--out {args.out} is not empty; pass --overwrite to replace its files")

    if args.glove is not None:
        glove_dim = data.glove_dim(args.glove)
        if glove_dim != args.embedding_dim:
            parser.error(
                f"--glove {args.glove.name} holds {glove_dim}-d vectors (first line); "
                f"pass --embedding-dim {glove_dim} (got {args.embedding_dim})"
            )
    if args.data is None:
        texts, labels = data.synthetic_reviews(args.synthetic_size, seed=args.seed)
        source = f"synthetic corpus ({len(texts)} sentences)"
    else:
        try:
            texts, labels = data.load_polarity(args.data)
        except (FileNotFoundError, ValueError) as error:
            parser.error(str(error))
        source = f"{args.data} ({len(texts)} sentences)"
    if len(texts) < 10:
        parser.error(
            f"need at least 10 sentences for a 10% held-out split, {source} has {len(texts)}"
        )

    keras.utils.set_random_seed(args.seed)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    held_out = order[: max(1, len(texts) // 10)]
    train = order[len(held_out) :]
    _, vocab = data.vectorize([texts[i] for i in train], args.max_tokens, args.sequence_length)
    ids, _ = data.vectorize(texts, args.max_tokens, args.sequence_length, vocabulary=vocab)
    matrix = None
    if args.glove is not None:
        matrix, found = data.load_glove(args.glove, vocab, args.embedding_dim)
        print(f"GloVe: {found:.1%} of {len(vocab) - 2} words found in {args.glove.name}")
    model = build_textcnn(
        args.sequence_length,
        int(labels.max()) + 1,
        len(vocab),
        args.embedding_dim,
        num_filters=args.num_filters,
        feature_dim=args.feature_dim,
        pooling=args.pooling,
        embedding_matrix=matrix,
        trainable_embedding=not args.freeze_embedding,
    )
    model.fit(ids[train], labels[train], epochs=args.epochs, batch_size=args.batch_size, verbose=0)
    _, accuracy = model.evaluate(ids[held_out], labels[held_out], verbose=0)
    print(f"{source}: held-out accuracy {accuracy:.3f} on {len(held_out)} sentences")
    paths = activations.extract_to_disk(
        model,
        ids,
        layers=["extractor"],
        out_dir=args.out,
        batch_size=args.batch_size,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    _save_atomic(args.out / "labels.npy", labels)
    _save_json_atomic(
        args.out / "textcnn_run.json",
        {
            "source": source,
            "held_out_accuracy": float(accuracy),
            "held_out_index": held_out.tolist(),
        },
    )
    for name, path in sorted(paths.items()):
        print(f"wrote {name} features to {path}")
    print(f"wrote labels to {args.out / 'labels.npy'}")
    return 0


def _save_atomic(path: Path, array: np.ndarray) -> None:
    """np.save to a temporary name in the same folder, then rename, so no half-written file."""
    tmp = path.with_name(f".{path.name}.tmp.npy")
    np.save(tmp, array)
    os.replace(tmp, path)


def _save_json_atomic(path: Path, payload: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(payload, indent=1))
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main())
