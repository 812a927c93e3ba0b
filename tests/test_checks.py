"""helpers._checks: the argument checks every module uses."""

import numpy as np
import pytest

from helpers._checks import check_bool, check_finite, check_ids, check_int, check_path


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


@pytest.mark.parametrize("bad", ["False", "no", 0, 1, None, np.float64(1.0)])
def test_check_bool_refuses_anything_but_a_real_bool(bad):
    with pytest.raises(
        TypeError, match=f"overwrite must be True or False; got {type(bad).__name__}"
    ):
        check_bool("overwrite", bad)
    assert check_bool("overwrite", np.bool_(True)) is True and check_bool("x", False) is False


@pytest.mark.parametrize(("bad", "error"), [(None, TypeError), (3, TypeError), (b"d", TypeError),
                                            ("", ValueError), ("  ", ValueError)])  # fmt: skip
def test_check_path_names_the_argument(bad, error):
    with pytest.raises(error, match=r"^out_dir (must be a path|is an empty path)"):
        check_path("out_dir", bad)


def test_check_finite_says_where_the_first_non_finite_values_are():
    x = np.zeros((3, 4))
    x[1, 2], x[2, 0] = np.nan, -np.inf
    with pytest.raises(
        ValueError, match=r"x holds 2 non-finite values .*nan at \[1, 2\], -inf at \[2, 0\]"
    ):
        check_finite("x", x)
    check_finite("ids", np.array([1, 2]))  # integers are always finite


def test_check_ids_reports_the_first_bad_id_and_its_position_negative_too():
    with pytest.raises(
        ValueError, match=r"batch 2: id 99 at position \[0, 3\] is outside \[0, 30\)"
    ):
        check_ids("batch 2", np.array([[1, 2, 3, 99], [0, 0, 0, 0]]), 30)
    with pytest.raises(ValueError, match=r"id -1 at position \[1\]"):
        check_ids("ids", np.array([0, -1]), 30)
    check_ids("ids", np.array([0, 29]), 30)
