"""Notebook 03's exercise checks: the solutions pass, the placeholders are "not yet", and typical
wrong answers get their hint."""

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer, is_right, nb03

C = 4


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    y = rng.integers(0, C, 50)
    logits = rng.normal(size=(50, C)).astype("float32")
    logits[np.arange(50), y] += 5.0  # a trained classifier: right almost everywhere
    allowed = (rng.random((50, C)) < 0.5).astype("float32")
    allowed[np.arange(50), y] = 1.0
    return logits, y, allowed


def test_exercise_1_solution_is_right(data, capsys):
    logits, y, allowed = data
    with_mask = np.where(allowed > 0.5, logits, -1e9).argmax(1)
    check_answer("03", 1, logits=logits, with_mask=with_mask, y=y, allowed=allowed)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(data, capsys):
    logits, y, allowed = data
    check_answer("03", 1, logits=..., with_mask=..., y=y, allowed=allowed)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_1_wrong_answers_get_hints(data):
    logits, y, allowed = data
    masked = np.where(allowed > 0.5, logits, -1e9).argmax(1)
    assert "one row per sentence" in nb03.exercise_1(logits[:, :2], masked, y, allowed)
    assert "not from a trained" in nb03.exercise_1(-logits, masked, y, allowed)
    logits = logits.copy()
    logits[0, np.flatnonzero(allowed[0] == 0)[:1]] = 99.0  # a forbidden class wins unmasked
    assert "unmasked predictions" in nb03.exercise_1(logits, logits.argmax(1), y, allowed)
    assert "one class per sentence" in nb03.exercise_1(logits, masked[:3], y, allowed)


def softmax_classifier():
    keras.utils.set_random_seed(0)
    x_in = keras.Input((3,), name="x")
    h = keras.layers.Dense(5, name="body")(x_in)
    dense = keras.layers.Dense(C, activation="softmax", name="head")
    return keras.Model(x_in, dense(h)), x_in, h, dense


def mask_model(x_in, probs_of):
    allowed_in = keras.Input((C,), name="allowed")
    return keras.Model([x_in, allowed_in], probs_of(allowed_in))


@pytest.fixture
def inputs():
    rng = np.random.default_rng(1)
    allowed = (rng.random((20, C)) < 0.5).astype("float32")
    allowed[:, 0] = 1.0
    return rng.normal(size=(20, 3)).astype("float32"), allowed


def test_exercise_2_solution_is_right(inputs, capsys):
    x, allowed = inputs
    classifier, x_in, h, dense = softmax_classifier()
    logits = keras.ops.matmul(h, dense.kernel) + dense.bias
    right = mask_model(x_in, lambda a: keras.ops.softmax(keras.ops.where(a > 0.5, logits, -1e9)))
    check_answer("03", 2, plain_masked=right, classifier=classifier, x=x, allowed=allowed)
    assert capsys.readouterr().out == "Exercise 2: right.\n"


def test_exercise_2_placeholder_is_not_yet(inputs, capsys):
    x, allowed = inputs
    classifier = softmax_classifier()[0]
    check_answer("03", 2, plain_masked=..., classifier=classifier, x=x, allowed=allowed)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_2_wrong_answers_get_hints(inputs):
    x, allowed = inputs
    classifier, x_in, h, dense = softmax_classifier()
    logits = keras.ops.matmul(h, dense.kernel) + dense.bias
    leaky = mask_model(x_in, lambda a: keras.ops.softmax(logits * a))
    assert "exactly 0" in nb03.exercise_2(leaky, classifier, x, allowed)
    probs = dense(h)  # masking the softmax output: zeros where forbidden, wrong numbers elsewhere
    on_probs = mask_model(x_in, lambda a: keras.ops.softmax(keras.ops.where(a > 0.5, probs, -1e9)))
    assert "differ from with_class_mask" in nb03.exercise_2(on_probs, classifier, x, allowed)
    assert "two inputs" in nb03.exercise_2(classifier, classifier, x, allowed)


def test_exercise_2_written_differently_is_right(inputs):
    """A Softmax layer on logits masked with keras.ops.where, bools for the mask: right too."""
    x, allowed = inputs
    classifier, x_in, h, dense = softmax_classifier()
    logits = keras.ops.add(keras.ops.matmul(h, dense.kernel), dense.bias)
    softmax = keras.layers.Softmax()
    right = mask_model(
        x_in, lambda a: softmax(keras.ops.where(keras.ops.cast(a, "bool"), logits, -1e9))
    )
    assert is_right("03", 2, plain_masked=right, classifier=classifier, x=x, allowed=allowed)


def test_exercise_2_softmax_mask_argument_gets_its_hint(inputs):
    """Softmax(mask=) gives the right numbers but attaches the mask that breaks fit."""
    x, allowed = inputs
    classifier, x_in, h, dense = softmax_classifier()
    logits = keras.ops.matmul(h, dense.kernel) + dense.bias
    masked = mask_model(x_in, lambda a: keras.layers.Softmax()(logits, mask=a))
    assert "fit" in nb03.exercise_2(masked, classifier, x, allowed)
