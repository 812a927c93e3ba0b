"""Checks for the exercises of notebook 04b (the gradient of a shared W, sharing across time).

Each ``exercise_N`` takes the check cell's keyword arguments and returns ``None`` when the answer
is right, else a hint that helps without giving the solution away:

    >>> exercise_1(numpy_gradient=g, W0=W0, xb=xb, yb=yb)  # doctest: +SKIP
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.notebook import max_error, to_numpy

TOL = 1e-5


def exercise_1(
    numpy_gradient: object, W0: np.ndarray, xb: np.ndarray, yb: np.ndarray
) -> str | None:
    """d/dW of the batch sum of each example's mean squared error, at W0."""
    got = np.asarray(numpy_gradient, dtype=np.float64)
    x, w, y = (np.asarray(a, dtype=np.float64) for a in (xb, W0, yb))
    expected = 2 / y.shape[1] * x.T @ (x @ w - y)
    if got.shape == expected.T.shape and got.shape != expected.shape:
        return f"the shape is {got.shape}: a gradient has W's shape {w.shape}, so start with xb.T"
    if got.shape != expected.shape:
        return f"the shape is {got.shape}; W, and so its gradient, is {w.shape}"

    def near(target: np.ndarray) -> bool:
        return max_error(got, target) < TOL * max(1.0, float(np.abs(target).max()))

    if near(expected):
        return None
    if near(expected / len(x)):
        return "that is the mean over the examples (the default reduction); 'sum' adds them"
    if near(-expected):
        return "the sign is flipped: the error is x W - y"
    if near(expected * y.shape[1] / 2):
        return "the mean over the 8 outputs and the square's derivative give a factor 2/8"
    return "not the gradient yet: the error of each output is xb @ W0 - yb, averaged over 8 outputs"


def exercise_2(qa_model: object) -> str | None:
    """One LSTM(6) read both a 7-step question and a 12-step answer; two (batch, 6) outputs."""
    if not isinstance(qa_model, keras.Model):
        return f"qa_model should be a keras.Model, got {type(qa_model).__name__}"
    shapes = [tuple(t.shape) for t in qa_model.inputs]
    if shapes != [(None, 7, 4), (None, 12, 4)]:
        return f"the inputs have shapes {shapes}; expected [(None, 7, 4), (None, 12, 4)]"
    lstms = [layer for layer in qa_model.layers if isinstance(layer, keras.layers.LSTM)]
    if len(lstms) != 1:
        return f"the model has {len(lstms)} LSTM layers: make one and call it on both inputs"
    if len(qa_model.weights) != 3:
        return f"the model holds {len(qa_model.weights)} variables; the one LSTM holds 3"
    rng = np.random.default_rng(0)
    q, a = (rng.normal(size=(3, n, 4)).astype("float32") for n in (7, 12))
    outputs = qa_model([q, a])
    if not isinstance(outputs, (list, tuple)) or len(outputs) != 2:
        return "the model should have two outputs: [lstm(question), lstm(answer)]"
    got = [to_numpy(o) for o in outputs]
    if [g.shape for g in got] != [(3, 6), (3, 6)]:
        shapes = [g.shape for g in got]
        return f"the outputs have shapes {shapes}; the last output only is (batch, 6)"
    lstm = lstms[0]
    if max(max_error(g, lstm(x)) for g, x in zip(got, (q, a), strict=True)) >= TOL:
        return "the outputs are not the LSTM's own outputs on each input: [lstm(q), lstm(a)]"
    return None


CHECKS = {1: exercise_1, 2: exercise_2}
