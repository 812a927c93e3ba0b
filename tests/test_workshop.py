"""`make workshop`: student copies without solutions, one zip, an instructor sheet; and the rule
that every exercise in the notebooks is followed by a solution cell (tag `solution`) nbval runs."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "notebooks.py"
KIT = "keras-layer-recipes-workshop"
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def code(source: str, output: str | None = None, solution: bool = False) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": ["solution"]} if solution else {})
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", text=output)]
        cell.execution_count = 1
    return cell


def notebook(*cells: nbformat.NotebookNode) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook(cells=list(cells))
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def lesson(title: str, minutes: int) -> nbformat.NotebookNode:
    """A notebook in the GUIDE's shape: header, setup, a section, two exercises with solutions."""
    return notebook(
        md(f'# {title}\n\n"Why?"\n\nYou will learn one thing. About {minutes} minutes.'),
        md("## Setup"),
        code("x = 6", "set\n"),
        md("## The idea"),
        code("print(x * 7)", "42\n"),
        md("## Exercises"),
        md("**1.** Multiply x by 2."),
        code("y = x * 2\nassert y == 12\nprint('SOLVED-ONE', y)", "SOLVED-ONE 12\n", True),
        md("**2.** Square x."),
        code("z = x**2\nassert z == 36\nprint('SOLVED-TWO', z)", "SOLVED-TWO 36\n", True),
        code("print('your turn')", "your turn\n"),
    )


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def kit(tmp_path: Path) -> tuple[Path, Path, subprocess.CompletedProcess]:
    src = tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(lesson("First lesson", 25), src / "01_first.ipynb")
    nbformat.write(lesson("Second lesson", 40), src / "02_second.ipynb")
    out = tmp_path / "workshop"
    return src, out, run_tool("workshop", str(src), str(out))


def test_student_copies_lose_the_solutions_and_nothing_else(kit):
    src, out, result = kit
    assert result.returncode == 0 and result.stderr == "", result.stderr
    for path in sorted(src.glob("*.ipynb")):
        teacher = nbformat.read(path, as_version=4)
        student = nbformat.read(out / "notebooks" / path.name, as_version=4)
        raw = (out / "notebooks" / path.name).read_text()
        assert "SOLVED" not in raw and '"solution"' not in raw
        kept = [c for c in teacher.cells if "solution" not in c.metadata.get("tags", [])]
        assert [(c.cell_type, c.source) for c in student.cells] == [
            (c.cell_type, c.source) for c in kept
        ]
        assert len(student.cells) == len(teacher.cells) - 2
        # Outputs before the exercises are kept; the exercise section's code starts blank.
        assert student.cells[2].outputs == teacher.cells[2].outputs != []
        assert student.cells[4].outputs == teacher.cells[4].outputs != []
        assert student.cells[-1].outputs == [] and student.cells[-1].execution_count is None
        assert student.metadata == teacher.metadata


def test_one_zip_holds_the_student_copies_and_what_they_import(kit):
    _, out, _ = kit
    with zipfile.ZipFile(out / f"{KIT}.zip") as zf:
        names = set(zf.namelist())
        for name in ["01_first.ipynb", "02_second.ipynb"]:
            assert zf.read(f"{KIT}/notebooks/{name}") == (out / "notebooks" / name).read_bytes()
        assert not any(b"SOLVED" in zf.read(n) for n in names)
    for name in [
        "requirements.txt",
        "pyproject.toml",
        "README.md",
        "Makefile",
        "helpers/__init__.py",
    ]:
        assert f"{KIT}/{name}" in names
    assert f"{KIT}/tools/ipython_kernel_config.py" in names
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)


def test_instructor_sheet_gives_order_minutes_install_and_offline(kit):
    _, out, _ = kit
    sheet = (out / "INSTRUCTOR.md").read_text()
    first, second = sheet.index("First lesson"), sheet.index("Second lesson")
    assert first < second
    assert "| 1 | `01_first.ipynb` | First lesson | 25 | 2 |" in sheet
    assert "| 2 | `02_second.ipynb` | Second lesson | 40 | 2 |" in sheet
    assert "about 65 minutes" in sheet
    for words in ["make lab", "requirements.txt", "--no-index", "Run offline"]:
        assert words in sheet
    assert len(sheet.splitlines()) <= 45  # one printed page


def test_a_notebook_that_states_no_time_is_named_and_the_total_left_open(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = lesson("Untimed", 10)
    nb.cells[0].source = "# Untimed\n\nNo estimate here."
    nbformat.write(nb, src / "01_untimed.ipynb")
    result = run_tool("workshop", str(src), str(tmp_path / "out"))
    assert result.returncode == 0
    assert "01_untimed.ipynb states no time" in result.stderr
    sheet = (tmp_path / "out" / "INSTRUCTOR.md").read_text()
    assert "| 1 | `01_untimed.ipynb` | Untimed | ? | 2 |" in sheet
    assert "the total is not known: 1 notebook(s) state no time" in sheet


def test_a_second_run_replaces_the_kit(kit):
    src, out, _ = kit
    (src / "02_second.ipynb").unlink()
    assert run_tool("workshop", str(src), str(out)).returncode == 0
    assert [p.name for p in (out / "notebooks").iterdir()] == ["01_first.ipynb"]
    assert sorted(p.name for p in out.parent.iterdir()) == ["notebooks", "workshop"]


def check(tmp_path: Path, nb: nbformat.NotebookNode) -> subprocess.CompletedProcess:
    path = tmp_path / "nb.ipynb"
    nbformat.write(nb, path)
    return run_tool("check-exercises", str(path))


def numbered_headings(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The same lesson with `### Exercise N` heading cells and no `## Exercises` heading."""
    nb.cells[6].source = "### Exercise 1\n\nMultiply x by 2."
    nb.cells[8].source = "### Exercise 2\n\nSquare x."
    del nb.cells[5]
    return nb


@pytest.mark.parametrize("shape", [lambda nb: nb, numbered_headings], ids=["guide", "numbered"])
def test_check_exercises_accepts_the_guides_shape(tmp_path, shape):
    result = check(tmp_path, shape(lesson("Fine", 10)))
    assert result.returncode == 0, result.stdout
    assert "exercises in order in 1 notebook(s)" in result.stdout


@pytest.mark.parametrize(
    ("cut", "message"),
    [
        (lambda c: c[:7] + c[8:], "exercise in cell 6 ('**1.** Multiply x by 2.') is not followed"),
        (lambda c: c[:6] + c[7:], "solution cell 6 does not directly follow an exercise"),
        (
            lambda c: c[:5] + [code(c[7].source, solution=True)] + c[5:],
            "solution cell 5 does not directly follow an exercise",
        ),
        (lambda c: c[:5], "no 'Exercises' section"),
        (lambda c: c[:6], "the 'Exercises' section has no exercise"),
    ],
)
def test_check_exercises_names_what_is_wrong(tmp_path, cut, message):
    nb = lesson("Broken", 10)
    nb.cells = cut(nb.cells)
    result = check(tmp_path, nb)
    assert result.returncode == 1
    assert message in result.stdout


def test_a_solution_must_assert_and_run_under_nbval(tmp_path):
    nb = lesson("Weak", 10)
    nb.cells[7].source = "y = x * 2"
    nb.cells[9].metadata.tags.append("nbval-skip")
    result = check(tmp_path, nb)
    assert "solution cell 7 checks nothing (no assert)" in result.stdout
    assert "solution cell 9 is skipped by nbval" in result.stdout


def test_a_solution_may_span_cells_if_one_of_them_asserts(tmp_path):
    nb = lesson("Split", 10)  # exercise 1's solution: a function, then the cell that checks it
    nb.cells.insert(7, code("def double(v):\n    return v * 2", "", True))
    nb.cells[8].source = "y = double(x)\nassert y == 12"
    assert check(tmp_path, nb).returncode == 0
    nb.cells[8].source = "y = double(x)"
    result = check(tmp_path, nb)
    assert result.returncode == 1
    assert "solution cells 7-8 checks nothing (no assert)" in result.stdout


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_every_exercise_in_the_notebooks_has_a_solution(path):
    result = run_tool("check-exercises", str(path))
    assert result.returncode == 0, result.stdout


def test_student_copies_of_the_notebooks_hold_no_solution_code(tmp_path):
    out = tmp_path / "workshop"
    assert run_tool("workshop", str(ROOT / "notebooks"), str(out)).returncode == 0
    for path in NOTEBOOKS:
        teacher = nbformat.read(path, as_version=4)
        solutions = [c.source for c in teacher.cells if "solution" in c.metadata.get("tags", [])]
        student = json.loads((out / "notebooks" / path.name).read_text())
        sources = ["".join(c["source"]) for c in student["cells"]]
        assert len(sources) == len(teacher.cells) - len(solutions)
        assert not any(s in sources for s in solutions)
        assert not any("solution" in c["metadata"].get("tags", []) for c in student["cells"])
