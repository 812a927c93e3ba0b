"""helpers.cli: the TextCNN's command line, one run or Kim's protocol, and what it refuses."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import cli, data, kim, textcnn

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def fresh_session():
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)


def files(folder) -> list[str]:
    """The names in ``folder`` (a finished or failed run leaves no lock file)."""
    return sorted(p.name for p in folder.iterdir())


def run_cli(*args: str) -> subprocess.CompletedProcess:
    # Without TF_CPP_MIN_LOG_LEVEL: the command sets it itself before importing keras.
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "helpers.cli", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


def write_polarity(folder: Path) -> Path:
    from helpers.data import synthetic_reviews

    texts, labels = synthetic_reviews(60, seed=5)
    folder.mkdir()
    for name, label in (("rt-polarity.pos", 1), ("rt-polarity.neg", 0)):
        lines = [t for t, y in zip(texts, labels, strict=True) if y == label]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="latin-1")
    return folder


@pytest.mark.backend_independent
def test_cli_trains_and_writes_features_and_labels(tmp_path):
    data_dir = write_polarity(tmp_path / "rt")
    glove = tmp_path / "glove.txt"
    glove.write_text("the 1 0 0 0\nmovie 0 1 0 0\ngood 0 0 1 0\n", encoding="utf-8")
    out = tmp_path / "out"
    tiny = ["--sequence-length", "16", "--embedding-dim", "4", "--num-filters", "3"]
    done = run_cli("--data", str(data_dir), "--out", str(out), "--glove", str(glove),
                   "--epochs", "1", "--quiet", *tiny)  # fmt: skip
    assert done.returncode == 0, done.stderr
    # TF_CPP_MIN_LOG_LEVEL=3, set by the command, drops TensorFlow's C++ info logs such as
    # "I0000 ... cpu_feature_guard.cc:227] This TensorFlow binary is optimized ..." (TF 2.21
    # still prints the few lines logged before absl::InitializeLog, whatever the variable).
    assert "cpu_feature_guard" not in done.stderr, done.stderr
    assert "held-out accuracy" in done.stdout and "on 6 sentences" in done.stdout
    assert "GloVe: " in done.stdout
    labels = np.load(out / "labels.npy")
    assert labels.shape == (60,) and set(labels.tolist()) == {0, 1}
    features = np.load(out / "extractor.npy")
    assert features.shape == (60, 100)
    names = files(out)  # no temporary files left behind
    assert names == ["extractor.npy", "index.json", "labels.npy", "textcnn_run.json"]


@pytest.mark.backend_independent
def test_cli_writes_index_json_last_and_drops_an_old_one_first(tmp_path, monkeypatch):
    from helpers import activations

    out = tmp_path / "out"
    out.mkdir()
    for name in ("extractor.npy", "index.json", "labels.npy"):  # a finished earlier run
        (out / name).write_bytes(b"old")
    seen = []

    def crash(*args, **kwargs):
        seen.append(files(out))
        raise KeyboardInterrupt

    monkeypatch.setattr(activations, "extract_to_disk", crash)
    with pytest.raises(KeyboardInterrupt):
        cli.main(["--out", str(out), "--overwrite", "--synthetic-size", "40", "--epochs", "1",
                      "--sequence-length", "8", "--embedding-dim", "4", "--num-filters", "2",
                      "--feature-dim", "3", "--batch-size", "16", "--quiet"])  # fmt: skip
    # Labels and run info are written before the features start (extract_to_disk then writes
    # index.json last); the old index and the old run's features are gone first, so an
    # interrupted run neither looks finished nor leaves old features beside new labels.
    # The run holds --out's lock meanwhile, and removes the lock file when it stops.
    assert seen == [[".helpers.lock", "labels.npy", "textcnn_run.json"]]
    assert files(out) == ["labels.npy", "textcnn_run.json"]
    assert np.load(out / "labels.npy").shape == (40,)


@pytest.mark.backend_independent
def test_cli_rejects_bad_arguments_before_any_work(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(textcnn, "build_textcnn", lambda *a, **k: pytest.fail("did work"))
    out = tmp_path / "out"
    glove = tmp_path / "glove.txt"
    glove.write_text("the 0.1 0.2 0.3\n", encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("", encoding="utf-8")
    bad_line = tmp_path / "bad.txt"
    bad_line.write_text("the 0.1 0.2 0.3\nplot 0.1 0.2\n", encoding="utf-8")
    cases = [
        (["--data", str(tmp_path / "missing"), "--out", str(out)], "does not exist"),
        (["--out", str(out), "--glove", str(tmp_path / "g.txt")], "does not exist"),
        (["--out", str(out), "--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--out", str(out), "--max-tokens", "2"], "--max-tokens must be >= 3"),
        (["--out", str(out), "--pooling", "avg"], "invalid choice: 'avg'"),
        (["--data", str(tmp_path)], "the following arguments are required: --out"),
        (["--data", str(tmp_path), "--out", str(out)], "lacks rt-polarity.pos, rt-polarity.neg"),
        (["--out", str(out), "--glove", str(glove)], "holds 3-d vectors (first line); pass"),
        (["--out", str(out), "--glove", str(tmp_path)], "is not a file"),
        (["--out", str(out), "--glove", str(empty)], "--glove: empty.txt: the first line"),
        (["--out", str(out), "--glove", str(bad_line), "--embedding-dim", "3",
          "--synthetic-size", "20"], "--glove: bad.txt line 2: 2 values after the word"),
        (["--out", str(out), "--sequence-length", "1"], "pool_size=2 exceeds --sequence-length=1"),
        (["--out", str(out), "--pooling", "max_over_time", "--sequence-length", "4"],
         "--sequence-length=4 is shorter than the widest filter (5)"),
        (["--out", str(out), "--embedding-dim", "0"], "--embedding-dim must be a positive int"),
        (["--out", str(out), "--feature-dim", "-1"], "--feature-dim must be a positive int"),
    ]  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as info:
            cli.main(args)
        assert info.value.code == 2 and message in capsys.readouterr().err, args
    assert not out.exists()
    out.mkdir()
    (out / "old.npy").write_bytes(b"x")
    with pytest.raises(SystemExit):
        cli.main(["--out", str(out)])
    assert "is not empty; pass --overwrite" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_cli_refuses_a_nan_glove_file_and_an_unwritable_out_before_training(tmp_path, capsys):
    glove = tmp_path / "g.txt"
    glove.write_text("the nan 0.2 0.3\nfilm 0.1 0.2 0.3\n", encoding="utf-8")
    out = tmp_path / "out"
    args = [
        "--out",
        str(out),
        "--glove",
        str(glove),
        "--embedding-dim",
        "3",
        "--synthetic-size",
        "20",
    ]
    with pytest.raises(SystemExit) as info:
        cli.main(args)
    assert info.value.code == 2
    assert (
        "--glove: g.txt line 1: the vector of 'the' holds 1 non-finite" in capsys.readouterr().err
    )
    assert not out.exists()  # a failed run leaves no folder behind
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    with pytest.raises(SystemExit) as info:
        cli.main(["--out", str(blocker / "out"), "--epochs", "50", "--synthetic-size", "20"])
    assert info.value.code == 2 and "--out" in capsys.readouterr().err


@pytest.mark.backend_independent
def test_cli_preset_runs_cross_validation_and_writes_results_and_features(tmp_path):
    out = tmp_path / "out"
    code = cli.main(["--preset", "kim-rand", "--folds", "2", "--epochs", "1",
                         "--synthetic-size", "40", "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert result["preset"] == "kim-rand" and len(result["folds"]) == 2
    assert result["accuracy_mean"] == pytest.approx(
        np.mean([f["accuracy"] for f in result["folds"]])
    )
    assert result["accuracy_std"] == pytest.approx(
        np.std([f["accuracy"] for f in result["folds"]], ddof=1)
    )
    assert result["features"].startswith("layer 'concat' of a final model")
    assert result["lowercase"] is True
    features = np.load(out / "concat.npy")  # Kim's model: 3 windows x 100 maps, no extractor
    assert features.shape == (40, 300) and np.load(out / "labels.npy").shape == (40,)
    assert (out / "index.json").is_file()


@pytest.mark.backend_independent
def test_cli_preset_with_a_test_split(tmp_path):
    train, test = tmp_path / "train_5500.label", tmp_path / "TREC_10.label"
    train.write_text(
        "".join(f"{'LOC:city Where' if i % 2 else 'HUM:ind Who'} is x{i} ?\n" for i in range(30))
    )
    test.write_text("LOC:city Where is it ?\nHUM:ind Who is it ?\nNUM:dist How far ?\n")
    out = tmp_path / "out"
    code = cli.main(["--preset", "kim-rand+extractor", "--format", "trec",
                         "--train", str(train), "--test", str(test), "--epochs", "1",
                         "--out", str(out), "--quiet"])  # fmt: skip
    assert code == 0
    result = json.loads((out / "results.json").read_text())
    assert result["protocol"].startswith("train / dev / test split; dev = a random 10%")
    assert result["rows"] == {"train": 30, "test": 3} and result["folds"][0]["test_sentences"] == 3
    assert result["lowercase"] is False  # --format trec keeps the case, as Kim did
    assert np.load(out / "extractor.npy").shape == (33, 100)


@pytest.mark.backend_independent
def test_cli_keep_case_reaches_the_protocol(tmp_path, monkeypatch):
    seen = []

    class Stop(Exception):
        pass

    def spy(*args, **kwargs):
        seen.append(kwargs["lowercase"])
        raise Stop

    monkeypatch.setattr(kim, "cross_validate", spy)
    file = tmp_path / "TREC.all"
    file.write_text("0 What is it ?\n1 Who is he ?\n" * 10)
    for extra in ([], ["--keep-case"]):
        with pytest.raises(Stop):
            cli.main(["--preset", "kim-rand", "--data", str(file), "--format", "label-text",
                          "--out", str(tmp_path / "out"), "--quiet", *extra])  # fmt: skip
    assert seen == [True, False]


@pytest.mark.backend_independent
def test_cli_refuses_protocol_options_that_do_not_go_together(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(kim, "train", lambda *a, **k: pytest.fail("did work"))
    monkeypatch.setattr(textcnn, "build_textcnn", lambda *a, **k: pytest.fail("did work"))
    out = str(tmp_path / "out")
    file = tmp_path / "all.txt"
    file.write_text("0 a\n1 b\n")
    other = tmp_path / "test.txt"
    other.write_text("0 c\n1 d\n")
    cases = [
        (["--train", str(file), "--test", str(other), "--format", "label-text"],
         "add --preset kim-rand"),
        (["--folds", "5"], "--folds is part of Kim's protocol: add --preset kim-rand"),
        (["--keep-case"], "--keep-case is part of Kim's protocol: add --preset kim-rand"),
        (["--preset", "kim-rand", "--test", str(file)], "--dev and --test go with --train"),
        (["--preset", "kim-rand", "--train", str(file), "--format", "trec"],
         "--train needs --test"),
        (["--preset", "kim-rand", "--data", str(file)], "--format is needed for data files"),
        (["--preset", "kim-rand", "--data", str(tmp_path), "--format", "trec"],
         "--format applies to"),
        (["--preset", "kim-rand", "--data", str(file), "--class-files", str(file), str(file)],
         "give one source of data, not --data and --class-files"),
        (["--preset", "kim-rand", "--glove", str(file)], "uses random word vectors (CNN-rand)"),
        (["--preset", "kim-rand", "--folds", "1"], "--folds must be >= 2, got 1"),
        (["--preset", "kim-rand", "--data", str(file), "--format", "label-text"],
         "10-fold cross-validation needs >= 20 sentences"),
        (["--preset", "kim-rand", "--data", str(file), "--format", "trec"],
         "expected 'COARSE:fine"),
        (["--preset", "kim"], "invalid choice: 'kim'"),
    ]  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as info:
            cli.main([*args, "--out", out])
        assert info.value.code == 2 and message in capsys.readouterr().err, args
    assert not (tmp_path / "out").exists()


@pytest.mark.backend_independent
def test_cli_help_explains_every_option_and_loads_no_tensorflow():
    import subprocess

    done = subprocess.run([sys.executable, "-m", "helpers.cli", "--help"], cwd=ROOT,
                          capture_output=True, text=True, check=True)  # fmt: skip
    assert done.stderr == ""  # no TensorFlow start-up lines: Keras is not imported for --help
    assert "%%" not in done.stdout and "(default: 10)" in done.stdout
    for action in cli._parser()._actions:
        assert action.help, action.option_strings


def write_trees(path: Path, n: int, seed: int) -> Path:
    """n sentences as SST's PTB trees, root labels 0..4 (words tell the label apart)."""
    rng = np.random.default_rng(seed)
    words = ["awful", "bad", "plain", "good", "superb"]
    lines = []
    for label in rng.integers(0, 5, size=n):
        lines.append(f"({label} (2 the) (2 film) ({label} (2 is) ({label} {words[label]})))")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.backend_independent
@pytest.mark.parametrize(("fmt", "classes"), [("sst", 5), ("sst-binary", 2)])
def test_cli_reads_sst_trees_for_one_run_and_for_the_protocol(tmp_path, fmt, classes):
    train = write_trees(tmp_path / "train.txt", 40, 1)
    test = write_trees(tmp_path / "test.txt", 10, 2)
    out = tmp_path / "run"
    assert cli.main(["--data", str(train), "--format", fmt, "--epochs", "1", "--quiet",
                     "--out", str(out)]) == 0  # fmt: skip
    labels = np.load(out / "labels.npy")
    assert set(labels.tolist()) <= set(range(classes)) and len(set(labels.tolist())) > 1
    out = tmp_path / "protocol"
    assert cli.main(["--preset", "kim-rand", "--format", fmt, "--train", str(train), "--test",
                     str(test), "--epochs", "1", "--quiet", "--out", str(out)]) == 0  # fmt: skip
    result = json.loads((out / "results.json").read_text())
    # Kim's protocol trains on every labelled phrase of the training trees, not the sentences
    phrases = data.load_sst_trees(train, fmt == "sst-binary", phrases=True)[0]
    assert len(phrases) != len(data.load_sst(train, fmt == "sst-binary")[0])  # 40 sentences
    assert result["rows"]["train"] == len(phrases) and "labelled phrases" in result["source"]


@pytest.mark.backend_independent
def test_cli_refuses_an_empty_out_and_one_file_as_two_splits(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(kim, "train", lambda *a, **k: pytest.fail("did work"))
    file = write_trees(tmp_path / "all.txt", 30, 0)
    cases = [
        (["--out", ""], "'' is an empty path; name the output folder"),
        (["--out", "o", "--preset", "kim-rand", "--format", "sst", "--train", str(file),
          "--test", str(file)], "--train and --test are the same file"),
        (["--out", "o", "--preset", "kim-rand", "--format", "sst", "--train", str(file),
          "--dev", str(tmp_path / "." / "all.txt"), "--test", str(tmp_path / "t")],
         "--train and --dev are the same file"),
    ]  # fmt: skip
    for args, message in cases:
        with pytest.raises(SystemExit) as info:
            cli.main(args)
        assert info.value.code == 2 and message in capsys.readouterr().err, args
    assert sorted(p.name for p in tmp_path.iterdir()) == ["all.txt"]  # nothing written


@pytest.mark.backend_independent
def test_an_overwrite_run_leaves_no_file_of_an_older_run(tmp_path):
    out = tmp_path / "out"
    assert cli.main(["--preset", "kim-rand", "--folds", "2", "--epochs", "1",
                     "--synthetic-size", "40", "--out", str(out), "--quiet"]) == 0  # fmt: skip
    assert {"results.json", "concat.npy"} <= set(files(out))
    assert cli.main(["--synthetic-size", "40", "--epochs", "1", "--out", str(out), "--quiet",
                     "--overwrite"]) == 0  # fmt: skip
    assert files(out) == ["extractor.npy", "index.json", "labels.npy", "textcnn_run.json"]


@pytest.mark.backend_independent
def test_encoding_reaches_a_polarity_folder(tmp_path, capsys):
    folder = tmp_path / "mr"
    folder.mkdir()
    for name in ("rt-polarity.pos", "rt-polarity.neg"):
        (folder / name).write_bytes("un film réussi\n".encode("latin-1") * 10)
    with pytest.raises(SystemExit) as info:  # a wrong --encoding is used, so it is refused
        cli.main(["--data", str(folder), "--encoding", "utf-8", "--out", str(tmp_path / "o")])
    assert info.value.code == 2 and "is not valid utf-8" in capsys.readouterr().err


# --- campaign 24: usage errors (exit status 2) before any training, nothing left on disk ---


def usage_error(capsys, *args) -> str:
    """The error line of ``cli.main(args)``, which must exit with status 2."""
    with pytest.raises(SystemExit) as exit_:
        cli.main([str(arg) for arg in args])
    assert exit_.value.code == 2
    return capsys.readouterr().err.strip().splitlines()[-1]


@pytest.mark.backend_independent
@pytest.mark.parametrize("flag", ["--data", "--class-files", "--glove", "--train"])
def test_an_empty_data_path_is_refused_not_read_as_the_working_folder(tmp_path, capsys, flag):
    error = usage_error(capsys, flag, "", "--out", tmp_path / "out")
    assert f"argument {flag}: '' is an empty path; name a file or folder" in error


@pytest.mark.backend_independent
def test_a_glove_folder_is_named_a_folder(tmp_path, capsys):
    error = usage_error(capsys, "--glove", tmp_path, "--out", tmp_path / "out")
    assert "is not a file: it is a folder" in error


@pytest.mark.backend_independent
@pytest.mark.parametrize(
    ("seed", "extra", "top"),
    [
        ("-1", [], 2**32 - 1),
        (str(2**33), [], 2**32 - 1),
        (str(2**32 - 2), ["--preset", "kim-rand"], 2**32 - 10),
    ],
)
def test_a_seed_numpy_cannot_take_is_a_usage_error(tmp_path, capsys, seed, extra, top):
    error = usage_error(capsys, "--seed", seed, *extra, "--out", tmp_path / "out")
    assert f"--seed must be from 0 to {top}" in error and f"got {seed}" in error
    assert not (tmp_path / "out").exists()


@pytest.mark.backend_independent
def test_encoding_without_data_files_is_refused_not_ignored(tmp_path, capsys):
    error = usage_error(capsys, "--encoding", "latin-1", "--out", tmp_path / "out")
    assert "--encoding applies to data files" in error


@pytest.mark.backend_independent
@pytest.mark.parametrize("preset", [[], ["--preset", "kim-rand", "--folds", "2"]])
@pytest.mark.parametrize(
    ("label", "match"),
    [
        (lambda y: 0, "every label is 0; a classifier needs 2 classes or more"),
        (lambda y: y * (2**31 - 1), "the labels go up to 2147483647, which asks for 2147483648"),
    ],
)
def test_labels_a_classifier_cannot_learn_are_usage_errors(tmp_path, capsys, preset, label, match):
    texts, labels = data.synthetic_reviews(40, seed=3)
    file = tmp_path / "l.txt"
    file.write_text("".join(f"{label(y)} {t}\n" for t, y in zip(texts, labels, strict=True)))
    out = tmp_path / "out"  # all 0 was a raw "num_classes must be >= 2"; 2**31-1 an OOM
    error = usage_error(capsys, "--data", file, "--format", "label-text", *preset, "--out", out)
    assert match in error
    assert not out.exists()  # the folder the failed run created is removed


@pytest.mark.backend_independent
def test_sentences_without_words_are_a_usage_error(tmp_path, capsys):
    file = tmp_path / "l.txt"
    file.write_text("".join(f"{i % 2} ,\n" for i in range(20)))
    error = usage_error(capsys, "--data", file, "--format", "label-text", "--out", tmp_path / "o")
    assert "l.txt (20 sentences): texts hold no words to learn a vocabulary from" in error


@pytest.mark.backend_independent
def test_a_folder_named_like_an_output_file_is_refused_before_training(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "labels.npy").mkdir(parents=True)  # --overwrite failed on it after training
    error = usage_error(capsys, "--out", out, "--overwrite")
    assert "holds folders named like its files: labels.npy" in error


@pytest.mark.backend_independent
def test_synthetic_size_with_data_is_refused_not_ignored(tmp_path, capsys):
    file = tmp_path / "l.txt"
    file.write_text("0 a\n1 b\n", encoding="utf-8")
    error = usage_error(
        capsys,
        "--data",
        file,
        "--format",
        "label-text",
        "--synthetic-size",
        "50",
        "--out",
        tmp_path,
    )
    assert "--synthetic-size is for the synthetic corpus; it does not apply to --data" in error
