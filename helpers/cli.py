"""The command line of the TextCNN: train one, or run Kim's (2014) protocol, and write features.

    python -m helpers.cli --data rt-polaritydata --out features --glove glove.840B.300d.txt
    python -m helpers.cli --preset kim-rand --data rt-polaritydata --out runs/mr

The model is `helpers.textcnn`'s, the protocol (``--preset``) `helpers.kim`'s; this module is
their one user at the top, so neither imports the other's command line. (``python -m
helpers.textcnn``, the command's old name, still runs it.)

Run as a command, it sets TF_CPP_MIN_LOG_LEVEL=3 (unless already set) before importing Keras,
which drops TensorFlow's C++ info logs; TF 2.21 still prints the few lines it logs before
absl::InitializeLog. Keras is imported only after the arguments are parsed, so ``--help`` and
usage errors print no TensorFlow lines at all. With ``--preset kim-rand`` it runs Kim's (2014)
protocol and writes ``results.json`` too. ``index.json`` in ``--out`` is written last: its
presence means the run finished.
"""

from __future__ import annotations

import os

if __name__ == "__main__":  # run as a command: no TensorFlow C++ start-up logs (set before keras)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import contextlib
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from helpers import textcnn

FORMATS = ("label-text", "trec", "sst", "sst-binary")
# every file a run may write into --out, but for index.json (activations.INDEX_FILE)
OUTPUTS = ("labels.npy", "textcnn_run.json", "results.json", "extractor.npy", "concat.npy")
# textcnn.build_textcnn's argument names -> the command-line options that set them
_FLAGS = {
    "sequence_length": "--sequence-length",
    "vocab_size": "--max-tokens",
    "embedding_size": "--embedding-dim",
    "num_filters": "--num-filters",
    "feature_dim": "--feature-dim",
}


class _Help(argparse.ArgumentDefaultsHelpFormatter):
    """Shows "(default: X)" after an option's help only where it has a default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:  # 0 is a default worth showing
            return action.help
        return super()._get_help_string(action)


def _folder(text: str) -> Path:
    """--out's value: a path; an empty one is refused (Path("") would be the working folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(
            f"{text!r} is an empty path; name the output folder, e.g. --out features "
            "(--out . for the working folder)"
        )
    return Path(text)


def _path(text: str) -> Path:
    """A data file's or folder's path; an empty one is refused (Path("") is the working folder,
    which would then be reported as the data)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is an empty path; name a file or folder")
    return Path(text)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.cli",
        formatter_class=_Help,
        description=(
            "Train a TextCNN and write the features of every sentence (the 'extractor' layer, "
            "or 'concat' for Kim's own model) and the labels to --out. Data: --data (a "
            "rt-polarity folder, or one file with --format), --class-files, or --train/--test "
            "files; without any, the offline synthetic corpus. Without --preset: one run, "
            "accuracy on a held-out tenth. With --preset kim-rand: Kim's (2014) protocol, "
            "K-fold cross-validation (--folds) or the given test split, early stopping on dev "
            "data only; per-fold and mean accuracy are printed and written to results.json."
        ),
    )
    source = parser.add_argument_group("data")
    source.add_argument(
        "--data",
        type=_path,
        help="a folder with rt-polarity.pos and rt-polarity.neg, or one file in --format",
    )
    source.add_argument(
        "--format",
        choices=FORMATS,
        help="format of --data (a file), --train, --dev and --test: 'LABEL text' lines, "
        "TREC's 'COARSE:fine question', or SST's PTB trees (sst-binary: SST-2; with --preset, "
        "--train's every labelled phrase is trained on, as Kim did)",
    )
    source.add_argument(
        "--class-files",
        type=_path,
        nargs="+",
        metavar="FILE",
        help="one sentence a line, one file per class: the i-th file's sentences get label i",
    )
    source.add_argument("--train", type=_path, help="training split (needs --test and --preset)")
    source.add_argument("--dev", type=_path, help="dev split, for early stopping only")
    source.add_argument("--test", type=_path, help="test split, scored once at the end")
    source.add_argument(
        "--encoding", help="text encoding of the data files (default: detected per file)"
    )
    source.add_argument(
        "--synthetic-size",
        type=int,
        help="sentences of the synthetic corpus, used when no data is given (default: 2000)",
    )
    protocol = parser.add_argument_group("Kim (2014) protocol")
    protocol.add_argument(
        "--preset",
        choices=("kim-rand", "kim-rand+extractor"),
        help="the paper's CNN-rand settings (windows 3/4/5 x 100 maps, max-over-time pooling, "
        "dropout 0.5, max-norm 3, batches of 50, Adadelta, random 300-d vectors, 25 epochs); "
        "'+extractor' adds the 100-d extractor layer, which is not part of Kim's model. The "
        "model options below are then ignored",
    )
    protocol.add_argument(
        "--folds",
        type=int,
        help="K for K-fold cross-validation of data without a test split (default: 10)",
    )
    protocol.add_argument(
        "--patience",
        type=int,
        help="stop after this many epochs without a better dev accuracy (default: never; "
        "the best dev epoch of all is kept)",
    )
    protocol.add_argument(
        "--keep-case",
        action="store_true",
        help="do not lower-case words, as Kim did for TREC (default: lower-case, except with "
        "--format trec; give it for TREC's 'label text' copy)",
    )
    model = parser.add_argument_group("model and training")
    model.add_argument(
        "--epochs", type=int, help="training epochs (default: 10; with --preset, the preset's 25)"
    )
    model.add_argument("--sequence-length", type=int, default=56, help="tokens per sentence")
    model.add_argument("--embedding-dim", type=int, default=300, help="word vector size")
    model.add_argument("--max-tokens", type=int, default=20000, help="vocabulary size")
    model.add_argument("--num-filters", type=int, default=50, help="maps per filter window")
    model.add_argument("--feature-dim", type=int, default=100, help="extractor layer size")
    model.add_argument("--pooling", choices=textcnn.POOLINGS, default="window", help="pooling kind")
    model.add_argument("--batch-size", type=int, default=50, help="sentences per batch")
    model.add_argument("--glove", type=_path, help="GloVe text file to initialise the embedding")
    model.add_argument("--freeze-embedding", action="store_true", help="keep GloVe vectors fixed")
    output = parser.add_argument_group("output")
    output.add_argument("--out", type=_folder, required=True, help="output folder")
    output.add_argument("--overwrite", action="store_true", help="replace files already in --out")
    output.add_argument("--seed", type=int, default=0, help="seed of splits and initial weights")
    output.add_argument("--quiet", action="store_true", help="no progress bar")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line. Every argument is checked before any data is read or model built;
    a malformed GloVe line, found only while reading the file, is reported the same way
    (a usage error, exit status 2).

    Writes ``labels.npy`` and ``textcnn_run.json`` first and the features last, so the
    ``index.json`` that ``extract_to_disk`` writes after them means the run finished (with
    ``--overwrite``, an old ``index.json`` is removed before anything is written). ``--out`` is
    locked (created if needed) before any data is read: a folder that cannot be written, or one
    another run is writing into, is a usage error at once, not after training."""
    parser = _parser()
    args = parser.parse_args(argv)

    from helpers import _files, data

    _check_sources(args, parser)
    for name in ("batch_size", "synthetic_size", "max_tokens"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.max_tokens < 3:
        parser.error(f"--max-tokens must be >= 3 (padding, [UNK], one word), got {args.max_tokens}")
    try:
        textcnn.param_formula(  # checks the model's arguments without building it
            args.sequence_length,
            2,
            args.max_tokens,
            args.embedding_dim,
            textcnn.FILTER_SIZES,
            args.num_filters,
            args.feature_dim,
            args.pooling,
            textcnn.POOL_SIZE,
        )
    except (TypeError, ValueError) as error:
        message = str(error)
        for name, flag in _FLAGS.items():
            message = message.replace(name, flag)
        parser.error(message)
    if args.glove is not None and not args.glove.exists():
        parser.error(f"--glove {args.glove} does not exist (a GloVe text file, e.g. 840B.300d)")
    if args.glove is not None and not args.glove.is_file():
        what = "a folder" if args.glove.is_dir() else "not a regular file"
        parser.error(
            f"--glove {args.glove} is not a file: it is {what} (a GloVe text file, e.g. 840B.300d)"
        )
    if args.out.exists() and not args.out.is_dir():
        parser.error(f"--out {args.out} exists and is not a folder")
    if args.out.is_dir() and _files_in(args.out) and not args.overwrite:
        parser.error(f"--out {args.out} is not empty; pass --overwrite to replace its files")
    folders = [n for n in (*OUTPUTS, "index.json") if (args.out / n).is_dir()]
    if folders:  # --overwrite would fail on them only after training
        parser.error(f"--out {args.out} holds folders named like its files: {', '.join(folders)}")
    if args.glove is not None:
        try:
            glove_dim = data.glove_dim(args.glove)
        except ValueError as error:
            parser.error(f"--glove: {error}")
        if glove_dim != args.embedding_dim:
            parser.error(
                f"--glove {args.glove.name} holds {glove_dim}-d vectors (first line); "
                f"pass --embedding-dim {glove_dim} (got {args.embedding_dim})"
            )
    created = not args.out.exists()
    with contextlib.ExitStack() as stack:
        try:  # before any training: a folder we cannot write, or one another run is writing
            stack.enter_context(_files.locked_folder(args.out, "--out"))
        except (OSError, _files.FolderBusyError) as error:
            parser.error(str(error))
        try:
            return _run(parser, args)
        except BaseException:
            if created and not _files_in(args.out):  # a failed run leaves no empty folder
                (args.out / _files.LOCK_FILE).unlink(missing_ok=True)
                args.out.rmdir()
            raise


def _files_in(folder: Path) -> list[str]:
    """What is in ``folder``, but for the lock file and an interrupted run's temporaries."""
    from helpers import _files

    stale = {p.name for p in _files.stale_partials(folder)}
    return [p.name for p in folder.iterdir() if p.name != _files.LOCK_FILE and p.name not in stale]


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """The command after its arguments are checked, with ``--out`` locked: data, training,
    then the files."""
    import keras

    from helpers import _files, activations, data

    splits, source = _read_data(args, parser)
    _check_labels(splits, source, parser)
    folds = args.folds or 10
    if args.preset is not None and "all" in splits and len(splits["all"][0]) < 2 * folds:
        parser.error(f"{folds}-fold cross-validation needs >= {2 * folds} sentences; {source}")
    if args.preset is not None:
        return _run_protocol(args, splits, source)
    texts, labels = splits["all"]
    if len(texts) < 10:
        parser.error(
            f"need at least 10 sentences for a 10% held-out split, {source} has {len(texts)}"
        )

    keras.utils.set_random_seed(args.seed)
    order = np.random.default_rng(args.seed).permutation(len(texts))
    held_out = order[: max(1, len(texts) // 10)]
    train = order[len(held_out) :]
    try:
        _, vocab = data.vectorize([texts[i] for i in train], args.max_tokens, args.sequence_length)
    except ValueError as error:  # e.g. no words at all
        parser.error(f"{source}: {error}")
    ids, _ = data.vectorize(texts, args.max_tokens, args.sequence_length, vocabulary=vocab)
    matrix = None
    if args.glove is not None:
        try:
            matrix, found = data.load_glove(args.glove, vocab, args.embedding_dim)
        except ValueError as error:
            parser.error(f"--glove: {error}")
        print(f"GloVe: {found:.1%} of {len(vocab) - 2} words found in {args.glove.name}")
    model = textcnn.build_textcnn(
        args.sequence_length,
        int(labels.max()) + 1,
        len(vocab),
        args.embedding_dim,
        filter_sizes=textcnn.FILTER_SIZES,
        num_filters=args.num_filters,
        feature_dim=args.feature_dim,
        pooling=args.pooling,
        pool_size=textcnn.POOL_SIZE,
        embedding_matrix=matrix,
        trainable_embedding=not args.freeze_embedding,
    )
    epochs = 10 if args.epochs is None else args.epochs
    model.fit(ids[train], labels[train], epochs=epochs, batch_size=args.batch_size, verbose=0)
    _, accuracy = model.evaluate(ids[held_out], labels[held_out], verbose=0)
    print(f"{source}: held-out accuracy {accuracy:.3f} on {len(held_out)} sentences")

    _clear_outputs(args.out)
    _files.save_npy(args.out / "labels.npy", labels)
    _files.write_json(
        args.out / "textcnn_run.json",
        {
            "source": source,
            "held_out_accuracy": float(accuracy),
            "held_out_index": held_out.tolist(),
        },
    )
    paths = activations.extract_to_disk(
        model,
        ids,
        layers=["extractor"],
        out_dir=args.out,
        batch_size=args.batch_size,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    for name, path in sorted(paths.items()):
        print(f"wrote {name} features to {path}")
    print(f"wrote labels to {args.out / 'labels.npy'}")
    return 0


def _check_labels(
    splits: dict[str, tuple[list[str], np.ndarray]], source: str, parser: argparse.ArgumentParser
) -> None:
    """Usage errors, before any training, for labels a classifier cannot learn from: one class
    only (in the training data), or labels asking for more classes than there are sentences."""
    train = splits["all" if "all" in splits else "train"][1]
    if len(np.unique(train)) < 2:
        parser.error(f"{source}: every label is {train[0]}; a classifier needs 2 classes or more")
    labels = np.concatenate([split[1] for split in splits.values()])
    top, classes = int(labels.max()), np.unique(labels)
    if top + 1 > len(labels):
        parser.error(
            f"{source}: the labels go up to {top}, which asks for {top + 1} classes, more than "
            f"the {len(labels)} sentences; number the {len(classes)} classes 0..{len(classes) - 1}"
        )


def _clear_outputs(out: Path) -> None:
    """Create ``out``, and remove what an earlier run of this command wrote there (``index.json``
    first: the folder is not finished until it is rewritten), so that no file of an older run
    (results.json of a --preset run, concat.npy) is left beside the new ones."""
    from helpers import activations

    out.mkdir(parents=True, exist_ok=True)
    for name in (activations.INDEX_FILE, *OUTPUTS):
        (out / name).unlink(missing_ok=True)


def _check_sources(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Usage errors for data and protocol options that do not go together, before any work."""
    given = [
        flag
        for flag, value in (
            ("--data", args.data),
            ("--class-files", args.class_files),
            ("--train", args.train),
        )
        if value is not None
    ]
    if len(given) > 1:
        parser.error(f"give one source of data, not {' and '.join(given)}")
    if (args.dev is not None or args.test is not None) and args.train is None:
        parser.error("--dev and --test go with --train (the training split)")
    if args.train is not None and args.test is None:
        parser.error("--train needs --test: the split that is scored")
    files = (("--train", args.train), ("--dev", args.dev), ("--test", args.test))
    splits = [(flag, path) for flag, path in files if path is not None]
    for k, (flag, path) in enumerate(splits):
        for other, other_path in splits[k + 1 :]:
            if path.exists() and other_path.exists() and path.samefile(other_path):
                parser.error(
                    f"{flag} and {other} are the same file ({path}): the scores would be of "
                    "sentences the model was trained or tuned on; give each split its own file"
                )
    needs_format = args.train is not None or (args.data is not None and not args.data.is_dir())
    if args.data is not None and not args.data.exists():
        parser.error(f"--data {args.data} does not exist (a rt-polarity folder or a data file)")
    if needs_format and args.format is None:
        parser.error(f"--format is needed for data files; one of {', '.join(FORMATS)}")
    if args.format is not None and not needs_format:
        parser.error("--format applies to --data FILE and --train/--dev/--test only")
    if args.preset is None:
        for flag, value in (
            ("--train", args.train),
            ("--folds", args.folds),
            ("--patience", args.patience),
            ("--keep-case", args.keep_case or None),
        ):
            if value is not None:
                parser.error(f"{flag} is part of Kim's protocol: add --preset kim-rand")
    else:
        if args.glove is not None:
            parser.error("--preset kim-rand uses random word vectors (CNN-rand); drop --glove")
        if args.folds is not None and args.train is not None:
            parser.error("--folds is for data without a test split; --train/--test has one")
    if args.synthetic_size is not None and given:
        parser.error(
            f"--synthetic-size is for the synthetic corpus; it does not apply to {given[0]}"
        )
    if args.synthetic_size is None:
        args.synthetic_size = 2000
    if args.encoding is not None and not given:  # the synthetic corpus has no files
        parser.error("--encoding applies to data files (--data, --class-files, --train/--test)")
    runs = (args.folds or 10) if args.preset is not None and args.train is None else 1
    if not 0 <= args.seed <= 2**32 - runs:
        parser.error(
            f"--seed must be from 0 to {2**32 - runs} (NumPy takes seeds up to 2**32 - 1"
            f"{'; fold k uses seed + k' if runs > 1 else ''}), got {args.seed}"
        )
    for flag, value, minimum in (
        ("--epochs", args.epochs, 1),
        ("--patience", args.patience, 1),
        ("--folds", args.folds, 2),
    ):
        if value is not None and value < minimum:
            parser.error(f"{flag} must be >= {minimum}, got {value}")


def _read_data(
    args: argparse.Namespace, parser: argparse.ArgumentParser
) -> tuple[dict[str, tuple[list[str], np.ndarray]], str]:
    """The sentences and labels of the chosen source, by split ("all", or "train", "dev",
    "test"), and a description of it; a data error becomes a usage error (exit status 2)."""
    from helpers import data

    readers = {
        "label-text": data.load_labeled,
        "trec": data.load_trec,
        "sst": lambda path, encoding: data.load_sst(path, False, encoding),
        "sst-binary": lambda path, encoding: data.load_sst(path, True, encoding),
    }
    try:
        if args.train is not None:
            files = {"train": args.train, "dev": args.dev, "test": args.test}
            read = readers[args.format]
            splits = {k: read(path, args.encoding) for k, path in files.items() if path}
            source = ", ".join(f"{k} {files[k]} ({len(v[0])})" for k, v in splits.items())
            if args.preset is not None and args.format in ("sst", "sst-binary"):
                # Kim's protocol trains SST on every labelled phrase of the training trees
                splits["train"] = data.load_sst_trees(
                    args.train, args.format == "sst-binary", True, args.dev, args.encoding
                )
                source += f"; trained on its {len(splits['train'][0])} labelled phrases"
            return splits, source
        if args.class_files is not None:
            splits = {"all": data.load_class_files(args.class_files, args.encoding)}
        elif args.data is None:
            splits = {"all": data.synthetic_reviews(args.synthetic_size, seed=args.seed)}
            return splits, f"synthetic corpus ({len(splits['all'][0])} sentences)"
        elif args.data.is_dir():
            splits = {"all": data.load_polarity(args.data, args.encoding)}
        else:
            splits = {"all": readers[args.format](args.data, args.encoding)}
    except (OSError, ValueError) as error:
        parser.error(str(error))
    what = args.data if args.data is not None else " ".join(map(str, args.class_files))
    return splits, f"{what} ({len(splits['all'][0])} sentences)"


def _run_protocol(
    args: argparse.Namespace, splits: dict[str, tuple[list[str], np.ndarray]], source: str
) -> int:
    """``--preset``: Kim's protocol on the data; results.json, labels and features to --out."""
    from helpers import _files, activations, kim

    preset = kim.get_preset(args.preset)
    print(f"{preset.name}: {preset.description}")
    options = {"epochs": args.epochs, "patience": args.patience, "seed": args.seed}
    options["lowercase"] = not (args.keep_case or args.format == "trec")  # Kim: TREC keeps case
    if "all" in splits:
        texts, labels = splits["all"]
        result = kim.cross_validate(texts, labels, args.folds or 10, preset, **options)
        fit, dev = kim.dev_split(np.arange(len(texts)), preset.dev_fraction, args.seed)
        run = kim.train(
            ([texts[i] for i in fit], labels[fit]),
            ([texts[i] for i in dev], labels[dev]),
            int(labels.max()) + 1,
            preset,
            sequence_length=kim.sentence_length(texts),
            **options,
        )
        features_from = "a final model trained on all sentences, a random tenth as dev"
    else:
        result, run = kim.train_dev_test(
            splits["train"], splits["test"], splits.get("dev"), preset, **options
        )
        features_from = "the model that was scored on the test split"
    spread = "" if result["accuracy_std"] is None else f" ± {result['accuracy_std']:.3f}"
    print(f"{source}: accuracy {result['accuracy_mean']:.3f}{spread} ({result['protocol']})")

    names = list(splits)
    texts = [text for name in names for text in splits[name][0]]
    labels = np.concatenate([splits[name][1] for name in names])
    layer = "extractor" if preset.feature_dim is not None else "concat"
    _clear_outputs(args.out)
    _files.save_npy(args.out / "labels.npy", labels)
    result.update(
        source=source,
        rows={name: len(splits[name][0]) for name in names},
        features=f"layer {layer!r} of {features_from}",
    )
    _files.write_json(args.out / "results.json", result)
    paths = activations.extract_to_disk(
        run.model,
        run.encode(texts),
        layers=[layer],
        out_dir=args.out,
        batch_size=256,
        progress=not args.quiet,
        overwrite=args.overwrite,
    )
    print(f"wrote results.json, labels.npy and {layer} features to {paths[layer].parent}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
