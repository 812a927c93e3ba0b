"""The workshop kit: student copies whose exercises check themselves, and the instructor's zip.

    python tools/workshop.py build notebooks build/workshop     # `make workshop`
    python tools/workshop.py check-exercises notebooks/*.ipynb # the exercise format, below
    python tools/workshop.py run-kit notebooks/*.ipynb         # student copies, blank and solved

The exercise format. In a notebook's `## Exercises` section each exercise is a markdown cell headed
`### Exercise N: title` with the task, then a code cell tagged `answer` whose placeholders are
`name = ...` (beside any data the task gives), one or more cells tagged `solution` (one of them
asserts; they assign the placeholders' names), then a cell tagged `check` with one call,
check_answer("NN", N, name=name, ...), passing every placeholder. A student copy drops the
`solution` cells. No cell after the exercises may use a name only an answer or solution defines.
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import copy
import importlib.util
import re
import shutil
import string
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from notebooks import CELL_TIMEOUT, ROOT, _notebooks, _replace_dir, describe, site

ANSWER, SOLUTION, CHECK = "answer", "solution", "check"  # the exercise cells' tags
KIT = "keras-layer-recipes-workshop"  # the student zip, and the folder inside it
INSTRUCTOR = "keras-layer-recipes-instructor"  # the instructor's zip: solutions and the site
WORKSHOP = ROOT / "workshop"  # the kit's own README, Makefile, kit.py and the INSTRUCTOR template
# What a student needs besides the notebooks: the helpers package and the pinned install.
KIT_FILES = ["requirements-learner.txt", "pyproject.toml", "environment.yml"]
KIT_FILES += ["helpers", "tools/ipython_kernel_config.py"]
KIT_OWN = ["README.md", "Makefile", "kit.py"]  # from workshop/, at the top of the kit
SESSION = 180  # minutes: the workshop's length
# Markdown that refers to a cell the student copy does not have.
REFERS_TO_SOLUTION = re.compile(
    r"solution (cell|below|above|that follows)|followed by (a|its) solution", re.I
)


def _tags(cell: nbformat.NotebookNode) -> list[str]:
    return cell.get("metadata", {}).get("tags", [])


def _tagged(cell: nbformat.NotebookNode, tag: str) -> bool:
    return cell.cell_type == "code" and tag in _tags(cell)


def _headings(text: str) -> list[tuple[int, str]]:
    return [(len(m[1]), m[2].strip()) for m in re.finditer(r"^(#{1,6})\s+(.+)$", text, re.M)]


def _exercise_heading(cell: nbformat.NotebookNode) -> tuple[int, str] | None:
    """(N, title) of a `### Exercise N: title` markdown cell, else None."""
    if cell.cell_type != "markdown":
        return None
    found = re.match(r"\s*###\s+Exercise\s+(\d+)\b\s*:?\s*(.*)", cell.source)
    return (int(found[1]), found[2].strip()) if found else None


def notebook_id(path: Path) -> str | None:
    """The id check_answer names a notebook by: "01" for 01_weight_shapes.ipynb, "05b" for 05b_x."""
    found = re.match(r"(\d+[a-z]?)_", path.name)
    return found[1] if found else None


def python_source(source: str) -> str:
    """A cell's source as plain Python (IPython magics such as %matplotlib turned into calls)."""
    from IPython.core.inputtransformer2 import TransformerManager

    return TransformerManager().transform_cell(source)


class _Names(ast.NodeVisitor):
    """The module-level names a cell binds (stored, imported, defined) and uses (loaded, deleted).
    A function, class, lambda or comprehension binds its own names inside; the names it uses from
    outside count as used."""

    def __init__(self) -> None:
        self.bound: set[str] = set()
        self.used: set[str] = set()

    def visit_Name(self, node: ast.Name) -> None:
        (self.bound if isinstance(node.ctx, ast.Store) else self.used).add(node.id)

    def visit_alias(self, node: ast.alias) -> None:
        self.bound.add((node.asname or node.name).split(".")[0])

    def _scope(self, node: ast.AST) -> None:
        inner = _Names()
        inner.generic_visit(node)
        params = (
            {a.arg for a in ast.walk(node.args) if isinstance(a, ast.arg)}
            if hasattr(node, "args")
            else set()
        )
        self.used |= inner.used - inner.bound - params
        if hasattr(node, "name"):
            self.bound.add(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = visit_Lambda = _scope
    visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scope


def names(source: str) -> tuple[set[str], set[str]]:
    """(bound, used) module-level names of a cell's source; two empty sets if it does not parse.

    >>> names("x = f(y)\\ndel z")
    ({'x'}, {'f', 'y', 'z'})
    """
    visitor = _Names()
    with contextlib.suppress(SyntaxError):
        visitor.visit(ast.parse(python_source(source)))
    return visitor.bound, visitor.used


def placeholders(source: str) -> set[str]:
    """The names an answer cell leaves to the student: assigned `...`, or a function whose body is
    `...`. Other lines of the cell (data the task gives) are not the answer.

    >>> placeholders("data = load()\nkernel = ...\ndef f(x):\n    ...")
    {'kernel', 'f'}
    """
    try:
        body = ast.parse(python_source(source)).body
    except SyntaxError:
        return set()
    found = set()
    for node in body:
        value = getattr(node, "value", None)
        if isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(value, ast.Constant):
            if value.value is Ellipsis:
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                found |= {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
        elif isinstance(node, ast.FunctionDef) and all(
            isinstance(b, ast.Expr) and isinstance(b.value, ast.Constant) for b in node.body
        ):
            found.add(node.name)  # a docstring and `...`
    return found


@dataclass
class Exercise:
    """The cells of one exercise, by index: its heading, answer, solutions and check."""

    number: int
    title: str
    heading: int
    answer: int | None = None
    solutions: list[int] = field(default_factory=list)
    check: int | None = None


def exercise_section(nb: nbformat.NotebookNode) -> range | None:
    """Indices of the cells from the `## Exercises` heading up to the next heading at its level or
    above (such as `## Clean up`), or None without such a section."""
    start = level = None
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "markdown" or not cell.source.strip():
            continue
        first = _headings(cell.source.strip().splitlines()[0])
        if start is None:
            if first and re.fullmatch(r"exercises", first[0][1], re.I):
                start, level = i, first[0][0]
        elif first and first[0][0] <= level:
            return range(start, i)
    return None if start is None else range(start, len(nb.cells))


def parse_exercises(
    nb: nbformat.NotebookNode, nb_id: str | None = None
) -> tuple[list[Exercise], list[str]]:
    """The exercises of a notebook in the format above, and what breaks that format (nb_id: the
    notebook's id, which its check cells must pass; see notebook_id)."""
    section = exercise_section(nb)
    if section is None:
        return [], ["no '## Exercises' section"]
    cells, found, problems = nb.cells, [], []
    heads = [i for i in section if _exercise_heading(cells[i])]
    if not heads:
        return [], ["the '## Exercises' section has no '### Exercise N: title' cell"]
    for k, head in enumerate(heads):
        number, title = _exercise_heading(cells[head])
        if number != k + 1:
            problems.append(f"cell {head}: exercise {number} should be numbered {k + 1}")
        ex = Exercise(number, title, head)
        found.append(ex)
        end = heads[k + 1] if k + 1 < len(heads) else section.stop
        rest = list(range(head + 1, end))
        if rest and _tagged(cells[rest[0]], ANSWER):
            ex.answer = rest.pop(0)
        while rest and _tagged(cells[rest[0]], SOLUTION):
            ex.solutions.append(rest.pop(0))
        if rest and _tagged(cells[rest[0]], CHECK):
            ex.check = rest.pop(0)
        problems += _exercise_problems(nb, ex, nb_id)
        for i in rest:
            problems.append(
                f"cell {i} in exercise {number} is not its answer, solution or check cell "
                f"(each exercise: heading, '{ANSWER}', '{SOLUTION}' cells, '{CHECK}', in order)"
            )
    return found, problems


def _exercise_problems(nb: nbformat.NotebookNode, ex: Exercise, nb_id: str | None) -> list[str]:
    cells, n, problems = nb.cells, ex.number, []
    if ex.answer is None:
        problems.append(
            f"exercise {n}: the cell after its heading is not a code cell tagged {ANSWER!r}"
        )
        answer_names: set[str] = set()
    else:
        source = cells[ex.answer].source
        answer_names = placeholders(source)
        if not answer_names:
            problems.append(
                f"exercise {n}: its answer cell has no placeholder (name = ..., or a function "
                f"whose body is ...)"
            )
    if not ex.solutions:
        problems.append(f"exercise {n}: no code cell tagged {SOLUTION!r} after its answer cell")
    else:
        sources = [cells[i].source for i in ex.solutions]
        if not any(re.search(r"^\s*assert\b", s, re.M) for s in sources):
            problems.append(f"exercise {n}: its solution checks nothing (no assert)")
        missing = answer_names - set().union(*(names(s)[0] for s in sources))
        if missing:
            problems.append(
                f"exercise {n}: its solution does not assign {sorted(missing)}, the answer cell's "
                f"placeholders (pasted into the answer cell, it must define them)"
            )
        for i in ex.solutions:
            if "nbval-skip" in _tags(cells[i]) or "NBVAL_SKIP" in cells[i].source:
                problems.append(f"exercise {n}: solution cell {i} is skipped by nbval")
    if ex.check is None:
        problems.append(f"exercise {n}: no code cell tagged {CHECK!r} after its solution")
    else:
        problems += _check_cell_problems(cells[ex.check], n, answer_names, nb_id)
    return problems


def _check_cell_problems(
    cell: nbformat.NotebookNode, n: int, answer_names: set[str], nb_id: str | None
) -> list[str]:
    try:
        body = ast.parse(cell.source).body
    except SyntaxError:
        body = []
    call = body[0].value if len(body) == 1 and isinstance(body[0], ast.Expr) else None
    if not (
        isinstance(call, ast.Call)
        and isinstance(call.func, ast.Name)
        and call.func.id == "check_answer"
    ):
        return [f"exercise {n}: its check cell is not one call check_answer(...)"]
    problems = []
    args = [a.value if isinstance(a, ast.Constant) else None for a in call.args]
    expected = [nb_id, n] if nb_id else [args[0] if args else None, n]
    if args != expected:
        want = f'check_answer("{nb_id}", {n}, ...)' if nb_id else f"check_answer(<id>, {n}, ...)"
        problems.append(f"exercise {n}: its check cell should call {want}")
    passed = {k.arg for k in call.keywords}
    if answer_names - passed:
        names_ = ", ".join(f"{x}={x}" for x in sorted(answer_names - passed))
        problems.append(f"exercise {n}: its check cell does not pass the answer ({names_})")
    text = "".join(o.get("text", "") for o in cell.get("outputs", []))
    if f"Exercise {n}: right." not in text:
        problems.append(
            f"exercise {n}: its check cell's saved output is {text.strip()[:80]!r}, not "
            f"'Exercise {n}: right.' (run the notebook; its solution must pass its check)"
        )
    return problems


def exercise_problems(nb: nbformat.NotebookNode, nb_id: str | None = None) -> list[str]:
    """Everything that breaks the exercise format (module docstring); [] when all is in order.

    >>> exercise_problems(nbformat.v4.new_notebook())
    ["no '## Exercises' section"]
    """
    found, problems = parse_exercises(nb, nb_id)
    if not found:
        return problems
    cells = nb.cells
    owned = {i for ex in found for i in [ex.answer, *ex.solutions, ex.check] if i is not None}
    for i, cell in enumerate(cells):
        tag = next((t for t in (ANSWER, SOLUTION, CHECK) if _tagged(cell, t)), None)
        if tag and i not in owned:
            problems.append(f"cell {i} is tagged {tag!r} but belongs to no exercise")
    section = exercise_section(nb)
    for i in section:
        if cells[i].cell_type == "markdown" and REFERS_TO_SOLUTION.search(cells[i].source):
            problems.append(
                f"cell {i} refers to a solution cell, which the student copy does not have "
                f"(say 'the check cell below' instead)"
            )
    exercise_cells = {i for ex in found for i in [ex.answer, *ex.solutions] if i is not None}
    only_there = set().union(*(names(cells[i].source)[0] for i in exercise_cells))
    for i, cell in enumerate(cells):
        if cell.cell_type == "code" and i not in exercise_cells:
            only_there -= names(cell.source)[0]
    for i in range(section.stop, len(cells)):
        if cells[i].cell_type == "code":
            used = sorted(names(cells[i].source)[1] & only_there)
            if used:
                problems.append(
                    f"cell {i} after the exercises uses {used}, which only an answer or solution "
                    f"defines (a student may leave it blank; the student copy has no solutions)"
                )
    return problems


def student_copy(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The notebook without its `solution` cells, with the Exercises section's outputs cleared."""
    student = copy.deepcopy(nb)
    section = exercise_section(nb) or range(0)
    kept = []
    for i, cell in enumerate(student.cells):
        if _tagged(cell, SOLUTION):
            continue
        if cell.cell_type == "code" and i in section:
            cell.outputs, cell.execution_count = [], None
        kept.append(cell)
    student.cells = kept
    return student


# ---------------------------------------------------------------------------------------------
# The kit test: each student copy once, in one kernel: the main path, every exercise blank (its
# check must say "not yet"), then every exercise with its solution pasted into its answer cell,
# after the cell's own lines (its check must say "right"), then the names as they were after the
# blank answers, then the cells
# after the exercises (the clean-up), which must run on what a student who answered nothing has.

_SNAPSHOT = """\
__kit_skip = {"In", "Out", "exit", "quit", "get_ipython", "open"}
__kit_blank = {k: v for k, v in globals().items() if not k.startswith("_") and k not in __kit_skip}
"""
_RESTORE = """\
for __kit_name in [k for k in globals() if not k.startswith("_") and k not in __kit_skip]:
    if __kit_name not in __kit_blank:
        del globals()[__kit_name]
globals().update(__kit_blank)
"""


def _role(cell: nbformat.NotebookNode, role: str, number: int = 0) -> nbformat.NotebookNode:
    cell = copy.deepcopy(cell)
    cell.metadata["kit"] = {"role": role, "exercise": number}
    cell.outputs, cell.execution_count = [], None
    return cell


def kit_notebook(
    student: nbformat.NotebookNode, solutions: dict[int, str]
) -> nbformat.NotebookNode:
    """The one notebook the kit test runs for a student copy (see above); solutions[N] is
    exercise N's solution source, pasted into its answer cell."""
    found, problems = parse_exercises(student)
    if not found:
        raise ValueError(f"the student copy has no exercises in the format: {problems}")
    cells = student.cells
    section = exercise_section(student)
    run = [_role(c, "main") for c in cells[: found[0].heading]]
    solved = []
    for ex in found:
        if ex.answer is None or ex.check is None or ex.number not in solutions:
            raise ValueError(f"exercise {ex.number} lacks its answer, check or solution cell")
        run += [
            _role(cells[ex.answer], "blank", ex.number),
            _role(cells[ex.check], "blank-check", ex.number),
        ]
        # The solution pasted in place of the placeholders: the answer cell's own lines (the data
        # the task gives) run first, then the solution, which assigns the placeholders' names.
        pasted = _role(cells[ex.answer], "solved", ex.number)
        pasted.source = f"{pasted.source}\n\n{solutions[ex.number]}"
        solved += [pasted, _role(cells[ex.check], "solved-check", ex.number)]
    run.append(_role(nbformat.v4.new_code_cell(_SNAPSHOT), "kit"))
    run += solved
    run.append(_role(nbformat.v4.new_code_cell(_RESTORE), "kit"))
    run += [_role(c, "after") for c in cells[section.stop :]]
    out = copy.deepcopy(student)
    out.cells = run
    return out


def kit_problems(nb: nbformat.NotebookNode) -> list[str]:
    """What went wrong in an executed kit_notebook: errors, and checks that said the wrong thing."""
    problems = []
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    for k, cell in enumerate(code):
        role, n = cell.metadata["kit"]["role"], cell.metadata["kit"]["exercise"]
        where = f"exercise {n}'s {role} cell" if n else f"{role} cell {cell.source[:40]!r}"
        errors = [o for o in cell.outputs if o.output_type == "error"]
        if errors:  # the cells after it fail for its sake: report this one
            problems.append(f"{where} raised {errors[0].ename}: {errors[0].evalue}")
            if k + 1 < len(code):
                problems.append(f"(the {len(code) - k - 1} code cells after it are not checked)")
            break
        text = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
        expected = {
            "blank-check": f"Exercise {n}: not yet answered",
            "solved-check": f"Exercise {n}: right.",
        }.get(role)
        if expected and not text.startswith(expected):
            problems.append(f"{where} printed {text.strip()!r}, not {expected!r}...")
    return problems


def run_kit(student_path: Path, source: nbformat.NotebookNode) -> list[str]:
    """Run a student copy as the kit test does (kit_notebook), in a kernel started in the copy's
    folder, with the solutions of its source notebook; return kit_problems (empty: all passed)."""
    found, _ = parse_exercises(source)
    solutions = {
        ex.number: "\n\n".join(source.cells[i].source for i in ex.solutions) for ex in found
    }
    nb = kit_notebook(nbformat.read(student_path, as_version=4), solutions)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        allow_errors=True,
        record_timing=False,
        resources={"metadata": {"path": str(student_path.parent.resolve())}},
    )
    client.execute()
    return kit_problems(nb)


# ---------------------------------------------------------------------------------------------
# The instructor's notes: each notebook's header (title, objectives, prerequisites, time).


@dataclass
class Header:
    """What a notebook's header block says, for INSTRUCTOR.md."""

    name: str
    title: str
    minutes: int | None  # the core lesson's time
    extra: int  # minutes of optional parts (reference sections) on top
    optional: bool  # the whole notebook is optional or reference material
    objectives: list[str]
    prerequisites: str
    exercises: int


def header(path: Path, nb: nbformat.NotebookNode) -> Header:
    """Read a notebook's header block: the cells before `## Setup` (or the first code cell)."""
    text = []
    for cell in nb.cells:
        if cell.cell_type != "markdown" or re.match(
            r"\s*##\s+(setup|short answer)", cell.source, re.I
        ):
            break
        text.append(cell.source)
    head = "\n\n".join(text)
    title = describe(nb, path.stem)[0]
    optional = is_optional(nb)
    time_line = re.search(r"^\**Time\**\s*:?\**\s*(.+)$", head, re.M | re.I)
    minutes, extra = parse_time(time_line[1] if time_line else head)
    learn = re.search(
        r"what you will learn\**:?\**\s*\n+((?:\s*[-*] .+\n?(?:\s{2,}\S.*\n?)*)+)", head, re.I
    )
    objectives = (
        [
            re.sub(r"\s+", " ", item).strip().rstrip(";.")
            for item in re.split(r"^\s*[-*] ", learn[1], flags=re.M)[1:]
        ]
        if learn
        else []
    )
    prereq = re.search(r"\**Prerequisites\**\s*:?\**\s*(.+?)(?:\n\s*\n|$)", head, re.I | re.S)
    return Header(
        name=path.name,
        title=title,
        minutes=minutes,
        extra=extra,
        optional=optional,
        objectives=objectives,
        prerequisites=re.sub(r"\s+", " ", prereq[1]).strip() if prereq else "",
        exercises=len(parse_exercises(nb)[0]),
    )


def is_optional(nb: nbformat.NotebookNode) -> bool:
    """Whether the notebook says it is optional or reference material: its first cell's title or
    first line of text starts with "Optional" or "Reference" (GUIDE.md)."""
    source = nb.cells[0].source if nb.cells else ""
    lines = [ln.strip("#>*_ ") for ln in source.splitlines() if ln.strip("#>*_ ")]
    return any(re.match(r"(optional|reference)\b", ln, re.I) for ln in lines[:2])


def parse_time(text: str) -> tuple[int | None, int]:
    """(core minutes, optional minutes) from a header's time: the first "N min(utes)" is the core
    lesson; "plus N" or "N more" later in the same sentence are optional parts (other numbers, such
    as a breakdown "20 to read, 15 for the exercises", are parts of the core time).

    >>> parse_time("about 25 minutes (plus 10 for the optional last section).")
    (25, 10)
    """
    found = re.search(r"(\d+)\s*min(?:ute)?s?\b([^.]*)", text)
    if not found:
        return None, 0
    extras = re.findall(r"(?:plus|\+)\s*(\d+)|(\d+)\s+(?:more|extra)\b", found[2])
    return int(found[1]), sum(int(plus or more) for plus, more in extras)


def schedule(
    headers: list[Header], session: int = SESSION
) -> tuple[list[tuple[int, int, str]], int, list[Header]]:
    """A session plan: (start, minutes, what) rows, the minutes left, and the main notebooks that
    do not fit (the last ones, in order: for another session or homework).

    A 5-minute welcome, the notebooks that are not optional (their core time; optional parts are
    left out) in order as long as they fit, two 10-minute breaks at the notebook boundaries nearest
    a third and two thirds of the notebook time, and a 10-minute wrap-up.
    """
    lessons = [h for h in headers if not h.optional and h.minutes is not None]
    for count in range(len(lessons), -1, -1):
        rows = _plan(lessons[:count])
        end = rows[-1][0] + rows[-1][1]
        if end <= session or count == 0:
            return rows, session - end, lessons[count:]
    raise AssertionError("unreachable: count 0 always returns")


def _plan(lessons: list[Header]) -> list[tuple[int, int, str]]:
    ends = [sum(h.minutes for h in lessons[: k + 1]) for k in range(len(lessons) - 1)]
    total = sum(h.minutes for h in lessons)
    breaks = set()
    for third in (1 / 3, 2 / 3):
        free = [k for k in range(len(ends)) if k not in breaks]
        if free:
            breaks.add(min(free, key=lambda k: abs(ends[k] - third * total)))
    rows, clock = [(0, 5, "Welcome and goals; every laptop has run `python kit.py lab`")], 5
    for k, h in enumerate(lessons):
        rows.append((clock, h.minutes, f"`{h.name}`: {h.title}"))
        clock += h.minutes
        if k in breaks:
            rows.append((clock, 10, "Break"))
            clock += 10
    rows.append((clock, 10, "Wrap-up: questions, what to read next, the solutions"))
    return rows


def _clock(minutes: int) -> str:
    return f"{minutes // 60}:{minutes % 60:02d}"


def instructor_notes(headers: list[Header]) -> str:
    """INSTRUCTOR.md: the template in workshop/ filled in from the notebooks' headers."""
    missing = [h.name for h in headers if h.minutes is None]
    for name in missing:
        print(f"warning: {name} states no time ('NN minutes') in its header", file=sys.stderr)
    rows, spare, later = schedule(headers)
    plan = ["| start | minutes | what |", "| --- | --- | --- |"]
    plan += [f"| {_clock(start)} | {length} | {what} |" for start, length, what in rows]
    total = rows[-1][0] + rows[-1][1]
    plan.append(f"| {_clock(total)} | | end ({total} minutes) |")
    fit = f"The plan takes {total} of the {SESSION} minutes; {spare} are left for questions."
    if later:
        names = ", ".join(f"`{h.name}` ({h.minutes} minutes)" for h in later)
        fit += f" **Not in the {SESSION} minutes**: {names}, for a second session or homework."
    if missing:
        fit += f" Not in the plan, because their headers state no time: {', '.join(missing)}."
    table = [
        "| # | notebook | minutes | optional parts | exercises |",
        "| --- | --- | --- | --- | --- |",
    ]
    objectives = []
    for n, h in enumerate(headers, 1):
        kind = " (optional)" if h.optional else ""
        extra = f"+{h.extra}" if h.extra else ""
        time = "?" if h.minutes is None else str(h.minutes)
        table.append(f"| {n} | `{h.name}`: {h.title}{kind} | {time} | {extra} | {h.exercises} |")
        items = "\n".join(f"- {o}" for o in h.objectives) or "- (the header lists none)"
        pre = f"\n\n*Prerequisites*: {h.prerequisites}" if h.prerequisites else ""
        objectives.append(f"### {n}. {h.title}{kind}\n\n{items}{pre}")
    optional = [h for h in headers if h.optional or h.extra]
    later = [
        f"- `{h.name}`: "
        + ("the whole notebook" if h.optional else f"its optional part, {h.extra} minutes")
        for h in optional
    ]
    template = string.Template((WORKSHOP / "INSTRUCTOR.md").read_text(encoding="utf-8"))
    return template.substitute(
        notebooks="\n".join(table),
        schedule="\n".join(plan),
        fit=fit,
        optional="\n".join(later) or "- none",
        objectives="\n\n".join(objectives),
    )


# ---------------------------------------------------------------------------------------------
# The build: student copies, the kit's zip, the instructor's zip.


def _zip_tree(zf: zipfile.ZipFile, folder: Path, prefix: str) -> None:
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            stored = path.suffix in (".whl", ".zip", ".png")  # already compressed
            kind = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            zf.write(path, f"{prefix}/{path.relative_to(folder).as_posix()}", compress_type=kind)


def build(
    source_dir: Path, out_dir: Path, wheels: Path | None = None, with_site: bool = True
) -> Path:
    """Write out_dir/KIT (the kit's folder), KIT.zip and INSTRUCTOR.zip; return the kit's zip.

    The kit holds the student copies, the helpers package, the pinned install files, the kit's own
    README, Makefile and kit.py, and wheels/ when a wheelhouse folder is given. The instructor's zip
    holds INSTRUCTOR.md, the full notebooks (solutions, committed outputs) and, with Sphinx
    installed, the book site built from those committed outputs.
    """
    paths = _notebooks(source_dir)
    books = [nbformat.read(p, as_version=4) for p in paths]
    for path, nb in zip(paths, books, strict=True):
        for problem in exercise_problems(nb, notebook_id(path)):
            print(f"warning: {path}: {problem}", file=sys.stderr)
    if wheels is not None and not any(wheels.glob("*.whl")):
        raise SystemExit(f"no wheels (*.whl) in {wheels}: run `make wheelhouse` first")
    notes = instructor_notes([header(p, nb) for p, nb in zip(paths, books, strict=True)])
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        stage = Path(tmp, "out")
        kit = stage / KIT
        (kit / "notebooks").mkdir(parents=True)
        for path, nb in zip(paths, books, strict=True):
            nbformat.write(student_copy(nb), kit / "notebooks" / path.name)
        for name in KIT_FILES:
            src = ROOT / name
            if src.is_dir():
                shutil.copytree(src, kit / name, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                (kit / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(src, kit / name)
        for name in KIT_OWN:
            shutil.copy2(WORKSHOP / name, kit / name)
        if wheels is not None:
            shutil.copytree(wheels, kit / "wheels")
        (stage / "INSTRUCTOR.md").write_text(notes, encoding="utf-8")
        with zipfile.ZipFile(stage / f"{KIT}.zip", "w") as zf:
            _zip_tree(zf, kit, KIT)
        with zipfile.ZipFile(stage / f"{INSTRUCTOR}.zip", "w") as zf:
            zf.writestr(f"{INSTRUCTOR}/INSTRUCTOR.md", notes)
            for path in paths:
                zf.write(path, f"{INSTRUCTOR}/notebooks/{path.name}")
            if with_site:
                site(source_dir, stage / "site", committed=True)
                _zip_tree(zf, stage / "site", f"{INSTRUCTOR}/site")
                shutil.rmtree(stage / "site")
        _replace_dir(stage, out_dir)
    print(f"Wrote {out_dir / KIT} ({len(paths)} student notebooks), its zip, ", end="")
    print(f"{out_dir / (INSTRUCTOR + '.zip')} and {out_dir / 'INSTRUCTOR.md'}")
    return out_dir / f"{KIT}.zip"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build_cmd = sub.add_parser("build", help="the kit, its zip and the instructor's zip")
    build_cmd.add_argument("source_dir", type=Path)
    build_cmd.add_argument("out_dir", type=Path)
    build_cmd.add_argument("--wheels", type=Path, help="a wheelhouse to ship in the kit (wheels/)")
    build_cmd.add_argument("--no-site", action="store_true", help="leave the site out")
    check_cmd = sub.add_parser("check-exercises", help="the exercise format, notebook by notebook")
    check_cmd.add_argument("paths", type=Path, nargs="+")
    run_cmd = sub.add_parser("run-kit", help="run student copies blank and solved")
    run_cmd.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "build":
        with_site = not args.no_site and importlib.util.find_spec("sphinx") is not None
        if not with_site:
            print("the instructor's zip leaves the site out (--no-site, or no Sphinx)")
        build(args.source_dir, args.out_dir, args.wheels, with_site)
        return 0
    missing = [str(p) for p in args.paths if not p.is_file()]
    if missing:
        raise SystemExit(f"not a notebook file: {', '.join(missing)}")
    if args.command == "check-exercises":
        problems = [
            f"{path}: {problem}"
            for path in args.paths
            for problem in exercise_problems(nbformat.read(path, as_version=4), notebook_id(path))
        ]
        print("\n".join(problems) or f"exercises in order in {len(args.paths)} notebook(s)")
        return 1 if problems else 0
    failed = 0
    with tempfile.TemporaryDirectory(prefix="kit-") as tmp:
        kit = Path(tmp) / KIT / "notebooks"
        kit.mkdir(parents=True)
        for path in args.paths:
            source = nbformat.read(path, as_version=4)
            nbformat.write(student_copy(source), kit / path.name)
            try:
                problems = run_kit(kit / path.name, source)
            except ValueError as error:  # not in the exercise format: nothing to run
                problems = [str(error)]
            print(f"{path.name}: " + ("; ".join(problems) or "blank and solved, all as expected"))
            failed += bool(problems)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
