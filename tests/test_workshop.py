"""`make workshop` (tools/workshop.py): the exercise format, student copies, the kit (its own
README, Makefile and kit.py), the instructor's zip and INSTRUCTOR.md, and the kit test's runner,
all on small synthetic notebooks. tests/test_kit_notebooks.py runs the same on the real ones."""

from __future__ import annotations

import importlib.util
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "workshop.py"
KIT = "keras-layer-recipes-workshop"
INSTRUCTOR = "keras-layer-recipes-instructor"
# The synthetic notebooks' checks: helpers.exercises' real check_answer, with the checks of a
# notebook that does not exist patched in (what helpers/exercises/nbNN.py would hold).
SETUP = """\
import helpers.exercises as ex
from helpers.exercises import check_answer

ex.checks = lambda nb: {
    1: lambda y: None if y == 12 else "twice x",
    2: lambda z: None if z == 36 else "x times x",
}
x = 6
print("set")"""


def md(text: str) -> nbformat.NotebookNode:
    return nbformat.v4.new_markdown_cell(text)


def code(source: str, output: str | None = None, tag: str | None = None) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": [tag]} if tag else {})
    if output is not None:
        cell.outputs = [nbformat.v4.new_output("stream", text=output)]
        cell.execution_count = 1
    return cell


def lesson(title: str, nb_id: str = "01", time: str = "about 25 minutes") -> nbformat.NotebookNode:
    """A notebook in the GUIDE's shape with two exercises in the kit's format, as committed."""
    header = (
        f'# {title}\n\n"Why?"\n\n**What you will learn**\n\n- to double a number;\n'
        f"- to square it, with a\n  second line.\n\n**Prerequisites**: arithmetic.\n\n"
        f"**Time**: {time}."
    )
    nb = nbformat.v4.new_notebook(
        cells=[
            md(header),
            md("## Setup"),
            code(SETUP, "set\n"),
            md("## The idea"),
            code("print(x * 7)", "42\n"),
            md("## Exercises\n\nEach exercise has an answer cell and a check cell."),
            md("### Exercise 1: double\n\nPut twice `x` in `y`."),
            code("# Your answer: replace ... (an int)\ny = ...", tag="answer"),
            code(
                "y = x * 2\nassert y == 12\nprint('SOLVED-ONE', y)", "SOLVED-ONE 12\n", "solution"
            ),
            code(f'check_answer("{nb_id}", 1, y=y)', "Exercise 1: right.\n", "check"),
            md("### Exercise 2: square\n\nPut `x` squared in `z`."),
            code("z = ...", tag="answer"),
            code("z = x**2\nassert z == 36\nprint('SOLVED-TWO', z)", "SOLVED-TWO 36\n", "solution"),
            code(f'check_answer("{nb_id}", 2, z=z)', "Exercise 2: right.\n", "check"),
            md("## Clean up"),
            code("del x\nprint('cleaned up')", "cleaned up\n"),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def run_tool(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=timeout
    )


def load(path: Path, name: str):
    """A script (tools/workshop.py, workshop/kit.py) as a module."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up there
    sys.path.insert(0, str(path.parent))  # as when run: tools/workshop.py imports tools/notebooks
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(path.parent))
    return module


@pytest.fixture(scope="module")
def tool():
    return load(TOOL, "workshop_tool")


def check(tmp_path: Path, nb: nbformat.NotebookNode, name: str = "01_x.ipynb"):
    path = tmp_path / name
    nbformat.write(nb, path)
    return run_tool("check-exercises", str(path))


# ---------------------------------------------------------------------------------------------
# The exercise format


def test_check_exercises_accepts_the_format(tmp_path):
    result = check(tmp_path, lesson("Fine"))
    assert result.returncode == 0, result.stdout
    assert "exercises in order in 1 notebook(s)" in result.stdout


def _set(i: int, source: str):
    def change(cells):
        cells[i].source = source
        return cells

    return change


def _untag(i: int):
    def change(cells):
        cells[i].metadata["tags"] = []
        return cells

    return change


def _output(i: int, text: str):
    def change(cells):
        cells[i].outputs = [nbformat.v4.new_output("stream", text=text)]
        return cells

    return change


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c[:7] + c[8:], "exercise 1: the cell after its heading is not a code cell"),
        (_set(7, "y = 0"), "exercise 1: its answer cell has no placeholder (name = ..."),
        (_set(7, "y = 0  # ..."), "exercise 1: its answer cell has no placeholder (name = ..."),
        (lambda c: c[:8] + c[9:], "exercise 1: no code cell tagged 'solution'"),
        (_set(8, "y = x * 2"), "exercise 1: its solution checks nothing (no assert)"),
        (_set(8, "w = x * 2\nassert w == 12"), "its solution does not assign ['y']"),
        (lambda c: c[:9] + c[10:], "exercise 1: no code cell tagged 'check'"),
        (_set(9, "print(y)"), "exercise 1: its check cell is not one call check_answer(...)"),
        (_set(9, 'check_answer("02", 1, y=y)'), 'should call check_answer("01", 1, ...)'),
        (_set(9, 'check_answer("01", 2, y=y)'), 'should call check_answer("01", 1, ...)'),
        (_set(9, 'check_answer("01", 1, w=y)'), "does not pass the answer (y=y)"),
        (_output(9, "Exercise 1: not yet answered"), "its check cell's saved output is"),
        (_set(10, "### Exercise 3: square"), "cell 10: exercise 3 should be numbered 2"),
        (_untag(8), "cell 8 in exercise 1 is not its answer, solution or check cell"),
        (lambda c: c[:5] + c[6:], "no '## Exercises' section"),
        (lambda c: c[:6], "the '## Exercises' section has no '### Exercise N: title' cell"),
        (_set(15, "del x, y"), "cell 15 after the exercises uses ['y'], which only an answer"),
        (_set(15, "print([v for v in (z,)])"), "cell 15 after the exercises uses ['z']"),
        (
            _set(6, "### Exercise 1: double\n\nThe solution below checks it."),
            "cell 6 refers to a solution cell",
        ),
        (
            lambda c: [*c[:4], code("q = 1", tag="solution"), *c[4:]],
            "cell 4 is tagged 'solution' but belongs to no exercise",
        ),
    ],
)
def test_check_exercises_names_what_is_wrong(tool, change, message):
    nb = lesson("Broken")
    nb.cells = change(nb.cells)
    problems = tool.exercise_problems(nb, "01")
    assert any(message in p for p in problems), problems


def test_check_exercises_exits_1_and_says_why(tmp_path):
    nb = lesson("Broken")
    nb.cells[8].source = "y = x * 2"
    result = check(tmp_path, nb)
    assert result.returncode == 1
    assert (
        result.stdout
        == f"{tmp_path / '01_x.ipynb'}: exercise 1: its solution checks nothing (no assert)\n"
    )
    assert run_tool("check-exercises", str(tmp_path / "none.ipynb")).returncode != 0


def test_a_solution_may_span_cells_and_must_run_under_nbval(tool):
    nb = lesson("Split")  # exercise 1's solution: a function, then the cell that checks it
    nb.cells.insert(8, code("def double(v):\n    return v * 2", tag="solution"))
    nb.cells[9].source = "y = double(x)\nassert y == 12"
    assert tool.exercise_problems(nb, "01") == []
    nb.cells[9].metadata["tags"].append("nbval-skip")
    assert tool.exercise_problems(nb, "01") == ["exercise 1: solution cell 9 is skipped by nbval"]


def test_an_answer_cell_may_give_data_beside_its_placeholder(tool, tmp_path):
    nb = lesson("Given")  # the task gives `base`; the answer is y; the solution uses base
    nb.cells[7].source = "base = 2  # given\n# Your answer: replace ...\ny = ..."
    nb.cells[8].source = "y = x * base\nassert y == 12"
    assert tool.exercise_problems(nb, "01") == []
    assert tool.placeholders(nb.cells[7].source) == {"y"}
    assert tool.placeholders('def f(v):\n    """Double v."""\n    ...') == {"f"}
    assert run_kit(tool, tmp_path, nb) == []  # solved: the given line, then the solution


def test_names_sees_module_level_bindings_and_uses(tool):
    source = "import numpy as np\nfrom a import b as c\ny: int = 1\nfor i in r: pass\ndel q\n"
    source += "def f(t=d):\n    return t + g\nk = [w for w in h]\n%matplotlib inline"
    bound, used = tool.names(source)
    assert bound == {"np", "c", "y", "i", "f", "k"}
    assert used == {"r", "q", "d", "g", "h", "int", "get_ipython"}  # %matplotlib: a call


def test_notebook_ids(tool):
    assert tool.notebook_id(Path("01_weight_shapes.ipynb")) == "01"
    assert tool.notebook_id(Path("05b_glove.ipynb")) == "05b"
    assert tool.notebook_id(Path("scratch.ipynb")) is None


# ---------------------------------------------------------------------------------------------
# The build: student copies, the kit, the instructor's zip


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    root = tmp_path_factory.mktemp("workshop")
    src = root / "notebooks"
    src.mkdir()
    nbformat.write(
        lesson("First lesson", "01", "about 20 minutes, 20 more for the reference part"),
        src / "01_first.ipynb",
    )
    nbformat.write(lesson("Second lesson", "02", "about 40 minutes"), src / "02_second.ipynb")
    reference = lesson("Every layout", "03", "about 30 minutes")
    reference.cells[0].source = "# Reference: every layout\n\nOptional. **Time**: 30 minutes."
    nbformat.write(reference, src / "03_reference.ipynb")
    out = root / "build" / "workshop"
    result = run_tool("build", str(src), str(out))
    assert result.returncode == 0, result.stderr
    return src, out, result


def test_student_copies_lose_the_solutions_and_nothing_else(built):
    src, out, result = built
    assert result.stderr == ""
    for path in sorted(src.glob("*.ipynb")):
        teacher = nbformat.read(path, as_version=4)
        student = nbformat.read(out / KIT / "notebooks" / path.name, as_version=4)
        raw = (out / KIT / "notebooks" / path.name).read_text()
        assert "SOLVED" not in raw and '"solution"' not in raw
        kept = [c for c in teacher.cells if "solution" not in c.metadata.get("tags", [])]
        assert [(c.cell_type, c.source, c.metadata) for c in student.cells] == [
            (c.cell_type, c.source, c.metadata) for c in kept
        ]
        assert len(student.cells) == len(teacher.cells) - 2
        assert student.cells[2].outputs == teacher.cells[2].outputs != []  # before the exercises
        assert student.cells[4].outputs == teacher.cells[4].outputs != []
        exercise_code = [c for c in student.cells[5:-2] if c.cell_type == "code"]
        assert len(exercise_code) == 4  # two answer and two check cells, blank
        assert all(c.outputs == [] and c.execution_count is None for c in exercise_code)
        assert student.cells[-1].outputs == teacher.cells[-1].outputs  # the clean-up
        assert student.metadata == teacher.metadata


def test_the_kit_is_its_own_project(built):
    _, out, _ = built
    with zipfile.ZipFile(out / f"{KIT}.zip") as zf:
        names = set(zf.namelist())
        assert not any(b"SOLVED" in zf.read(n) for n in names if n.endswith(".ipynb"))
        readme = zf.read(f"{KIT}/README.md").decode()
        makefile = zf.read(f"{KIT}/Makefile").decode()
    for name in [
        "README.md",
        "Makefile",
        "kit.py",
        "requirements-learner.txt",
        "pyproject.toml",
        "environment.yml",
        "helpers/__init__.py",
        "helpers/exercises/__init__.py",
        "tools/ipython_kernel_config.py",
        "notebooks/01_first.ipynb",
    ]:
        assert f"{KIT}/{name}" in names, name
    # The developer's files stay out: their commands would not work in the kit.
    for name in ["requirements.txt", "tools/notebooks.py", "tools/workshop.py", "INSTRUCTOR.md"]:
        assert f"{KIT}/{name}" not in names, name
    assert not any("__pycache__" in n or n.endswith(".pyc") for n in names)
    assert "python kit.py install" in readme and "python kit.py lab" in readme
    assert "--no-index --find-links wheels" in readme and "make test" not in readme
    # Every command the kit's Makefile runs is kit.py's, and kit.py's commands exist.
    commands = re.findall(r"^\t(.+)$", makefile, re.M)
    assert commands == ["$(PYTHON) kit.py install", "$(PYTHON) kit.py lab"]
    kit = load(out / KIT / "kit.py", "kit_in_kit")
    assert (out / KIT).resolve() == kit.HERE
    for file in [kit.REQUIREMENTS, kit.KERNEL_CONFIG, "pyproject.toml"]:
        assert (kit.HERE / file).is_file(), file


def test_student_copies_pass_ruff_with_the_kits_settings(built):
    _, out, _ = built
    ruff = shutil.which("ruff")
    assert ruff, "ruff is part of the developer's environment"
    result = subprocess.run(
        [ruff, "check", "--no-cache", "notebooks"], cwd=out / KIT, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_the_instructor_zip_holds_notes_solutions_and_the_site(built):
    src, out, _ = built
    with zipfile.ZipFile(out / f"{INSTRUCTOR}.zip") as zf:
        names = set(zf.namelist())
        assert zf.read(f"{INSTRUCTOR}/INSTRUCTOR.md") == (out / "INSTRUCTOR.md").read_bytes()
        for path in src.glob("*.ipynb"):
            assert zf.read(f"{INSTRUCTOR}/notebooks/{path.name}") == path.read_bytes()
        assert f"{INSTRUCTOR}/site/index.html" in names
        page = zf.read(f"{INSTRUCTOR}/site/01_first.html").decode()
    # On the site the answer cells are removed and the solutions collapsed; the checks show.
    assert "Your answer: replace" not in page and "z = ..." not in page
    assert len(re.findall(r"<details", page)) == 2 and "SOLVED-ONE" in page
    assert "Exercise 1: right." in page


def test_instructor_notes_add_up_from_the_headers(built):
    _, out, _ = built
    notes = (out / "INSTRUCTOR.md").read_text()
    assert "| 1 | `01_first.ipynb`: First lesson | 20 | +20 | 2 |" in notes
    assert "| 2 | `02_second.ipynb`: Second lesson | 40 |  | 2 |" in notes
    assert "| 3 | `03_reference.ipynb`: Reference: every layout (optional) | 30 |  | 2 |" in notes
    plan = re.findall(r"^\| (\d+):(\d\d) \| ?(\d*) \| (.+) \|$", notes, re.M)
    rows = [(int(h) * 60 + int(m), int(n) if n else 0, what) for h, m, n, what in plan]
    for (start, length, _), (after, _, _) in zip(rows, rows[1:], strict=False):
        assert start + length == after  # each row starts when the one before ends
    lessons = [length for _, length, what in rows if "ipynb" in what]
    assert lessons == [20, 40]  # the optional notebook and optional part are not in the plan
    assert [what for _, _, what in rows].count("Break") == 1  # two lessons: one boundary
    assert rows[-1][2] == f"end ({rows[-1][0]} minutes)"
    assert f"The plan takes {rows[-1][0]} of the 180 minutes" in notes
    assert "- `01_first.ipynb`: its optional part, 20 minutes" in notes
    assert "- `03_reference.ipynb`: the whole notebook" in notes
    assert "- to square it, with a second line\n" in notes and "arithmetic" in notes
    for words in ["Troubleshooting", "Ray", "--allow-root", "HTTPS_PROXY", "Windows", "macOS"]:
        assert words in notes
    assert "Day-before checklist" in notes and "--no-index --find-links wheels" in notes
    assert "$" not in notes  # every placeholder of the template filled


def test_the_header_times_and_a_three_hour_plan(tool):
    def head(time: str, title: str = "T", optional: bool = False):
        return tool.Header("n.ipynb", title, *tool.parse_time(time), optional, [], "", 2)

    assert tool.parse_time("about 20 minutes for the core lesson, 20 more for the reference") == (
        20,
        20,
    )
    assert tool.parse_time("about 25 minutes (plus 10 for the optional last section)") == (25, 10)
    assert tool.parse_time("about 35 minutes (20 to read and run, 15 for the exercises)") == (35, 0)
    assert tool.parse_time("about 32 minutes: 20 to read (1,400 words)") == (32, 0)
    assert tool.parse_time("none given") == (None, 0)
    lessons = [head(f"{m} minutes") for m in (20, 25, 25, 30, 30, 15)]
    rows, spare, later = tool.schedule(lessons)
    whats = [what for _, _, what in rows]
    # Breaks at the boundaries nearest a third and two thirds of the 145 minutes: 45 and 100.
    assert [rows[i - 1][0] + rows[i - 1][1] for i, w in enumerate(whats) if w == "Break"] == [
        50,
        115,
    ]
    assert rows[-1][0] + rows[-1][1] == 180 and spare == 0 and later == []  # exactly 3 hours
    extra = head("30 minutes", "Extra")
    rows, spare, later = tool.schedule([*lessons, extra])
    assert later == [extra] and spare == 0  # the last one does not fit: left for later
    assert "Extra" not in str(rows)


def test_a_notebook_that_states_no_time_is_named(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    nb = lesson("Untimed")
    nb.cells[0].source = "# Untimed\n\nNo estimate here."
    nbformat.write(nb, src / "01_untimed.ipynb")
    result = run_tool("build", str(src), str(tmp_path / "out"), "--no-site")
    assert result.returncode == 0, result.stderr
    assert "01_untimed.ipynb states no time" in result.stderr
    notes = (tmp_path / "out" / "INSTRUCTOR.md").read_text()
    assert "| 1 | `01_untimed.ipynb`: Untimed | ? |" in notes
    assert "because their headers state no time: 01_untimed.ipynb" in notes


def test_a_second_build_replaces_the_first_and_leaves_nothing_behind(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    nbformat.write(lesson("One"), src / "01_one.ipynb")
    out = tmp_path / "out"
    assert run_tool("build", str(src), str(out), "--no-site").returncode == 0
    (out / "stale.txt").write_text("old")
    assert run_tool("build", str(src), str(out), "--no-site").returncode == 0
    assert not (out / "stale.txt").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "out"]
    assert run_tool("build", str(src), str(out), "--wheels", str(tmp_path)).returncode != 0


def test_kit_py_installs_offline_exactly_when_wheels_are_there(tmp_path):
    kit = load(ROOT / "workshop" / "kit.py", "kit_in_repo")
    assert kit.pip_source(tmp_path / "wheels", None) == []
    (tmp_path / "wheels").mkdir()
    (tmp_path / "wheels" / "x-1-py3-none-any.whl").write_bytes(b"")
    offline = ["--no-index", "--find-links", str(tmp_path / "wheels")]
    assert kit.pip_source(tmp_path / "wheels", None) == offline
    assert kit.pip_source(tmp_path / "wheels", False) == []
    with pytest.raises(SystemExit, match="needs the wheelhouse folder"):
        kit.pip_source(tmp_path / "none", True)


# ---------------------------------------------------------------------------------------------
# The kit test's runner: one kernel, the main path once, the exercises blank then solved


def test_run_kit_passes_a_good_notebook_and_says_so(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    nbformat.write(lesson("Good"), src / "01_x.ipynb")
    result = run_tool("run-kit", str(src / "01_x.ipynb"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == "01_x.ipynb: blank and solved, all as expected\n"


def run_kit(tool, tmp_path: Path, nb: nbformat.NotebookNode) -> list[str]:
    student = tmp_path / "01_x.ipynb"
    nbformat.write(tool.student_copy(nb), student)
    return tool.run_kit(student, nb)


def test_run_kit_runs_the_clean_up_on_blank_answers(tool, tmp_path):
    nb = lesson("Leaky")  # the clean-up uses w, which only exercise 1's solution defines
    nb.cells[8].source = "w = 2\ny = x * w\nassert y == 12"
    nb.cells[-1].source = "del x, w"
    problems = run_kit(tool, tmp_path, nb)
    assert problems == ["after cell 'del x, w' raised NameError: name 'w' is not defined"]


@pytest.mark.parametrize(
    ("i", "source", "message"),
    [
        (7, "y = 12", "exercise 1's blank-check cell printed 'Exercise 1: right.'"),
        (8, "y = x * 3\nassert True", "exercise 1's solved-check cell printed 'Exercise 1: not"),
        (4, "print(x * 7)\nraise ValueError('main')", "raised ValueError: main"),
        (4, "raise ValueError('main')", "(the 11 code cells after it are not checked)"),
        (11, "z = ...\nundefined_name", "exercise 2's blank cell raised NameError"),
    ],
)
def test_run_kit_names_what_went_wrong(tool, tmp_path, i, source, message):
    nb = lesson("Broken")
    nb.cells[i].source = source
    problems = run_kit(tool, tmp_path, nb)
    assert any(message in p for p in problems), problems


@pytest.mark.parametrize(
    ("first", "optional"),
    [
        ("# Reference: every layout\n\nText.", True),
        ("# Layouts\n\nOptional: read it after notebook 01.", True),
        ("Optional. # Extras", True),
        ("# Weight shapes\n\n> Why (2000, 32)?\n\nOptional parts at the end.", False),
    ],
)
def test_optional_notebooks_say_so_first(tool, first, optional):
    assert tool.is_optional(nbformat.v4.new_notebook(cells=[md(first)])) is optional
