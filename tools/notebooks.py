"""Execute the notebooks: build the book site, or refresh the committed outputs.

    python tools/notebooks.py site notebooks build/site         # `make run`: sources never written
    python tools/notebooks.py refresh notebooks/01_*.ipynb      # `make refresh-notebooks`: in place

(The workshop kit and the exercise format are tools/workshop.py's.)

Each notebook runs in a fresh kernel of this Python, with the notebook's folder as working
directory (as under nbval), so what the site shows is what `make test` checks. The site is built
by Sphinx with myst-nb and sphinx-book-theme from the configuration in docs/.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import nbformat
from matplotlib.figure import Figure
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

CELL_TIMEOUT = 600  # seconds for one cell; a whole notebook takes seconds to minutes (README)
ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"  # conf.py and the landing page's prose (index.md)
QUESTION_CHARS = 300  # the landing page shows each notebook's question up to about this long
SOLUTION = "solution"  # the cell tag of an exercise's solution (GUIDE.md)
ANSWER = "answer"  # the cell tag of a student's answer cell (a placeholder; tools/workshop.py)
SHORT_ANSWER = "Short answer"  # the heading of each notebook's recipe section (GUIDE.md)
RECIPES = "recipes"  # the page (recipes.md, generated) that lists every notebook's short answer
REPOSITORY_ENV = "SITE_REPOSITORY_URL"  # how the repository URL reaches docs/conf.py
KIM = "kim_table"  # the page (kim_table.md, generated) of Kim's Table 2 as measured here
KIM_TABLE = ROOT / "benchmarks" / "results" / "kim_table.json"  # the committed measurement
KIM_CLASS = "kim-table"  # the class of the Kim page's table (docs/_static/custom.css)


KERNEL_STARTS = 3  # attempts to start a kernel; see execute()
ANSI = re.compile(r"\x1b\[[0-9;]*m")  # colour codes in a traceback's text


class NotebookFailed(RuntimeError):
    """A notebook stopped: the notebook as far as it ran, the cell that stopped it, one line why."""

    def __init__(self, nb: nbformat.NotebookNode, cell: int | None, reason: str) -> None:
        super().__init__(nb, cell, reason)
        self.nb, self.cell, self.reason = nb, cell, reason

    def __str__(self) -> str:
        return f"{'before any cell' if self.cell is None else f'cell {self.cell}'}: {self.reason}"


def one_line(error: BaseException) -> str:
    """The first line of an error, ``Type: message``, without colour codes (at most 300 chars).

    >>> one_line(ValueError("bad\\nmore"))
    'ValueError: bad'
    """
    if isinstance(error, CellExecutionError):
        text = f"{error.ename}: {error.evalue}"
    else:
        text = f"{type(error).__name__}: {error}"
    first = ANSI.sub("", text).strip().splitlines()[0] if text.strip() else type(error).__name__
    return first if len(first) <= 300 else first[:299] + "…"


def execute(path: Path, log: Path | None = None) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a new kernel and return it with fresh outputs.

    Raises NotebookFailed (with the notebook as far as it ran) when a cell raises, times out or
    the kernel dies. ``log``: a file for the kernel's own stderr (TensorFlow's C++ start-up lines,
    the kernel's warnings), which otherwise goes to this terminal.

    A kernel that dies before it answers (``Kernel died before replying to kernel_info``) is
    started again, up to KERNEL_STARTS times: jupyter_client picks free TCP ports and releases
    them before the kernel binds them, so a kernel started at the same moment elsewhere (the
    parallel runs of execute_all, or any other program) can take one first. No cell has run by
    then, so starting again is safe.
    """
    attempt = 1
    started: list[int] = []  # index of each cell as it starts
    while True:
        nb = nbformat.read(path, as_version=4)
        started.clear()
        client = NotebookClient(
            nb,
            kernel_name="python3",
            timeout=CELL_TIMEOUT,
            record_timing=False,  # no wall-clock times in the committed files
            resources={"metadata": {"path": str(path.parent.resolve())}},
            on_cell_start=lambda cell, cell_index: started.append(cell_index),
        )
        try:
            if log is None:
                client.execute()
            else:
                log.parent.mkdir(parents=True, exist_ok=True)
                with open(log, "ab") as stderr:
                    client.execute(stderr=stderr)
        except Exception as error:
            if "before replying to kernel_info" in str(error) and attempt < KERNEL_STARTS:
                print(f"{path.name}: the kernel died while starting ({error}); starting it again")
                attempt += 1
                continue
            raise NotebookFailed(nb, started[-1] if started else None, one_line(error)) from error
        return nb


@dataclasses.dataclass
class Run:
    """One notebook's execution for the site: the notebook (as far as it ran), seconds, error."""

    path: Path
    nb: nbformat.NotebookNode
    seconds: float
    error: str | None = None  # "cell N: Type: message" when it failed
    cell: int | None = None  # the cell that failed


def run(path: Path, log: Path | None = None) -> Run:
    """Execute a notebook and time it; a failure is returned (in Run.error), never raised."""
    start = time.monotonic()
    try:
        nb = execute(path, log)
    except NotebookFailed as failed:
        return Run(path, failed.nb, time.monotonic() - start, str(failed), failed.cell)
    return Run(path, nb, time.monotonic() - start)


def _cores() -> int:
    """The CPUs this process may run on (``taskset`` counts), else the machine's."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def execute_all(paths: list[Path], logs: Path | None = None) -> list[Run]:
    """Execute notebooks, a fresh kernel each, in parallel: one at a time per core (at most 4).

    Prints a line as each one finishes, with its time. A notebook that fails does not stop the
    others. ``logs``: a folder for each kernel's stderr (``<notebook>.log``).
    """
    workers = max(1, min(len(paths), _cores(), 4))
    print(f"executing {len(paths)} notebooks, {workers} at a time ...", flush=True)
    done: dict[Path, Run] = {}
    with ProcessPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(run, path, None if logs is None else logs / f"{path.stem}.log")
            for path in paths
        ]
        for future in as_completed(futures):
            result = future.result()
            status = "ok" if result.error is None else f"FAILED ({result.error})"
            print(f"  {result.path.name}: {status} in {result.seconds:.0f} s", flush=True)
            done[result.path] = result
    return [done[path] for path in paths]


def summary(runs: list[Run]) -> str:
    """A table: notebook, seconds, ``ok`` or the one-line error."""
    width = max(len("notebook"), *(len(r.path.name) for r in runs))
    lines = [f"{'notebook':<{width}}  seconds  result"]
    for r in runs:
        lines.append(f"{r.path.name:<{width}}  {r.seconds:7.0f}  {r.error or 'ok'}")
    return "\n".join(lines)


def mark_failure(nb: nbformat.NotebookNode, cell: int | None, error: str) -> None:
    """Show on the page where a notebook failed: a banner under its first cell and a note after
    the cell that failed (whose error output nbclient kept), saying the cells below did not run."""
    new = nbformat.v4.new_markdown_cell
    banner = new(
        f"```{{error}} This notebook failed when the site was built\n{error}\n\n"
        "The outputs end where it stopped; run `make run` again, or the notebook alone in "
        "`make lab`, to see it whole.\n```"
    )
    if cell is not None:
        note = f"```{{error}} The notebook stopped here\n{error}\n\nThe cells below did not run.\n"
        note += "```"
        nb.cells.insert(cell + 1, new(note))
    nb.cells.insert(min(1, len(nb.cells)), banner)


def _headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every markdown heading line of text."""
    return [(len(m[1]), m[2].strip()) for m in re.finditer(r"^(#{1,6})\s+(.+)$", text, re.M)]


def _is_solution(cell: nbformat.NotebookNode) -> bool:
    return cell.cell_type == "code" and SOLUTION in cell.get("metadata", {}).get("tags", [])


def describe(nb: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    """Title (first `# ` heading) and question: the paragraph after it (blockquote marks removed;
    only the quote when it opens with one), cut after the sentence that passes QUESTION_CHARS.

    >>> describe(nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(
    ...     '# Shapes\\n\\n> "Why (2000, 32)?\\n> Not (32, 2000)?"')]), "01")
    ('Shapes', '"Why (2000, 32)? Not (32, 2000)?"')
    """
    title, lines = fallback, []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if line.startswith("# ") and title == fallback:
                title = line[2:].strip()
            elif line.startswith("#") or (not line and lines):
                if lines:
                    break
            elif line:
                lines.append(line.lstrip("> ").strip())
        if lines:
            break
    text = " ".join(lines)
    if text.startswith('"') and text.find('"', 1) > 0:  # a quoted question: the quote alone
        text = text[: text.find('"', 1) + 1]
    # A sentence ends at . ? or ! (and a closing quote) before a space, or at the end.
    sentences = re.findall(r'\S.*?(?:[.?!]"?(?=\s)|$)', text)
    question = ""
    for n, sentence in enumerate(sentences):
        question = f"{question} {sentence}".strip()
        if len(question) > QUESTION_CHARS and n + 1 < len(sentences):
            question += ' …"' if question.count('"') % 2 else " …"  # close an open quote
            break
    return title, question


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomic(path: Path, text: str) -> None:
    """Write text to path through a temporary file in the same folder, then rename it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600: keep the file's own mode, or the umask's for a new file.
        os.chmod(tmp, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _replace_dir(build: Path, out_dir: Path) -> None:
    """Move a finished folder into place: out_dir is never left half-written."""
    old = out_dir.with_name(f".{out_dir.name}.old")
    shutil.rmtree(old, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(old)
    build.rename(out_dir)
    shutil.rmtree(old, ignore_errors=True)


def _notebooks(source_dir: Path) -> list[Path]:
    paths = sorted(source_dir.glob("*.ipynb"))
    if not paths:
        raise SystemExit(f"no notebooks (*.ipynb) found in {source_dir}")
    return paths


def landing_page(entries: list[tuple[str, str, str]]) -> str:
    """docs/index.md, the recipes and Kim pages' links, a numbered list of (page, title, question)
    and the sidebar's toctrees (the Kim page after the notebooks)."""
    items = "\n\n".join(  # the question indented under its number, as wide as "10. "
        f"{n}. **[{title}]({page}.ipynb)**\n\n{' ' * len(f'{n}. ')}{question}"
        for n, (page, title, question) in enumerate(entries, 1)
    )
    toctree = "\n".join(page for page, _, _ in entries)
    intro = (DOCS / "index.md").read_text(encoding="utf-8").rstrip()
    recipes = (
        f"**Just the answers:** [the recipes page]({RECIPES}.md) has every notebook's short "
        "answer on one page, ready to copy."
    )
    kim = (
        f"**Kim (2014), Table 2:** [the benchmark page]({KIM}.md) has the paper's CNN-rand "
        "column beside the accuracy measured here, with a plot, and how to run it."
    )
    return (
        f"{intro}\n\n{recipes}\n\n{kim}\n\n{items}\n\n"
        f"```{{toctree}}\n:hidden:\n:caption: Recipes\n\n{RECIPES}\n```\n\n"
        f"```{{toctree}}\n:hidden:\n:caption: Notebooks\n\n{toctree}\n```\n\n"
        f"```{{toctree}}\n:hidden:\n:caption: Benchmarks\n\n{KIM}\n```\n"
    )


@dataclasses.dataclass
class ShortAnswer:
    """A notebook's `## Short answer` section: its prose, each code cell with its text output."""

    prose: str
    code: list[tuple[str, str]]  # (source, the saved text output, "" when none)


def _text_output(cell: nbformat.NotebookNode) -> str:
    """The text a code cell printed or returned (streams and text/plain results), as saved."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type in ("execute_result", "display_data") and "image/png" not in out.data:
            parts.append(out.data.get("text/plain", "") + "\n")
    return "".join(parts).rstrip("\n")


def short_answer(nb: nbformat.NotebookNode) -> ShortAnswer | None:
    """The cells from the `## Short answer` heading up to the next heading; None without one.

    >>> md, py = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    >>> short_answer(nbformat.v4.new_notebook(cells=[md("## Short answer\\n\\nTranspose."),
    ...     py("W.T"), md("## Setup")]))
    ShortAnswer(prose='Transpose.', code=[('W.T', '')])
    """
    found: ShortAnswer | None = None
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = _headings(cell.source)
            if found is not None and heads:
                break
            if heads and heads[0] == (2, SHORT_ANSWER):
                body = cell.source.split("\n", 1)[1] if "\n" in cell.source else ""
                found = ShortAnswer(body.strip(), [])
            elif found is not None:
                found.prose = f"{found.prose}\n\n{cell.source.strip()}".strip()
        elif found is not None and cell.cell_type == "code":
            found.code.append((cell.source.strip(), _text_output(cell)))
    return found


def _fence(text: str, info: str) -> str:
    """A fenced block that the text itself cannot close (a longer fence than any run inside)."""
    ticks = "`" * max([3, *(len(run) + 1 for run in re.findall(r"`{3,}", text))])
    return f"{ticks}{info}\n{text}\n{ticks}"


def recipes_page(entries: list[tuple[str, str, str, ShortAnswer]]) -> str:
    """The recipes page: for each (page, title, question, short answer), the question, the answer's
    prose and code (with its saved output) and a link to the notebook's section."""
    parts = [
        "# Recipes: every notebook's short answer\n\n"
        "Each notebook opens with a short answer to its question: a few lines of plain Keras that "
        "run on their own. Here they are together, copied from the notebooks when the site was "
        "built, so they are the same code that `make test` runs. Copy a block with the button at "
        "its top right; the output under it is the one the notebook shows. The link under each "
        "answer leads to its notebook, for the why and the checks."
    ]
    for n, (page, title, question, answer) in enumerate(entries, 1):
        blocks = [f"## {n}. {title}", f"> {question}" if question else "", answer.prose]
        for source, output in answer.code:
            blocks.append(_fence(source, "python"))
            if output:
                blocks.append("Output:\n\n" + _fence(output, "text"))
        blocks.append(f"[The short answer in notebook {page} →]({page}.ipynb#short-answer)")
        parts.append("\n\n".join(b for b in blocks if b))
    return "\n\n".join(parts) + "\n"


class KimTableError(ValueError):
    """A Kim table file (benchmarks/kim_table.py --out) that the Kim page cannot show."""


def _number(value: object, low: float, high: float = math.inf) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and low <= value <= high  # NaN fails both
    )


def _count(value: object, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


# What the Kim page reads of benchmarks/kim_table.py's JSON: key -> (test, what it must be).
_TEXT = (
    lambda v: isinstance(v, str) and bool(v.strip()) and "\n" not in v,
    "a non-empty string of one line",
)
_SECONDS = (lambda v: _number(v, 0), "a number of seconds >= 0")
KIM_META = {
    "started": _TEXT,
    "finished": _TEXT,
    "total_seconds": _SECONDS,
    "machine": _TEXT,
    "keras": _TEXT,
    "backend": _TEXT,
    "preset": _TEXT,
    "epochs": (lambda v: v is None or _count(v, 1), "null (the preset's) or a whole number >= 1"),
    "patience": (lambda v: v is None or _count(v, 0), "null or a whole number >= 0"),
    "command": _TEXT,
}
KIM_ROW = {
    "dataset": _TEXT,
    "kim_cnn_rand": (lambda v: _number(v, 0, 100), "a percentage from 0 to 100"),
    "note": (lambda v: isinstance(v, str) and "\n" not in v, 'a string of one line ("" for none)'),
    "protocol": _TEXT,
    "accuracy_mean": (lambda v: _number(v, 0, 1), "a fraction from 0 to 1"),
    "accuracy_std": (lambda v: v is None or _number(v, 0, 1), "null or a fraction from 0 to 1"),
    "seconds": _SECONDS,
}


def _check_keys(path: Path, where: str, found: object, wanted: dict) -> None:
    if not isinstance(found, dict):
        raise KimTableError(f"{path}: {where} must be an object; got {found!r:.80}")
    for key, (test, what) in wanted.items():
        if key not in found:
            raise KimTableError(f"{path}: {where} has no {key!r} (it must be {what})")
        if not test(found[key]):
            raise KimTableError(f"{path}: {where}.{key} must be {what}; got {found[key]!r:.80}")


def read_kim_table(path: Path) -> dict | None:
    """The Kim table that benchmarks/kim_table.py --out wrote, checked; None when path is absent.

    Raises KimTableError naming the file and the first thing wrong: not JSON, a missing key, a
    value of the wrong kind (accuracies are fractions, Kim's figures percentages).
    """
    if not path.exists():
        return None
    try:
        table = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise KimTableError(
            f"{path}: not a JSON file ({error}); benchmarks/kim_table.py --out writes one"
        ) from None
    if not isinstance(table, dict) or not {"meta", "rows"} <= set(table):
        raise KimTableError(
            f"{path}: must be an object with 'meta' and 'rows', as benchmarks/kim_table.py "
            f"--out writes; got {table!r:.80}"
        )
    _check_keys(path, "meta", table["meta"], KIM_META)
    within = table["meta"].get("within", 1.5)  # kim_table.py --within; older tables: 1.5
    if not _number(within, 0, 100):
        raise KimTableError(
            f"{path}: meta.within must be a number of points from 0 to 100; got {within!r:.80}"
        )
    rows = table["rows"]
    if not isinstance(rows, list) or not rows:
        raise KimTableError(f"{path}: rows must be a non-empty list, a row per dataset")
    seen: set[str] = set()
    for n, row in enumerate(rows):
        _check_keys(path, f"rows[{n}]", row, KIM_ROW)
        if row["dataset"] in seen:
            raise KimTableError(f"{path}: rows[{n}]: dataset {row['dataset']!r} is listed twice")
        seen.add(row["dataset"])
    return table


def _md(text: str) -> str:
    """Text from the JSON shown as written in markdown: its markup characters escaped.

    >>> _md("x86_64 | *fast*")
    'x86\\\\_64 \\\\| \\\\*fast\\\\*'
    """
    return re.sub(r"([\\`*_\[\]<>|#$])", r"\\\1", text)


def _duration(seconds: float) -> str:
    """``42 s``, ``8.5 min`` or ``2 h 27 min``.

    >>> _duration(512.3), _duration(8820)
    ('8.5 min', '2 h 27 min')
    """
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        return f"{seconds / 60:.1f} min"
    hours, minutes = divmod(round(seconds / 60), 60)
    return f"{hours} h {minutes} min"


def kim_cells(row: dict) -> tuple[str, str]:
    """A row's measured accuracy (%, with ``± std`` over folds when it has one) and its difference
    from Kim's figure, taken from the measured value as shown, so that the table adds up.

    >>> kim_cells({"accuracy_mean": 0.7564, "accuracy_std": 0.0142, "kim_cnn_rand": 76.1})
    ('75.6 ± 1.4', '−0.5')
    """
    mean = round(100 * row["accuracy_mean"], 1)
    spread = "" if row["accuracy_std"] is None else f" ± {100 * row['accuracy_std']:.1f}"
    diff = round(mean - row["kim_cnn_rand"], 1)
    return f"{mean:.1f}{spread}", "0.0" if diff == 0 else f"{diff:+.1f}".replace("-", "−")


def kim_within(rows: list[dict], points: float) -> str:
    """Which rows are within ``points`` of Kim's figure, by the difference the table shows.

    >>> kim_within([{"dataset": "MR", "accuracy_mean": 0.754, "kim_cnn_rand": 76.1}], 0.5)
    'Within 0.5 points of Kim\'s figure: none. Further: MR (−0.7).'
    """
    near, far = [], []
    for row in rows:
        diff = round(round(100 * row["accuracy_mean"], 1) - row["kim_cnn_rand"], 1)
        name = _md(row["dataset"])
        if abs(diff) <= points:
            near.append(name)
        else:
            far.append(f"{name} ({f'{diff:+.1f}'.replace('-', '−')})")
    return (
        f"Within {points:g} points of Kim's figure: {', '.join(near) or 'none'}. "
        f"Further: {', '.join(far) or 'none'}."
    )


def kim_alt(rows: list[dict]) -> str:
    """The plot's alt text: what it shows, then every value in it."""
    values = "; ".join(
        f"{row['dataset']} {kim_cells(row)[0]} against {row['kim_cnn_rand']:.1f}" for row in rows
    )
    return (
        "Dot plot of test accuracy in percent per dataset: measured here (filled dots, with bars "
        "of one standard deviation over folds or seeds) against Kim's (2014) CNN-rand figure (open "
        f"diamonds). {values}."
    )


def kim_figure(rows: list[dict]) -> Figure:
    """Each dataset's measured accuracy (± std over folds) beside Kim's figure, a row each, for
    the Kim page (its ``savefig`` writes a PNG through Agg: no pyplot, no display needed)."""
    y = list(range(len(rows)))
    up, down = [i - 0.12 for i in y], [i + 0.12 for i in y]  # a row's two marks, one above
    measured = [100 * row["accuracy_mean"] for row in rows]
    fig = Figure(figsize=(3.6, 1.2 + 0.32 * len(rows)), dpi=150, layout="constrained")
    ax = fig.add_subplot()
    spread = [i for i, row in enumerate(rows) if row["accuracy_std"] is not None]
    if spread:
        ax.errorbar(
            [measured[i] for i in spread],
            [up[i] for i in spread],
            xerr=[100 * rows[i]["accuracy_std"] for i in spread],
            fmt="none",
            ecolor="C0",
            capsize=3,
        )
    ax.plot(measured, up, "o", color="C0", label="measured here (± std)")
    kim = [row["kim_cnn_rand"] for row in rows]
    ax.plot(kim, down, "D", color="C3", mfc="none", label="Kim (2014), CNN-rand")
    ax.set_yticks(y, [row["dataset"] for row in rows])
    ax.invert_yaxis()  # the table's order, top to bottom
    ax.set_xlabel("test accuracy (%)")
    ax.grid(axis="x", alpha=0.3)
    fig.legend(loc="outside lower center", frameon=False)
    return fig


KIM_HOW = """## How to run it

```bash
make bench-kim DATA=folder
```

`folder` holds the datasets' files, laid out as the README's section "Reproducing Kim (2014),
Table 2" says: each dataset's source and the files it looks for. A dataset that is not there is
listed with where to get it, and the others run. The table goes to the terminal and to
`build/kim_table.json`; copy that file to `benchmarks/results/kim_table.json` and build the site
again (`make run`) to show it here, or build the site with `--kim-table build/kim_table.json`
(`python tools/notebooks.py site notebooks build/site --kim-table build/kim_table.json`).

Before hours of training, `make kim-data DATA=folder` checks in seconds that each copy is the
data Kim used: its sentences, distinct words and mean length beside his Table 1."""


# A published rerun with Kim's settings and 25 epochs, to read our gaps against (its README).
KIM_OTHER = """Another rerun, for comparison: the Torch reimplementation
[harvardnlp/sent-conv-torch](https://github.com/harvardnlp/sent-conv-torch) reports CNN-rand,
with Kim's settings and 25 epochs, at MR 75.9, SST-1 42.2, SST-2 83.5, Subj 89.2, TREC 88.2,
CR 78.3 and MPQA 84.6 (its README's table). It too is short of Kim's SST-1, TREC and CR
figures."""


def kim_page(table: dict | None, source: Path) -> str:
    """The Kim page: Table 2 as measured (``table``, read_kim_table's, from ``source``), the
    run's machine, versions and times, the plot (``kim_table.png``, kim_figure) and how to run it;
    without a table, that it has not been measured in this checkout, and how to run it."""
    head = (
        "# Kim (2014), Table 2: measured\n\n"
        "Kim's CNN-rand (Kim, 2014, *Convolutional Neural Networks for Sentence "
        "Classification*, Table 2) run again on its datasets, with the paper's model and protocol "
        "in Keras 3 (`helpers.kim`, preset `kim-rand`): random word vectors, filter windows 3, 4 "
        "and 5 with 100 maps each, dropout 0.5, Adadelta, early stopping on dev data only."
    )
    if table is None:
        return (
            f"{head}\n\n```{{note}}\nThe table has not been measured in this checkout: there is "
            f"no `{source}`.\n```\n\n{KIM_OTHER}\n\n{KIM_HOW}\n\n"
            "It takes hours on a laptop's CPU: each 10-fold dataset trains ten models of up to 25 "
            "epochs. The README gives the times measured on a 2-core machine.\n"
        )
    meta, rows = table["meta"], table["rows"]
    lines = [
        "| dataset | measured (%) | Kim CNN-rand (%) | difference | time |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        measured, diff = kim_cells(row)
        lines.append(
            f"| {_md(row['dataset'])} | {measured} | {row['kim_cnn_rand']:.1f} | {diff} | "
            f"{_duration(row['seconds'])} |"
        )
    table_md = "\n".join(lines)
    protocols = "\n".join(
        f"- **{_md(row['dataset'])}**: {_md(row['protocol'].rstrip('.'))}."
        + (f" {_md(row['note'][:1].upper() + row['note'][1:].rstrip('.'))}." if row["note"] else "")
        for row in rows
    )
    patience = "none" if meta["patience"] is None else meta["patience"]
    epochs = "the preset's number of" if meta["epochs"] is None else f"up to {meta['epochs']}"
    total = _duration(meta["total_seconds"])
    about = (
        f"Measured on {_md(meta['machine'])} with Keras {_md(meta['keras'])} "
        f"({_md(meta['backend'])} backend), preset {_md(meta['preset'])}, {epochs} epochs, "
        f"early-stopping patience {patience}, from {_md(meta['started'])} to "
        f"{_md(meta['finished'])}: {total} in all. ± is one standard deviation over the "
        "cross-validation folds, or over seeds where a protocol says so (a dataset with one "
        "train/test split)."
    )
    if meta["patience"] is not None:
        about += (
            f" A run stopped after {patience} epochs without a better dev accuracy (Kim ran all "
            "25 and kept the best dev epoch's model; so does this, of the epochs it ran)."
        )
    # The table and the plot in one container (docs/_static/custom.css): side by side on a
    # desktop, one above the other on a phone.
    side_by_side = (
        f"````{{container}} {KIM_CLASS}\n{table_md}\n\n"
        f"```{{image}} {KIM}.png\n:alt: {kim_alt(rows)}\n```\n````"
    )
    within = kim_within(rows, meta.get("within", 1.5))  # tables from before --within: 1.5
    return (
        f"{head}\n\n{about}\n\n{side_by_side}\n\n{within}\n\n"
        f"Protocols:\n\n{protocols}\n\n{KIM_OTHER}\n\n{KIM_HOW}\n\n"
        f"The run above took {total} (each dataset's time is in the table), with this "
        "command:\n\n" + _fence(meta["command"], "bash") + "\n"
    )


def _title_strings(source: str) -> list[str]:
    """The plot titles a cell sets in literals: suptitle, set_title and set(title=...). An
    f-string's replacement fields become "…"; titles held in variables are not found.

    >>> _title_strings('ax.set(title="kernel")\\nfig.suptitle(f"after {n} steps")')
    ['after … steps', 'kernel']
    """
    try:
        tree = ast.parse(source)
    except SyntaxError:  # IPython magics: no titles to read
        return []

    def text(node: ast.AST) -> str | None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return node.value
        if isinstance(node, ast.JoinedStr):
            return "".join(text(v) or "…" for v in node.values)
        return None

    sup, titles = [], []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        name = node.func.attr
        if name in ("suptitle", "set_title") and node.args:
            found = text(node.args[0])
            if found:
                (sup if name == "suptitle" else titles).append(found)
        elif name == "set":
            titles += [t for k in node.keywords if k.arg == "title" and (t := text(k.value))]
    return sup + titles


def plot_alt(source: str, section: str) -> str:
    """Alt text for a cell's plot: its section's title, then the plot titles set in the cell.

    >>> plot_alt('ax.set_title("Logits")', "Where the logits come from")
    'Figure in "Where the logits come from": Logits'
    """
    titles = "; ".join(_title_strings(source))
    return f'Figure in "{section}"' + (f": {titles}" if titles else "")


def stage_cells(nb: nbformat.NotebookNode, title: str) -> None:
    """Prepare a notebook's cells for Sphinx: `solution` cells collapsed behind one button,
    `answer` cells removed, every plot given alt text (plot_alt)."""
    section = title
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            heads = _headings(cell.source)
            section = heads[-1][1].replace("`", "") if heads else section
            continue
        tags = cell.metadata.setdefault("tags", [])
        if _is_solution(cell):  # myst-nb collapses a `hide-cell` cell behind a button
            tags.append("hide-cell")
        elif ANSWER in tags:  # the student's blank: not shown
            tags.append("remove-cell")
        if any("image/png" in out.get("data", {}) for out in cell.get("outputs", [])):
            image = cell.metadata.setdefault("mystnb", {}).setdefault("image", {})
            image.setdefault("alt", plot_alt(cell.source, section))


def check_repository_url(url: str) -> str:
    """A repository URL for the site's links and launch buttons: https://github.com/OWNER/NAME.

    >>> check_repository_url("https://github.com/me/keras-layer-recipes/")
    'https://github.com/me/keras-layer-recipes'
    """
    url = url.strip().rstrip("/")
    if not re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url):
        raise SystemExit(
            f"repository URL {url!r} is not a GitHub repository's address: give one like "
            "https://github.com/OWNER/NAME (Colab and Binder launch buttons need one)"
        )
    return url.removesuffix(".git")


def site(
    source_dir: Path,
    out_dir: Path,
    committed: bool = False,
    repository_url: str | None = None,
    kim_table: Path | None = None,
) -> list[Run]:
    """Build the book site from the notebooks (executed fresh unless committed) into out_dir.

    Every notebook gets its page: one that failed shows its outputs up to the cell that stopped
    it, marked as failed. Cells tagged `solution` are shown collapsed, cells tagged `answer` not at
    all. The recipes page lists each notebook's `## Short answer`. With ``repository_url`` (a
    GitHub address) every page links the repository and notebook pages get Colab and Binder
    launch buttons; without one the site has no outside link. The Kim page shows ``kim_table``
    (benchmarks/kim_table.py's JSON; default KIM_TABLE, and without that file the page says the
    table has not been measured); a malformed one stops the build before anything runs. Each
    kernel's stderr goes to ``<out_dir>-logs/<notebook>.log``, not the terminal. Returns the runs
    (none when committed).
    """
    from sphinx.cmd.build import build_main

    url = None if repository_url is None else check_repository_url(repository_url)
    if kim_table is not None and not kim_table.is_file():
        raise SystemExit(f"--kim-table {kim_table}: no such file (benchmarks/kim_table.py --out)")
    kim_source = KIM_TABLE if kim_table is None else kim_table
    try:
        table = read_kim_table(kim_source)
    except KimTableError as error:
        raise SystemExit(f"{error} (the site was not built)") from None
    paths = _notebooks(source_dir)
    logs = out_dir.with_name(f"{out_dir.name}-logs")
    runs = []
    if committed:
        books = [nbformat.read(p, as_version=4) for p in paths]
    else:
        shutil.rmtree(logs, ignore_errors=True)
        runs = execute_all(paths, logs)
        books = [r.nb for r in runs]
        for r in runs:
            if r.error is not None:
                mark_failure(r.nb, r.cell, r.error)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out_dir.parent, prefix=f".{out_dir.name}.") as tmp:
        staged, html = Path(tmp, "src"), Path(tmp, "html")
        staged.mkdir()
        entries, recipes, missing = [], [], []
        for path, nb in zip(paths, books, strict=True):
            title, question = describe(nb, path.stem)
            answer = short_answer(nb)
            if answer is None:
                missing.append(path.name)
            else:
                recipes.append((path.stem, title, question, answer))
            stage_cells(nb, title)
            nbformat.write(nb, staged / path.name)
            entries.append((path.stem, title, question))
        if missing:
            print(f"left off the recipes page (no '## {SHORT_ANSWER}'): {', '.join(missing)}")
        (staged / "index.md").write_text(landing_page(entries), encoding="utf-8")
        (staged / f"{RECIPES}.md").write_text(recipes_page(recipes), encoding="utf-8")
        (staged / f"{KIM}.md").write_text(kim_page(table, kim_source), encoding="utf-8")
        if table is not None:
            kim_figure(table["rows"]).savefig(staged / f"{KIM}.png")
        print("building the site with Sphinx ...", flush=True)
        args = ["-b", "html", "-q", "-c", str(DOCS), "-d", str(Path(tmp, "doctrees"))]
        saved = os.environ.pop(REPOSITORY_ENV, None)
        if url:
            os.environ[REPOSITORY_ENV] = url
        try:
            status = build_main([*args, str(staged), str(html)])
        finally:
            os.environ.pop(REPOSITORY_ENV, None)
            if saved is not None:
                os.environ[REPOSITORY_ENV] = saved
        if status != 0:
            raise SystemExit("sphinx-build failed (its messages are above)")
        _replace_dir(html, out_dir)
    index = out_dir.resolve() / "index.html"
    if runs:
        print(f"\n{summary(runs)}")
    print(f"\nBuilt the site ({len(paths)} notebook pages). Open {index.as_uri()}")
    print(f"or serve it: python -m http.server -b 127.0.0.1 -d {out_dir} 8000")
    failed = [r for r in runs if r.error is not None]
    if failed:
        names = ", ".join(r.path.name for r in failed)
        print(
            f"\n{len(failed)} of {len(runs)} notebooks failed: {names}. Their pages show where; "
            f"the kernels' messages are in {logs}/.",
            file=sys.stderr,
        )
    return runs


def refresh(paths: list[Path]) -> None:
    """Re-execute notebooks in place, so their committed outputs match the current code."""
    for path in paths:
        print(f"refreshing {path} ...", flush=True)
        try:
            nb = execute(path)
        except NotebookFailed as failed:
            raise SystemExit(f"{path}: {failed} (the file was not changed)") from None
        write_atomic(path, nbformat.writes(nb) + "\n")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    site_cmd = sub.add_parser("site", help="execute copies and build the book site")
    site_cmd.add_argument("source_dir", type=Path)
    site_cmd.add_argument("out_dir", type=Path)
    site_cmd.add_argument(
        "--committed-outputs",
        action="store_true",
        help="render the outputs saved in the notebooks instead of executing them "
        "(for `make test`, where nbval has just checked them against a fresh run)",
    )
    site_cmd.add_argument(
        "--repository-url",
        default=os.environ.get(REPOSITORY_ENV) or None,
        help="the repository's GitHub address, for a repository link and Colab/Binder launch "
        "buttons on the pages (default: $SITE_REPOSITORY_URL, else none: no outside link)",
    )
    site_cmd.add_argument(
        "--kim-table",
        type=Path,
        help="the Kim (2014) table to show, as benchmarks/kim_table.py --out writes it "
        f"(default: {KIM_TABLE.relative_to(ROOT)}, else the page says it was not measured)",
    )
    refresh_cmd = sub.add_parser("refresh", help="re-execute notebooks in place")
    refresh_cmd.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "refresh":
        missing = [str(p) for p in args.paths if not p.is_file()]
        if missing:
            raise SystemExit(f"not a notebook file: {', '.join(missing)}")
    if args.command == "site":
        runs = site(
            args.source_dir,
            args.out_dir,
            args.committed_outputs,
            args.repository_url,
            args.kim_table,
        )
        return 1 if any(r.error is not None for r in runs) else 0
    else:
        refresh(args.paths)
    return 0


if __name__ == "__main__":
    sys.exit(main())
