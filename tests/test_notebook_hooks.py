"""notebooks/conftest.py: after a notebook cell raises, the notebook's later cells are skipped."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest

pytest_plugins = ["pytester"]

HOOKS = Path(__file__).resolve().parents[1] / "notebooks" / "conftest.py"


def notebook(path: Path, *cells: str) -> None:
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nbformat.write(nb, path)


@pytest.mark.backend_independent
def test_a_raising_cell_skips_the_rest_of_its_notebook_only(pytester):
    shutil.copy(HOOKS, pytester.path / "conftest.py")
    notebook(pytester.path / "broken.ipynb", "undefined_name", "print('never run')", "1 + 1")
    notebook(pytester.path / "fine.ipynb", "x = 1", "assert x == 1")
    result = pytester.runpytest_subprocess(
        "--nbval-lax", "--nbval-current-env", "-p", "no:cacheprovider", "-rs"
    )
    result.assert_outcomes(passed=2, failed=1, skipped=2)
    result.stdout.fnmatch_lines_random(
        ["*NameError*undefined_name*", "*not run: Cell 0 of this notebook raised an exception*"]
    )
