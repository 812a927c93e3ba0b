"""helpers.exercises.nb06: each solution is right, the placeholder is "not yet", and typical
wrong answers get a hint that does not give the solution away. No Ray needed: the check of
exercise 1 builds the student's class in this process, as a Ray worker would."""

import json

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer, is_right
from helpers.exercises.nb06 import CHECKS


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A small saved classifier and 40 rows of token ids for it."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((6,), dtype="int32"),
            keras.layers.Embedding(30, 4, name="embedding"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(3, activation="softmax", name="output"),
        ],
        name="tiny",
    )
    path = tmp_path_factory.mktemp("model") / "tiny.keras"
    model.save(path)
    ids = np.random.default_rng(0).integers(0, 30, size=(40, 6)).astype("int32")
    labels = np.argmax(keras.ops.convert_to_numpy(model.predict_on_batch(ids)), axis=1)
    assert len(set(labels.tolist())) > 1  # so that a wrong order can be told apart
    return path, ids, labels


class Labels:  # the solution's pattern
    def __init__(self, model_path):
        self.model = keras.saving.load_model(model_path)

    def __call__(self, batch):
        probabilities = self.model.predict_on_batch(batch["data"])
        return {"row": batch["row"], "label": np.argmax(probabilities, axis=1)}


class LoadsPerBatch:  # the mistake: the model loaded again for every batch
    def __init__(self, model_path):
        self.model_path = model_path

    def __call__(self, batch):
        model = keras.saving.load_model(self.model_path)
        return {"label": np.argmax(model.predict_on_batch(batch["data"]), axis=1)}


class Probabilities(Labels):  # returns the outputs instead of the labels
    def __call__(self, batch):
        return {"label": self.model.predict_on_batch(batch["data"])}


def test_exercise_1_a_class_loading_once_with_labels_in_order_is_right(saved, capsys):
    path, ids, labels = saved
    check_answer("06", 1, Labels=Labels, labels=labels, model_path=path, ids=ids)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(saved, capsys):
    path, ids, _ = saved
    check_answer("06", 1, Labels=Labels, labels=..., model_path=path, ids=ids)
    assert "not yet answered" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("answer", "wrong_labels", "hint"),
    [
        (lambda batch: batch, None, "should be a class"),
        (LoadsPerBatch, None, "load the model in __init__, once per worker"),
        (Probabilities, None, "one label per row of the batch"),
        (Labels, lambda labels: labels[::-1], "in the wrong order"),
        (Labels, lambda labels: 1 - np.sign(labels), "differ from the model's predictions"),
        (Labels, lambda labels: labels[:10], "one label per sentence"),
    ],
)
def test_exercise_1_wrong_answers_get_hints(saved, answer, wrong_labels, hint):
    path, ids, labels = saved
    given = labels if wrong_labels is None else wrong_labels(labels)
    message = CHECKS[1](Labels=answer, labels=given, model_path=path, ids=ids)
    assert hint in message
    assert "argmax(probabilities" not in message


@pytest.fixture
def folder(tmp_path):
    """A feature folder: rows 0 and 5 point the same way, row 2 is long and nearly parallel."""
    vectors = np.zeros((6, 3), dtype="float32")
    vectors[:, 2] = 1.0
    vectors[0] = [1.0, 0.0, 0.0]
    vectors[5] = [2.0, 0.0, 0.0]  # cosine 1 with row 0
    vectors[2] = [9.0, 9.0, 0.0]  # cosine 0.71, but the largest dot product after row 5
    vectors[3] = [1.0, 0.2, 0.0]  # cosine 0.98
    np.save(tmp_path / "extractor.npy", vectors)
    index = {"activations": {"extractor": {"file": "extractor.npy", "shape": [6, 3]}}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    return tmp_path


def test_exercise_2_cosine_ranking_is_right(folder, capsys):
    check_answer("06", 2, nearest=np.array([0, 5, 3]), folder=folder)
    assert capsys.readouterr().out == "Exercise 2: right.\n"
    assert not is_right("06", 2, nearest=..., folder=folder)


@pytest.mark.parametrize(
    ("nearest", "hint"),
    [
        ([5, 0, 3], "row 0 is the closest to itself"),
        ([2, 5, 0], "row 0 is the closest to itself"),
        ([0, 5], "3 row numbers"),
        ([0, 3, 5], "rank the rows by it"),
    ],
)
def test_exercise_2_wrong_answers_get_hints(folder, nearest, hint):
    assert hint in CHECKS[2](nearest=np.array(nearest), folder=folder)


def test_exercise_2_a_dot_product_ranking_is_told_apart(tmp_path):
    vectors = np.array([[10.0, 0.0], [0.0, 1.0], [1.0, 0.0], [5.0, 5.0]], dtype="float32")
    np.save(tmp_path / "extractor.npy", vectors)
    index = {"activations": {"extractor": {"file": "extractor.npy", "shape": [4, 2]}}}
    (tmp_path / "index.json").write_text(json.dumps(index))
    # with row 0, by dot product: rows 0 (100), 3 (50), 2 (10); by cosine: 0 (1), 2 (1), 3 (0.71)
    assert CHECKS[2](nearest=np.array([0, 2, 3]), folder=tmp_path) is None
    assert "dot product" in CHECKS[2](nearest=np.array([0, 3, 2]), folder=tmp_path)
    assert "dot product" not in CHECKS[2](nearest=np.array([0, 3, 1]), folder=tmp_path)


def test_exercise_3_the_crossing_point_is_right(capsys):
    one, cluster, start = 10_000.0, 40_000.0, 30.0
    right = start / (1 / one - 1 / cluster)  # 400,000 rows
    check_answer("06", 3, break_even=right, one=one, cluster=cluster, start=start)
    assert capsys.readouterr().out == "Exercise 3: right.\n"
    assert is_right("06", 3, break_even=round(right, -3), one=one, cluster=cluster, start=start)
    assert not is_right("06", 3, break_even=..., one=one, cluster=cluster, start=start)


@pytest.mark.parametrize(
    ("answer", "hint"),
    [(300_000, "the cluster then needs time for those rows too"), (1e6, "solve for the n")],
)
def test_exercise_3_wrong_answers_get_hints(answer, hint):
    message = CHECKS[3](break_even=answer, one=10_000.0, cluster=40_000.0, start=30.0)
    assert hint in message
    assert "400" not in message
