"""helpers.exercises.nb05b: notebook 05b's exercise checks accept the solutions, say "not yet"
to the placeholder and give a hint for a typical wrong answer."""

import keras
import numpy as np
import pytest

from helpers import activations
from helpers.exercises import check_answer, nb05b


@pytest.fixture
def matrix():
    """A GloVe-like matrix: padding row 0 and rows 1, 4 missing (zero), the rest from the file."""
    m = np.random.default_rng(0).uniform(-0.05, 0.05, (8, 4)).astype("float32")
    m[[0, 1, 4]] = 0
    return m


def kim(matrix, a):
    filled = matrix.copy()
    filled[[1, 4]] = np.random.default_rng(1).uniform(-a, a, (2, matrix.shape[1]))
    return filled


def right_a(matrix):
    return float(np.sqrt(3 * matrix[[2, 3, 5, 6, 7]].var()))


def test_exercise_1_solution_is_right(matrix, capsys):
    a = right_a(matrix)
    check_answer("05b", 1, a=a, kim_matrix=kim(matrix, a), matrix=matrix)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(matrix, capsys):
    check_answer("05b", 1, a=..., kim_matrix=..., matrix=matrix)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_1_wrong_answers_get_their_hint(matrix):
    a = right_a(matrix)
    standard_deviation = float(matrix[[2, 3, 5, 6, 7]].std())
    assert "a**2 / 3" in nb05b.exercise_1(standard_deviation, kim(matrix, a), matrix)
    with_zeros = float(np.sqrt(3 * matrix.var()))
    assert "counts zero rows" in nb05b.exercise_1(with_zeros, kim(matrix, with_zeros), matrix)
    with_padding = float(np.sqrt(3 * matrix[[0, 2, 3, 5, 6, 7]].var()))  # ~missing as it is
    assert "padding row 0" in nb05b.exercise_1(with_padding, kim(matrix, a), matrix)
    padded = kim(matrix, a)
    padded[0] = 0.01
    assert "padding" in nb05b.exercise_1(a, padded, matrix)
    changed = kim(matrix, a)
    changed[2] += 1
    assert "stay as they are" in nb05b.exercise_1(a, changed, matrix)
    assert "no value beyond a" in nb05b.exercise_1(a, kim(matrix, 3 * a), matrix)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((4,), name="x")
    model = keras.Model(inputs, keras.layers.Dense(3, name="extractor")(inputs))
    out = tmp_path_factory.mktemp("features")
    x = np.random.default_rng(0).normal(size=(20, 4)).astype("float32")
    activations.extract_to_disk(model, x, ["extractor"], out, progress=False)
    return out


LABELS = np.array([0, 1] * 10)


def means(folder, labels=LABELS):
    stored = activations.load_features(folder)["extractor"]
    return np.stack([stored[labels == k].mean(axis=0) for k in (0, 1)])


def test_exercise_2_solution_is_right(folder, capsys):
    check_answer("05b", 2, class_means=means(folder), folder=folder, labels=LABELS)
    assert capsys.readouterr().out == "Exercise 2: right.\n"


def test_exercise_2_placeholder_is_not_yet(folder, capsys):
    check_answer("05b", 2, class_means=..., folder=folder, labels=LABELS)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_2_wrong_answers_get_their_hint(folder):
    right = means(folder)
    assert "swapped" in nb05b.exercise_2(right[::-1], folder, LABELS)
    overall = activations.load_features(folder)["extractor"].mean(axis=0)
    assert "mean of all sentences" in nb05b.exercise_2(np.stack([overall] * 2), folder, LABELS)
    assert "one row a label" in nb05b.exercise_2(right[0], folder, LABELS)
    assert "count" in nb05b.exercise_2(right * 2, folder, LABELS)
