"""helpers.exercises: the machinery of the student check cells (each notebook's checks are tested
in tests/test_exercises_nbNN.py)."""

import pytest

import helpers.exercises as ex


@pytest.fixture
def fake(monkeypatch):
    def exercise_1(answer):
        return None if answer == 42 else "the answer is an int between 40 and 45"

    def exercise_2(answer):
        return None if answer.upper() == "OK" else "say OK"

    monkeypatch.setattr(ex, "checks", lambda notebook: {1: exercise_1, 2: exercise_2})


def test_right_answer(fake, capsys):
    ex.check_answer("99", 1, answer=42)
    assert ex.is_right("99", 1, answer=42) is True
    assert capsys.readouterr().out == "Exercise 1: right.\n"


def test_placeholder_is_not_yet(fake, capsys):
    assert ex.check_answer("99", 1, answer=...) is None
    assert ex.is_right("99", 1, answer=...) is False
    out = capsys.readouterr().out
    assert out.startswith("Exercise 1: not yet answered: replace the ... in the answer cell")
    assert "(answer)" in out


def test_wrong_answer_gets_the_hint_not_the_solution(fake, capsys):
    ex.check_answer("99", 1, answer=7)
    assert capsys.readouterr().out == (
        "Exercise 1: not right yet. Hint: the answer is an int between 40 and 45\n"
    )


def test_an_answer_that_breaks_the_check_is_a_hint_not_a_crash(fake, capsys):
    assert ex.verdict("99", 2, answer=3)[0] is False
    ex.check_answer("99", 2, answer=3)
    assert "raised AttributeError" in capsys.readouterr().out


def test_unknown_exercise_lists_the_known_ones(fake):
    with pytest.raises(KeyError, match=r"no exercise 7.*it has \[1, 2\]"):
        ex.check_answer("99", 7, answer=1)


def test_unknown_notebook_lists_the_known_ones():
    with pytest.raises(KeyError, match=r"no exercise checks for notebook 'zz'; known notebooks"):
        ex.checks("zz")
