"""helpers.exercises.nb01b: each solution is right, the placeholder is "not yet", and typical
wrong answers get a hint that does not give the solution away."""

import keras
import numpy as np
import pytest

from helpers import pytorch
from helpers.exercises import check_answer, is_right
from helpers.exercises.nb01b import CHECKS


class TinyEmbedding(keras.layers.Layer):
    def __init__(self, vocab, dim, **kwargs):
        super().__init__(**kwargs)
        self.vocab, self.dim = vocab, dim

    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.vocab, self.dim), name="embeddings")

    def call(self, ids):
        return keras.ops.take(self.embeddings, ids, axis=0)


class Transposed(TinyEmbedding):  # a (dim, vocab) table
    def build(self, input_shape):
        self.embeddings = self.add_weight(shape=(self.dim, self.vocab), name="embeddings")


class WrongAxis(TinyEmbedding):  # looks the ids up along the wrong axis
    def call(self, ids):
        return keras.ops.take(self.embeddings, ids % self.dim, axis=1)


class NoWeights(keras.layers.Layer):
    def __init__(self, vocab, dim, **kwargs):
        super().__init__(**kwargs)

    def call(self, ids):
        return ids


def test_exercise_1_the_solution_is_right(capsys):
    check_answer("01b", 1, TinyEmbedding=TinyEmbedding)
    assert capsys.readouterr().out == "Exercise 1: right.\n"
    assert is_right("01b", 1, TinyEmbedding=...) is False


@pytest.mark.parametrize(
    ("wrong", "hint"),
    [
        (int, "subclasses keras.layers.Layer; yours is int"),
        (NoWeights, "build() should create exactly one weight"),
        (Transposed, "(vocab, dim) = (50, 8); yours is (8, 50)"),
        (WrongAxis, "ids of shape (2, 3) give (2, 3, 8)"),
    ],
)
def test_exercise_1_wrong_answers_get_hints(wrong, hint):
    assert hint in CHECKS[1](TinyEmbedding=wrong)


class OneHotEmbedding(keras.layers.Layer):
    """A right answer written differently: the table made in __init__, a one-hot matmul."""

    def __init__(self, vocab, dim, **kwargs):
        super().__init__(**kwargs)
        self.vocab = vocab
        self.table = self.add_weight(shape=(vocab, dim), name="table")

    def call(self, ids):
        return keras.ops.matmul(keras.ops.one_hot(ids, self.vocab), self.table)


def test_exercise_1_a_right_answer_written_differently_is_right():
    assert is_right("01b", 1, TinyEmbedding=OneHotEmbedding) is True


def test_exercise_2_shapes_as_lists_are_right():
    assert is_right("01b", 2, keras_kernel_shape=[3, 3, 2, 8], torch_weight_shape=[8, 2, 3, 3])


def test_exercise_2_predicted_shapes():
    assert CHECKS[2](keras_kernel_shape=(3, 3, 2, 8), torch_weight_shape=(8, 2, 3, 3)) is None
    assert is_right("01b", 2, keras_kernel_shape=..., torch_weight_shape=(8, 2, 3, 3)) is False
    assert "4 / 2" in CHECKS[2](keras_kernel_shape=(3, 3, 4, 8), torch_weight_shape=(8, 2, 3, 3))
    hint = CHECKS[2](keras_kernel_shape=(3, 3, 2, 8), torch_weight_shape=(3, 3, 2, 8))
    assert "output channels first" in hint
    assert "4 / 2" in CHECKS[2](keras_kernel_shape=(3, 3, 2, 8), torch_weight_shape=(8, 4, 3, 3))


@pytest.fixture
def bi():
    keras.utils.set_random_seed(0)
    layer = keras.layers.Bidirectional(
        keras.layers.LSTM(2, bias_initializer="random_normal"), name="bi"
    )
    layer.build((None, 5, 3))
    return layer


def _directions(bi):
    """(forward, backward) in PyTorch's layout, names without the _reverse suffix."""
    whole = pytorch.to_torch_layout(bi)
    forward = {k: v for k, v in whole.items() if not k.endswith("_reverse")}
    backward = {k.removesuffix("_reverse"): v for k, v in whole.items() if k.endswith("_reverse")}
    return forward, backward


def test_exercise_3_both_directions_with_reverse_names_is_right(bi):
    kernel, recurrent, bias = (np.asarray(w) for w in bi.backward_layer.weights)
    answer = {  # by hand, as the solution does: transposes, and PyTorch's second bias at zero
        "weight_ih_l0_reverse": kernel.T,
        "weight_hh_l0_reverse": recurrent.T,
        "bias_ih_l0_reverse": bias,
        "bias_hh_l0_reverse": np.zeros_like(bias),
    }
    answer |= _directions(bi)[0]
    assert CHECKS[3](torch_bi=answer, layer=bi) is None
    assert is_right("01b", 3, torch_bi=..., layer=bi) is False


def test_exercise_3_wrong_answers_get_hints(bi):
    forward, backward = _directions(bi)
    assert "_reverse suffix" in CHECKS[3](torch_bi=dict(forward), layer=bi)
    swapped = dict(backward) | {f"{k}_reverse": v for k, v in forward.items()}
    assert "swapped" in CHECKS[3](torch_bi=swapped, layer=bi)
    keras_layout = {f"{k}_reverse": v for k, v in forward.items()} | {
        k: np.asarray(v).T for k, v in forward.items()
    }
    assert "PyTorch's shape" in CHECKS[3](torch_bi=keras_layout, layer=bi)
    assert "a list" in CHECKS[3](torch_bi=list(forward.values()), layer=bi)


def test_exercise_3_an_array_in_keras_layout_reshaped_gets_the_convert_hint(bi):
    answer = pytorch.to_torch_layout(bi)
    kernel = np.asarray(bi.forward_layer.cell.kernel)  # (in, 4 * units): Keras' layout
    answer["weight_ih_l0"] = kernel.reshape(answer["weight_ih_l0"].shape)  # reshaped, not .T
    assert "weight_ih_l0 is not the layer's weights" in CHECKS[3](torch_bi=answer, layer=bi)
