"""helpers.backend (supported backends, TensorFlow-only notebook cells) and the tests' gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from helpers import backend
from helpers.backend import SUPPORTED_BACKENDS, tensorflow_only


def test_the_active_backend_is_a_supported_one():
    assert keras.backend.backend() in SUPPORTED_BACKENDS == ("tensorflow", "jax")


def test_tensorflow_only_runs_the_cell_on_tensorflow_only(capsys):
    assert tensorflow_only("tf.data is TensorFlow's") is (keras.backend.backend() == "tensorflow")


@pytest.mark.parametrize("name", SUPPORTED_BACKENDS)
def test_tensorflow_only_says_which_backend_skipped_the_cell_and_why(monkeypatch, capsys, name):
    monkeypatch.setattr(backend.keras.backend, "backend", lambda: name)
    ran = tensorflow_only("tf.GradientTape is TensorFlow's autodiff")
    out = capsys.readouterr().out
    if name == "tensorflow":
        assert ran is True and out == ""
    else:
        assert ran is False
        assert out == (
            f"Skipped on the {name} backend (TensorFlow only): "
            "tf.GradientTape is TensorFlow's autodiff\n"
        )


def test_tensorflow_only_wants_a_reason():
    with pytest.raises(TypeError, match="reason must be a str saying why; got NoneType"):
        tensorflow_only(None)
    with pytest.raises(ValueError, match="reason must say why the cell needs TensorFlow; got ' '"):
        tensorflow_only(" ")


# --- the tests' backend-neutral gradient (tests/conftest.py) ------------------------------------


def test_gradients_of_a_dense_layer_match_the_analytic_ones(gradients):
    dense = keras.layers.Dense(3, name="d")
    dense.build((None, 4))
    unused = keras.Variable(np.ones(2, "float32"), name="unused")
    x = np.random.default_rng(0).normal(size=(5, 4)).astype("float32")
    kernel, bias = dense.kernel.numpy().copy(), dense.bias.numpy().copy()

    loss, (d_kernel, d_bias, d_unused) = gradients(
        lambda: keras.ops.sum(dense(x) ** 2), [dense.kernel, dense.bias, unused]
    )
    y = x @ kernel + bias  # loss = sum(y**2): dL/dy = 2y, dL/dW = x.T @ 2y, dL/db = sum 2y
    np.testing.assert_allclose(loss, np.sum(y**2), rtol=1e-5)
    np.testing.assert_allclose(d_kernel, x.T @ (2 * y), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(d_bias, (2 * y).sum(0), rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(d_unused, np.zeros(2))
    np.testing.assert_array_equal(dense.kernel.numpy(), kernel)  # read, never updated
    np.testing.assert_array_equal(dense.bias.numpy(), bias)
