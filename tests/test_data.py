"""helpers.data: the synthetic corpus, the polarity/IMDB/GloVe loaders, vectorize."""

from __future__ import annotations

import os
import re
import socket
import threading
import time

import numpy as np
import pytest

from helpers import data

# --- synthetic_reviews ------------------------------------------------------------------------


def rule_label(text: str) -> int:
    """The corpus rules read independently: the phrase after "but" (else the first) decides."""
    words = text.replace(",", " ").split()
    if "but" in words:
        phrase = words[words.index("but") + 1 :]
    else:
        verb = next(i for i, w in enumerate(words) if w in data._VERBS)
        phrase = words[verb + 1 :]
        if "and" in phrase:
            phrase = phrase[: phrase.index("and")]
    adjective = phrase[-1]
    polarity = 1 if adjective in data._POSITIVE else -1
    assert adjective in data._POSITIVE + data._NEGATIVE, text
    if "not" in phrase:
        polarity = -polarity
    return int(polarity > 0)


def test_synthetic_is_deterministic_for_a_seed_and_differs_across_seeds():
    texts, labels = data.synthetic_reviews(200, seed=3)
    again, labels_again = data.synthetic_reviews(200, seed=3)
    other, _ = data.synthetic_reviews(200, seed=4)
    assert texts == again
    np.testing.assert_array_equal(labels, labels_again)
    assert texts != other
    assert labels.shape == (200,) and labels.dtype == np.int32
    assert set(np.unique(labels)) == {0, 1}


def test_synthetic_labels_follow_the_word_order_rules():
    texts, labels = data.synthetic_reviews(1000, seed=0)
    assert [rule_label(t) for t in texts] == labels.tolist()


def test_synthetic_word_counts_alone_do_not_give_the_label():
    texts, labels = data.synthetic_reviews(3000, seed=0)
    assert 0.45 < labels.mean() < 0.55
    for cue in ("not", "but", "very"):
        with_cue = labels[[cue in t.split() for t in texts]]
        assert len(with_cue) > 100
        assert 0.4 < with_cue.mean() < 0.6, f"{cue!r} alone predicts the label"
    # Same words, opposite labels: only the order tells them apart.
    bags: dict[tuple[str, ...], set[int]] = {}
    for text, label in zip(texts, labels, strict=True):
        bags.setdefault(tuple(sorted(text.split())), set()).add(int(label))
    assert any(len(seen) == 2 for seen in bags.values())


@pytest.mark.parametrize(
    ("n", "seed", "error", "match"),
    [(0, 0, ValueError, "n must be a positive int; got 0"),
     (2.5, 0, TypeError, "n must be a positive int; got float 2.5"),
     (True, 0, TypeError, "n must be a positive int; got bool True"),
     (3, "a", TypeError, "seed must be an int >= 0; got str 'a'"),
     (3, -1, ValueError, "seed must be an int >= 0; got -1")],
)  # fmt: skip
def test_synthetic_rejects_bad_arguments(n, seed, error, match):
    with pytest.raises(error, match=match):
        data.synthetic_reviews(n, seed=seed)


def test_synthetic_accepts_numpy_ints():
    texts, labels = data.synthetic_reviews(np.int64(5), seed=np.int32(2))
    assert texts == data.synthetic_reviews(5, seed=2)[0] and labels.shape == (5,)


# --- load_polarity ----------------------------------------------------------------------------


def write_polarity(folder, pos=("a fine film", "caf\xe9 charm"), neg=("dull", "", "weak plot")):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "rt-polarity.pos").write_bytes("\n".join(pos).encode("latin-1") + b"\n")
    (folder / "rt-polarity.neg").write_bytes("\n".join(neg).encode("latin-1") + b"\n")
    return folder


def test_load_polarity_reads_latin1_and_labels_pos_then_neg(tmp_path):
    texts, labels = data.load_polarity(write_polarity(tmp_path / "rt"))
    assert texts == ["a fine film", "caf\xe9 charm", "dull", "weak plot"]
    assert labels.tolist() == [1, 1, 0, 0]


def test_load_polarity_missing_directory_says_where_data_comes_from(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist.*rt-polaritydata.tar.gz"):
        data.load_polarity(tmp_path / "nowhere")


def test_load_polarity_on_a_file_says_it_is_not_a_folder(tmp_path):
    folder = write_polarity(tmp_path / "rt")
    with pytest.raises(NotADirectoryError, match="pos' is not a folder: it is a file. Download"):
        data.load_polarity(folder / "rt-polarity.pos")


def test_load_polarity_missing_file_lists_what_is_there(tmp_path):
    folder = write_polarity(tmp_path / "rt")
    (folder / "rt-polarity.neg").unlink()
    with pytest.raises(
        FileNotFoundError, match=r"lacks rt-polarity.neg \(it holds \['rt-polarity.pos'\]\)"
    ):
        data.load_polarity(folder)


def test_load_polarity_empty_file_is_an_error(tmp_path):
    folder = write_polarity(tmp_path / "rt", neg=("", ""))
    with pytest.raises(ValueError, match=r"rt-polarity.neg' \(class 0\) has no sentences. Downl"):
        data.load_polarity(folder)


# --- load_imdb (never touches the network) ----------------------------------------------------


def test_keras_cache_location_private_function_still_exists():
    # If Keras renames its private keras_home(), this fails loudly instead of load_imdb.
    path = data._keras_cache_file("imdb.npz")
    assert path.name == "imdb.npz" and path.parent.name == "datasets"


@pytest.fixture
def no_cache(tmp_path, monkeypatch):
    missing = tmp_path / "datasets" / "imdb.npz"
    monkeypatch.setattr(data, "_keras_cache_file", lambda name: missing)
    return missing


def test_load_imdb_offline_fails_fast_with_instructions(no_cache, monkeypatch):
    lookups = []

    def offline(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(-3, "Temporary failure in name resolution")

    monkeypatch.setattr(socket, "getaddrinfo", offline)
    start = time.monotonic()
    with pytest.raises(ConnectionError) as info:
        data.load_imdb(num_words=100)
    assert time.monotonic() - start < 3
    assert lookups == ["storage.googleapis.com"]
    message = str(info.value)
    assert "unreachable" in message and data.IMDB_URL in message and str(no_cache) in message


def test_load_imdb_gives_up_on_a_hanging_lookup_within_the_timeout(no_cache, monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: release.wait(20) and [])
    start = time.monotonic()
    try:
        with pytest.raises(ConnectionError, match="no answer within 0.5 s"):
            data.load_imdb(timeout=0.5)
        assert time.monotonic() - start < 2
    finally:
        release.set()


def test_load_imdb_uses_the_cache_without_probing_and_restores_socket_timeout(
    tmp_path, monkeypatch
):
    cached = tmp_path / "imdb.npz"
    cached.write_bytes(b"stand-in")
    monkeypatch.setattr(data, "_keras_cache_file", lambda name: cached)
    monkeypatch.setattr(data, "_reachable", lambda *a: pytest.fail("probed the network"))
    calls = []

    def fake_load_data(**kwargs):
        calls.append((kwargs, socket.getdefaulttimeout()))
        return ("train",), ("test",)

    monkeypatch.setattr(data.keras.datasets.imdb, "load_data", fake_load_data)
    before = socket.getdefaulttimeout()
    assert data.load_imdb(num_words=50, maxlen=80, timeout=4) == (("train",), ("test",))
    assert calls == [({"num_words": 50, "maxlen": 80}, 4)]
    assert socket.getdefaulttimeout() == before


def test_load_imdb_wraps_a_failed_download(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "_keras_cache_file", lambda name: tmp_path / "imdb.npz")
    monkeypatch.setattr(data, "_reachable", lambda *a: None)

    def broken(**kwargs):
        raise Exception("URL fetch failure on x: None -- timed out")

    monkeypatch.setattr(data.keras.datasets.imdb, "load_data", broken)
    with pytest.raises(ConnectionError, match="could not get IMDB .*timed out.*Download"):
        data.load_imdb()


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"num_words": 0}, "num_words must be a positive int or None; got 0"),
     ({"maxlen": "80"}, "maxlen must be a positive int or None; got str '80'"),
     ({"timeout": 0}, "timeout must be")],
)  # fmt: skip
def test_load_imdb_rejects_bad_arguments_before_any_work(kwargs, match, monkeypatch):
    monkeypatch.setattr(data, "_reachable", lambda *a: pytest.fail("did work"))
    with pytest.raises((ValueError, TypeError), match=match):
        data.load_imdb(**kwargs)


# --- vectorize --------------------------------------------------------------------------------


def test_vectorize_shapes_vocabulary_and_padding():
    ids, vocab = data.vectorize(["The film, the END.", "a film"], max_tokens=20, sequence_length=6)
    assert ids.shape == (2, 6) and ids.dtype == np.int32
    assert vocab[:2] == ["", "[UNK]"]
    assert [vocab[i] for i in ids[0] if i] == ["the", "film", "the", "end"]
    assert ids[1, 2:].tolist() == [0, 0, 0, 0]


def test_vectorize_with_a_given_vocabulary_reproduces_the_ids():
    texts, _ = data.synthetic_reviews(300, seed=0)
    ids, vocab = data.vectorize(texts, 100, 16)
    again, vocab_again = data.vectorize(texts[:50], 100, 16, vocabulary=vocab)
    np.testing.assert_array_equal(again, ids[:50])
    assert vocab_again == vocab


def test_vectorize_adapted_on_other_texts_gives_other_ids():
    # The bug the notebook warns about: a fresh vocabulary renumbers the words.
    texts, _ = data.synthetic_reviews(300, seed=0)
    other, _ = data.synthetic_reviews(300, seed=1)
    ids, vocab = data.vectorize(texts, 100, 16)
    refit, refit_vocab = data.vectorize(texts + other[:20] * 10, 100, 16)
    assert refit_vocab != vocab
    assert not np.array_equal(refit[: len(texts)], ids)


def test_vectorize_refuses_a_vocabulary_without_padding_and_unk():
    # The bug: ["good", "bad", "film"] lost its first two words and became ['', '[UNK]', 'film'].
    with pytest.raises(ValueError, match=r"must start with \['', '\[UNK\]'\].*got \['good', 'bad'"):
        data.vectorize(["a good film"], 10, 4, vocabulary=["good", "bad", "film"])
    ids, vocab = data.vectorize(["a good film"], 10, 4, vocabulary=["", "[UNK]", "good", "film"])
    assert vocab == ["", "[UNK]", "good", "film"] and ids.tolist() == [[1, 2, 3, 0]]


def test_vectorize_accepts_numpy_ints():
    ids, _ = data.vectorize(["a good film"], np.int64(10), np.int32(4))
    assert ids.shape == (1, 4)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [(("a film", 10, 4), TypeError, "list of strings"), (([], 10, 4), ValueError, "texts is empty"),
     ((["a", 3], 10, 4), TypeError, r"texts\[1\] is int 3; texts must hold only strings"),
     ((["a"], 2, 4), ValueError, "at least 3"),
     ((["a"], 10, 0), ValueError, "sequence_length must be a positive int; got 0"),
     ((["a"], 10, True), TypeError, "sequence_length must be a positive int; got bool True"),
     ((["a"], 10.0, 4), TypeError, "max_tokens must be a positive int; got float 10.0"),
     ((["a"], 10, 4, "film"), TypeError, "vocabulary must be a list of strings"),
     ((["a"], 10, 4, ["", "[UNK]", "a", "a"]), ValueError, r"vocabulary repeats \['a'\]"),
     ((["a"], 3, 4, ["", "[UNK]", "a", "b"]), ValueError, "4 tokens, more than max_tokens=3")],
)  # fmt: skip
def test_vectorize_rejects_bad_arguments(args, error, match):
    with pytest.raises(error, match=match):
        data.vectorize(*args)


# --- vectorize_to_npy -------------------------------------------------------------------------


def test_vectorize_to_npy_appends_chunks_into_one_memory_mapped_file(tmp_path):
    texts, _ = data.synthetic_reviews(250, seed=0)
    ids, vocab = data.vectorize(texts, 100, 12)
    pulled = []

    def chunks():
        for start in range(0, 250, 100):  # chunks of 100, 100, 50
            pulled.append(start)
            yield texts[start : start + 100]

    out = data.vectorize_to_npy(chunks(), tmp_path / "ids.npy", vocab, 12)
    assert pulled == [0, 100, 200]
    assert isinstance(out, np.memmap) and out.dtype == np.int32 and out.shape == (250, 12)
    np.testing.assert_array_equal(out, ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.npy"]


def test_vectorize_to_npy_leaves_nothing_on_failure_and_keeps_an_old_file(tmp_path):
    texts, _ = data.synthetic_reviews(20, seed=0)
    _, vocab = data.vectorize(texts, 100, 8)
    target = tmp_path / "ids.npy"
    target.write_bytes(b"old")

    def chunks():
        yield texts[:10]
        raise OSError("disk went away")

    with pytest.raises(OSError, match="disk went away"):
        data.vectorize_to_npy(chunks(), target, vocab, 8)
    with pytest.raises(ValueError, match="chunks yielded no sentences"):
        data.vectorize_to_npy(iter([]), target, vocab, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ids.npy"]
    assert target.read_bytes() == b"old"


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [(([["a"]], "ids.npy", ["a", "b"], 4), ValueError, "must start with"),
     (([["a"]], "ids.npy", ["", "[UNK]", "a"], 0), ValueError, "sequence_length must be"),
     (("a film", "ids.npy", ["", "[UNK]", "a"], 4), TypeError, "iterable of lists"),
     (([["a"]], "no/ids.npy", ["", "[UNK]", "a"], 4), FileNotFoundError, "does not exist")],
)  # fmt: skip
def test_vectorize_to_npy_rejects_bad_arguments_before_writing(tmp_path, args, error, match):
    chunks, name, vocab, length = args
    with pytest.raises(error, match=match):
        data.vectorize_to_npy(chunks, tmp_path / name, vocab, length)
    assert not list(tmp_path.iterdir())


# --- load_glove -------------------------------------------------------------------------------


def write_glove(path, lines):
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_load_glove_fills_rows_leaves_missing_zero_and_reports_fraction(tmp_path):
    glove = write_glove(
        tmp_path / "g.txt",
        ["film 1 2 3", "the 0.5 -0.5 0", "unused 9 9 9", ". . . 7 8 9", "film 4 4 4"],
    )
    vocab = ["", "[UNK]", "the", "film", "plot", ". . ."]
    matrix, found = data.load_glove(glove, vocab, 3)
    assert matrix.shape == (6, 3) and matrix.dtype == np.float32
    np.testing.assert_array_equal(matrix[2], [0.5, -0.5, 0])
    np.testing.assert_array_equal(matrix[3], [1, 2, 3])  # first line for a word wins
    np.testing.assert_array_equal(matrix[5], [7, 8, 9])  # a word with spaces
    assert not matrix[[0, 1, 4]].any()  # padding, [UNK] and the missing "plot" are zeros
    assert found == 3 / 4


@pytest.mark.parametrize("bad", ["plot 1 2", "plot 1 2 3 4"])
def test_load_glove_wrong_dimension_names_the_line(tmp_path, bad):
    glove = write_glove(tmp_path / "g.txt", ["film 1 2 3", "", bad])
    with pytest.raises(ValueError, match=r"g.txt line 3: \d values after the word, expected dim=3"):
        data.load_glove(glove, ["", "[UNK]", "film"], 3)


def test_load_glove_non_number_names_the_line(tmp_path):
    glove = write_glove(tmp_path / "g.txt", ["film 1 x 3"])
    with pytest.raises(ValueError, match="g.txt line 1: could not convert"):
        data.load_glove(glove, ["film"], 3)


def test_glove_dim_reads_the_first_line(tmp_path):
    assert data.glove_dim(write_glove(tmp_path / "a.txt", ["film 1 2 3", "x 1"])) == 3
    assert data.glove_dim(write_glove(tmp_path / "b.txt", [". . . 0.5 -1"])) == 2


@pytest.mark.parametrize("first", ["", "word count", "film"])
def test_glove_dim_without_numbers_on_the_first_line_is_an_error(tmp_path, first):
    # It returned 0, and the CLI then said "pass --embedding-dim 0".
    glove = tmp_path / "empty.txt"
    glove.write_text(first, encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty.txt: the first line .* holds no numbers"):
        data.glove_dim(glove)


def test_glove_paths_that_are_folders_are_not_files(tmp_path):
    with pytest.raises(IsADirectoryError, match="is not a file: it is a folder. Download"):
        data.load_glove(tmp_path, ["film"], 3)
    with pytest.raises(IsADirectoryError, match="is not a file: it is a folder. Download"):
        data.glove_dim(tmp_path)
    with pytest.raises(FileNotFoundError, match="does not exist. Download"):
        data.glove_dim(tmp_path / "none.txt")


def test_load_glove_missing_file_says_where_to_get_it(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist. Download .*glove.840B.300d.zip"):
        data.load_glove(tmp_path / "none.txt", ["film"], 3)


def test_load_glove_rejects_bad_dim_and_vocabulary(tmp_path):
    glove = write_glove(tmp_path / "g.txt", ["film 1 2 3"])
    with pytest.raises(ValueError, match="dim must be a positive int; got 0"):
        data.load_glove(glove, ["film"], 0)
    with pytest.raises(TypeError, match="dim must be a positive int; got float 3.0"):
        data.load_glove(glove, ["film"], 3.0)
    assert data.load_glove(glove, ["film"], np.int64(3))[0].shape == (1, 3)
    with pytest.raises(TypeError, match="vocabulary must be a non-empty list"):
        data.load_glove(glove, "film", 3)


# --- reliability: encodings, GloVe, blank texts --------------------------------------------------


def polarity(folder, pos: bytes, neg: bytes = b"a bad film\n"):
    folder.mkdir(exist_ok=True)
    (folder / "rt-polarity.pos").write_bytes(pos)
    (folder / "rt-polarity.neg").write_bytes(neg)
    return folder


@pytest.mark.parametrize(
    "raw",
    ["un film r\u00e9ussi\n".encode("utf-16"), "un film r\u00e9ussi\n".encode("utf-8"),
     "un film r\u00e9ussi\n".encode("utf-8-sig"), "un film r\u00e9ussi\n".encode("latin-1")],
    ids=["utf-16 bom", "utf-8", "utf-8 bom", "latin-1"],
)  # fmt: skip
def test_load_polarity_detects_the_encoding_never_mojibake(tmp_path, raw):
    texts, _ = data.load_polarity(polarity(tmp_path / "mr", raw))
    assert texts[0] == "un film r\u00e9ussi"


def test_load_polarity_refuses_what_it_cannot_read_and_accepts_an_explicit_encoding(tmp_path):
    quotes = "a \u201cgood\u201d film\n".encode("cp1252")
    texts, _ = data.load_polarity(polarity(tmp_path / "a", quotes))  # cp1252, not latin-1 junk
    assert texts[0] == "a \u201cgood\u201d film"
    no_bom = "a good film\n".encode("utf-16-le")
    with pytest.raises(ValueError, match="NUL bytes: UTF-16 without a byte-order mark"):
        data.load_polarity(polarity(tmp_path / "b", no_bom, "a bad film\n".encode("utf-16-le")))
    texts, _ = data.load_polarity(tmp_path / "b", encoding="utf-16-le")
    assert texts[0] == "a good film"
    with pytest.raises(ValueError, match=r"rt-polarity.pos' line 1 is not valid utf-8"):
        data.load_polarity(polarity(tmp_path / "c", b"caf\xe9\n"), encoding="utf-8")
    with pytest.raises(ValueError, match="encoding 'utf-9' is not a known codec"):
        data.load_polarity(tmp_path / "c", encoding="utf-9")


@pytest.mark.parametrize("call", [data.load_polarity, data.glove_dim, data.read_lines,
                                  data.load_labeled, data.load_trec, data.load_sst,
                                  lambda p: data.load_class_files([p, "neg.txt"]),
                                  lambda p: data.load_glove(p, ["", "[UNK]", "a"], 3)])  # fmt: skip
@pytest.mark.parametrize("bad", [None, 3, ""])
def test_path_arguments_are_named_in_the_error(call, bad):
    with pytest.raises(
        (TypeError, ValueError),
        match=r"^(directory|path|paths\[0\]) (must be a path|is an empty)",
    ):
        call(bad)


def test_load_glove_on_an_empty_file_is_the_same_error_as_glove_dim(tmp_path):
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(ValueError) as from_dim:
        data.glove_dim(empty)
    with pytest.raises(ValueError) as from_load:
        data.load_glove(empty, ["", "[UNK]", "a"], 3)
    assert str(from_load.value) == str(from_dim.value)


@pytest.mark.parametrize("value", ["nan", "inf", "1e39"])  # 1e39 overflows float32 to inf
def test_load_glove_refuses_a_non_finite_vector_saying_where(tmp_path, value):
    glove = tmp_path / "g.txt"
    glove.write_text(f"the 0.1 0.2 0.3\nplot 0.1 {value} 0.3\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"g.txt line 2: the vector of 'plot' holds 1 non-finite .* at \[1\]"
    ):
        data.load_glove(glove, ["", "[UNK]", "the", "plot"], 3)


def test_vectorize_blank_texts_and_chunk_errors_name_the_argument(tmp_path):
    with pytest.raises(ValueError, match="texts hold no words to learn a vocabulary from"):
        data.vectorize(["", "  ", "!!"], 10, 4)
    _, vocab = data.vectorize(["a good film"], 10, 4)
    with pytest.raises(TypeError, match=r"chunk 1 of chunks\[0\] is int 5"):
        data.vectorize_to_npy(iter([["a film"], [5]]), tmp_path / "ids.npy", vocab, 4)
    with pytest.raises(ValueError, match="chunk 0 of chunks is empty"):
        data.vectorize_to_npy(iter([[]]), tmp_path / "ids.npy", vocab, 4)
    with pytest.raises(TypeError, match="^path must be a path"):
        data.vectorize_to_npy(iter([["a"]]), None, vocab, 4)
    assert list(tmp_path.iterdir()) == []


# --- loaders of the Kim (2014) benchmarks: encodings and formats ---


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("café naïve".encode(), "utf-8"),
        ("café naïve".encode("latin-1"), "latin-1"),
        ("“quoted”".encode("cp1252"), "cp1252"),  # 0x93/0x94: cp1252's curly quotes
        ("café".encode("utf-16"), "utf-16"),  # with its byte-order mark
        ("\ufeffcafé".encode(), "utf-8-sig"),
        (b"plain ascii\n", "utf-8"),
    ],
)
def test_detect_encoding_reads_each_encoding_back_exactly(raw, expected):
    assert data.detect_encoding(raw) == expected
    assert raw.decode(expected).lstrip("\ufeff") in (
        "café naïve",
        "“quoted”",
        "café",
        "plain ascii\n",
    )


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        ("café".encode("utf-16-le"), "NUL bytes: UTF-16 without a byte-order mark"),
        (b"\xe9t\xe9\x01\x02", r"control bytes \['0x1', '0x2'\]"),
        (b"caf\xe9 \x81", "neither UTF-8 nor latin-1/cp1252"),  # 0x81 is undefined in cp1252
    ],
)
def test_detect_encoding_refuses_what_it_cannot_read_correctly(raw, match):
    with pytest.raises(ValueError, match=match):
        data.detect_encoding(raw)


def test_read_lines_never_returns_mojibake(tmp_path):
    lines = ["un film très réussi", "  ", "a naïve plot"]
    for encoding in ("utf-8", "latin-1", "utf-16"):
        path = tmp_path / f"{encoding}.txt"
        path.write_text("\n".join(lines) + "\n", encoding=encoding)
        assert data.read_lines(path) == ["un film très réussi", "a naïve plot"], encoding
    # A wrong explicit encoding is an error naming the line, not silently wrong text.
    bad = tmp_path / "latin.txt"
    bad.write_text("fine\nun film très réussi\n", encoding="latin-1")
    with pytest.raises(ValueError, match=r"latin.txt' line 2 is not valid utf-8"):
        data.read_lines(bad, encoding="utf-8")
    assert data.read_lines(bad, encoding="latin-1")[1] == "un film très réussi"
    with pytest.raises(ValueError, match="'klingon' is not a known codec"):
        data.read_lines(bad, encoding="klingon")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.read_lines(tmp_path / "missing.txt")
    utf16 = tmp_path / "no_bom.txt"
    utf16.write_bytes("a line\n".encode("utf-16-le"))
    with pytest.raises(ValueError, match="no_bom.txt.*pass encoding="):
        data.read_lines(utf16)
    assert data.read_lines(utf16, encoding="utf-16-le") == ["a line"]


def test_load_class_files_labels_each_file_by_its_position(tmp_path):
    files = []
    for name, lines in (("obj", ["a plot summary", "another"]), ("subj", ["i loved it"])):
        files.append(tmp_path / name)
        files[-1].write_text("\n".join(lines) + "\n\n", encoding="utf-8")
    texts, labels = data.load_class_files(files)
    assert texts == ["a plot summary", "another", "i loved it"]
    assert labels.tolist() == [0, 0, 1] and labels.dtype == np.int32
    with pytest.raises(ValueError, match="at least 2 files"):
        data.load_class_files(files[:1])
    with pytest.raises(TypeError, match="one per class"):
        data.load_class_files(str(files[0]))
    (tmp_path / "empty").write_text("\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"empty' \(class 1\) has no sentences"):
        data.load_class_files([files[0], tmp_path / "empty"])


def test_load_labeled_reads_label_text_lines(tmp_path):
    path = tmp_path / "stsa.fine.dev"
    path.write_text(
        "4 a triumph .\n\n0 a mess , start to finish\n2 it is a film\n", encoding="utf-8"
    )
    texts, labels = data.load_labeled(path)
    assert texts == ["a triumph .", "a mess , start to finish", "it is a film"]
    assert labels.tolist() == [4, 0, 2]
    path.write_text("1 fine\n0\n", encoding="utf-8")  # a label and no text: an empty sentence
    assert data.load_labeled(path)[0] == ["fine", ""]
    for line, what in (
        ("positive a triumph", "positive"),
        ("-1 a mess", "-1 a mess"),
        ("3.5 x", "3.5 x"),
    ):
        path.write_text(f"1 fine\n{line}\n", encoding="utf-8")
        with pytest.raises(
            ValueError, match=f"stsa.fine.dev non-blank line 2: expected 'LABEL text'.*{what}"
        ):
            data.load_labeled(path)


def test_load_trec_labels_the_coarse_class(tmp_path):
    path = tmp_path / "TREC_10.label"
    path.write_text(
        "NUM:dist How far is it from Denver to Aspen ?\nLOC:city What county is Modesto in ?\n"
        "ABBR:exp What does NASA stand for ?\n",
        encoding="latin-1",
    )
    texts, labels = data.load_trec(path)
    assert texts[0] == "How far is it from Denver to Aspen ?"
    assert [data.TREC_CLASSES[i] for i in labels] == ["NUM", "LOC", "ABBR"]
    path.write_text("NUMBER:dist How far ?\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"line 1: expected 'COARSE:fine question' with COARSE one of \('ABBR'"
    ):
        data.load_trec(path)


def test_load_sst_takes_root_labels_and_leaves_of_whole_sentences(tmp_path):
    path = tmp_path / "dev.txt"
    trees = [
        "(3 (2 It) (4 (4 (2 's) (4 (3 (2 a) (4 (3 lovely) (2 film))) (3 (2 with) "
        "(4 (3 (3 lovely) (2 performances)))))) (2 .)))",
        "(2 (2 It) (2 (2 's) (2 there)))",
        "(0 (1 A) (0 disaster))",
        "(4 (2 -LRB-) (4 (4 brilliant) (2 -RRB-)))",
    ]
    path.write_text("\n".join(trees) + "\n", encoding="utf-8")
    texts, labels = data.load_sst(path)
    assert texts[0] == "It 's a lovely film with lovely performances ."
    assert labels.tolist() == [3, 2, 0, 4]
    texts, labels = data.load_sst(path, binary=True)  # SST-2: neutral dropped
    assert texts == [texts[0], "A disaster", "-LRB- brilliant -RRB-"] and labels.tolist() == [
        1,
        0,
        1,
    ]
    with pytest.raises(TypeError, match="binary must be True or False"):
        data.load_sst(path, binary="yes")
    path.write_text("(3 (2 It) (4 works)\n", encoding="utf-8")  # a parenthesis short
    with pytest.raises(ValueError, match="dev.txt non-blank line 1: expected a PTB tree"):
        data.load_sst(path)


def test_a_file_mixing_utf8_and_latin1_lines_is_refused_not_read_as_mojibake(tmp_path):
    mixed = tmp_path / "mixed.txt"
    mixed.write_bytes("café au lait\n".encode() + "crème brûlée\n".encode("latin-1"))
    with pytest.raises(ValueError, match=r"mixes encodings: line 1 is UTF-8 .* line 2 is not"):
        data.read_lines(mixed)
    assert data.read_lines(mixed, "latin-1")[1] == "crème brûlée"  # a chosen encoding is used


@pytest.mark.parametrize("inside", ["\f", "\u2028", "\u0085", "\x0b", "\u2029"])
def test_only_newlines_end_a_sentence(tmp_path, inside):
    file = tmp_path / "f.txt"
    file.write_text(f"0 one{inside}sentence\r\n1 two\r3 three\n", encoding="utf-8")
    texts, labels = data.load_labeled(file)
    assert texts == [f"one{inside}sentence", "two", "three"] and labels.tolist() == [0, 1, 3]


def test_a_tab_after_the_label_or_tag_keeps_the_first_word(tmp_path):
    trec, labeled = tmp_path / "trec.label", tmp_path / "l.txt"
    trec.write_text("LOC:city\tWhere is it ?\n", encoding="utf-8")
    labeled.write_text("1\tgood film\n", encoding="utf-8")
    assert data.load_trec(trec)[0] == ["Where is it ?"]
    assert data.load_labeled(labeled)[0] == ["good film"]


@pytest.mark.parametrize("label", [str(2**32 + 1), "²", "-1"])
def test_a_label_out_of_range_names_the_file_and_line(tmp_path, label):
    file = tmp_path / "l.txt"
    file.write_text(f"0 fine\n{label} bad\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"l.txt non-blank line 2: .*label from 0 to 2147483647"):
        data.load_labeled(file)


@pytest.mark.parametrize("binary", [False, True])
def test_load_sst_refuses_a_label_above_4(tmp_path, binary):
    file = tmp_path / "train.txt"
    file.write_text("(3 (2 It) (4 works))\n(7 (2 It) (9 fails))\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2: .*label '7': SST labels are 0"):
        data.load_sst(file, binary)


# --- campaign 24: bad input that read silently wrong, or raised a vague or misleading error ---


@pytest.mark.parametrize(
    "raw",
    [
        "café ".encode() + "naïve\n".encode("latin-1"),  # both encodings in one line
        "café\r".encode() + "naïve\r".encode("latin-1"),  # old Mac line ends
    ],
)
def test_mixed_encodings_are_refused_in_one_line_and_with_cr_line_ends(tmp_path, raw):
    file = tmp_path / "mixed.txt"
    file.write_bytes(raw)
    with pytest.raises(ValueError, match=r"mixes encodings: line 1 is UTF-8 text \('é', .*'Ã©'"):
        data.read_lines(file)


def test_utf32_with_a_byte_order_mark_is_read_as_utf32(tmp_path):
    file = tmp_path / "u32.txt"
    file.write_bytes("ab\ncd\n".encode("utf-32"))
    assert data.read_lines(file) == ["ab", "cd"]  # was ['\x00a\x00b\x00', ...] as UTF-16


@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le"])
def test_a_byte_order_mark_is_no_part_of_the_first_word(tmp_path, encoding):
    file = tmp_path / "l.txt"
    codec = "utf-8-sig" if encoding == "utf-8" else "utf-16"
    file.write_bytes("1 good\n0 bad\n".encode(codec))
    assert data.load_labeled(file, encoding)[0] == ["good", "bad"]
    concatenated = tmp_path / "cat.txt"
    concatenated.write_bytes(b"good\n\xef\xbb\xbfbad\n")
    assert data.read_lines(concatenated) == ["good", "bad"]


def test_latin1_given_for_a_utf8_file_is_refused_not_mojibake(tmp_path):
    file = tmp_path / "u8.txt"
    file.write_text("café\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"is UTF-8 text: read as latin-1 its 'é' would become"):
        data.read_lines(file, "latin-1")
    assert data.read_lines(file, "utf-8") == ["café"]


@pytest.mark.parametrize("raw", [b"a\x00b\n", b"ok\nx\x1by\n"])
def test_control_characters_in_a_given_encoding_are_refused(tmp_path, raw):
    file = tmp_path / "c.txt"
    file.write_bytes(raw)
    with pytest.raises(ValueError, match=r"line \d holds the control character"):
        data.read_lines(file, "utf-8")


def test_a_broken_symlink_a_pipe_and_a_device_are_named_as_such(tmp_path):
    link = tmp_path / "link.txt"
    link.symlink_to(tmp_path / "gone.txt")
    with pytest.raises(FileNotFoundError, match="is a symbolic link to .*gone.txt.*not exist"):
        data.read_lines(link)
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    with pytest.raises(ValueError, match="is not a regular file"):
        data.read_lines(fifo)  # would block forever in read_bytes
    with pytest.raises(ValueError, match="is not a regular file"):
        data.load_labeled("/dev/null")
    with pytest.raises(IsADirectoryError, match="is not a file: it is a folder"):
        data.load_trec(tmp_path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("(3 (2 It) (X works))", "label 'X': SST labels are 0"),
        ("(3 (8 It) (4 works))", "label '8': SST labels are 0"),
        ("(10 (2 It) (4 works))", "label '10': SST labels are 0"),
        ("(3 (2 It) (4 works) extra)", "a word 'extra' beside child nodes"),
        ("(3 (2 It)) (1 (4 works))", "text after the tree's closing parenthesis"),
        ("(3 (2 It) (4 works)) junk", "text 'junk' outside the tree's parentheses"),
        ("(3 (2 It) (4 works)", "unbalanced parentheses: 3 '(' and 2 ')'"),
        ("(3 (2 It) (4))", "an empty node '()'"),
    ],
)
def test_load_sst_never_drops_a_word_of_a_malformed_tree(tmp_path, line, problem):
    file = tmp_path / "train.txt"
    file.write_text(f"(1 (2 fine) (0 one))\n{line}\n", encoding="utf-8")
    with pytest.raises(ValueError, match=rf"train.txt non-blank line 2: .*{re.escape(problem)}"):
        data.load_sst(file)


def test_load_sst_reads_any_whitespace_between_nodes(tmp_path):
    file = tmp_path / "train.txt"
    file.write_text("(3\t(2 It)  (4\tworks))\n", encoding="utf-8")
    assert data.load_sst(file)[0] == ["It works"]


def test_load_sst_keeps_a_leaf_that_holds_a_space(tmp_path):
    """The treebank's training trees have leaves such as ``(2 8 1\\/2)`` (line 4342 of
    train.txt): one word with a space, read whole, never refused or cut."""
    file = tmp_path / "train.txt"
    file.write_text("(1 (2 (2 8 1\\/2) (2 is)) (1 dull))\n", encoding="utf-8")
    assert data.load_sst(file)[0] == ["8 1\\/2 is dull"]


def test_a_data_file_that_is_a_folder_is_reported_as_a_folder(tmp_path):
    folder = write_polarity(tmp_path / "rt")
    (folder / "rt-polarity.neg").unlink()
    (folder / "rt-polarity.neg").mkdir()
    with pytest.raises(IsADirectoryError, match="rt-polarity.neg' is not a file: it is a folder"):
        data.load_polarity(folder)


def test_load_class_files_refuses_one_file_for_two_classes(tmp_path):
    file = tmp_path / "a.txt"
    file.write_text("good film\n", encoding="utf-8")
    (tmp_path / "link.txt").symlink_to(file)
    for second in (file, tmp_path / "link.txt"):
        with pytest.raises(ValueError, match=r"paths\[0\] .* and paths\[1\] .* are the same file"):
            data.load_class_files([file, second])


@pytest.mark.parametrize("token", ["The", ",", "'s", "new york"])
def test_vectorize_refuses_vocabulary_tokens_it_can_never_produce(token):
    with pytest.raises(ValueError, match="that vectorize can never produce"):
        data.vectorize(["The film , new york 's"], 10, 6, ["", "[UNK]", "film", token])


def test_vectorize_lower_cases_every_letter_and_takes_its_vocabulary_back():
    ids, vocabulary = data.vectorize(["Café NAÏVE", "café naïve"], 10, 2)
    assert vocabulary == ["", "[UNK]", "naïve", "café"]  # was 'naÏve' and 'café' apart
    assert ids.tolist() == [[3, 2], [3, 2]]
    again, _ = data.vectorize(["CAFÉ"], 10, 2, vocabulary)
    assert again.tolist() == [[3, 0]]


def test_vectorize_to_npy_names_a_folder_or_a_file_in_the_way(tmp_path):
    vocabulary = ["", "[UNK]", "a"]
    with pytest.raises(IsADirectoryError, match="is a folder; .* name the file to write"):
        data.vectorize_to_npy([["a"]], tmp_path, vocabulary, 2)
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="f' is a file, not a folder"):
        data.vectorize_to_npy([["a"]], tmp_path / "f" / "ids.npy", vocabulary, 2)


@pytest.mark.parametrize("raw", ["caf\xe9 1 0\n".encode("latin-1"), "café 1 0\n".encode("utf-16")])
def test_a_glove_file_that_is_not_utf8_is_refused_not_silently_unmatched(tmp_path, raw):
    glove = tmp_path / "g.txt"
    glove.write_bytes(raw)
    with pytest.raises(ValueError, match="g.txt is not UTF-8 after line 0"):
        data.load_glove(glove, ["", "[UNK]", "café"], 2)


def test_a_glove_file_with_a_byte_order_mark_finds_its_first_word(tmp_path):
    glove = tmp_path / "g.txt"
    glove.write_bytes("\ufeffthe 1 0\nfilm 0 1\n".encode())
    assert data.glove_dim(glove) == 2
    matrix, found = data.load_glove(glove, ["", "[UNK]", "the"], 2)
    assert found == 1.0 and matrix[2].tolist() == [1.0, 0.0]


def test_detect_encoding_takes_bytes_only():
    with pytest.raises(TypeError, match="takes the file's bytes"):
        data.detect_encoding("café")


# --- load_sst_trees: Kim's SST, every labelled phrase of the training trees -----------------

SST_TREES = [
    "(3 (2 It) (4 (3 (2 a) (4 (3 lovely) (2 film))) (2 .)))",
    "(1 (2 It) (1 (2 's) (0 (2 (2 8) (2 1\\/2)) (0 dull))))",  # "8 1\/2" is one leaf
    "(3 (3 Lovely) (2 film))",  # "lovely" and "film" again (other case): kept once
]


def test_parse_sst_tree_gives_every_node_children_first():
    assert data.parse_sst_tree("(3 (2 It) (4 (3 good) (2 film)))") == [
        (2, "It"), (3, "good"), (2, "film"), (4, "good film"), (3, "It good film")]  # fmt: skip
    assert data.parse_sst_tree("(2 (2 8 1\\/2) (3 works))")[-1] == (2, "8 1\\/2 works")


def test_load_sst_trees_gives_kims_phrases_and_whole_sentences(tmp_path):
    path = tmp_path / "train.txt"
    path.write_text("\n".join(SST_TREES) + "\n", encoding="utf-8")
    texts, labels = data.load_sst_trees(path, phrases=True)
    assert list(zip(labels.tolist(), texts, strict=True)) == [
        (2, "it"), (2, "a"), (3, "lovely"), (2, "film"), (4, "lovely film"), (3, "a lovely film"),
        (2, "."), (4, "a lovely film ."), (3, "it a lovely film ."), (2, "'s"), (2, "8"),
        (2, "1\\/2"), (2, "8 1\\/2"), (0, "dull"), (0, "8 1\\/2 dull"), (1, "'s 8 1\\/2 dull"),
        (1, "it 's 8 1\\/2 dull")]  # fmt: skip
    binary, labels2 = data.load_sst_trees(path, binary=True, phrases=True)
    # SST-2 drops neutral after de-duplication: "lovely film" of tree 3 is not added again
    assert binary == [t for t, label in zip(texts, labels, strict=True) if label != 2]
    assert labels2.tolist() == [int(label > 2) for label in labels.tolist() if label != 2]
    sentences, roots = data.load_sst_trees(path)
    assert sentences[1] == "It 's 8 1\\/2 dull" and roots.tolist() == [3, 1, 3]
    assert data.load_sst_trees(path, binary=True)[1].tolist() == [1, 0, 1]


def test_load_sst_trees_cuts_the_dev_trees_off_the_end_of_train(tmp_path):
    train, dev = tmp_path / "train.txt", tmp_path / "dev.txt"
    dev.write_text(SST_TREES[0] + "\n" + SST_TREES[2] + "\n", encoding="utf-8")
    # A train.txt holding the training trees and then the dev trees, as in some copies
    train.write_text("\n".join([*SST_TREES[:2], SST_TREES[0], SST_TREES[2]]), encoding="utf-8")
    assert data.load_sst_trees(train, exclude_tail=dev)[1].tolist() == [3, 1]
    # The standard train.txt does not end with dev's trees: read whole, although tree 1 is in both
    train.write_text("\n".join(SST_TREES[:2]), encoding="utf-8")
    assert data.load_sst_trees(train, exclude_tail=dev)[1].tolist() == [3, 1]
    train.write_text("\n".join(SST_TREES[:1]), encoding="utf-8")
    assert data.load_sst_trees(train, exclude_tail=dev)[1].tolist() == [3]


@pytest.mark.parametrize(
    ("tree", "match"),
    [
        ("(3 (2 It) (4 works)", r"unbalanced parentheses: 3 '\(' and 2 '\)'"),
        ("(3 (2 It)) (4 works))", r"unbalanced parentheses|text after the tree"),
        ("(3 (2 It) (5 works))", "label '5': SST labels are 0 .* to 4"),
        ("(3 (2 It) (-1 works))", "label '-1': SST labels are 0"),
        ("(x (2 It) (4 works))", "label 'x': SST labels are 0"),
        ("()", r"an empty node '\(\)'"),
        ("(3 (2 It) (4))", r"an empty node '\(\)'"),
        ("(3 (2 It) words (4 works))", "a word 'words' beside child nodes"),
        ("(3 (2 It)) (4 works)", "text after the tree's closing parenthesis"),
        ("It works", "text 'It works' outside the tree's parentheses"),
    ],
)
def test_load_sst_trees_refuses_a_bad_tree_naming_file_and_line(tmp_path, tree, match):
    path = tmp_path / "dev.txt"
    path.write_text(SST_TREES[0] + "\n" + tree + "\n", encoding="utf-8")
    for phrases in (False, True):
        with pytest.raises(
            ValueError, match=f"dev.txt non-blank line 2: expected a PTB tree .*: {match}"
        ):
            data.load_sst_trees(path, phrases=phrases)


def test_load_sst_trees_refuses_empty_files_and_bad_options(tmp_path):
    path = tmp_path / "test.txt"
    path.write_text("\n\n", encoding="utf-8")
    with pytest.raises(ValueError, match="test.txt' has no sentences left"):
        data.load_sst_trees(path)
    path.write_text("(2 (2 It) (2 is))\n", encoding="utf-8")
    with pytest.raises(ValueError, match="test.txt' has no phrases left"):
        data.load_sst_trees(path, binary=True, phrases=True)  # all neutral
    with pytest.raises(TypeError, match="phrases must be True or False"):
        data.load_sst_trees(path, phrases="yes")
    with pytest.raises(TypeError, match="a tree must be a str"):
        data.parse_sst_tree(None)
