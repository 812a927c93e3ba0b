"""helpers.exercises.nb01: each solution is right, the placeholder is "not yet", and typical
wrong answers get a hint that does not give the solution away."""

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer, is_right
from helpers.exercises.nb01 import CHECKS


@pytest.fixture
def matrix():
    return np.random.default_rng(0).normal(size=(4, 6)).astype("float32")  # (units, inputs)


def test_exercise_1_the_transpose_is_right(matrix, capsys):
    check_answer("01", 1, kernel_from_matrix=matrix.T, matrix=matrix)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(matrix, capsys):
    check_answer("01", 1, kernel_from_matrix=..., matrix=matrix)
    assert "not yet answered" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda m: m, "yours is still (4, 6)"),
        (lambda m: m.reshape(6, 4), "reshape re-reads the numbers in memory order"),
        (lambda m: np.ones((6, 5)), "should have shape (inputs, units) = (6, 4)"),
        (lambda m: m.T[::-1], "column j of the kernel must hold unit j's weights"),
    ],
)
def test_exercise_1_wrong_answers_get_hints(matrix, wrong, hint):
    message = CHECKS[1](kernel_from_matrix=wrong(matrix), matrix=matrix)
    assert hint in message
    assert ".T" not in message and "transpose" not in message


@pytest.fixture
def kernel():
    # (features, units); unit 2's largest weight in size is negative (feature 2, -2.0)
    return np.array([[2.0, -1.0, 0.5], [-1.0, 2.0, 1.0], [0.5, 0.5, -2.0], [0.1, 0.0, 0.0]])


def test_exercise_2_argmax_of_the_absolute_values_over_features_is_right(kernel):
    assert CHECKS[2](strongest=np.array([0, 1, 2]), kernel=kernel) is None
    assert is_right("01", 2, strongest=..., kernel=kernel) is False


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (lambda k: np.abs(k).argmax(axis=1), "one feature index per unit: 3 numbers"),
        (lambda k: k.argmax(axis=0), "a weight of -2 matters as much as 2"),
        (lambda k: np.array([0, 0, 0]), "look down column j"),
    ],
)
def test_exercise_2_wrong_answers_get_hints(kernel, wrong, hint):
    assert hint in CHECKS[2](strongest=wrong(kernel), kernel=kernel)


@pytest.fixture
def seq_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((5, 6))
    dense = keras.layers.Dense(4, activation="relu", bias_initializer="random_normal")
    return keras.Model(inputs, dense(inputs))


def test_exercise_3_numpy_on_the_last_axis_is_right(seq_model, capsys):
    x = np.random.default_rng(1).normal(size=(2, 5, 6)).astype("float32")
    W, b = seq_model.layers[-1].get_weights()
    assert is_right("01", 3, y_seq=np.maximum(x @ W + b, 0), model=seq_model, x=x) is True
    check_answer("01", 3, y_seq=..., model=seq_model, x=x)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_3_wrong_answers_get_hints(seq_model):
    x = np.random.default_rng(1).normal(size=(2, 5, 6)).astype("float32")
    W, b = seq_model.layers[-1].get_weights()
    check = CHECKS[3]
    assert "apply it to x @ W + b" in check(y_seq=x @ W + b, model=seq_model, x=x)
    assert "adds its bias" in check(y_seq=np.maximum(x @ W, 0), model=seq_model, x=x)
    flat = np.maximum(x.reshape(10, 6) @ W + b, 0)
    assert "shape (2, 5, 4)" in check(y_seq=flat, model=seq_model, x=x)
    assert "@ multiplies along the last axis" in check(
        y_seq=np.zeros((2, 5, 4)), model=seq_model, x=x
    )


def test_exercise_1_a_square_layer_is_checked_by_its_values():
    square = np.arange(9.0).reshape(3, 3)
    assert CHECKS[1](kernel_from_matrix=square.T, matrix=square) is None
    assert "matrix as it is" in CHECKS[1](kernel_from_matrix=square, matrix=square)


def test_exercise_2_all_positive_kernel_right_answer_is_right():
    kernel = np.array([[1.0, 3.0], [2.0, 0.5]])
    assert CHECKS[2](strongest=np.array([1, 0]), kernel=kernel) is None


def test_right_answers_written_differently_are_right(matrix, kernel, seq_model):
    assert is_right("01", 1, kernel_from_matrix=np.swapaxes(matrix, 0, 1).copy(), matrix=matrix)
    assert is_right("01", 2, strongest=list((kernel**2).argmax(axis=0)), kernel=kernel)
    x = np.random.default_rng(1).normal(size=(2, 5, 6)).astype("float32")
    W, b = seq_model.layers[-1].get_weights()
    y = np.clip(np.einsum("bsf,fu->bsu", x, W) + b, 0, None)
    assert is_right("01", 3, y_seq=y, model=seq_model, x=x)
