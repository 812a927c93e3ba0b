"""Kim (2014)'s evaluation protocol for the TextCNN, and the seven benchmarks of its Table 2.

The CNN-rand preset (filter windows 3, 4, 5 with 100 maps each, ReLU, max-over-time pooling,
dropout 0.5, max-norm 3 on the softmax weights, mini-batches of 50, Adadelta, random 300-d word
vectors); K-fold cross-validation where a dataset has no test split; early stopping on a dev
split carved from the training data only, so test sentences never choose anything.

    >>> texts, labels = data.synthetic_reviews(400)
    >>> result = cross_validate(texts, labels, folds=2, epochs=1, report=None)
    >>> len(result["folds"]), 0 <= result["accuracy_mean"] <= 1
    (2, True)

As in Kim's code, sentences are split into words by ``tokenize`` (his cleaning: punctuation
other than ``, ! ? ( )`` dropped, clitics such as ``'s`` and ``n't`` split off, lower-cased except
for TREC), and the convolutions are "wide", as his: each window size k sees the sentence with
k - 1 zero vectors on either side, so the widest filter also sees the first and last words at
every offset, and the padding adds nothing (Kim's code resets the padding vector to zero after
every step; here the model embeds id 0 to zeros, so that vector gets no gradient at all). The
model is built as his code builds it (``textcnn.build_textcnn(kim_code=True)``), which pads
each window size itself, so a batch is only as wide as its longest sentence; his
initialisers, and his dropout, which is not scaled up in training, so that max-norm 3 limits the
weights his limit does (with Keras' inverted dropout it would be his 6). Two small differences: the
vocabulary comes from the training sentences of each fold (test-only words become ``[UNK]``; Kim
gave them random vectors that were never trained), and SST goes through the same ``tokenize``
(Kim's SST cleaning did not split symbols, so ``1,000`` stays one word there; the treebank is
already split into words, so little else changes).
"""

from __future__ import annotations

import math
import numbers
import re
import time
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import keras
import numpy as np

from helpers import data, textcnn
from helpers._checks import check_bool, check_int, check_path
from helpers.sparse_table import SparseAdadelta

Report = Callable[[str], object] | None
_DROPPED = re.compile(r"[^A-Za-z0-9(),!?'`]")  # every other character becomes a space
_CLITIC = re.compile(r"('s|'ve|n't|'re|'d|'ll)")
_SYMBOL = re.compile(r"([,!?()])")  # Kim's code writes these three as \( \) \?: the same words


@dataclass(frozen=True)
class Preset:
    """A TextCNN configuration and the way it is trained; ``KIM_RAND`` is the paper's."""

    name: str
    description: str
    filter_sizes: tuple[int, ...] = (3, 4, 5)
    num_filters: int = 100
    embedding_size: int = 300
    embedding_range: float = 0.25  # random word vectors ~ U[-a, a], as in Kim's code
    feature_dim: int | None = None  # None: Kim's model, no 100-d extractor layer
    dropout: float = 0.5
    max_norm: float | None = 3.0
    batch_size: int = 50
    epochs: int = 25
    dev_fraction: float = 0.1
    rho: float = 0.95  # Adadelta's decay (Kim's lr_decay); learning rate 1.0 as in Adadelta
    epsilon: float = 1e-6

    def __post_init__(self) -> None:
        """Every field checked when the preset is made, before any training."""
        for name in ("name", "description"):
            if not isinstance(getattr(self, name), str):
                raise TypeError(f"{name} must be a str; got {getattr(self, name)!r}")
        for name in ("num_filters", "embedding_size", "batch_size", "epochs"):
            check_int(name, getattr(self, name))
        check_int("feature_dim", self.feature_dim, allow_none=True)
        if isinstance(self.filter_sizes, str) or not isinstance(self.filter_sizes, Sequence):
            raise TypeError(f"filter_sizes must be a tuple of ints, got {self.filter_sizes!r}")
        if not self.filter_sizes:
            raise ValueError("filter_sizes must hold at least one window size, got ()")
        for size in self.filter_sizes:
            check_int("each filter size", size)
        if len(set(self.filter_sizes)) != len(self.filter_sizes):
            raise ValueError(
                f"filter_sizes must be distinct (they name the layers), got {self.filter_sizes!r}"
            )
        for name, low, high, note in (
            ("embedding_range", 0, math.inf, "> 0 (vectors ~ U[-a, a])"),
            ("dropout", 0, 1, "in [0, 1)"),
            ("dev_fraction", 0, 0.5, "in (0, 0.5]: the dev split only picks the epoch"),
            ("rho", 0, 1, "in (0, 1)"),
            ("epsilon", 0, math.inf, "> 0"),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must be a number {note}; got {value!r}")
            inside = low <= value < high if name == "dropout" else low < value < high
            if name == "dev_fraction":
                inside = low < value <= high
            if not inside:
                raise ValueError(f"{name} must be {note}; got {value!r}")
        if self.max_norm is not None and (
            isinstance(self.max_norm, bool)
            or not isinstance(self.max_norm, numbers.Real)
            or not 0 < self.max_norm < math.inf
        ):
            raise ValueError(f"max_norm must be a positive number or None; got {self.max_norm!r}")


KIM_RAND = Preset(
    "kim-rand",
    "Kim (2014) CNN-rand: random 300-d vectors, windows 3/4/5 x 100 maps, ReLU, max-over-time "
    "pooling, dropout 0.5, max-norm 3, batches of 50, Adadelta; no 100-d extractor layer",
)
KIM_RAND_EXTRACTOR = replace(
    KIM_RAND,
    name="kim-rand+extractor",
    description="CNN-rand with this collection's Dense(100, relu) 'extractor' layer added "
    "before the dropout (not part of Kim's model)",
    feature_dim=100,
)
PRESETS = {preset.name: preset for preset in (KIM_RAND, KIM_RAND_EXTRACTOR)}


def get_preset(preset: str | Preset) -> Preset:
    """A Preset, given one or its name (``"kim-rand"`` or ``"kim-rand+extractor"``)."""
    if isinstance(preset, Preset):
        return preset
    if not isinstance(preset, str):
        raise TypeError(
            f"preset must be a Preset or one of the names {sorted(PRESETS)}; got "
            f"{type(preset).__name__} {preset!r}"
        )
    if preset not in PRESETS:
        raise ValueError(f"unknown preset {preset!r}; known: {sorted(PRESETS)}")
    return PRESETS[preset]


class NonAsciiWarning(UserWarning):
    """Kim's tokenizer dropped letters or digits outside ASCII (``naïve`` -> ``na ve``).

    Turn it into an error with ``warnings.simplefilter("error", kim.NonAsciiWarning)``."""


def dropped_letters(texts: Sequence[str]) -> tuple[int, str | None]:
    """How many of ``texts`` hold letters or digits that ``tokenize`` drops (any outside ASCII),
    and the first such text.

    >>> dropped_letters(["a film", "naïve café"])
    (1, 'naïve café')
    """
    hit = [
        text
        for text in texts
        if not text.isascii() and any(not c.isascii() and c.isalnum() for c in text)
    ]
    return len(hit), (hit[0] if hit else None)


def _check_words(texts: Sequence[str], what: str) -> None:
    """Warn (NonAsciiWarning) when ``tokenize`` drops non-ASCII letters; refuse texts in which
    it keeps no word at all."""
    count, example = dropped_letters(texts)
    if count:
        warnings.warn(
            f"{what}: {count} of {len(texts)} sentences hold letters or digits outside ASCII, "
            f"which Kim's tokenizer drops (e.g. {example[:50]!r} -> {tokenize(example)[:8]}). "
            "Kim's cleaning is for his English benchmarks; other languages lose their words.",
            NonAsciiWarning,
            stacklevel=3,
        )
    if not any(tokenize(text) for text in texts):
        raise ValueError(
            f"{what}: no sentence has a word that Kim's tokenizer keeps (ASCII letters, digits, "
            f"( ) , ! ?), e.g. {texts[0][:50]!r}; tokenize is for English text"
        )


def tokenize(text: str, lowercase: bool = True) -> list[str]:
    """The words of ``text`` as Kim's preprocessing splits them: characters other than letters,
    digits and ``( ) , ! ? ' ` `` become spaces, the clitics ``'s 've n't 're 'd 'll`` and the
    symbols ``, ! ? ( )`` become words of their own (Kim lower-cased every dataset but TREC).
    Letters outside ASCII are dropped, as in Kim's code: ``train``, ``cross_validate`` and
    ``train_dev_test`` warn (``NonAsciiWarning``) when that happens.

    >>> tokenize("It's a mass-market film, isn't it?")
    ['it', "'s", 'a', 'mass', 'market', 'film', ',', 'is', "n't", 'it', '?']
    """
    lowercase = check_bool("lowercase", lowercase)
    if not isinstance(text, str):
        raise TypeError(f"tokenize takes one sentence, a str; got {type(text).__name__} {text!r}")
    text = _SYMBOL.sub(r" \1 ", _CLITIC.sub(r" \1", _DROPPED.sub(" ", text)))
    return (text.lower() if lowercase else text).split()


def _sentences(texts: object, what: str, *, allow_empty: bool = True) -> None:
    """TypeError unless ``texts`` is a list of str (a str alone would be read letter by letter);
    ValueError for an empty one unless ``allow_empty``."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{what} must be a list of sentences (str); got {type(texts).__name__} "
            f"{str(texts)[:40]!r}"
        )
    if not texts and not allow_empty:
        raise ValueError(f"{what} is empty; pass at least one sentence")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"{what} must hold only str; one is {type(bad).__name__} {bad!r}")


def sentence_length(texts: Sequence[str]) -> int:
    """Words in the longest sentence, as ``tokenize`` splits them (Kim pads to it).

    >>> sentence_length(["a good film .", "bad"])
    3
    """
    _sentences(texts, "texts", allow_empty=False)
    return max(len(tokenize(text)) for text in texts)  # case does not change the count


def build_vocabulary(texts: Sequence[str], lowercase: bool = True) -> list[str]:
    """``["", "[UNK]"]`` (ids 0 and 1) and every word of ``texts``, most frequent first.

    >>> build_vocabulary(["a b a", "c"])
    ['', '[UNK]', 'a', 'b', 'c']
    """
    _sentences(texts, "texts", allow_empty=False)
    counts = Counter(word for text in texts for word in tokenize(text, lowercase))
    return ["", "[UNK]", *sorted(counts, key=lambda word: (-counts[word], word))]


def fold_indices(n: int, folds: int, seed: int = 0) -> list[np.ndarray]:
    """The test indices of each of ``folds`` folds: a seeded shuffle of ``range(n)`` cut into
    near-equal parts, each index in exactly one fold.

    >>> [len(f) for f in fold_indices(10, 3)]
    [4, 3, 3]
    """
    n = check_int("n", n)
    folds = check_int("folds", folds, minimum=2)
    if folds > n:
        raise ValueError(f"folds={folds} is more than the {n} sentences")
    order = np.random.default_rng(check_int("seed", seed, minimum=0)).permutation(n)
    return [np.sort(part) for part in np.array_split(order, folds)]


def dev_split(indices: np.ndarray, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``indices`` split at random into (fit, dev), dev holding ``fraction`` of them (>= 1).

    >>> fit, dev = dev_split(np.arange(20), 0.1)
    >>> len(fit), len(dev)
    (18, 2)
    """
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"the dev fraction must be a number in (0, 1), got {fraction!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"the dev fraction must be in (0, 1), got {fraction!r}")
    seed = check_int("seed", seed, minimum=0)
    indices = np.asarray(indices)
    if indices.ndim != 1:
        raise ValueError(f"indices must be a 1-d array, got shape {indices.shape}")
    if indices.size and not np.issubdtype(indices.dtype, np.integer):
        raise TypeError(f"indices must be integers (sentence numbers), got dtype {indices.dtype}")
    if indices.size and (indices.min() < 0 or len(np.unique(indices)) != len(indices)):
        raise ValueError(
            "indices must be distinct sentence numbers >= 0 (a repeated one would be in both "
            f"splits); got {indices[:8].tolist()}{' ...' if len(indices) > 8 else ''}"
        )
    if len(indices) < 2:
        raise ValueError(f"need at least 2 training sentences for a dev split, got {len(indices)}")
    shuffled = np.random.default_rng(seed).permutation(indices)
    size = max(1, round(len(indices) * fraction))
    if size >= len(indices):
        raise ValueError(
            f"a dev fraction of {fraction} of {len(indices)} sentences leaves none to train on; "
            f"use a fraction below {(len(indices) - 0.5) / len(indices):.3g}"
        )
    return np.sort(shuffled[size:]), np.sort(shuffled[:size])


def encode(
    texts: Sequence[str], vocabulary: list[str], length: int, pad: int, lowercase: bool = True
) -> np.ndarray:
    """Word ids, ``(len(texts), pad + length + pad)``: ``pad`` zeros in front, the sentence cut
    to ``length`` words (unknown words are 1, ``[UNK]``), then zeros to the end.

    >>> encode(["b a", "z"], ["", "[UNK]", "a", "b"], length=2, pad=1)
    array([[0, 3, 2, 0],
           [0, 1, 0, 0]], dtype=int32)
    """
    length = check_int("length", length)
    pad = check_int("pad", pad, minimum=0)
    lowercase = check_bool("lowercase", lowercase)
    _sentences(texts, "texts")
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence | np.ndarray):
        raise TypeError(
            f"vocabulary must be a list of words as build_vocabulary gives it; got "
            f"{type(vocabulary).__name__}"
        )
    vocabulary = list(vocabulary)
    if vocabulary[:2] != ["", "[UNK]"]:
        raise ValueError(
            f"vocabulary must start with '' (padding, id 0) and '[UNK]' (id 1), as "
            f"build_vocabulary gives it; got {vocabulary[:2]!r}"
        )
    if not all(isinstance(word, str) for word in vocabulary):
        raise TypeError("vocabulary must hold only words (str)")
    if len(set(vocabulary)) != len(vocabulary):
        repeated = sorted({w for w in vocabulary if vocabulary.count(w) > 1})
        raise ValueError(f"vocabulary repeats {repeated[:5]}; each word needs one id")
    unmatchable = [w for w in vocabulary[2:] if tokenize(w, lowercase) != [w]]
    if unmatchable:
        raise ValueError(
            f"vocabulary holds {len(unmatchable)} word(s) that tokenize "
            f"(lowercase={lowercase}) never produces, e.g. {unmatchable[:3]}, so their ids would "
            "never be used (a vocabulary from data.vectorize goes with data.vectorize); build "
            "it with build_vocabulary"
        )
    index = {word: i for i, word in enumerate(vocabulary)}
    ids = np.zeros((len(texts), length + 2 * pad), dtype=np.int32)
    for row, text in enumerate(texts):
        words = tokenize(text, lowercase)[:length]
        ids[row, pad : pad + len(words)] = [index.get(word, 1) for word in words]
    return ids


@keras.saving.register_keras_serializable(package="helpers")
class PaddingStaysZero(keras.constraints.Constraint):
    """Keeps row 0 of an embedding matrix (the padding word's vector) at zero after each update,
    as Kim's code does, so padding adds nothing to a convolution window (``train`` now masks the
    padding instead, which spares a pass over the whole matrix each step; models saved with this
    constraint still load).

    >>> keras.ops.convert_to_numpy(PaddingStaysZero()(keras.ops.ones((2, 2)))).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """

    def __call__(self, w: object) -> object:
        keep = keras.ops.cast(keras.ops.arange(keras.ops.shape(w)[0]) > 0, w.dtype)
        return w * keras.ops.expand_dims(keep, 1)


def word_ids(
    texts: Sequence[str], vocabulary: list[str], length: int, lowercase: bool = True
) -> list[np.ndarray]:
    """Each text's word ids without padding, cut to ``length`` words (``[UNK]`` is 1).

    >>> [ids.tolist() for ids in word_ids(["b a", "z"], ["", "[UNK]", "a", "b"], 5)]
    [[3, 2], [1]]
    """
    return [ids[ids > 0] for ids in encode(texts, vocabulary, length, 0, lowercase)]


class LengthBatches:
    """Mini-batches of sentences of similar length, each padded only to its own longest.

    A row is ``pad`` zeros, the sentence, then zeros to the batch's longest sentence plus
    ``pad``. The model ``train`` builds (``textcnn.build_textcnn(kim_code=True)``) pads each
    window size itself and embeds id 0 to zeros, so more zeros change none of its logits: padding
    per batch only skips work, and ``pad=0`` skips the most. ``seed=None``: in length order, for
    scoring (``order`` maps rows back); a seed: training order, reshuffled every epoch, with
    sentences of similar length in a batch (sorted within pools of 20 batches) and the batches in
    random order.

    >>> batches = LengthBatches([np.array([5, 6]), np.array([7])], np.array([1, 0]), 50, pad=4)
    >>> batches[0][0].shape
    (2, 10)
    """

    def __init__(
        self,
        ids: list[np.ndarray],
        labels: np.ndarray | None,
        batch_size: int,
        pad: int,
        seed: int | None = None,
    ) -> None:
        self.ids, self.labels, self.pad = ids, labels, check_int("pad", pad, minimum=0)
        self.batch_size = check_int("batch_size", batch_size)
        self.lengths = np.array([len(row) for row in ids])
        self.rng = (
            None if seed is None else np.random.default_rng(check_int("seed", seed, minimum=0))
        )
        self.on_epoch_end()

    def on_epoch_end(self) -> None:
        """A new arrangement: pools of sentences by length, cut into batches, shuffled."""
        if self.rng is None:
            order = np.argsort(self.lengths, kind="stable")
        else:
            pools = np.array_split(
                self.rng.permutation(len(self.ids)), max(1, len(self.ids) // (20 * self.batch_size))
            )
            order = np.concatenate([p[np.argsort(self.lengths[p], kind="stable")] for p in pools])
        batches = [order[i : i + self.batch_size] for i in range(0, len(order), self.batch_size)]
        if self.rng is not None:
            batches = [batches[i] for i in self.rng.permutation(len(batches))]
        self.batches = batches
        self.order = np.concatenate(batches)

    def _width(self, batch: np.ndarray) -> int:
        return max(1, 2 * self.pad + int(self.lengths[batch].max()))

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        batch = self.batches[index]
        x = np.zeros((len(batch), self._width(batch)), dtype=np.int32)
        for row, i in enumerate(batch):
            x[row, self.pad : self.pad + self.lengths[i]] = self.ids[i]
        return (x,) if self.labels is None else (x, self.labels[batch])


def predict(
    model: keras.Model, ids: list[np.ndarray], pad: int = 0, batch_size: int = 256
) -> np.ndarray:
    """The model's class probabilities for each sentence (rows in the order of ``ids``),
    scored in batches of similar length, each padded to its own longest (``LengthBatches``; a
    model from ``train`` needs no ``pad``, it pads each window size itself)."""
    batches = LengthBatches(ids, None, batch_size, pad)
    scores = np.concatenate(
        [keras.ops.convert_to_numpy(model.predict_on_batch(batch[0])) for batch in batches]
    )
    out = np.empty_like(scores)
    out[batches.order] = scores
    return out


@dataclass
class Trained:
    """A model trained by ``train``, the vocabulary and length its inputs need, and its run."""

    model: keras.Model
    vocabulary: list[str]
    sequence_length: int  # sentences are cut to this many words
    pad: int
    best_epoch: int
    epochs_run: int
    history: dict[str, list[float]] = field(repr=False)
    lowercase: bool = True

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Token ids of ``texts`` for this model, with Kim's padding on both sides."""
        return encode(texts, self.vocabulary, self.sequence_length, self.pad, self.lowercase)

    def accuracy(self, texts: Sequence[str], labels: np.ndarray) -> float:
        """The model's accuracy on ``texts`` (scored in batches of similar length)."""
        texts, labels = _checked(texts, labels, "the scored")
        classes = self.model.output_shape[-1]
        if labels.max() >= classes:
            raise ValueError(
                f"a label is {int(labels.max())}, but the model has {classes} classes (0.."
                f"{classes - 1})"
            )
        ids = word_ids(texts, self.vocabulary, self.sequence_length, self.lowercase)
        scores = predict(self.model, ids)
        return float(np.mean(scores.argmax(axis=1) == labels))


def train(
    fit: tuple[Sequence[str], np.ndarray],
    dev: tuple[Sequence[str], np.ndarray],
    num_classes: int,
    preset: str | Preset = KIM_RAND,
    *,
    sequence_length: int | None = None,
    epochs: int | None = None,
    patience: int | None = None,
    seed: int = 0,
    lowercase: bool = True,
    report: Report = None,
) -> Trained:
    """Train one TextCNN on ``fit`` and keep the weights of its best epoch on ``dev``.

    The vocabulary is that of the ``fit`` sentences. Training runs ``epochs`` epochs (the
    preset's, 25 for Kim's) and stops early after ``patience`` epochs without a better dev
    accuracy (None: never, as in the paper, which reports the best dev epoch of all).
    ``lowercase=False`` keeps the case of words, as Kim did for TREC. ``report`` gets one line
    per epoch (dev accuracy and seconds; None: silent). Sentences are cut to
    ``sequence_length`` words (default: the longest ``fit`` sentence): pass the length of the
    longest sentence you will score, as ``cross_validate`` and ``train_dev_test`` do.

    >>> run = train((texts, labels), (dev_texts, dev_labels), 2)  # doctest: +SKIP
    >>> run.accuracy(test_texts, test_labels)  # doctest: +SKIP
    """
    preset = get_preset(preset)
    epochs = check_int("epochs", preset.epochs if epochs is None else epochs)
    patience = check_int("patience", patience, allow_none=True)
    lowercase = check_bool("lowercase", lowercase)
    seed = _check_seed(seed)
    sequence_length = check_int("sequence_length", sequence_length, allow_none=True)
    num_classes = check_int("num_classes", num_classes, minimum=2)
    fit_texts, fit_labels = _checked(*_pair(fit, "fit"), "the fit")
    dev_texts, dev_labels = _checked(*_pair(dev, "dev"), "the dev")
    _two_classes(fit_labels, "the fit")
    sentences = len(fit_texts) + len(dev_texts)
    if num_classes > sentences:  # one output per class: 10**9 of them ran out of memory
        raise ValueError(
            f"num_classes={num_classes} is more than the {sentences} fit and dev sentences; "
            "pass the number of classes, labelled 0..num_classes-1"
        )
    top = int(max(fit_labels.max(), dev_labels.max()))
    if top >= num_classes:
        raise ValueError(
            f"num_classes={num_classes}, but a label is {top}: labels must be below it"
        )
    _check_words(fit_texts, "the fit sentences")
    length = sequence_length or sentence_length(fit_texts)
    pad = max(preset.filter_sizes) - 1
    keras.backend.clear_session()
    keras.utils.set_random_seed(seed)
    vocabulary = build_vocabulary(fit_texts, lowercase)
    fit_batches = LengthBatches(
        word_ids(fit_texts, vocabulary, length, lowercase), fit_labels, preset.batch_size, 0, seed
    )
    rng = np.random.default_rng(seed)
    vectors = rng.uniform(
        -preset.embedding_range,
        preset.embedding_range,
        size=(len(vocabulary), preset.embedding_size),
    )
    vectors[0] = 0.0  # padding starts at zero, as in Kim's code
    model = textcnn.build_textcnn(
        None,  # any length: each batch is padded to its own longest sentence
        num_classes,
        len(vocabulary),
        preset.embedding_size,
        filter_sizes=preset.filter_sizes,
        num_filters=preset.num_filters,
        feature_dim=preset.feature_dim,
        pooling="max_over_time",
        dropout=preset.dropout,
        embedding_matrix=vectors,
        max_norm=preset.max_norm,
        kim_code=True,  # his initialisers, dropout and max-norm units; padding embeds to zero
    )
    model.compile(
        optimizer=SparseAdadelta(learning_rate=1.0, rho=preset.rho, epsilon=preset.epsilon),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    dev_ids = word_ids(dev_texts, vocabulary, length, lowercase)
    patience = epochs if patience is None else patience
    history: dict[str, list[float]] = {"loss": [], "accuracy": [], "val_accuracy": []}
    best_epoch, best_weights = 0, None
    for epoch in range(epochs):
        # train_on_batch, not fit: fit's tf.data pipeline cost 2.5x the CPU time per step here
        clock = time.perf_counter()
        sizes, losses, hits = [], [], []
        for index in range(len(fit_batches)):
            x, y = fit_batches[index]
            logs = model.train_on_batch(x, y, return_dict=True)
            sizes.append(len(y))
            losses.append(float(logs["loss"]))
            hits.append(float(logs["accuracy"]))
        fit_batches.on_epoch_end()  # the next epoch's batches
        dev_accuracy = float(np.mean(predict(model, dev_ids).argmax(1) == dev_labels))
        history["loss"].append(float(np.average(losses, weights=sizes)))
        history["accuracy"].append(float(np.average(hits, weights=sizes)))
        history["val_accuracy"].append(dev_accuracy)
        if report is not None:
            report(
                f"  epoch {epoch + 1}: loss {history['loss'][-1]:.4f}, dev accuracy "
                f"{dev_accuracy:.4f} ({time.perf_counter() - clock:.0f} s)"
            )
        # a tie goes to the later epoch, as in Kim's code (>=)
        if best_weights is None or dev_accuracy >= history["val_accuracy"][best_epoch]:
            best_epoch, best_weights = epoch, model.get_weights()
        elif epoch - best_epoch >= patience:
            break
    model.set_weights(best_weights)  # the best dev epoch's weights, as in the paper
    return Trained(
        model=model,
        vocabulary=vocabulary,
        sequence_length=length,
        pad=pad,
        best_epoch=best_epoch + 1,
        epochs_run=len(history["loss"]),
        history=history,
        lowercase=lowercase,
    )


def _summary(
    preset: Preset, protocol: str, runs: list[dict], started: float, lowercase: bool
) -> dict:
    accuracies = np.array([run["accuracy"] for run in runs])
    return {
        "preset": preset.name,
        "model": preset.description,
        "protocol": protocol,
        "lowercase": lowercase,
        "folds": runs,
        "accuracy_mean": float(accuracies.mean()),
        "accuracy_std": float(accuracies.std(ddof=1)) if len(runs) > 1 else None,
        "seconds": round(time.perf_counter() - started, 1),
    }


_MAX_SEED = 2**32 - 1  # NumPy's legacy seeding, which keras.utils.set_random_seed uses


def _check_seed(seed: object, runs: int = 1) -> int:
    """``seed`` if it is an int from 0 and every run's seed (``seed + k``) stays <= 2**32 - 1."""
    seed = check_int("seed", seed, minimum=0)
    if seed + runs - 1 > _MAX_SEED:
        raise ValueError(
            f"seed must be at most {_MAX_SEED - runs + 1} (the seed of run k is seed + k, and "
            f"NumPy takes seeds up to 2**32 - 1); got {seed}"
        )
    return seed


def _check_report(report: object) -> None:
    """TypeError unless ``report`` is None or callable (checked before any training)."""
    if report is not None and not callable(report):
        raise TypeError(f"report must be a function such as print, or None; got {report!r}")


def _check_numbering(labels: np.ndarray, what: str) -> None:
    """Refuse labels that ask for more classes than there are sentences: the model gets one
    output per class 0..max (a label of 2**31 - 1 asked for 2**31 of them)."""
    top = int(labels.max())
    if top + 1 > len(labels):
        present = np.unique(labels)
        raise ValueError(
            f"{what} labels go up to {top}, which asks for {top + 1} classes (0..{top}), more "
            f"than the {len(labels)} sentences; number the {len(present)} classes "
            f"{present[:4].tolist()}{' ...' if len(present) > 4 else ''} as 0..{len(present) - 1}"
        )


def _pair(split: object, what: str) -> tuple:
    """``split`` as (texts, labels), or TypeError naming it."""
    if not isinstance(split, (tuple, list)) or len(split) != 2:
        raise TypeError(f"{what} must be a (texts, labels) pair, got {type(split).__name__}")
    return tuple(split)


def _two_classes(labels: np.ndarray, what: str) -> None:
    """Refuse labels of one class only: nothing to tell apart."""
    if len(np.unique(labels)) < 2:
        raise ValueError(
            f"{what} labels are all {int(labels[0])}: a classifier needs sentences of at least "
            "2 classes"
        )


def _checked(texts: Sequence[str], labels: object, what: str) -> tuple[list[str], np.ndarray]:
    """``(texts, labels)`` as a list and an int array of the same length, or a clear error."""
    if isinstance(texts, str) or not isinstance(texts, Sequence) or not texts:
        raise TypeError(f"{what} texts must be a non-empty list of strings")
    bad = next((t for t in texts if not isinstance(t, str)), None)
    if bad is not None:
        raise TypeError(f"{what} texts must be strings; one is {type(bad).__name__} {bad!r}")
    labels = np.asarray(labels)
    if labels.shape != (len(texts),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{what} labels must be {len(texts)} integers, one per sentence; got shape "
            f"{labels.shape} of {labels.dtype}"
        )
    if labels.min() < 0:
        raise ValueError(f"{what} labels must be >= 0, got {int(labels.min())}")
    return list(texts), labels


def cross_validate(
    texts: Sequence[str],
    labels: np.ndarray,
    folds: int = 10,
    preset: str | Preset = KIM_RAND,
    *,
    epochs: int | None = None,
    patience: int | None = None,
    seed: int = 0,
    report: Report = print,
    lowercase: bool = True,
) -> dict:
    """K-fold cross-validation as in the paper: each fold is the test set once; a random 10% of
    the other folds is the dev set for early stopping; the rest is trained on.

    Returns a dict with the per-fold accuracies (and each fold's best dev epoch, epochs run and
    seconds), their mean and standard deviation (``ddof=1``), the preset and the protocol.
    ``report`` gets one line per fold as it finishes (None: silent).

    >>> result = cross_validate(texts, labels, folds=10)  # doctest: +SKIP
    """
    preset = get_preset(preset)
    texts, labels = _checked(texts, labels, "the")
    _two_classes(labels, "the")
    _check_numbering(labels, "the")
    _check_report(report)
    _check_seed(seed, check_int("folds", folds, minimum=2))
    _check_words(texts, "cross_validate")
    num_classes = int(labels.max()) + 1
    length = sentence_length(texts)
    started = time.perf_counter()
    runs = []
    parts = fold_indices(len(texts), folds, seed)
    plan = []  # every fold's split, checked before any training
    for k, test in enumerate(parts):
        rest = np.setdiff1d(np.arange(len(texts)), test)
        fit, dev = dev_split(rest, preset.dev_fraction, seed + k)
        _two_classes(labels[fit], f"fold {k + 1}'s fit")
        plan.append((test, fit, dev))
    for k, (test, fit, dev) in enumerate(plan):
        clock = time.perf_counter()
        with warnings.catch_warnings():  # said once above for all the sentences
            warnings.simplefilter("ignore", NonAsciiWarning)
            run = train(
                ([texts[i] for i in fit], labels[fit]),
                ([texts[i] for i in dev], labels[dev]),
                num_classes,
                preset,
                sequence_length=length,
                epochs=epochs,
                patience=patience,
                seed=seed + k,
                lowercase=lowercase,
            )
        accuracy = run.accuracy([texts[i] for i in test], labels[test])
        runs.append(
            {
                "fold": k + 1,
                "accuracy": accuracy,
                "test_sentences": len(test),
                "best_epoch": run.best_epoch,
                "epochs_run": run.epochs_run,
                "seconds": round(time.perf_counter() - clock, 1),
            }
        )
        if report is not None:
            report(_line(runs[-1], len(parts)))
    protocol = (
        f"{len(parts)}-fold cross-validation; dev = {preset.dev_fraction:.0%} of each "
        "training fold, for early stopping only"
    )
    return _summary(preset, protocol, runs, started, lowercase)


def train_dev_test(
    train_set: tuple[Sequence[str], np.ndarray],
    test_set: tuple[Sequence[str], np.ndarray],
    dev_set: tuple[Sequence[str], np.ndarray] | None = None,
    preset: str | Preset = KIM_RAND,
    *,
    epochs: int | None = None,
    patience: int | None = None,
    seed: int = 0,
    report: Report = print,
    lowercase: bool = True,
) -> tuple[dict, Trained]:
    """Train on a dataset's training split, stop early on its dev split (a random 10% of the
    training split when it has none), and score once on its test split.

    Returns the same summary as ``cross_validate`` (one entry in ``folds``) and the run.

    >>> result, run = train_dev_test(train, test, dev)  # doctest: +SKIP
    """
    preset = get_preset(preset)
    train_texts, train_labels = _checked(*_pair(train_set, "train_set"), what="the training")
    test_texts, test_labels = _checked(*_pair(test_set, "test_set"), what="the test")
    _two_classes(train_labels, "the training")
    _check_report(report)
    _check_seed(seed)
    if test_texts == train_texts:
        raise ValueError(
            "test_set holds the training sentences: its accuracy would be training accuracy; "
            "pass the dataset's own test split"
        )
    _check_words(train_texts + test_texts, "train_dev_test")
    if dev_set is None:
        fit, dev = dev_split(np.arange(len(train_texts)), preset.dev_fraction, seed)
        dev_texts, dev_labels = [train_texts[i] for i in dev], train_labels[dev]
        train_texts, train_labels = [train_texts[i] for i in fit], train_labels[fit]
        source = f"a random {preset.dev_fraction:.0%} of the training split"
    else:
        dev_texts, dev_labels = _checked(*_pair(dev_set, "dev_set"), what="the dev")
        source = "the dataset's dev split"
        for name, texts in (("test", test_texts), ("training", train_texts)):
            if dev_texts == texts:
                raise ValueError(
                    f"dev_set holds the {name} sentences: the epoch would be chosen on them; "
                    "pass the dataset's own dev split, or dev_set=None (a tenth of training)"
                )
    _check_numbering(np.concatenate([train_labels, dev_labels, test_labels]), "the")
    num_classes = int(max(train_labels.max(), dev_labels.max(), test_labels.max())) + 1
    started = time.perf_counter()
    with warnings.catch_warnings():  # said once above for all the sentences
        warnings.simplefilter("ignore", NonAsciiWarning)
        run = train(
            (train_texts, train_labels),
            (dev_texts, dev_labels),
            num_classes,
            preset,
            sequence_length=sentence_length(train_texts + dev_texts + test_texts),
            epochs=epochs,
            patience=patience,
            seed=seed,
            lowercase=lowercase,
            report=report,
        )
    outcome = {
        "fold": 1,
        "accuracy": run.accuracy(test_texts, test_labels),
        "test_sentences": len(test_texts),
        "best_epoch": run.best_epoch,
        "epochs_run": run.epochs_run,
        "seconds": round(time.perf_counter() - started, 1),
    }
    if report is not None:
        report(_line(outcome, 1))
    protocol = f"train / dev / test split; dev = {source}, for early stopping only"
    return _summary(preset, protocol, [outcome], started, lowercase), run


def _line(run: dict, folds: int) -> str:
    return (
        f"fold {run['fold']}/{folds}: accuracy {run['accuracy']:.3f} on {run['test_sentences']} "
        f"sentences (best dev epoch {run['best_epoch']} of {run['epochs_run']}, "
        f"{run['seconds']:.0f} s)"
    )


# --- Table 2 of Kim (2014): the datasets, where they come from, how their files are read ---

Split = tuple[list[str], np.ndarray]


@dataclass(frozen=True)
class Layout:
    """One way a dataset's files can be laid out in a folder, and how to read them."""

    files: tuple[str, ...]
    read: Callable[[list[Path]], dict[str, Split]]  # -> {"all"} or {"train", "test"[, "dev"]}
    # the whole sentences, where ``read`` trains on phrases (the trees); None: ``read``'s, or
    # none at all when ``phrases`` (the stsa.*.phrases.train copies hold no sentence list)
    whole: Callable[[list[Path]], dict[str, Split]] | None = None
    phrases: bool = False

    def found(self, folder: Path) -> bool:
        return all((folder / name).is_file() for name in self.files)

    def load(self, folder: Path) -> dict[str, Split]:
        return self.read([folder / name for name in self.files])

    def load_sentences(self, folder: Path) -> dict[str, Split] | None:
        """The dataset's whole sentences, as Kim's Table 1 counts them (None: only phrases)."""
        if self.whole is not None:
            return self.whole([folder / name for name in self.files])
        return None if self.phrases else self.load(folder)


@dataclass(frozen=True)
class Benchmark:
    """A dataset of Kim's Table 2: his CNN-rand accuracy (%), its source, its file layouts."""

    name: str
    kim_rand: float
    table1: tuple[int, int, int]  # Kim's Table 1: sentences (N), vocabulary (|V|), mean length (l)
    source: str
    layouts: tuple[Layout, ...]
    note: str = ""
    lowercase: bool = True  # Kim kept the case of TREC's questions only
    seeds: int = 1  # runs of a train/dev/test dataset (TREC's one split: a run is noise)

    def find(self, folder: str | Path) -> Layout | None:
        """The first layout whose files are all in ``folder``, or None."""
        folder = check_path("folder", folder)  # "" would be the working folder
        if folder.exists() and not folder.is_dir():
            raise NotADirectoryError(
                f"folder {str(folder)!r} is not a folder: it is a file; pass the datasets' folder"
            )
        return next((lay for lay in self.layouts if lay.found(folder)), None)


def _classes(paths: list[Path]) -> dict[str, Split]:
    return {"all": data.load_class_files(paths)}


def _labeled(paths: list[Path]) -> dict[str, Split]:
    names = ("train", "dev", "test") if len(paths) == 3 else ("train", "test")
    if len(paths) == 1:
        names = ("all",)
    return {name: data.load_labeled(path) for name, path in zip(names, paths, strict=True)}


def _trec(paths: list[Path]) -> dict[str, Split]:
    return {"train": data.load_trec(paths[0]), "test": data.load_trec(paths[1])}


def _sst(binary: bool, phrases: bool = True) -> Callable[[list[Path]], dict[str, Split]]:
    """Kim's SST: every distinct labelled phrase of the training trees (``phrases=False``: the
    training sentences); dev and test sentences."""

    def read(paths: list[Path]) -> dict[str, Split]:
        train, dev, test = paths
        return {
            "train": data.load_sst_trees(train, binary, phrases=phrases, exclude_tail=dev),
            "dev": data.load_sst_trees(dev, binary),
            "test": data.load_sst_trees(test, binary),
        }

    return read


def statistics(splits: dict[str, Split], lowercase: bool = True) -> dict[str, float]:
    """A dataset's figures as Kim's Table 1 gives them, from its sentences (all splits) and
    ``tokenize``: how many sentences, distinct words and words a sentence on average.

    >>> statistics({"all": (["A good film", "a bad one !"], np.array([1, 0]))})
    {'sentences': 2, 'vocabulary': 6, 'mean_length': 3.5}
    """
    check_bool("lowercase", lowercase)
    words = [tokenize(text, lowercase) for texts, _ in splits.values() for text in texts]
    if not words:
        raise ValueError("statistics: the dataset has no sentences")
    return {
        "sentences": len(words),
        "vocabulary": len({word for sentence in words for word in sentence}),
        "mean_length": round(sum(map(len, words)) / len(words), 1),
    }


_TREES = ("trees/train.txt", "trees/dev.txt", "trees/test.txt")
_PHRASES = (
    "trained on every distinct labelled phrase of the training trees, as Kim did (from the "
    "trees or stsa.*.phrases.train); the sentence-only stsa.*.train copies score lower"
)
BENCHMARKS = (
    Benchmark(
        "MR",
        76.1,
        (10662, 18765, 20),
        "Sentence polarity dataset v1.0, "
        "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz "
        "(unpack: rt-polaritydata/rt-polarity.neg, .pos)",
        (
            Layout(
                ("rt-polaritydata/rt-polarity.neg", "rt-polaritydata/rt-polarity.pos"), _classes
            ),
            Layout(("rt-polarity.all",), _labeled),
        ),
    ),
    Benchmark(
        "SST-1",
        45.0,
        (11855, 17836, 18),
        "Stanford Sentiment Treebank, https://nlp.stanford.edu/sentiment/trainDevTestTrees_PTB.zip "
        "(unzip: trees/train.txt, dev.txt, test.txt)",
        (
            Layout(_TREES, _sst(False), whole=_sst(False, phrases=False)),
            Layout(
                ("stsa.fine.phrases.train", "stsa.fine.dev", "stsa.fine.test"),
                _labeled,
                phrases=True,
            ),
            Layout(("stsa.fine.train", "stsa.fine.dev", "stsa.fine.test"), _labeled),
        ),
        _PHRASES,
    ),
    Benchmark(
        "SST-2",
        82.7,
        (9613, 16185, 19),
        "the same trees as SST-1, neutral sentences dropped and labels made binary",
        (
            Layout(_TREES, _sst(True), whole=_sst(True, phrases=False)),
            Layout(
                ("stsa.binary.phrases.train", "stsa.binary.dev", "stsa.binary.test"),
                _labeled,
                phrases=True,
            ),
            Layout(("stsa.binary.train", "stsa.binary.dev", "stsa.binary.test"), _labeled),
        ),
        _PHRASES,
    ),
    Benchmark(
        "Subj",
        89.6,
        (10000, 21323, 23),
        "Subjectivity dataset v1.0, "
        "https://www.cs.cornell.edu/people/pabo/movie-review-data/rotten_imdb.tar.gz "
        "(unpack into rotten_imdb/: plot.tok.gt9.5000 objective, quote.tok.gt9.5000 subjective)",
        (
            Layout(("rotten_imdb/plot.tok.gt9.5000", "rotten_imdb/quote.tok.gt9.5000"), _classes),
            Layout(("subj.all",), _labeled),
        ),
    ),
    Benchmark(
        "TREC",
        91.2,
        (5952, 9592, 10),
        "TREC question classification (Li and Roth, 2002), "
        "https://cogcomp.seas.upenn.edu/Data/QA/QC/ (train_5500.label, TREC_10.label)",
        (
            Layout(("train_5500.label", "TREC_10.label"), _trec),
            Layout(("TREC.train.all", "TREC.test.all"), _labeled),
        ),
        lowercase=False,
        seeds=5,
    ),
    Benchmark(
        "CR",
        79.8,
        (3775, 5340, 19),
        "Customer reviews (Hu and Liu, 2004), "
        "https://www.cs.uic.edu/~liub/FBS/sentiment-analysis.html; one sentence a line as "
        "custrev.neg / custrev.pos (the copies in the SentEval and sent-conv-torch data)",
        (Layout(("custrev.neg", "custrev.pos"), _classes), Layout(("custrev.all",), _labeled)),
    ),
    Benchmark(
        "MPQA",
        83.4,
        (10606, 6246, 3),
        "MPQA opinion polarity (Wiebe et al., 2005), https://mpqa.cs.pitt.edu/; one phrase a "
        "line as mpqa.neg / mpqa.pos (the copies in the SentEval and sent-conv-torch data)",
        (Layout(("mpqa.neg", "mpqa.pos"), _classes), Layout(("mpqa.all",), _labeled)),
    ),
)
