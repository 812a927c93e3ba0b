"""helpers._checks: the argument checks every module uses."""

import numpy as np
import pytest

from helpers._checks import check_int


def test_accepts_python_and_numpy_ints_and_returns_a_python_int():
    assert check_int("n", 3) == 3
    value = check_int("n", np.int64(2), minimum=2)
    assert value == 2 and type(value) is int


@pytest.mark.parametrize("bad", [True, 2.0, "3", None, [1]])
def test_non_integers_are_a_type_error_naming_the_argument(bad):
    with pytest.raises(TypeError, match=r"batch_size must be a positive int; got "):
        check_int("batch_size", bad)


def test_too_small_is_a_value_error_saying_what_is_valid():
    with pytest.raises(ValueError, match=r"batch_size must be a positive int; got 0\."):
        check_int("batch_size", 0)
    with pytest.raises(ValueError, match=r"num_classes must be an int >= 2; got 1\."):
        check_int("num_classes", 1, minimum=2)


def test_none_only_when_allowed():
    assert check_int("maxlen", None, allow_none=True) is None
    with pytest.raises(ValueError, match=r"maxlen must be a positive int or None; got -1\."):
        check_int("maxlen", -1, allow_none=True)


def test_closest_first_ranks_every_known_name():
    from helpers._checks import closest_first

    assert closest_first("dense_1", ["output", "dense", "embedding"]) == [
        "dense",
        "embedding",
        "output",
    ]
    assert sorted(closest_first("zzz", ("a", "b"))) == ["a", "b"]  # nothing alike: still all listed
