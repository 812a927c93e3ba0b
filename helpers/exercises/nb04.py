"""Checks for the exercises of notebook 04 (shared layers).

Each ``exercise_N`` takes the check cell's keyword arguments and returns ``None`` when the answer
is right, else a hint that helps without giving the solution away:

    >>> exercise_1(inner_right=probe, loaded=loaded, pair=pair)  # doctest: +SKIP
"""

from __future__ import annotations

import keras
import numpy as np

from helpers.notebook import max_error, to_numpy

TOL = 1e-5


def _not_a_model(name: str, value: object) -> str | None:
    if isinstance(value, keras.Model):
        return None
    return (
        f"{name} should be a keras.Model (keras.Model(inputs, outputs)), got {type(value).__name__}"
    )


def exercise_1(inner_right: object, loaded: keras.Model, pair: list) -> str | None:
    """The right branch's inner ``enc_dense`` activations: relu(right @ K + b)."""
    if hint := _not_a_model("inner_right", inner_right):
        return hint
    if len(inner_right.inputs) not in (1, 2):
        return f"inner_right takes {len(inner_right.inputs)} inputs; start from loaded.inputs[1]"
    if inner_right.inputs[0] is loaded.inputs[0] and len(inner_right.inputs) == 1:
        return "inner_right starts from the left input, loaded.inputs[0]: use loaded.inputs[1]"
    got = inner_right(pair[1] if len(inner_right.inputs) == 1 else pair)
    if isinstance(got, (list, tuple, dict)):
        return "inner_right should have one output: the right branch's enc_dense activations"
    got = to_numpy(got)
    kernel, bias = loaded.get_layer("encoder").get_layer("enc_dense").get_weights()
    right, left = (np.maximum(x @ kernel + bias, 0.0) for x in (pair[1], pair[0]))
    if got.shape != right.shape:
        what = " (the encoder's output, enc_out)" if got.shape[-1] == 2 else ""
        return f"the output has shape {got.shape}{what}; enc_dense's 4 units give {right.shape}"
    if max_error(got, right) < TOL:
        return None
    if max_error(got, left) < TOL:
        return "those are the left branch's activations: start from loaded.inputs[1]"
    return (
        "the numbers are not relu(right @ K + b) with enc_dense's weights: build the inner model "
        "from the encoder's own input to enc_dense's output, then call it on loaded.inputs[1]"
    )


def exercise_2(autoencoder: object, data: np.ndarray) -> str | None:
    """A trained 6 -> 3 -> 6 autoencoder whose decoder uses the encoder's kernel, transposed."""
    if hint := _not_a_model("autoencoder", autoencoder):
        return hint
    shapes = sorted(tuple(v.shape) for v in autoencoder.weights)
    if shapes != [(3,), (6,), (6, 3)]:
        return (
            f"the model holds variables of shapes {shapes}; tied, it holds three: the encoder's "
            "(6, 3) kernel and (3,) bias, and the decoder's own (6,) bias (no kernel of its own)"
        )
    by_shape = {tuple(v.shape): to_numpy(v) for v in autoencoder.weights}
    kernel, enc_bias, dec_bias = by_shape[(6, 3)], by_shape[(3,)], by_shape[(6,)]
    got = to_numpy(autoencoder(data))
    expected = (data @ kernel + enc_bias) @ kernel.T + dec_bias
    if got.shape != expected.shape or max_error(got, expected) >= TOL:
        return "the output is not (x @ K + b) @ K.T + b_decoder: transpose the encoder's kernel"
    if not np.any(dec_bias):
        return "the decoder's bias is still all zeros: compile and fit the model for 2 epochs"
    return None


def exercise_3(weighted: object, xs: list, targets: list) -> str | None:
    """Ten named outputs of one shared Dense; output 0's loss weighted twice."""
    if hint := _not_a_model("weighted", weighted):
        return hint
    names = [f"out_{k}" for k in range(10)]
    outputs = weighted(xs)
    if not isinstance(outputs, dict) or sorted(outputs) != sorted(names):
        return "return a dict of outputs from keras.Model: {'out_0': tensor, ..., 'out_9': tensor}"
    if len(weighted.weights) != 2:
        return f"the model holds {len(weighted.weights)} variables: call the one shared_dense"
    if not weighted.compiled:
        return "compile the model (a loss for each output, and loss_weights)"
    y = dict(zip(names, targets, strict=True))
    result = weighted.evaluate(xs, y, verbose=0, return_dict=True)
    losses = [result.get(f"{name}_loss") for name in names]
    if None in losses:
        return "evaluate reports no loss per output: give compile a dict of losses, one per name"
    total = 2 * losses[0] + sum(losses[1:])
    if abs(result["loss"] - total) <= 1e-4 * max(1.0, total):
        return None
    if abs(result["loss"] - sum(losses)) <= 1e-4 * max(1.0, total):
        return "every output counts once: set loss_weights so that out_0's weight is 2"
    return "the total loss is not 2 * out_0_loss + the other nine: check loss_weights"


CHECKS = {1: exercise_1, 2: exercise_2, 3: exercise_3}
