"""Notebook 03b's exercise checks: the solutions pass, the placeholders are "not yet", and
typical wrong answers get their hint."""

import numpy as np

from helpers.exercises import check_answer, is_right, nb03b

WEIGHTS = np.array([0, 1, 1, 0, 0, 1, 0, 0], "float32")
Z16 = np.array([[-40000.0, -40000.0, 0.0], [60000.0, -60000.0, 1.0]], "float16")
M16 = np.array([[1, 1, 0], [0, 1, 1]], bool)


def test_exercise_1_solution_is_right(capsys):
    check_answer("03b", 1, factor=8 / 3, sample_weight=WEIGHTS)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(capsys):
    check_answer("03b", 1, factor=..., sample_weight=WEIGHTS)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_1_wrong_answers_get_hints():
    assert "undo it" in nb03b.exercise_1(3 / 8, WEIGHTS)
    assert "compare the two divisors" in nb03b.exercise_1(2.0, WEIGHTS)
    assert "a number" in nb03b.exercise_1("8/3", WEIGHTS)


def shift(z, m):
    return (z - np.where(m, z, -np.inf).max(axis=1, keepdims=True)).astype("float16")


def test_exercise_2_solution_is_right(capsys):
    check_answer("03b", 2, shifted=shift(Z16, M16), logits=Z16, mask=M16)
    assert capsys.readouterr().out == "Exercise 2: right.\n"


def test_exercise_2_placeholder_is_not_yet(capsys):
    check_answer("03b", 2, shifted=..., logits=Z16, mask=M16)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_2_wrong_answers_get_hints():
    every = (Z16 - Z16.max(axis=1, keepdims=True)).astype("float16")  # the max of every class
    assert "largest allowed logit should be 0" in nb03b.exercise_2(every, Z16, M16)
    zeros = np.where(M16, 0.0, Z16).astype("float16")  # not a shift
    assert "one number per row" in nb03b.exercise_2(zeros, Z16, M16)
    assert "shape" in nb03b.exercise_2(Z16[:1], Z16, M16)


def test_answers_written_differently_are_right():
    """A NumPy float32 factor from the share of weighted samples; a shift computed in float32
    with a masked array, left as float32: both right."""
    factor = np.float32(1.0) / (WEIGHTS > 0).mean(dtype="float32")
    assert is_right("03b", 1, factor=factor, sample_weight=WEIGHTS)
    z = Z16.astype("float32")
    shifted = z - np.ma.masked_array(z, mask=~M16).max(axis=1).data[:, None]
    assert is_right("03b", 2, shifted=shifted, logits=Z16, mask=M16)
