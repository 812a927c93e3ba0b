"""Text corpora for the TextCNN notebook: an offline synthetic corpus, real-data loaders, GloVe.

Everything here runs offline except ``load_imdb``, which uses Keras' download cache and fails
fast with instructions when the file is neither cached nor reachable.

    >>> texts, labels = synthetic_reviews(4, seed=0)
    >>> len(texts), labels.shape
    (4, (4,))
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO

import keras
import numpy as np

from helpers import _files
from helpers._checks import check_bool, check_finite, check_int, check_path

POLARITY_URL = "https://www.cs.cornell.edu/people/pabo/movie-review-data/rt-polaritydata.tar.gz"
POLARITY_FILES = {"rt-polarity.pos": 1, "rt-polarity.neg": 0}
GLOVE_URL = "https://nlp.stanford.edu/data/glove.840B.300d.zip"
IMDB_URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"

# Vocabulary of the synthetic corpus. Every adjective has a polarity (+1 or -1).
_NOUNS = [
    "movie", "film", "plot", "story", "acting", "cast", "script", "ending",
    "soundtrack", "dialogue", "pacing", "direction",
]  # fmt: skip
_POSITIVE = [
    "good", "great", "funny", "clever", "moving", "charming", "brilliant", "gripping",
    "beautiful", "smart",
]  # fmt: skip
_NEGATIVE = [
    "bad", "dull", "boring", "awful", "weak", "clumsy", "predictable", "tedious", "bland",
    "silly",
]  # fmt: skip
_OPENERS = ["", "honestly ,", "i thought", "overall ,", "in the end ,", "to be fair ,"]
_VERBS = ["was", "is", "felt", "seemed"]
_INTENSIFIERS = ["very", "really", "quite", "truly"]


def _phrase(rng: np.random.Generator, polarity: int, negated: bool) -> str:
    """An adjective phrase of the given overall polarity, e.g. "not very good" (-1)."""
    adjectives = _POSITIVE if polarity * (-1 if negated else 1) > 0 else _NEGATIVE
    words = ["not"] if negated else []
    if rng.random() < 0.4:
        words.append(str(rng.choice(_INTENSIFIERS)))
    words.append(str(rng.choice(adjectives)))
    return " ".join(words)


def synthetic_reviews(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    """Return ``n`` English-like review sentences and their labels (1 positive, 0 negative).

    The label depends on local word order, which a bag of words cannot see:

    - negation flips an adjective: "the plot was not good" is negative;
    - intensifiers ("very", "really", ...) sit between "not" and the adjective and change nothing;
    - contrast: in "X but Y" the clause after "but" decides, so "good but not great" (negative)
      and "not good but great" (positive) have the same words and opposite labels;
    - "X and Y" joins two phrases of the same polarity.

    Deterministic for a seed; half of the sentences are positive on average.

    >>> synthetic_reviews(2, seed=1)[0] == synthetic_reviews(2, seed=1)[0]
    True
    """
    n = check_int("n", n)
    seed = check_int("seed", seed, minimum=0)
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for _ in range(n):
        label = int(rng.integers(2))
        polarity = 1 if label else -1
        opener = str(rng.choice(_OPENERS))
        subject = f"the {rng.choice(_NOUNS)} {rng.choice(_VERBS)}"
        kind = rng.random()
        if kind < 0.35:  # one phrase: "the plot was not very good"
            body = _phrase(rng, polarity, negated=bool(rng.random() < 0.5))
        elif kind < 0.8:  # contrast: the phrase after "but" decides
            first_negated = bool(rng.random() < 0.5)
            if rng.random() < 0.5:  # "good but not great" / "not good but great"
                first = _phrase(rng, -polarity, negated=first_negated)
                second = _phrase(rng, polarity, negated=not first_negated)
            else:  # "good but boring" / "boring but good"
                first = _phrase(rng, -polarity, negated=False)
                second = _phrase(rng, polarity, negated=False)
            body = f"{first} but {second}"
        else:  # agreement: "funny and not boring"
            first = _phrase(rng, polarity, negated=bool(rng.random() < 0.5))
            second = _phrase(rng, polarity, negated=bool(rng.random() < 0.5))
            body = f"{first} and {second}"
        texts.append(" ".join(part for part in (opener, subject, body) if part))
        labels.append(label)
    return texts, np.asarray(labels, dtype="int32")


def load_polarity(
    directory: str | os.PathLike, encoding: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Load the sentence polarity dataset v1.0 (Kim's MR data) from a downloaded directory.

    The directory must hold ``rt-polarity.pos`` and ``rt-polarity.neg`` (one sentence a line),
    as unpacked from ``rt-polaritydata.tar.gz``. Returns positive sentences first (label 1),
    then negative ones (label 0); blank lines are skipped.

    Each file's encoding is detected unless ``encoding`` is given (``read_lines``): a byte-order
    mark, else UTF-8 if the bytes are valid UTF-8, else latin-1 (the original files) or cp1252.
    What cannot be read correctly (UTF-16 without a mark, bytes invalid in the given encoding)
    raises ValueError naming the file, never returns mojibake.

    >>> texts, labels = load_polarity("rt-polaritydata")  # doctest: +SKIP
    """
    how = (
        f"Download {POLARITY_URL} (sentence polarity dataset v1.0), unpack it and pass the "
        "folder that holds rt-polarity.pos and rt-polarity.neg."
    )
    folder = _existing(check_path("directory", directory), "polarity folder", how, folder=True)
    for name in POLARITY_FILES:
        if (folder / name).is_dir():
            raise IsADirectoryError(
                f"{str(folder / name)!r} is not a file: it is a folder. The data files are "
                f"{' and '.join(POLARITY_FILES)}, one sentence a line. {how}"
            )
    missing = [name for name in POLARITY_FILES if not (folder / name).is_file()]
    if missing:
        found = sorted(p.name for p in folder.iterdir())
        raise FileNotFoundError(
            f"{str(folder)!r} lacks {', '.join(missing)} (it holds {found or 'nothing'}). {how}"
        )
    files = [(folder / name, label) for name, label in POLARITY_FILES.items()]
    return _class_lines(files, encoding, how)


def _keras_cache_file(name: str) -> Path:
    """Where ``keras.utils.get_file`` keeps a dataset file (Keras has no public accessor).

    The one place this module reads a private Keras function; tests check it still exists.
    """
    from keras.src.backend.config import keras_home

    return Path(keras_home()).expanduser() / "datasets" / name


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    """Temporarily give every new socket a timeout, so a stalled download raises, not hangs."""
    previous = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(previous)


def _reachable(host: str, port: int, timeout: float) -> str | None:
    """None if a TCP connection to host:port opens within ``timeout`` seconds, else why not.

    Runs in a daemon thread because a DNS lookup ignores socket timeouts and can block for long.
    """
    outcome: list[str | None] = []

    def probe() -> None:
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            outcome.append(None)
        except OSError as error:
            outcome.append(f"{type(error).__name__}: {error}")

    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(timeout)
    return outcome[0] if outcome else f"no answer within {timeout} s"


def load_imdb(
    num_words: int | None = 20000, maxlen: int | None = None, timeout: float = 5.0
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """``keras.datasets.imdb.load_data`` that fails within ``timeout`` seconds when offline.

    If ``imdb.npz`` is not in the Keras cache, the download server is probed first; when it
    cannot be reached a ``ConnectionError`` says where to put a copy of the file.

    >>> (x_train, y_train), (x_test, y_test) = load_imdb(num_words=10000)  # doctest: +SKIP
    """
    num_words = check_int("num_words", num_words, allow_none=True)
    maxlen = check_int("maxlen", maxlen, allow_none=True)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    cached = _keras_cache_file("imdb.npz")
    how = (
        f"Download {IMDB_URL} on a machine with network access and copy it to {cached} "
        "(the folder comes from the KERAS_HOME environment variable, default ~/.keras)."
    )
    if not cached.is_file():
        problem = _reachable("storage.googleapis.com", 443, timeout)
        if problem is not None:
            raise ConnectionError(
                f"IMDB is not cached and the server is unreachable ({problem}). {how}"
            )
    try:
        with _socket_timeout(timeout):
            return keras.datasets.imdb.load_data(num_words=num_words, maxlen=maxlen)
    except Exception as error:
        if isinstance(error, ValueError) and "maxlen" in str(error):
            raise
        raise ConnectionError(
            f"could not get IMDB ({type(error).__name__}: {error}). {how}"
        ) from error


RESERVED = ["", "[UNK]"]


_PUNCTUATION = re.compile(r'[!"#$%&()\*\+,-\./:;<=>?@\[\\\]^_`{|}~\']')  # TextVectorization's


_SPACE = re.compile(r"\s")


def _standardize(text: str) -> str:
    """What ``vectorize`` makes of ``text`` before splitting it at spaces: lower-cased (every
    letter, not only ASCII, as TextVectorization alone would) and without punctuation."""
    return _PUNCTUATION.sub("", text.lower())


def _check_vocabulary(vocabulary: object, max_tokens: int | None = None) -> list[str]:
    """``vocabulary`` as a list if it is one ``vectorize`` returned: "", "[UNK]", distinct words."""
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence):
        raise TypeError(
            f"vocabulary must be a list of strings as vectorize() returns it, got "
            f"{type(vocabulary).__name__}"
        )
    vocabulary = list(vocabulary)
    if vocabulary[:2] != RESERVED:
        raise ValueError(
            f"vocabulary must start with {RESERVED} (padding id 0, unknown id 1), as vectorize() "
            f"returns it; got {vocabulary[:4]}{' ...' if len(vocabulary) > 4 else ''}. For a "
            f"word list of your own pass {RESERVED} + words"
        )
    if not all(isinstance(token, str) for token in vocabulary):
        raise TypeError("vocabulary must hold only strings")
    unmatchable = [t for t in vocabulary[2:] if t != _standardize(t) or _SPACE.search(t)]
    if unmatchable:
        raise ValueError(
            f"vocabulary holds {len(unmatchable)} token(s) that vectorize can never produce, e.g. "
            f"{unmatchable[:3]}: it lower-cases, strips punctuation and splits at spaces, so "
            "these ids would never be used (a vocabulary from kim.build_vocabulary goes with "
            "kim.encode, not vectorize); pass lower-case words without punctuation or spaces"
        )
    repeated = sorted({t for t in vocabulary if vocabulary.count(t) > 1})
    if repeated:
        raise ValueError(f"vocabulary repeats {repeated[:5]}; each token needs one id")
    if max_tokens is not None and len(vocabulary) > max_tokens:
        raise ValueError(
            f"vocabulary has {len(vocabulary)} tokens, more than max_tokens={max_tokens}; "
            f"pass max_tokens >= {len(vocabulary)}"
        )
    return vocabulary


def vectorize(
    texts: Sequence[str],
    max_tokens: int,
    sequence_length: int,
    vocabulary: Sequence[str] | None = None,
) -> tuple[np.ndarray, list[str]]:
    """Integer sequences for ``texts`` with ``keras.layers.TextVectorization``, and its vocabulary.

    Lower-cases, strips punctuation, splits on whitespace, pads/truncates to ``sequence_length``
    (0 is padding, 1 is ``[UNK]``). The vocabulary is learned from ``texts`` unless given: pass
    the vocabulary of the training texts to encode new texts with the same ids. A given
    vocabulary must be one ``vectorize`` returned, starting with ``""`` and ``"[UNK]"`` (ids 0
    and 1); anything else raises ValueError rather than shifting every id by two, and so does a
    token it can never produce (upper case, punctuation or a space in it, as in a vocabulary
    from ``kim.build_vocabulary``). Every letter is lower-cased (``"CAFÉ"`` is ``"café"``).

    >>> ids, vocab = vectorize(["a good film", "a bad film"], max_tokens=10, sequence_length=4)
    >>> ids.shape, vocab[:2]
    ((2, 4), ['', '[UNK]'])
    """
    return _vectorize(texts, max_tokens, sequence_length, vocabulary, "texts")


def _check_texts(texts: object, what: str) -> None:
    """TypeError/ValueError unless ``texts`` is a non-empty list of strings, naming ``what``."""
    if isinstance(texts, str) or not isinstance(texts, Sequence):
        raise TypeError(
            f"{what} must be a list of strings; got {type(texts).__name__} {str(texts)[:60]!r}"
        )
    if len(texts) == 0:
        raise ValueError(f"{what} is empty; pass at least one sentence")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(
                f"{what}[{i}] is {type(text).__name__} {text!r}; {what} must hold only strings"
            )


def _vectorize(
    texts: Sequence[str],
    max_tokens: int,
    sequence_length: int,
    vocabulary: Sequence[str] | None,
    what: str,
) -> tuple[np.ndarray, list[str]]:
    """``vectorize``, its errors about the texts naming ``what`` (e.g. "chunk 3 of chunks")."""
    _check_texts(texts, what)
    max_tokens = check_int("max_tokens", max_tokens)
    sequence_length = check_int("sequence_length", sequence_length)
    if max_tokens < 3:
        raise ValueError(
            f"max_tokens must be at least 3 (padding, [UNK], one word), got {max_tokens}"
        )
    if vocabulary is not None:
        vocabulary = _check_vocabulary(vocabulary, max_tokens)
    layer = keras.layers.TextVectorization(
        max_tokens=max_tokens,
        output_mode="int",
        output_sequence_length=sequence_length,
        vocabulary=None if vocabulary is None else vocabulary[2:],
        name="vectorize",
    )
    if vocabulary is None:
        layer.adapt([text.lower() for text in texts])
        if layer.vocabulary_size() <= len(RESERVED):
            raise ValueError(
                f"{what} hold no words to learn a vocabulary from (all {len(texts)} are empty, "
                "blank or punctuation); pass sentences with words, or a vocabulary="
            )
    lowered = np.asarray([text.lower() for text in texts], dtype=object)  # "CAFÉ" -> "café"
    ids = keras.ops.convert_to_numpy(layer(lowered)).astype("int32")
    return ids, [str(token) for token in layer.get_vocabulary()]


def vectorize_to_npy(
    chunks: Iterable[Sequence[str]],
    path: str | os.PathLike,
    vocabulary: Sequence[str],
    sequence_length: int,
) -> np.ndarray:
    """Encode a corpus chunk by chunk into one int32 ``.npy`` file; return it memory-mapped.

    ``chunks`` yields lists of sentences (e.g. read from a big file); each chunk is encoded with
    ``vocabulary`` and its ids are appended to the file, so memory holds one chunk at a time
    (appending, not a writable np.memmap, whose written pages count towards the process's RSS
    and, being dirty, cannot be dropped until they are written back). The file is
    written under a temporary name and renamed at the end; on an error nothing is left.
    Returns ``np.load(path, mmap_mode="r")``, ready for ``activations.extract_to_disk``.

    >>> ids = vectorize_to_npy(chunks_of_lines, "ids.npy", vocab, 56)  # doctest: +SKIP
    """
    vocabulary = _check_vocabulary(vocabulary)
    sequence_length = check_int("sequence_length", sequence_length)
    if isinstance(chunks, str | bytes) or not isinstance(chunks, Iterable):
        raise TypeError(
            f"chunks must be an iterable of lists of strings; got {type(chunks).__name__} "
            f"{str(chunks)[:60]!r}"
        )
    path = check_path("path", path)
    _files.check_target(path)
    rows = 0

    def write_header(file: IO) -> int:
        header = {"descr": "<i4", "fortran_order": False, "shape": (rows, sequence_length)}
        file.seek(0)
        np.lib.format.write_array_header_1_0(file, header)
        return file.tell()

    temp, file = _files.create_temp(path.parent, path.name, "wb")
    try:
        with file:
            header_size = write_header(file)
            for i, chunk in enumerate(chunks):
                what = f"chunk {i} of chunks"
                ids, _ = _vectorize(chunk, len(vocabulary), sequence_length, vocabulary, what)
                file.write(ids.astype("<i4").tobytes())
                rows += len(ids)
            if rows == 0:
                raise ValueError("chunks yielded no sentences")
            if write_header(file) != header_size:
                raise RuntimeError(f"the .npy header of {path.name} changed size; not written")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return np.load(path, mmap_mode="r")


def load_glove(
    path: str | os.PathLike, vocabulary: Sequence[str], dim: int
) -> tuple[np.ndarray, float]:
    """Stream a GloVe text file into a ``(len(vocabulary), dim)`` float32 embedding matrix.

    Each line is ``word v1 ... v_dim`` separated by single spaces; words may contain spaces (as a
    few do in glove.840B), so the last ``dim`` fields are the vector. Lookup is exact (the 840B
    vectors are cased: "The" and "the" are different words); the first line for a word wins.

    Missing words: rows of words not in the file, and of the padding ``""`` and ``"[UNK]"``
    tokens, are zeros; a trainable Embedding then learns them. The returned fraction is the
    share of the vocabulary, apart from ``""`` and ``"[UNK]"``, found in the file.

    A line with the wrong number of values, or a NaN/inf value in the vector of a word of the
    vocabulary (float32 overflow included), raises ``ValueError`` naming its line number; so
    does an empty file (as ``glove_dim``).

    >>> matrix, found = load_glove("glove.840B.300d.txt", vocab, 300)  # doctest: +SKIP
    """
    file = _glove_file(path)
    dim = check_int("dim", dim)
    if isinstance(vocabulary, str) or not isinstance(vocabulary, Sequence) or not vocabulary:
        raise TypeError(
            "vocabulary must be a non-empty list of strings, e.g. from vectorize(); got "
            f"{type(vocabulary).__name__} {str(vocabulary)[:60]!r}"
        )
    glove_dim(file)  # an empty file, or one without numbers, is refused as glove_dim refuses it
    reserved = {"", "[UNK]"}
    index: dict[str, int] = {}
    for i, word in enumerate(vocabulary):
        if word not in reserved:
            index.setdefault(word, i)
    matrix = np.zeros((len(vocabulary), dim), dtype="float32")
    found: set[str] = set()
    with _glove_lines(file) as lines:
        for number, line in lines:
            line = line.rstrip("\n").rstrip("\r")
            if not line.strip():
                continue
            fields = line.split(" ")
            values = len(fields) - 1
            if values != dim and (values < dim or _is_number(fields[-dim - 1])):
                raise ValueError(
                    f"{file.name} line {number}: {values} values after the word, expected "
                    f"dim={dim}. Is this a {values}-d file? Pass dim={values}."
                )
            word = " ".join(fields[:-dim])
            if word in index and word not in found:
                try:
                    with np.errstate(over="ignore"):  # a float32 overflow is inf: refused next
                        row = np.asarray(fields[-dim:], dtype="float64").astype("float32")
                    check_finite(f"the vector of {word!r}", row)
                except ValueError as error:
                    raise ValueError(f"{file.name} line {number}: {error}") from None
                matrix[index[word]] = row
                found.add(word)
    return matrix, len(found) / max(len(index), 1)


def _existing(path: str | os.PathLike, what: str, how: str, *, folder: bool) -> Path:
    """``path`` as a Path if it is a folder (``folder=True``) or a file; else FileNotFoundError,
    NotADirectoryError or IsADirectoryError naming it, what it should be and ``how`` to get it."""
    path = Path(path)
    if not path.exists():
        if path.is_symlink():
            raise FileNotFoundError(
                f"{what} {str(path)!r} is a symbolic link to {os.readlink(path)!r}, which does "
                f"not exist. {how}"
            )
        raise FileNotFoundError(f"{what} {str(path)!r} does not exist. {how}")
    if folder and not path.is_dir():
        raise NotADirectoryError(f"{what} {str(path)!r} is not a folder: it is a file. {how}")
    if not folder and path.is_dir():
        raise IsADirectoryError(f"{what} {str(path)!r} is not a file: it is a folder. {how}")
    if not folder and not path.is_file():
        raise ValueError(
            f"{what} {str(path)!r} is not a regular file (a pipe, socket or device), so it "
            f"cannot be read as a whole. {how}"
        )
    return path


def _glove_file(path: str | os.PathLike) -> Path:
    """``path`` as a Path if it is a file; else an error saying where GloVe comes from."""
    how = (
        f"Download {GLOVE_URL}, unzip it and pass glove.840B.300d.txt (or any GloVe-format "
        "text file: word, then its values)."
    )
    return _existing(check_path("path", path), "GloVe file", how, folder=False)


@contextlib.contextmanager
def _glove_lines(file: Path) -> Iterator[Iterator[tuple[int, str]]]:
    """(line number, line) of a GloVe file, read as UTF-8 (a leading BOM dropped); a line that is
    not UTF-8 raises ValueError naming it, instead of a word that silently never matches."""
    with open(file, encoding="utf-8-sig") as handle:

        def lines() -> Iterator[tuple[int, str]]:
            number = 0
            try:
                for number, line in enumerate(handle, start=1):  # noqa: B007
                    yield number, line
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{file.name} is not UTF-8 after line {number} ({error.reason}); GloVe files "
                    "are UTF-8: convert the file (a word in another encoding would never match)"
                ) from None

        yield lines()


def glove_dim(path: str | os.PathLike) -> int:
    """The vector size of a GloVe text file, read from its first line ("word v1 ... vN" -> N).

    Raises ValueError naming the file if that line holds no numbers (e.g. an empty file).

    >>> glove_dim("glove.840B.300d.txt")  # doctest: +SKIP
    300
    """
    file = _glove_file(path)
    with _glove_lines(file) as lines:
        first = next(lines, (1, ""))[1].rstrip("\r\n")
    dim = sum(1 for field in first.split(" ")[1:] if _is_number(field))
    if dim == 0:
        raise ValueError(
            f"{file.name}: the first line {first[:60]!r} holds no numbers; a GloVe text file "
            "has lines like 'word 0.1 -0.2 ...'"
        )
    return dim


def _is_number(text: str) -> bool:
    """True if ``text`` parses as a float, e.g. "-0.25"."""
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- The sentence benchmarks of Kim (2014), Table 2, in the formats they are published in ---

TREC_CLASSES = ("ABBR", "DESC", "ENTY", "HUM", "LOC", "NUM")
"""TREC's six coarse question classes; ``load_trec`` labels them 0..5 in this order."""

_BOMS = (  # UTF-32's marks first: UTF-32-LE's starts with UTF-16-LE's
    ("utf-32", b"\xff\xfe\x00\x00"),
    ("utf-32", b"\x00\x00\xfe\xff"),
    ("utf-8-sig", b"\xef\xbb\xbf"),
    ("utf-16", b"\xff\xfe"),
    ("utf-16", b"\xfe\xff"),
)
# A UTF-8 encoded non-ASCII character (2, 3 or 4 bytes); in latin-1 text such a pair reads as
# mojibake like "Ã©", so bytes that are not UTF-8 but hold one mix two encodings.
_UTF8_CHAR = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)


def _refuse_mixed(raw: bytes, error: UnicodeDecodeError) -> None:
    """Raise ValueError if bytes that are not UTF-8 also hold UTF-8 encoded non-ASCII characters
    (in the same line or another): one encoding for the whole file would turn one of the two
    kinds of character into mojibake."""
    found = _UTF8_CHAR.search(raw)
    if found is not None:
        lines = _LINE_END_BYTES.split(raw)
        utf8_line = len(_LINE_END_BYTES.findall(raw[: found.start()])) + 1
        bad = len(_LINE_END_BYTES.findall(raw[: error.start])) + 1
        example = found.group().decode("utf-8")
        raise ValueError(
            f"it mixes encodings: line {utf8_line} is UTF-8 text ({example!r}, which latin-1 "
            f"would read as {found.group().decode('latin-1')!r}), line {bad} is not UTF-8 "
            f"(latin-1?): {lines[bad - 1][:40]!r}, so any one encoding reads some words "
            "wrongly; convert the file to one encoding (e.g. UTF-8), or pass encoding= to read "
            "it all as one"
        )


def detect_encoding(raw: bytes) -> str:
    """The encoding a text file's bytes are in: a BOM decides, else UTF-8 if they decode as
    UTF-8, else latin-1 (cp1252 where its printable characters 0x80-0x9f appear).

    Raises ValueError for bytes that are none of these read correctly: NUL bytes without a
    UTF-16/32 BOM (UTF-16 or binary data), C0 control characters other than tab and newlines, or
    bytes that mix UTF-8 characters and another encoding (in one line or in several).

    >>> detect_encoding("naïve".encode("latin-1")), detect_encoding("naïve".encode())
    ('latin-1', 'utf-8')
    """
    if not isinstance(raw, bytes | bytearray):
        raise TypeError(
            f"detect_encoding takes the file's bytes (e.g. Path(f).read_bytes()); got "
            f"{type(raw).__name__}"
        )
    for name, bom in _BOMS:
        if raw.startswith(bom):
            return name
    if b"\x00" in raw:
        raise ValueError(
            "it holds NUL bytes: UTF-16 without a byte-order mark, or not a text file; "
            "pass encoding= (e.g. 'utf-16-le') if it is text"
        )
    try:
        raw.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as error:
        _refuse_mixed(raw, error)
    controls = sorted({byte for byte in raw if byte < 0x20 and byte not in b"\t\n\r\f"})
    if controls:
        raise ValueError(
            f"it is not UTF-8 and holds control bytes {[hex(b) for b in controls[:5]]}, so it "
            "is not latin-1 text either; pass encoding= if you know it"
        )
    if not any(0x80 <= byte <= 0x9F for byte in raw):
        return "latin-1"
    try:
        raw.decode("cp1252")
    except UnicodeDecodeError as error:
        raise ValueError(
            "it is neither UTF-8 nor latin-1/cp1252 text; pass encoding= if you know it"
        ) from error
    return "cp1252"


_LINE_END = re.compile(r"\r\n|\r|\n")
_LINE_END_BYTES = re.compile(rb"\r\n|\r|\n")
_CONTROL = re.compile(r"[\x00-\x08\x0e-\x1f]")  # not text: NUL, escape, ... (tabs, \v, \f are)
_EIGHT_BIT = ("latin-1", "latin1", "iso-8859-1", "iso8859-1", "l1", "cp1252", "windows-1252")


def read_lines(path: str | os.PathLike, encoding: str | None = None) -> list[str]:
    """The non-blank lines of a text file, stripped; the encoding detected unless given. Lines
    end at ``\n``, ``\r\n`` or ``\r`` only (a form feed or U+2028 stays inside its line).

    With ``encoding=None`` it is chosen by ``detect_encoding``; a given encoding is applied
    strictly, and bytes it cannot decode raise ValueError naming the file and line, as do control
    characters (NUL, escape, ...) and latin-1/cp1252 asked for bytes that are UTF-8 text. A
    byte-order mark starting a line (a given encoding's, or a concatenated file's) is dropped.

    >>> read_lines("rt-polarity.pos")[:1]  # doctest: +SKIP
    ['the rock is destined to be the 21st century\\'s new " conan " ...']
    """
    file = _existing(
        check_path("path", path), "text file", "Pass the path of a text file.", folder=False
    )
    if encoding is not None and not isinstance(encoding, str):
        raise TypeError(f"encoding must be a str such as 'utf-8' or None, got {encoding!r}")
    raw = file.read_bytes()
    if encoding is None:
        try:
            encoding = detect_encoding(raw)
        except ValueError as error:
            raise ValueError(f"{str(file)!r}: {error}") from None
    try:
        text = raw.decode(encoding)
    except LookupError:
        raise ValueError(f"encoding {encoding!r} is not a known codec") from None
    except UnicodeDecodeError as error:
        line = len(_LINE_END_BYTES.findall(raw[: error.start])) + 1
        raise ValueError(
            f"{str(file)!r} line {line} is not valid {encoding}: {error.reason}; pass the "
            "file's real encoding, or encoding=None to detect it"
        ) from None
    if encoding.lower().replace("_", "-") in _EIGHT_BIT and not raw.isascii():
        with contextlib.suppress(UnicodeDecodeError):
            raw.decode("utf-8")  # non-ASCII bytes that are all valid UTF-8: not latin-1 text
            example = _UTF8_CHAR.search(raw).group()
            raise ValueError(
                f"{str(file)!r} is UTF-8 text: read as {encoding} its {example.decode()!r} "
                f"would become {example.decode(encoding, 'replace')!r}; pass encoding='utf-8' "
                "or encoding=None"
            )
    # Only \n, \r\n and \r end a line: str.splitlines would also split one sentence at \f,
    # U+0085 (NEL, latin-1 byte 0x85) or U+2028 inside it. A byte-order mark is no text: the
    # one a given encoding such as 'utf-8' keeps, or one inside a file made by concatenation.
    lines = [line.strip().lstrip("\ufeff").strip() for line in _LINE_END.split(text)]
    for number, line in enumerate(lines, start=1):
        control = _CONTROL.search(line)
        if control is not None:
            raise ValueError(
                f"{str(file)!r} line {number} holds the control character "
                f"{control.group()!r}, which is not text (a binary file, or the wrong "
                f"encoding {encoding!r}?); pass the file's real encoding, or clean the file"
            )
    return [line for line in lines if line]


def load_class_files(
    paths: Sequence[str | os.PathLike], encoding: str | None = None
) -> tuple[list[str], np.ndarray]:
    """One sentence a line, one file per class: the sentences of ``paths[i]`` get label ``i``.

    The format of MR (``rt-polarity.neg``, ``rt-polarity.pos``), Subj (``plot.tok.gt9.5000``
    objective, ``quote.tok.gt9.5000`` subjective) and the CR and MPQA copies (``*.neg``,
    ``*.pos``). Each file's encoding is detected unless ``encoding`` is given.

    >>> texts, labels = load_class_files(["rt-polarity.neg", "rt-polarity.pos"])  # doctest: +SKIP
    """
    if isinstance(paths, str | bytes | os.PathLike) or not isinstance(paths, Sequence):
        raise TypeError(
            f"paths must be a list of files, one per class (label = position), got {paths!r}"
        )
    if len(paths) < 2:
        raise ValueError(f"paths must name at least 2 files (one per class), got {len(paths)}")
    files = [(check_path(f"paths[{label}]", path), label) for label, path in enumerate(paths)]
    for i, (path, _) in enumerate(files):
        for other, j in files[i + 1 :]:
            if path.exists() and other.exists() and path.samefile(other):
                raise ValueError(
                    f"paths[{i}] {str(path)!r} and paths[{j}] {str(other)!r} are the same file: "
                    "its sentences would get two labels; give each class its own file"
                )
    return _class_lines(files, encoding)


def _class_lines(
    files: Sequence[tuple[Path, int]], encoding: str | None, how: str = ""
) -> tuple[list[str], np.ndarray]:
    """The lines of each ``(file, label)``, labelled; a file without any is an error (+ ``how``)."""
    texts: list[str] = []
    labels: list[int] = []
    for path, label in files:
        lines = read_lines(path, encoding)
        if not lines:
            raise ValueError(f"{str(path)!r} (class {label}) has no sentences. {how}".rstrip())
        texts.extend(lines)
        labels.extend([label] * len(lines))
    return texts, np.asarray(labels, dtype="int32")


_MAX_LABEL = 2**31 - 1  # labels are stored as int32


def load_labeled(
    path: str | os.PathLike, encoding: str | None = None
) -> tuple[list[str], np.ndarray]:
    """The "label text" format, one sentence a line: ``0 the film is dull .``.

    Labels are non-negative integers (the public preprocessed copies of MR, SST-1/2, Subj, TREC,
    CR and MPQA, e.g. ``rt-polarity.all`` or ``stsa.binary.train``, use this format). A line
    that does not start with one raises ValueError naming the file and line. A line with a label
    and no text is kept as an empty sentence, so that counts match the published sizes (the
    public CR and MPQA copies have a few such lines).

    >>> texts, labels = load_labeled("stsa.binary.train")  # doctest: +SKIP
    """
    texts: list[str] = []
    labels: list[int] = []
    for number, line in enumerate(read_lines(path, encoding), start=1):
        label, text = (*line.split(None, 1), "")[:2]  # a space or a tab after the label
        if not (label.isascii() and label.isdigit() and int(label) <= _MAX_LABEL):
            raise ValueError(
                f"{Path(path).name} non-blank line {number}: expected 'LABEL text' with a "
                f"label from 0 to {_MAX_LABEL}, e.g. '0 the film is dull .'; got {line[:60]!r}"
            )
        texts.append(text.strip())
        labels.append(int(label))
    if not texts:
        raise ValueError(f"{str(path)!r} has no sentences")
    return texts, np.asarray(labels, dtype="int32")


def load_trec(path: str | os.PathLike, encoding: str | None = None) -> tuple[list[str], np.ndarray]:
    """TREC's original question files (``train_5500.label``, ``TREC_10.label``), one question a
    line as ``COARSE:fine question``; labels are the coarse classes, numbered as in
    ``TREC_CLASSES``.

    >>> texts, labels = load_trec("TREC_10.label")  # doctest: +SKIP
    >>> TREC_CLASSES[labels[0]]  # doctest: +SKIP
    'NUM'
    """
    texts: list[str] = []
    labels: list[int] = []
    for number, line in enumerate(read_lines(path, encoding), start=1):
        tag, text = (*line.split(None, 1), "")[:2]  # a space or a tab after the tag
        coarse, colon, fine = tag.partition(":")
        if coarse not in TREC_CLASSES or not colon or not fine or not text.strip():
            raise ValueError(
                f"{Path(path).name} non-blank line {number}: expected 'COARSE:fine question' "
                f"with COARSE one of {TREC_CLASSES}; got {line[:60]!r}"
            )
        texts.append(text.strip())
        labels.append(TREC_CLASSES.index(coarse))
    if not texts:
        raise ValueError(f"{str(path)!r} has no questions")
    return texts, np.asarray(labels, dtype="int32")


def load_sst(
    path: str | os.PathLike, binary: bool = False, encoding: str | None = None
) -> tuple[list[str], np.ndarray]:
    """Whole sentences of the Stanford Sentiment Treebank from its PTB tree files (``train.txt``,
    ``dev.txt``, ``test.txt`` of ``trainDevTestTrees_PTB.zip``): each line is one sentence's
    tree, its root label the sentence's label (0 very negative .. 4 very positive) and its
    leaves the words. Phrase labels are not used (sentence-level training).

    ``binary=True`` gives SST-2: neutral sentences (2) dropped, 0-1 -> 0 and 3-4 -> 1.
    A line that is not exactly one tree of ``(LABEL word)`` and ``(LABEL node ...)`` nodes with
    labels 0..4 raises ValueError naming the line and what is wrong, so no word is dropped.
    The same as ``load_sst_trees(path, binary)``, which also gives every phrase.

    >>> texts, labels = load_sst("trees/train.txt", binary=True)  # doctest: +SKIP
    """
    return load_sst_trees(path, binary, phrases=False, encoding=encoding)


_TREE_TOKEN = re.compile(r"\(|\)|[^()]+")


def parse_sst_tree(line: str) -> list[tuple[int, str]]:
    """Every node of one PTB tree of the Stanford Sentiment Treebank as ``(label, phrase)``,
    children before their parent, left to right (so the whole sentence comes last). A leaf's
    word may hold a space (``(2 8 1\\/2)``); a phrase is its leaves joined by spaces.

    Raises ValueError for unbalanced parentheses, a label outside 0-4, a node without words or
    text outside the tree.

    >>> parse_sst_tree("(3 (2 It) (4 works))")
    [(2, 'It'), (4, 'works'), (3, 'It works')]
    """
    if not isinstance(line, str):
        raise TypeError(f"a tree must be a str such as '(3 (2 It) (4 works))', got {line!r}")
    tokens = [token for token in _TREE_TOKEN.findall(line) if token.strip()]
    if tokens.count("(") != tokens.count(")"):
        raise ValueError(
            f"unbalanced parentheses: {tokens.count('(')} '(' and {tokens.count(')')} ')'"
        )
    nodes: list[tuple[int, str]] = []
    stack: list[tuple[int, list[str]]] = []  # (label, words so far) of the open nodes
    for position, token in enumerate(tokens):
        if token == "(":
            if position and not stack:
                raise ValueError("text after the tree's closing parenthesis")
            stack.append((-1, []))
        elif token == ")":
            if not stack:
                raise ValueError("a ')' closes no node: unbalanced parentheses")
            label, words = stack.pop()
            if label < 0 or not words:
                raise ValueError("an empty node '()': every node needs a label and words")
            nodes.append((label, " ".join(words)))
            if stack:
                stack[-1][1].extend(words)
        else:
            if not stack:
                raise ValueError(f"text {token.strip()[:20]!r} outside the tree's parentheses")
            label, words = stack[-1]
            if label >= 0:  # the label is already read: text after a child node
                raise ValueError(f"a word {token.strip()[:20]!r} beside child nodes")
            head, _, leaf = " ".join(token.split()).partition(" ")
            if not (head.isascii() and head.isdigit() and int(head) <= 4):
                raise ValueError(
                    f"label {head[:10]!r}: SST labels are 0 (very negative) to 4 (very positive)"
                )
            stack[-1] = (int(head), [leaf.strip()] if leaf.strip() else [])
    if not nodes:
        raise ValueError("no tree: expected one such as '(3 (2 It) (4 works))'")
    return nodes


def load_sst_trees(
    path: str | os.PathLike,
    binary: bool = False,
    phrases: bool = False,
    exclude_tail: str | os.PathLike | None = None,
    encoding: str | None = None,
) -> tuple[list[str], np.ndarray]:
    """The Stanford Sentiment Treebank from a PTB tree file (``trees/train.txt``, ``dev.txt``,
    ``test.txt`` of ``trainDevTestTrees_PTB.zip``), one tree a line, labels 0-4.

    ``phrases=False``: the whole sentences with their root labels (for dev and test).
    ``phrases=True``: every labelled phrase of every tree, as Kim (2014) trained SST: the nodes
    of each tree children first, lower-cased, and each distinct phrase once (its first
    occurrence); this rebuilds the public ``stsa.*.phrases.train`` files. ``binary=True`` gives
    SST-2: neutral (2) dropped *after* that de-duplication, as in those files, 0-1 -> 0, 3-4 -> 1.
    ``exclude_tail``: a tree file (``dev.txt``) whose trees are cut off the end of this file
    when it ends with them (some copies' ``train.txt`` hold the 8544 training trees and then
    the 1101 dev trees); a file that does not end with them is read whole.

    >>> train = load_sst_trees("train.txt", True, True, "dev.txt")  # doctest: +SKIP
    """
    binary = check_bool("binary", binary)
    phrases = check_bool("phrases", phrases)
    lines = read_lines(path, encoding)
    trees = []
    for number, line in enumerate(lines, start=1):
        try:
            trees.append(parse_sst_tree(line))
        except ValueError as error:
            raise ValueError(
                f"{Path(path).name} non-blank line {number}: expected a PTB tree such as "
                f"'(3 (2 It) (4 works))': {error}; got {line[:60]!r}"
            ) from None
    if exclude_tail is not None:
        tail = read_lines(exclude_tail, encoding)
        if tail and len(lines) > len(tail) and lines[-len(tail) :] == tail:
            trees = trees[: -len(tail)]
    texts: list[str] = []
    labels: list[int] = []
    seen: set[str] = set()
    for nodes in trees:
        for label, text in nodes if phrases else nodes[-1:]:  # the last node: the sentence
            if phrases:
                text = text.lower()
                if text in seen:
                    continue
                seen.add(text)
            if binary and label == 2:
                continue
            texts.append(text)
            labels.append(int(label > 2) if binary else label)
    if not texts:
        raise ValueError(f"{str(path)!r} has no {'phrases' if phrases else 'sentences'} left")
    return texts, np.asarray(labels, dtype="int32")
