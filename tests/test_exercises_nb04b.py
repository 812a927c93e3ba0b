"""The checks of notebook 04b's exercises (helpers.exercises.nb04b): the right answers pass, the
placeholders are "not yet", the typical wrong answers get their hints."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer
from helpers.exercises.nb04b import exercise_1, exercise_2

L = keras.layers


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    return rng.normal(size=(50, 8)), rng.normal(size=(4, 50)), rng.normal(size=(4, 8))


def test_exercise_1_matches_the_autodiff_gradient_of_keras_summed_mse(batch, gradients):
    W0, xb, yb = (a.astype("float32") for a in batch)
    W = keras.Variable(W0)
    loss = keras.losses.MeanSquaredError(reduction="sum")
    _, (autodiff,) = gradients(lambda: loss(yb, keras.ops.matmul(xb, W)), [W])
    assert exercise_1(numpy_gradient=autodiff, W0=W0, xb=xb, yb=yb) is None


def test_exercise_1_hints(batch):
    W0, xb, yb = batch
    right = 2 / 8 * xb.T @ (xb @ W0 - yb)
    assert exercise_1(numpy_gradient=right, W0=W0, xb=xb, yb=yb) is None
    hints = {
        "start with xb.T": right.T,
        "the mean over the examples": right / 4,
        "sign is flipped": -right,
        "factor 2/8": right * 4,
        "not the gradient yet": right + 1,
    }
    for words, wrong in hints.items():
        assert words in exercise_1(numpy_gradient=wrong, W0=W0, xb=xb, yb=yb)


def qa(shared=True, sequences=False):
    question, answer = keras.Input((7, 4)), keras.Input((12, 4))
    reader = L.LSTM(6, return_sequences=sequences)
    second = reader if shared else L.LSTM(6)
    return keras.Model([question, answer], [reader(question), second(answer)])


def test_exercise_2_one_lstm_is_right_and_two_get_a_hint():
    assert exercise_2(qa_model=qa()) is None
    assert "2 LSTM layers" in exercise_2(qa_model=qa(shared=False))
    assert "the last output only" in exercise_2(qa_model=qa(sequences=True))
    assert "keras.Model" in exercise_2(qa_model=L.LSTM(6))


def test_placeholders_are_not_yet_answered(capsys, batch):
    W0, xb, yb = batch
    check_answer("04b", 1, numpy_gradient=..., W0=W0, xb=xb, yb=yb)
    check_answer("04b", 2, qa_model=...)
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[1].strip() for line in out] == ["not yet answered"] * 2
