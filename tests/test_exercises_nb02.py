"""Notebook 02's exercise checks: the solutions pass, the placeholders are "not yet", and typical
wrong answers get their hint."""

import keras
import numpy as np
import pytest

from helpers.exercises import check_answer, is_right, nb02


@pytest.fixture
def head():
    rng = np.random.default_rng(0)
    return rng.normal(size=6), rng.normal(size=(6, 5)), rng.normal(size=5)


def test_exercise_1_solution_is_right(head, capsys):
    h, W, b = head
    c1, c2 = np.argsort(h @ W + b)[::-1][:2]
    terms = h * (W[:, c1] - W[:, c2])
    check_answer("02", 1, terms=terms, feature=int(np.argmax(terms)), h=h, W=W, b=b)
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_exercise_1_placeholder_is_not_yet(head, capsys):
    h, W, b = head
    check_answer("02", 1, terms=..., feature=..., h=h, W=W, b=b)
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_1_wrong_answers_get_hints(head):
    h, W, b = head
    c1, c2 = np.argsort(h @ W + b)[::-1][:2]
    terms = h * (W[:, c1] - W[:, c2])
    assert "one number per feature" in nb02.exercise_1(terms[:3], 0, h, W, b)
    assert "top logit alone" in nb02.exercise_1(h * W[:, c1], 0, h, W, b)
    assert "h_i times" in nb02.exercise_1(h * (W[:, c2] - W[:, c1]), 0, h, W, b)
    assert "index (an int)" in nb02.exercise_1(terms, float(terms.max()), h, W, b)
    W2, b2 = np.array([[2.0, 0.0], [-3.0, 0.0]]), np.array([5.0, 0.0])  # terms [2, -3]
    assert "negative" in nb02.exercise_1([2.0, -3.0], 1, np.ones(2), W2, b2)
    assert "not the largest" in nb02.exercise_1(
        [2.0, -3.0, 1.0], 2, np.ones(3), np.vstack([W2, [1.0, 0.0]]), b2
    )


def test_exercise_1_written_differently_is_right(head):
    h, W, b = head
    z = h @ W + b
    top = np.argpartition(-z, 1)[:2]
    terms = [float(h[i] * (W[i, top[0]] - W[i, top[1]])) for i in range(len(h))]
    assert is_right("02", 1, terms=terms, feature=np.argmax(terms), h=h, W=W, b=b)


def classifier(classes, name, seed=0):
    keras.utils.set_random_seed(seed)
    return keras.Sequential(
        [
            keras.Input((3,), name="x"),
            keras.layers.Dense(4, name="body"),
            keras.layers.Dense(classes, activation="softmax", name="verbs"),
        ],
        name=name,
    )


def grow(model, body=True, keep=True):
    grown = classifier(6, "grown", seed=1)
    if body:
        grown.get_layer("body").set_weights(model.get_layer("body").get_weights())
    kernel, bias = model.get_layer("verbs").get_weights()
    if not keep:
        kernel = kernel + 1.0
    extra = np.full((4, 1), 0.01, "float32")
    grown.get_layer("verbs").set_weights([np.concatenate([kernel, extra], 1), np.append(bias, 0)])
    return grown


def test_exercise_2_solution_is_right(capsys):
    model = classifier(5, "model")
    check_answer("02", 2, grown=grow(model), model=model)
    assert capsys.readouterr().out == "Exercise 2: right.\n"


def test_exercise_2_placeholder_is_not_yet(capsys):
    check_answer("02", 2, grown=..., model=classifier(5, "model"))
    assert "not yet answered" in capsys.readouterr().out


def test_exercise_2_wrong_answers_get_hints():
    model = classifier(5, "model")
    assert "one more class" in nb02.exercise_2(classifier(7, "seven"), model)
    assert "copied unchanged" in nb02.exercise_2(grow(model, keep=False), model)
    assert "'body'" in nb02.exercise_2(grow(model, body=False), model)


def test_exercise_2_fresh_column_is_right():
    """Keeping the new model's own initial column (Glorot, bias 0) is right too."""
    model = classifier(5, "model")
    grown = classifier(6, "grown", seed=1)
    grown.get_layer("body").set_weights(model.get_layer("body").get_weights())
    kernel, bias = model.get_layer("verbs").get_weights()
    new_kernel, new_bias = grown.get_layer("verbs").get_weights()
    new_kernel[:, :5], new_bias[:5] = kernel, bias
    grown.get_layer("verbs").set_weights([new_kernel, new_bias])
    assert is_right("02", 2, grown=grown, model=model)


def test_exercise_2_large_column_or_bias_get_hints():
    model = classifier(5, "model")
    kernel, bias = model.get_layer("verbs").get_weights()
    for extra, extra_bias, hint in [(5.0, 0.0, "should be small"), (0.01, 1.0, "bias")]:
        grown = grow(model)
        column = np.full((4, 1), extra, "float32")
        grown.get_layer("verbs").set_weights(
            [np.concatenate([kernel, column], 1), np.append(bias, extra_bias)]
        )
        assert hint in nb02.exercise_2(grown, model)
    assert "Keras model" in nb02.exercise_2(np.zeros(3), model)
