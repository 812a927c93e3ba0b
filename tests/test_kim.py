"""helpers.kim: Kim's (2014) protocol (folds, dev split, early stopping, max-norm), the Table 2
registry, the benchmark script and the CLI's --preset mode."""

from __future__ import annotations

import json
import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import data, kim, textcnn

ROOT = Path(__file__).resolve().parents[1]
# A small CNN-rand, so that the protocol's tests take seconds; everything else is Kim's.
TINY = kim.Preset("tiny", "a small CNN-rand", num_filters=4, embedding_size=8, epochs=3)


def corpus(n: int, seed: int = 0) -> tuple[list[str], np.ndarray]:
    texts, labels = data.synthetic_reviews(n, seed=seed)
    return [f"{text} id{i}" for i, text in enumerate(texts)], labels  # every sentence unique


def test_the_preset_is_the_papers():
    p = kim.KIM_RAND
    assert (p.filter_sizes, p.num_filters, p.embedding_size) == ((3, 4, 5), 100, 300)
    assert (p.dropout, p.max_norm, p.batch_size, p.feature_dim) == (0.5, 3.0, 50, None)
    assert (p.epochs, p.dev_fraction, p.rho, p.epsilon) == (25, 0.1, 0.95, 1e-6)
    assert kim.get_preset("kim-rand+extractor").feature_dim == 100
    with pytest.raises(ValueError, match=r"unknown preset 'kim'; known: \['kim-rand'"):
        kim.get_preset("kim")


def test_folds_partition_the_data_and_dev_never_touches_test():
    folds = kim.fold_indices(103, 10, seed=3)
    joined = np.concatenate(folds)
    assert sorted(joined.tolist()) == list(range(103))  # each sentence in exactly one fold
    assert {len(f) for f in folds} == {10, 11}
    assert all(
        (a == b).all() for a, b in zip(folds, kim.fold_indices(103, 10, seed=3), strict=True)
    )
    rest = np.setdiff1d(np.arange(103), folds[0])
    fit, dev = kim.dev_split(rest, 0.1, seed=0)
    assert len(dev) == 9 and len(fit) == len(rest) - 9
    assert not set(dev) & set(fit) and not (set(dev) | set(fit)) & set(folds[0])
    with pytest.raises(ValueError, match="folds=5 is more than the 4 sentences"):
        kim.fold_indices(4, 5)
    with pytest.raises(ValueError, match="folds must be an int >= 2"):
        kim.fold_indices(10, 1)


def test_tokenize_is_kims_cleaning():
    # Kept as words: , ! ? ( ) and the clitics; dropped: . ; : - " and the like; hyphens split.
    assert kim.tokenize("A good, clever film!") == ["a", "good", ",", "clever", "film", "!"]
    assert kim.tokenize("it's -- really -- not  good .") == ["it", "'s", "really", "not", "good"]
    assert kim.tokenize("We'll see; they've (maybe) won't.") == [
        "we", "'ll", "see", "they", "'ve", "(", "maybe", ")", "wo", "n't"]  # fmt: skip
    assert kim.tokenize('a mass-market "hit"?') == ["a", "mass", "market", "hit", "?"]
    assert kim.tokenize("What is NASA ?", lowercase=False) == ["What", "is", "NASA", "?"]
    assert kim.tokenize("... -- ;") == []
    # As Kim's regular expressions do: case-sensitive clitics, ASCII letters only, ` and ' kept.
    assert kim.tokenize("DON'T stop") == ["don't", "stop"]
    assert kim.tokenize("café naïve") == ["caf", "na", "ve"]
    assert kim.tokenize("``hello'' the '90s") == ["``hello''", "the", "'90s"]
    with pytest.raises(TypeError, match="lowercase must be True or False; got str"):
        kim.tokenize("a", lowercase="no")


def test_sentence_length_counts_words_as_the_encoding_does():
    texts = ["A good, clever film!", "bad", "it's -- really -- not  good ."]
    length = kim.sentence_length(texts)
    vocabulary = kim.build_vocabulary(texts)
    ids = kim.encode(texts, vocabulary, length, pad=0)
    assert length == (ids > 0).sum(axis=1).max() == 6
    assert vocabulary[:3] == ["", "[UNK]", "good"] and len(set(vocabulary)) == len(vocabulary)


def test_encode_pads_both_sides_cuts_long_sentences_and_marks_unknown_words():
    vocabulary = kim.build_vocabulary(["the film , the end"])
    assert vocabulary == ["", "[UNK]", "the", ",", "end", "film"]
    ids = kim.encode(["the film rocks , really", "end"], vocabulary, length=3, pad=2)
    assert ids.tolist() == [[0, 0, 2, 5, 1, 0, 0], [0, 0, 4, 0, 0, 0, 0]]
    assert ids.dtype == np.int32


def test_trec_keeps_case_when_asked():
    texts = ["What is it ?", "what is it ?", "Who is he ?"]
    cased = kim.build_vocabulary(texts, lowercase=False)
    lower = kim.build_vocabulary(texts)
    assert {"What", "what", "Who"} <= set(cased) and "What" not in lower and "what" in lower
    ids = kim.encode(["What", "what"], cased, length=1, pad=0, lowercase=False)
    assert ids[0, 0] != ids[1, 0] and 1 not in ids  # two known, different words
    ids = kim.encode(["What", "what"], lower, length=1, pad=0)
    assert ids[0, 0] == ids[1, 0] > 1


def test_the_padding_vector_stays_zero_through_training(tmp_path):
    texts, labels = corpus(120)
    run = kim.train((texts[:100], labels[:100]), (texts[100:], labels[100:]), 2, TINY, epochs=2)
    table = run.model.get_layer("embedding").embeddings.numpy()
    assert (table[0] == 0).all()  # masked: it gets no gradient, so Adadelta never moves it
    # Whatever row 0 holds, padding adds nothing: a sentence gets the same probabilities.
    ids = run.encode(texts[:5])
    before = run.model.predict_on_batch(ids)
    table[0] = 1.0
    run.model.get_layer("embedding").embeddings.assign(table)
    np.testing.assert_allclose(run.model.predict_on_batch(ids), before, atol=1e-6)
    w = np.random.default_rng(0).normal(size=(5, 3)).astype("float32")
    kept = keras.ops.convert_to_numpy(kim.PaddingStaysZero()(keras.ops.convert_to_tensor(w)))
    assert (kept[0] == 0).all() and (kept[1:] == w[1:]).all()  # every other row is left alone
    # The constraint is saved with a model that uses it, and loads again.
    model = textcnn.build_textcnn(
        None, 2, 10, 4, pooling="max_over_time", embedding_constraint=kim.PaddingStaysZero()
    )
    model.save(tmp_path / "kim.keras")
    loaded = keras.saving.load_model(tmp_path / "kim.keras")
    assert isinstance(loaded.get_layer("embedding").embeddings.constraint, kim.PaddingStaysZero)


@pytest.mark.backend_independent
def test_cross_validation_trains_on_fit_stops_on_dev_and_scores_on_test(monkeypatch):
    texts, labels = corpus(60)
    calls = []
    real_train = kim.train

    def spy(fit, dev, num_classes, preset, **kwargs):
        calls.append((set(fit[0]), set(dev[0])))
        return real_train(fit, dev, num_classes, preset, **kwargs)

    scored = []
    monkeypatch.setattr(kim, "train", spy)
    monkeypatch.setattr(kim.Trained, "accuracy", lambda self, t, y: scored.append(set(t)) or 0.5)
    result = kim.cross_validate(texts, labels, folds=3, preset=TINY, epochs=1, report=None)
    assert len(calls) == len(scored) == 3
    for (fit, dev), test in zip(calls, scored, strict=True):
        assert not fit & test and not dev & test and not fit & dev  # test never seen in training
        assert len(fit | dev | test) == 60 and len(dev) == 4  # 10% of the 40 training sentences
    assert set().union(*scored) == set(texts)  # every sentence is tested once
    assert result["accuracy_mean"] == 0.5 and result["accuracy_std"] == 0.0
    assert result["protocol"].startswith("3-fold cross-validation; dev = 10%")


def test_best_dev_epoch_weights_are_kept():
    texts, labels = corpus(120)
    run = kim.train((texts[:90], labels[:90]), (texts[90:], labels[90:]), 2, TINY, epochs=4)
    history = run.history["val_accuracy"]
    # the best dev epoch, a tie going to the later epoch as in Kim's code
    assert run.epochs_run == 4 and run.best_epoch == len(history) - int(np.argmax(history[::-1]))
    # The model that is returned is the best epoch's: its dev accuracy is the best one seen.
    assert run.accuracy(texts[90:], labels[90:]) == pytest.approx(max(history), abs=1e-6)


def test_max_norm_caps_each_class_column():
    texts, labels = corpus(120)
    fit, dev = (texts[:100], labels[:100]), (texts[100:], labels[100:])
    free = kim.train(fit, dev, 2, kim.Preset("free", "", num_filters=4, embedding_size=8,
                                             epochs=3, max_norm=None))  # fmt: skip
    capped = kim.train(fit, dev, 2, kim.Preset("capped", "", num_filters=4, embedding_size=8,
                                               epochs=3, max_norm=0.001))  # fmt: skip
    norms = lambda run: np.linalg.norm(run.model.get_layer("output").kernel.numpy(), axis=0)  # noqa: E731
    # Kim's softmax weights start at zero and grow slowly (his small conv init): without the
    # constraint they pass the cap in 3 epochs; with it, no class column is longer than the cap
    assert norms(free).max() > 0.002
    assert norms(capped).max() <= 0.001 + 1e-7 and norms(capped).shape == (2,)


def test_train_dev_test_carves_dev_from_train_when_there_is_none(monkeypatch):
    texts, labels = corpus(50)
    seen = []
    real_train = kim.train
    monkeypatch.setattr(
        kim,
        "train",
        lambda fit, dev, *a, **k: seen.append((fit, dev)) or real_train(fit, dev, *a, **k),
    )
    result, run = kim.train_dev_test(
        (texts[:40], labels[:40]), (texts[40:], labels[40:]), None, TINY, epochs=1, report=None
    )
    ((fit, dev),) = seen
    assert len(dev[0]) == 4 and len(fit[0]) == 36 and set(dev[0]) <= set(texts[:40])
    assert result["folds"][0]["test_sentences"] == 10 and result["accuracy_std"] is None
    assert "dev = a random 10% of the training split" in result["protocol"]
    with pytest.raises(ValueError, match="the test labels must be 10 integers"):
        kim.train_dev_test((texts[:40], labels[:40]), (texts[40:], labels[:3]), preset=TINY)


def test_table_2_registry():
    expected = {"MR": 76.1, "SST-1": 45.0, "SST-2": 82.7, "Subj": 89.6, "TREC": 91.2,
                "CR": 79.8, "MPQA": 83.4}  # fmt: skip
    assert {b.name: b.kim_rand for b in kim.BENCHMARKS} == expected
    assert all(b.source and b.layouts for b in kim.BENCHMARKS)


def write_layouts(folder: Path) -> None:
    """Every file of every layout, a few sentences each, in its own format."""
    texts, labels = corpus(40, seed=1)
    lines = {"label": "\n".join(f"{y} {t}" for t, y in zip(texts, labels, strict=True)) + "\n"}
    tree = "(4 (3 a) (4 (4 great) (2 film)))\n(0 (1 so) (0 dull))\n(2 (2 a) (2 film))\n" * 4
    trec = "NUM:dist How far is it ?\nHUM:ind Who wrote it ?\nLOC:city Where is it ?\n" * 4
    for bench in kim.BENCHMARKS:
        for layout in bench.layouts:
            for name in layout.files:
                path = folder / name
                path.parent.mkdir(parents=True, exist_ok=True)
                if name.startswith("trees/"):
                    path.write_text(tree)
                elif name.endswith(".label"):
                    path.write_text(trec)
                elif len(layout.files) == 2 and layout.read is kim._classes:
                    path.write_text("\n".join(texts[:10]) + "\n", encoding="latin-1")
                else:
                    path.write_text(lines["label"])


def test_every_layout_is_found_and_loads(tmp_path):
    write_layouts(tmp_path)
    for bench in kim.BENCHMARKS:
        for layout in bench.layouts:
            assert layout.found(tmp_path), (bench.name, layout.files)
            splits = layout.load(tmp_path)
            assert set(splits) in ({"all"}, {"train", "test"}, {"train", "dev", "test"})
            for texts, labels in splits.values():
                assert len(texts) == len(labels) > 0 and labels.dtype == np.int32
        assert bench.find(tmp_path) is bench.layouts[0]
    assert kim.BENCHMARKS[0].find(tmp_path / "nothing") is None


def trec_line(out: str) -> str:
    """The TREC row of the table kim_table.py prints last."""
    table = out.split("Kim CNN-rand")[-1].splitlines()
    return next(line for line in table if line.startswith("TREC"))


def run_script(*args: str) -> int:
    argv = sys.argv
    sys.argv = ["kim_table.py", *args]
    try:
        runpy.run_path(str(ROOT / "benchmarks" / "kim_table.py"), run_name="__main__")
    except SystemExit as exit_:
        return exit_.code
    finally:
        sys.argv = argv
    return 0


@pytest.mark.backend_independent
def test_benchmark_without_data_says_where_each_dataset_comes_from(tmp_path, capsys):
    assert run_script(str(tmp_path)) == 1
    out = capsys.readouterr().out
    for bench in kim.BENCHMARKS:
        assert f"{bench.name}: not found in {tmp_path}" in out and bench.source in out
    assert "No dataset found: nothing to run." in out


@pytest.mark.backend_independent
def test_benchmark_runs_what_it_finds_and_prints_the_table(tmp_path, capsys):
    (tmp_path / "TREC.train.all").write_text(
        "".join(f"{i % 2} {'where is' if i % 2 else 'who wrote'} thing{i} ?\n" for i in range(60))
    )
    (tmp_path / "TREC.test.all").write_text("1 Where is it ?\n0 Who wrote it ?\n")
    (tmp_path / "mpqa.all").write_text("".join(f"{i % 2} Word{i % 2} x{i}\n" for i in range(20)))
    out_json = tmp_path / "table.json"
    code = run_script(str(tmp_path), "--only", "TREC,MR,MPQA", "--epochs", "1", "--folds", "2",
                      "--seeds", "1", "--out", str(out_json))  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    assert "MR: not found" in out and "TREC: train 60, test 2" in out
    assert "fold 1/1: accuracy" in out and "(best dev epoch 1 of 1" in out
    written = json.loads(out_json.read_text())
    row, mpqa = written["rows"]
    meta = written["meta"]
    assert (meta["epochs"], meta["folds"], meta["patience"]) == (1, 2, None)
    assert meta["preset"] == "kim-rand"
    assert meta["started"] <= meta["finished"] and meta["finished"].endswith("Z")
    assert meta["total_seconds"] >= row["seconds"] + mpqa["seconds"] - 0.2  # each rounded to 0.1
    assert "--only TREC,MR,MPQA" in meta["command"] and "CPUs" in meta["machine"]
    assert f"TREC: {100 * row['accuracy_mean']:.1f} in " in out and "all datasets: " in out
    # seconds per epoch and epochs per run (1 here), and what all 25 epochs would take
    assert trec_line(out).split()[-2:] == [f"{row['seconds']:.1f}", "1.0"]
    assert "every run with all 25 epochs, at this pace: about " in out
    assert row["dataset"] == "TREC" and row["kim_cnn_rand"] == 91.2
    assert row["lowercase"] is False and mpqa["lowercase"] is True  # Kim: TREC keeps its case
    assert trec_line(out).split()[1:3] == [f"{100 * row['accuracy_mean']:.1f}", "91.2"]
    assert run_script(str(tmp_path), "--only", "MRR") == 2
    assert "--only: unknown ['MRR']" in capsys.readouterr().err


def test_sentences_get_kims_padding_so_short_ones_work():
    texts, labels = ["so good", "so bad", "good", "bad"] * 5, np.array([1, 0, 1, 0] * 5)
    run = kim.train((texts[:16], labels[:16]), (texts[16:], labels[16:]), 2, TINY, epochs=1)
    ids = run.encode(["so good"])
    # 4 = max(filter_sizes) - 1 zeros in front and behind, as in Kim's code: the 5-wide filter
    # sees "so good" at every offset although the longest sentence has 2 tokens.
    assert run.sequence_length == 2 and run.pad == 4 and ids.shape == (1, 10)
    assert (ids[0, :4] == 0).all() and (ids[0, 4:6] > 1).all() and (ids[0, 6:] == 0).all()
    assert run.model.input_shape == (None, None)  # any length: batches are padded per batch


def test_non_ascii_words_are_never_dropped_silently():
    assert kim.tokenize("naïve café") == ["na", "ve", "caf"]  # Kim's cleaning, kept
    assert kim.dropped_letters(["a film", "naïve café", "plain"]) == (1, "naïve café")
    texts, labels = corpus(40)
    texts[3] = "un film très réussi"
    with pytest.warns(kim.NonAsciiWarning, match=r"1 of 40 sentences .*'un film très réussi'"):
        kim.cross_validate(texts, labels, 2, TINY, epochs=1, report=None)
    chinese = ["这部电影很好", "这部电影很差"] * 10
    with (
        pytest.raises(ValueError, match="no sentence has a word that Kim's tokenizer keeps"),
        pytest.warns(kim.NonAsciiWarning),
    ):
        kim.train((chinese, np.array([1, 0] * 10)), (chinese[:2], np.array([1, 0])), 2, TINY)


def test_empty_sentences_are_refused():
    with pytest.raises(ValueError, match="no sentence has a word"):
        kim.cross_validate(["", " . "] * 10, np.array([0, 1] * 10), 2, TINY, report=None)


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((np.arange(10), 0.97), ValueError, "leaves none to train on; use a fraction below 0.95"),
        ((np.arange(10), True), TypeError, "the dev fraction must be a number"),
        ((np.arange(10), 0.1, -1), ValueError, "seed must be an int >= 0"),
        ((np.arange(10), 0.1, 1.5), TypeError, "seed must be an int >= 0"),
    ],
)
def test_dev_split_never_leaves_an_empty_fit_split(args, error, match):
    with pytest.raises(error, match=match):
        kim.dev_split(*args)
    fit, dev = kim.dev_split(np.arange(10), 0.9)
    assert len(fit) == 1 and len(dev) == 9


@pytest.mark.parametrize(
    ("change", "error", "match"),
    [
        ({"batch_size": 0}, ValueError, "batch_size must be a positive int; got 0"),
        ({"epochs": True}, TypeError, "epochs must be a positive int; got bool"),
        ({"dev_fraction": 0.97}, ValueError, r"dev_fraction must be in \(0, 0.5\]"),
        ({"rho": 1.5}, ValueError, r"rho must be in \(0, 1\); got 1.5"),
        ({"embedding_range": float("nan")}, ValueError, "embedding_range must be > 0"),
        ({"embedding_range": "0.25"}, TypeError, "embedding_range must be a number"),
        ({"dropout": 1.0}, ValueError, r"dropout must be in \[0, 1\)"),
        ({"max_norm": -3}, ValueError, "max_norm must be a positive number or None"),
        ({"filter_sizes": ()}, ValueError, "filter_sizes must hold at least one"),
        ({"filter_sizes": (3, 0)}, ValueError, "each filter size must be a positive int"),
        ({"feature_dim": 0}, ValueError, "feature_dim must be a positive int or None"),
    ],
)
def test_a_preset_with_an_impossible_setting_is_refused_when_made(change, error, match):
    with pytest.raises(error, match=match):
        kim.Preset("bad", "", **change)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"vocabulary": ["a", "b", "c"]}, ValueError, "must start with '' .* and '\\[UNK\\]'"),
        ({"length": 0}, ValueError, "length must be a positive int"),
        ({"pad": -1}, ValueError, "pad must be an int >= 0"),
        ({"pad": 1.0}, TypeError, "pad must be an int >= 0"),
    ],
)
def test_encode_refuses_what_would_map_words_to_padding(kwargs, error, match):
    args = {"vocabulary": ["", "[UNK]", "a"], "length": 2, "pad": 1} | kwargs
    with pytest.raises(error, match=match):
        kim.encode(["a b"], **args)


def test_train_and_the_protocols_refuse_bad_splits_before_any_training():
    texts, labels = corpus(20)
    with pytest.raises(TypeError, match="the fit texts must be a non-empty list"):
        kim.train(([], np.array([], int)), (texts, labels), 2, TINY)
    with pytest.raises(ValueError, match="num_classes=2, but a label is 2"):
        kim.train((texts, labels + 1), (texts, labels), 2, TINY)
    with pytest.raises(ValueError, match="seed must be an int >= 0; got -1"):
        kim.train((texts, labels), (texts, labels), 2, TINY, seed=-1)
    with pytest.raises(ValueError, match="the labels are all 0: a classifier needs"):
        kim.cross_validate(texts, np.zeros(20, int), 2, TINY, report=None)
    with pytest.raises(ValueError, match="the training labels are all 1"):
        kim.train_dev_test((texts, np.ones(20, int)), (texts, labels), preset=TINY, report=None)
    with pytest.raises(TypeError, match="test_set must be a \\(texts, labels\\) pair"):
        kim.train_dev_test((texts, labels), texts, preset=TINY, report=None)


# --- campaign 24: refusals before any training, naming the value and what would be valid ---


@pytest.mark.parametrize("text", [5, None, b"a film"])
def test_tokenize_takes_one_sentence_as_a_str(text):
    with pytest.raises(TypeError, match="tokenize takes one sentence, a str"):
        kim.tokenize(text)


@pytest.mark.parametrize("call", [kim.sentence_length, kim.build_vocabulary])
def test_sentence_helpers_refuse_a_str_and_an_empty_list(call):
    with pytest.raises(TypeError, match="must be a list of sentences"):
        call("a film")  # was read letter by letter
    with pytest.raises(ValueError, match="texts is empty"):
        call([])  # sentence_length raised max()'s "arg is an empty sequence"


@pytest.mark.parametrize(
    ("indices", "error", "match"),
    [
        (np.array([0.5, 1.5, 2.5]), TypeError, "indices must be integers"),
        (np.array([True, False, True]), TypeError, "indices must be integers"),
        (np.array([0, 0, 0, 0]), ValueError, "distinct sentence numbers >= 0"),
        (np.array([-1, 2, 3]), ValueError, "distinct sentence numbers >= 0"),
    ],
)
def test_dev_split_refuses_indices_that_are_not_sentence_numbers(indices, error, match):
    with pytest.raises(error, match=match):
        kim.dev_split(indices, 0.3)


def test_encode_refuses_a_str_and_a_vocabulary_it_cannot_index():
    vocabulary = ["", "[UNK]", "a", "b"]
    with pytest.raises(TypeError, match="must be a list of sentences"):
        kim.encode("a b", vocabulary, 2, 1)  # was three rows, one per letter
    with pytest.raises(ValueError, match=r"vocabulary repeats \['a'\]"):
        kim.encode(["a"], ["", "[UNK]", "a", "a"], 2, 1)  # was id 3 for 'a'
    with pytest.raises(TypeError, match="vocabulary must hold only words"):
        kim.encode(["a"], ["", "[UNK]", None], 2, 1)
    with pytest.raises(TypeError, match="got dict"):
        kim.encode(["a"], {"": 0, "[UNK]": 1}, 2, 1)
    assert kim.encode(["b a"], tuple(vocabulary), 2, 1).tolist() == [[0, 3, 2, 0]]


def test_presets_refuse_repeated_windows_and_names_that_are_not_text():
    with pytest.raises(ValueError, match=r"filter_sizes must be distinct .* \(3, 3\)"):
        kim.Preset("x", "", filter_sizes=(3, 3))
    with pytest.raises(TypeError, match="name must be a str; got 5"):
        kim.Preset(5, "")
    for preset in (["kim-rand"], None, {"name": "kim-rand"}):
        with pytest.raises(TypeError, match="preset must be a Preset or one of the names"):
            kim.get_preset(preset)  # a list or dict was "unhashable type"


def test_seeds_numpy_cannot_take_are_refused_before_training():
    texts, labels = corpus(40)
    fit, dev = (texts[:30], labels[:30]), (texts[30:], labels[30:])
    with pytest.raises(ValueError, match=r"seed must be at most 4294967295 .* got 8589934592"):
        kim.train(fit, dev, 2, TINY, seed=2**33)
    with pytest.raises(ValueError, match="seed must be at most 4294967294"):
        kim.cross_validate(texts, labels, 2, TINY, seed=2**32 - 1, report=None)


def test_report_must_be_callable_before_the_first_fold():
    texts, labels = corpus(40)
    with pytest.raises(TypeError, match="report must be a function such as print, or None"):
        kim.cross_validate(texts, labels, 2, TINY, report="x")
    with pytest.raises(TypeError, match="report must be a function"):
        kim.train_dev_test((texts[:30], labels[:30]), (texts[30:], labels[30:]), report=1)


def test_labels_asking_for_more_classes_than_sentences_are_refused():
    texts, labels = corpus(40)
    huge = np.where(labels > 0, 2**31 - 1, 0)  # built a Dense of 2**31 outputs
    match = r"labels go up to 2147483647, .* more than the 40 sentences; number the 2 classes"
    with pytest.raises(ValueError, match=match):
        kim.cross_validate(texts, huge, 2, TINY, report=None)
    with pytest.raises(ValueError, match="labels go up to 2147483647"):
        kim.train_dev_test((texts[:30], huge[:30]), (texts[30:], huge[30:]))


def test_a_fit_split_of_one_class_is_refused_before_training():
    texts, labels = corpus(40)
    with pytest.raises(ValueError, match="the fit labels are all 0"):
        kim.train((texts[:10], np.zeros(10, int)), (texts[30:], labels[30:]), 2, TINY)


def test_train_dev_test_refuses_the_training_set_as_the_test_set():
    texts, labels = corpus(40)
    with pytest.raises(ValueError, match="test_set holds the training sentences"):
        kim.train_dev_test((texts, labels), (list(texts), labels.copy()), preset=TINY)


def test_trained_accuracy_checks_its_labels():
    texts, labels = corpus(40)
    run = kim.train((texts[:30], labels[:30]), (texts[30:], labels[30:]), 2, TINY, epochs=1)
    with pytest.raises(ValueError, match="the scored labels must be 5 integers"):
        run.accuracy(texts[:5], labels[:3])  # was Keras' "Data cardinality is ambiguous"
    with pytest.raises(ValueError, match=r"a label is 5, but the model has 2 classes \(0..1\)"):
        run.accuracy(texts[:2], [5, 5])  # was TensorFlow's InvalidArgumentError
    with pytest.raises(ValueError, match="the scored labels must be >= 0"):
        run.accuracy(texts[:2], [-1, 0])
    with pytest.raises(TypeError, match="must be a list of sentences"):
        run.encode("a film")


def test_encode_refuses_words_tokenize_never_produces():
    vocabulary = data.vectorize(["Café isnt"], 10, 4)[1]  # ['', '[UNK]', 'isnt', 'café']
    with pytest.raises(
        ValueError, match=r"tokenize \(lowercase=True\) never produces, e.g. \['café'\]"
    ):
        kim.encode(["café"], vocabulary, 4, 1)  # 'café' was silently [UNK]: tokenize drops 'é'
    with pytest.raises(ValueError, match=r"e.g. \['The'\]"):
        kim.encode(["The"], ["", "[UNK]", "The"], 2, 1)  # lower-cased input never matches
    assert kim.encode(["The"], ["", "[UNK]", "The"], 2, 1, lowercase=False).tolist() == [
        [0, 2, 0, 0]
    ]
    texts = [*corpus(200)[0], "the dogs' bone (or not) don't you'll ``quoted'' 1,000 e-mail"]
    for lowercase in (True, False):  # what build_vocabulary returns, encode takes back
        kim.encode(texts, kim.build_vocabulary(texts, lowercase), 30, 4, lowercase)


def test_benchmark_find_refuses_an_empty_path_and_a_file(tmp_path):
    mr = kim.BENCHMARKS[0]
    with pytest.raises(ValueError, match="folder is an empty path"):
        mr.find("")  # was the working folder
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="is not a folder: it is a file"):
        mr.find(tmp_path / "f")  # was None, "not found"
    assert mr.find(tmp_path) is None


@pytest.mark.parametrize("same_as", ["test", "training"])
def test_train_dev_test_refuses_a_dev_set_that_is_another_split(same_as):
    texts, labels = corpus(40)
    train, test = (texts[:30], labels[:30]), (texts[30:], labels[30:])
    dev = test if same_as == "test" else train  # the epoch was chosen on the test sentences
    with pytest.raises(ValueError, match=f"dev_set holds the {same_as} sentences"):
        kim.train_dev_test(train, test, dev, TINY, report=None)


def test_train_refuses_more_classes_than_sentences():
    texts, labels = corpus(40)
    with pytest.raises(ValueError, match=r"num_classes=1000000000 is more than the 40 fit and dev"):
        kim.train((texts[:30], labels[:30]), (texts[30:], labels[30:]), 10**9, TINY)  # OOM kill


def test_padding_per_batch_gives_the_logits_of_full_padding():
    texts, labels = corpus(60)
    texts[5] = "good"  # one word: narrower than every filter, which the model pads itself
    run = kim.train((texts[:40], labels[:40]), (texts[40:], labels[40:]), 2, TINY, epochs=1)
    ids = kim.word_ids(texts, run.vocabulary, run.sequence_length)
    batches = kim.LengthBatches(ids, None, 7, pad=0)
    widths = {batch[0].shape[1] for batch in batches}
    assert len(widths) > 1  # each batch as wide as its longest sentence
    per_batch = kim.predict(run.model, ids, batch_size=7)
    alone = kim.predict(run.model, ids[5:6])  # a batch one word wide, below every filter
    # Full padding as in Kim's code: 4 zeros in front, every row as wide as the longest + 3.
    full = run.model.predict(run.encode(texts), verbose=0)
    wider = run.model.predict(
        kim.encode(texts, run.vocabulary, run.sequence_length + 3, run.pad), verbose=0
    )
    np.testing.assert_allclose(per_batch, full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(wider, full, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(alone, full[5:6], rtol=1e-5, atol=1e-6)
    assert (per_batch.argmax(1) == full.argmax(1)).all()


def test_length_batches_cover_every_sentence_once_per_epoch_and_reshuffle():
    ids = [np.arange(1, 2 + n % 9) for n in range(103)]
    batches = kim.LengthBatches(ids, np.arange(103), 10, pad=4, seed=0)
    first = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(first.tolist()) == list(range(103)) and len(batches) == 11
    for i in range(len(batches)):
        x, y = batches[i]
        for row, label in zip(x, y, strict=True):  # the sentence after 4 zeros, then zeros
            assert (row[:4] == 0).all() and (row[4 : 4 + len(ids[label])] == ids[label]).all()
            assert (row[4 + len(ids[label]) :] == 0).all()
        assert x.shape[1] == 8 + max(len(ids[label]) for label in y)  # 4 + longest + 4
    batches.on_epoch_end()
    second = np.concatenate([batches[i][1] for i in range(len(batches))])
    assert sorted(second.tolist()) == list(range(103)) and (first != second).any()


def test_sst_from_the_trees_trains_on_phrases_and_scores_sentences(tmp_path):
    trees = tmp_path / "trees"
    trees.mkdir()
    train = "(4 (3 a) (4 (4 great) (2 film)))\n(0 (1 so) (0 dull))\n"
    dev, test = "(0 (2 a) (0 bore))\n", "(3 (2 A) (3 (3 fine) (2 film)))\n(2 (2 a) (2 film))\n"
    (trees / "train.txt").write_text(train + dev)  # train.txt ending with the dev trees
    (trees / "dev.txt").write_text(dev)
    (trees / "test.txt").write_text(test)
    sst1, sst2 = (b.find(tmp_path).load(tmp_path) for b in kim.BENCHMARKS[1:3])
    assert sst1["train"][0] == ["a", "great", "film", "great film", "a great film", "so", "dull",
                                "so dull"]  # fmt: skip
    assert sst1["dev"][0] == ["a bore"] and sst1["test"][1].tolist() == [3, 2]
    assert sst2["train"][1].tolist() == [1, 1, 1, 1, 0, 0, 0] and sst2["test"][0] == ["A fine film"]
    assert "phrase" in kim.BENCHMARKS[1].note


def test_textcnn_of_any_length_needs_max_over_time_pooling():
    model = kim.textcnn.build_textcnn(None, 2, 20, 4, pooling="max_over_time", feature_dim=None)
    assert model.input_shape == (None, None)
    for width in (5, 17):
        assert model.predict(np.ones((3, width), dtype="int32"), verbose=0).shape == (3, 2)
    with pytest.raises(ValueError, match="sequence_length=None .* needs pooling='max_over_time'"):
        kim.textcnn.build_textcnn(None, 2, 20, 4, pooling="window")


def test_train_dev_test_reports_every_epoch_when_asked():
    texts, labels = corpus(50)
    lines: list[str] = []
    kim.train_dev_test((texts[:40], labels[:40]), (texts[40:], labels[40:]), None, TINY,
                       epochs=2, report=lines.append)  # fmt: skip
    assert [line.split(":")[0] for line in lines] == ["  epoch 1", "  epoch 2", "fold 1/1"]
    assert "dev accuracy" in lines[0] and lines[0].endswith(" s)")


def test_sparse_adadelta_takes_adadeltas_steps_on_the_summed_gradient(gradients):
    """Kim's Adadelta on the whole table, rows' gradients summed (a dense gradient), step by
    step; rows unused for several steps and a word used twice in a batch included."""
    rho, eps = 0.95, 1e-6
    table = np.random.default_rng(0).uniform(-0.25, 0.25, (40, 6)).astype("float32")
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(40, 6, weights=[table], name="embedding")(tokens)
    pooled = keras.layers.GlobalMaxPooling1D()(embedded)
    model = keras.Model(tokens, keras.layers.Dense(2, activation="softmax")(pooled))
    model.compile(kim.SparseAdadelta(1.0, rho, eps), "sparse_categorical_crossentropy")
    variable = model.get_layer("embedding").embeddings
    grad_acc, delta_acc, expected = np.zeros((40, 6)), np.zeros((40, 6)), table.astype("float64")
    rng = np.random.default_rng(1)
    for step in range(10):
        x = rng.integers(1, 8 if step < 5 else 40, size=(4, 5))  # rows 8.. unused at first
        x[0, :2] = 3  # one word twice in a sentence
        y = rng.integers(0, 2, size=4)
        loss = lambda x=x, y=y: keras.ops.mean(  # noqa: E731
            keras.losses.sparse_categorical_crossentropy(y, model(x))
        )
        _, (g,) = gradients(loss, [variable])
        grad_acc = rho * grad_acc + (1 - rho) * g * g
        delta = -np.sqrt(delta_acc + eps) / np.sqrt(grad_acc + eps) * g
        delta_acc = rho * delta_acc + (1 - rho) * delta * delta
        expected += delta
        model.train_on_batch(x, y)
        np.testing.assert_allclose(variable.numpy(), expected, rtol=0, atol=1e-6)
    assert np.abs(expected - table).max() > 1e-3  # the steps were not all ~0
    assert (variable.numpy()[0] == table[0]).all()  # the padding word, never used, never moved


def test_benchmark_runs_trec_over_seeds(tmp_path, capsys):
    lines = [f"{i % 2} {'where is' if i % 2 else 'who wrote'} thing{i} ?\n" for i in range(40)]
    (tmp_path / "TREC.train.all").write_text("".join(lines))
    (tmp_path / "TREC.test.all").write_text("1 Where is it ?\n0 Who wrote it ?\n")
    out_json = tmp_path / "table.json"
    assert run_script(str(tmp_path), "--epochs", "1", "--seeds", "2", "--out", str(out_json)) == 0
    (row,) = json.loads(out_json.read_text())["rows"]
    assert [fold["seed"] for fold in row["folds"]] == [0, 1]
    accuracies = [fold["accuracy"] for fold in row["folds"]]
    assert row["accuracy_mean"] == pytest.approx(np.mean(accuracies))
    assert row["accuracy_std"] == pytest.approx(np.std(accuracies, ddof=1))
    assert row["protocol"].endswith("2 seeds (0..1), ± over seeds")
    assert kim.BENCHMARKS[4].name == "TREC" and kim.BENCHMARKS[4].seeds == 5  # TREC's default
    assert run_script(str(tmp_path), "--seeds", "0") == 2
    assert "--seeds must be at least 1, got 0" in capsys.readouterr().err
    # --seed: where the seeds start (the README's SST seeds 0..4, CR's other fold splits)
    args = ("--epochs", "1", "--seeds", "2", "--seed", "3", "--out", str(out_json))
    assert run_script(str(tmp_path), *args) == 0
    written = json.loads(out_json.read_text())
    assert [fold["seed"] for fold in written["rows"][0]["folds"]] == [3, 4]
    assert written["rows"][0]["protocol"].endswith("2 seeds (3..4), ± over seeds")
    assert written["meta"]["seed"] == 3
    runs = [fold["accuracy"] for fold in written["rows"][0]["folds"]]
    again, _ = kim.train_dev_test(*map(data.load_labeled, (tmp_path / "TREC.train.all",
                                  tmp_path / "TREC.test.all")), epochs=1, seed=4, report=None,
                                  lowercase=False)  # fmt: skip
    assert again["accuracy_mean"] == runs[1]  # seed 4's run, as train_dev_test runs it
    rng = np.random.default_rng(0)  # noisy labels: each split and seed scores differently
    (tmp_path / "mpqa.all").write_text("".join(
        f"{rng.integers(2)} {' '.join(f'w{k}' for k in rng.integers(0, 12, size=4))}\n"
        for _ in range(60)
    ))  # fmt: skip
    assert run_script(str(tmp_path), "--only", "MPQA", "--folds", "2", *args) == 0
    (mpqa,) = json.loads(out_json.read_text())["rows"]  # a CV dataset: its split and seeds
    scores = {
        seed: [f["accuracy"] for f in kim.cross_validate(
            *data.load_labeled(tmp_path / "mpqa.all"), folds=2, epochs=1, seed=seed, report=None
        )["folds"]]
        for seed in (0, 3)
    }  # fmt: skip
    assert [f["accuracy"] for f in mpqa["folds"]] == scores[3] != scores[0]
    for bad in ("-1", str(2**31 + 1)):
        assert run_script(str(tmp_path), "--seed", bad) == 2
        assert f"--seed must be from 0 to 2**31, got {bad}" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_benchmark_says_which_rows_are_within_the_aim_of_kims_figures(tmp_path, capsys):
    verdict = runpy.run_path(str(ROOT / "benchmarks" / "kim_table.py"))["verdict"]
    rows = [
        {"dataset": "MR", "accuracy_mean": 0.754, "kim_cnn_rand": 76.1},  # -0.7
        {"dataset": "SST-1", "accuracy_mean": 0.42217, "kim_cnn_rand": 45.0},  # -2.8
        {"dataset": "SST-2", "accuracy_mean": 0.85502, "kim_cnn_rand": 82.7},  # +2.8 is out too
        {"dataset": "TREC", "accuracy_mean": 0.89649, "kim_cnn_rand": 91.2},  # 89.6: -1.6
        {"dataset": "CR", "accuracy_mean": 0.78251, "kim_cnn_rand": 79.8},  # 78.3: -1.5, as printed
    ]
    assert verdict(rows, 1.5) == (
        "within 1.5 points of Kim: MR, CR; not: SST-1 (-2.8), SST-2 (+2.8), TREC (-1.6)"
    )
    assert verdict(rows, 3) == "within 3 points of Kim: MR, SST-1, SST-2, TREC, CR; not: none"
    assert verdict(rows, 0).startswith("within 0 points of Kim: none; not: MR (-0.7)")
    (tmp_path / "mpqa.all").write_text("".join(f"{i % 2} Word{i % 2} x{i}\n" for i in range(20)))
    out_json = tmp_path / "table.json"
    args = (str(tmp_path), "--epochs", "1", "--folds", "2", "--out", str(out_json))
    assert run_script(*args, "--within", "2.5") == 0
    written = json.loads(out_json.read_text())
    assert written["meta"]["within"] == 2.5
    assert verdict(written["rows"], 2.5) in capsys.readouterr().out.splitlines()
    for bad in ("-1", "nan", "101"):
        assert run_script(*args, "--within", bad) == 2
        assert f"--within must be a number of points from 0 to 100, got {float(bad)}" in (
            capsys.readouterr().err
        )


@pytest.mark.backend_independent
def test_statistics_count_sentences_words_and_length_as_kims_table_1():
    splits = {"train": (["A good film", "a bad one !"], np.array([1, 0])), "test": (["Good"], [1])}
    assert kim.statistics(splits) == {"sentences": 3, "vocabulary": 6, "mean_length": 2.7}
    assert kim.statistics(splits, lowercase=False)["vocabulary"] == 8  # A/a, good/Good: TREC
    with pytest.raises(ValueError, match="statistics: the dataset has no sentences"):
        kim.statistics({"all": ([], np.array([]))})
    assert [b.table1 for b in kim.BENCHMARKS][0] == (10662, 18765, 20)  # MR, Kim's Table 1


@pytest.mark.backend_independent
def test_kim_data_counts_each_copy_beside_kims_table_1(tmp_path, capsys):
    script = str(ROOT / "benchmarks" / "kim_data.py")
    main = runpy.run_path(script)["main"]
    assert main([str(tmp_path)]) == 1
    out = capsys.readouterr().out
    assert "No dataset found in" in out and "MR       not found; expected one of: " in out
    trees = tmp_path / "trees"
    trees.mkdir()
    train, dev = "(4 (3 a) (4 (4 great) (2 film)))\n(2 (2 so) (2 so))\n", "(0 (2 a) (0 bore))\n"
    (trees / "train.txt").write_text(train + dev)  # the dev trees cut off: 2 + 1 + 1 sentences
    (trees / "dev.txt").write_text(dev)
    (trees / "test.txt").write_text("(3 (2 A) (3 (3 fine) (2 film)))\n")
    (tmp_path / "mpqa.all").write_text("0 Not good\n1 good\n")
    for name in ("stsa.binary.phrases.train", "stsa.binary.dev", "stsa.binary.test"):
        (tmp_path / name).write_text("1 good\n")  # SST-2 from the trees all the same: first
    assert main([str(tmp_path)]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    # SST-1: 4 whole sentences (not the training phrases), 6 words, 10/4 words a sentence
    assert rows["SST-1"][:7] == ["SST-1", "4", "11855", "6", "17836", "2.5", "18"]
    assert rows["SST-2"][:2] == ["SST-2", "3"]  # the neutral "so so" is not SST-2's
    assert rows["MPQA"][:7] == ["MPQA", "2", "10606", "2", "6246", "1.5", "3"]
    assert rows["MR"][1:3] == ["not", "found;"]
    for tree in ("train", "dev", "test"):
        (trees / f"{tree}.txt").unlink()
    assert main([str(tmp_path)]) == 0
    sst2 = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("SST-2"))
    assert sst2.split()[1:3] == ["-", "9613"] and "training phrases only" in sst2
    with pytest.raises(SystemExit):
        main([str(tmp_path / "mpqa.all")])
    assert "is not a folder" in capsys.readouterr().err
