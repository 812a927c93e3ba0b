"""The workshop kit's test on the real notebooks (issue 22): each notebook's exercises are in the
kit's format (tools/workshop.py check-exercises), and its student copy runs top to bottom with
blank answers (only the check cells say "not yet"; the clean-up runs) and, with each solution
pasted into its answer cell, every check says "right".

To keep its cost down, each student copy runs once, in one kernel: the main path, the exercises
blank, then solved, then the cells after the exercises on the names the blank answers left
(tools/workshop.py kit_notebook). A notebook with no Exercises section is skipped only if it is an
optional or reference notebook (its first cell says so); its student copy is the notebook itself,
which nbval runs."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "workshop.py"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def load_tool():
    """tools/workshop.py as a module (a script: it imports tools/notebooks.py beside it)."""
    spec = importlib.util.spec_from_file_location("workshop_tool_kit", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    sys.path.insert(0, str(TOOL.parent))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(TOOL.parent))
    return module


def test_student_copies_pass_ruff(tmp_path):
    tool = load_tool()
    # As in the kit: pyproject.toml (ruff's settings) and helpers/ (first-party for isort) beside
    # notebooks/.
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "helpers").symlink_to(ROOT / "helpers")
    (tmp_path / "notebooks").mkdir()
    for path in NOTEBOOKS:
        student = tool.student_copy(nbformat.read(path, as_version=4))
        nbformat.write(student, tmp_path / "notebooks" / path.name)
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the developer's environment"
    result = subprocess.run(
        [ruff, "check", "--no-cache", "notebooks"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_student_copy_runs_blank_and_solved(path):
    nb = nbformat.read(path, as_version=4)
    if load_tool().is_optional(nb) and not any(
        c.cell_type == "markdown" and c.source.lstrip().startswith("## Exercises") for c in nb.cells
    ):
        pytest.skip("optional notebook without exercises: its student copy is the notebook")
    check = subprocess.run(
        [sys.executable, str(TOOL), "check-exercises", str(path)], capture_output=True, text=True
    )
    assert check.returncode == 0, check.stdout + check.stderr
    run = subprocess.run(
        [sys.executable, str(TOOL), "run-kit", str(path)], capture_output=True, text=True
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout == f"{path.name}: blank and solved, all as expected\n"
