"""helpers.notebook: the checks every notebook's setup cell imports."""

import keras
import numpy as np
import pytest

from helpers.notebook import check, close, identical, max_error, raises, reset, to_numpy


def test_to_numpy_takes_tensors_variables_and_lists():
    assert to_numpy(keras.ops.ones((2, 3))).shape == (2, 3)
    assert to_numpy(keras.Variable(np.eye(2, dtype="float32"))).tolist() == [[1, 0], [0, 1]]
    assert to_numpy([1, 2]).tolist() == [1, 2]


def test_max_error_refuses_two_shapes():
    assert max_error([1.0, 2.0], [1.0, 2.5]) == 0.5
    with pytest.raises(ValueError, match=r"one shape; got \(2,\) and \(3,\)"):
        max_error([1.0, 2.0], [1.0, 2.0, 3.0])


def test_check_prints_and_stops_on_a_false_claim(capsys):
    check("units", 32, True)
    assert capsys.readouterr().out == "units: 32\n"
    with pytest.raises(AssertionError, match="check failed: units: 31"):
        check("units", 31, False)


def test_close_prints_the_threshold_never_the_rounding_error(capsys):
    close("x @ W + b", np.float32([1, 2]), np.float32([1, 2]) + 3e-8)
    assert capsys.readouterr().out == "x @ W + b: max error < 1e-6\n"
    close("loose", [1.0], [1.01], tol=0.1)
    assert capsys.readouterr().out == "loose: max error < 1e-1\n"


def test_close_stops_on_a_real_error_or_nan():
    with pytest.raises(AssertionError, match="max error 0.5 is not below 1e-6"):
        close("wrong", [1.0], [1.5])
    with pytest.raises(AssertionError, match="nan"):
        close("nan", [float("nan")], [1.0])


def test_identical_is_bit_for_bit(capsys):
    identical("column", np.float32([0.1, 0.2]), np.float32([0.1, 0.2]))
    assert capsys.readouterr().out == "column: bit-identical\n"
    with pytest.raises(AssertionError, match="not identical"):
        identical("column", np.float32([0.1]), np.float32([0.1]) + np.float32(1e-8) * 10)
    with pytest.raises(AssertionError, match="shapes differ"):
        identical("column", [1.0], [1.0, 1.0])


def test_raises_prints_the_first_line_and_swallows(capsys):
    with raises(ValueError, match="bad"):
        raise ValueError("bad value\nsecond line")
    assert capsys.readouterr().out == "ValueError: bad value\n"


def test_raises_stops_when_nothing_or_the_wrong_message_is_raised():
    with (
        pytest.raises(AssertionError, match="expected KeyError; nothing was raised"),
        raises(KeyError),
    ):
        pass
    with pytest.raises(AssertionError, match="lacks 'shape'"), raises(ValueError, match="shape"):
        raise ValueError("dtype")
    with pytest.raises(TypeError, match="exception classes"), raises("ValueError"):
        pass


def test_raises_lets_another_error_through():
    with pytest.raises(KeyError), raises(ValueError):
        raise KeyError("x")


def test_reset_restarts_names_and_random_values():
    reset(3)
    first = keras.layers.Dense(2)
    a = keras.random.uniform((3,))
    reset(3)
    second = keras.layers.Dense(2)
    b = keras.random.uniform((3,))
    assert first.name == second.name == "dense"
    np.testing.assert_array_equal(to_numpy(a), to_numpy(b))
