"""Checks for the notebooks' exercises: "right", "not yet" or "not right yet" with a hint.

A student copy of a notebook has, for each exercise, an answer cell with a placeholder ``...``
and a check cell; the check says whether the answer is right without showing the solution:

    answer = ...  # the answer cell: replace ... with your answer
    check_answer("01", 1, answer=answer, model=model)  # the check cell

Each notebook's checks live in a module of their own, ``helpers.exercises.nb01`` for notebook 01,
as a dict ``CHECKS`` from the exercise number to a function. The function takes the check cell's
keyword arguments and returns ``None`` when the answer is right, else a hint for the student.
Why a small module rather than a grading library such as otter-grader: a check needs the
notebook's live objects (a model, a layer) and runs offline in the learner's own kernel, with
no grader service, no extra package and no test-file format to learn.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from types import ModuleType

Check = Callable[..., "str | None"]


def _module(notebook: str) -> ModuleType:
    known = sorted(m.name[2:] for m in pkgutil.iter_modules(__path__) if m.name.startswith("nb"))
    if not isinstance(notebook, str) or notebook not in known:
        raise KeyError(f"no exercise checks for notebook {notebook!r}; known notebooks: {known}")
    return importlib.import_module(f"{__name__}.nb{notebook}")


def checks(notebook: str) -> dict[int, Check]:
    """The check functions of one notebook, by exercise number.

    >>> sorted(checks("01"))  # doctest: +SKIP
    [1, 2, 3]
    """
    return dict(_module(notebook).CHECKS)


def verdict(notebook: str, number: int, **given: object) -> tuple[bool, str]:
    """(right, message) for an answer to exercise ``number`` of ``notebook``; nothing printed.

    An argument still holding the placeholder ``...`` means "not yet answered". The check's own
    errors (an answer of the wrong type, a function that raises) become the hint, never raised.

    >>> verdict("01", 1, torch_weight=...)  # doctest: +SKIP
    (False, 'Exercise 1: not yet answered: replace the ... in the answer cell above ...')
    """
    table = checks(notebook)
    if number not in table:
        raise KeyError(f"notebook {notebook} has no exercise {number!r}; it has {sorted(table)}")
    blank = [name for name, value in given.items() if value is ...]
    if blank:
        return False, (
            f"Exercise {number}: not yet answered: replace the ... in the answer cell above "
            f"({', '.join(blank)}), then run this cell."
        )
    try:
        hint = table[number](**given)
    except Exception as error:  # the student's answer, not this module, raised
        hint = f"checking your answer raised {type(error).__name__}: {error}"
    if hint is None:
        return True, f"Exercise {number}: right."
    return False, f"Exercise {number}: not right yet. Hint: {hint}"


def is_right(notebook: str, number: int, **given: object) -> bool:
    """True if the answer to exercise ``number`` of ``notebook`` is right (nothing printed).

    >>> is_right("01", 1, torch_weight=...)  # doctest: +SKIP
    False
    """
    return verdict(notebook, number, **given)[0]


def check_answer(notebook: str, number: int, **given: object) -> None:
    """The check cell: print whether the answer to exercise ``number`` is right, or a hint.

    Returns nothing, so the cell shows only the sentence; never raises for a wrong answer, so the
    rest of the notebook still runs.

    >>> check_answer("01", 1, torch_weight=...)  # doctest: +SKIP
    Exercise 1: not yet answered: replace the ... in the answer cell above (torch_weight), ...
    """
    print(verdict(notebook, number, **given)[1])
