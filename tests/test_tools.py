"""tools/notebooks.py: `make run` builds the site from fresh executions; refresh writes in place."""

from __future__ import annotations

import html
import re
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.backend_independent

TOOL = Path(__file__).resolve().parents[1] / "tools" / "notebooks.py"


def make_notebook(path: Path, title: str, *cells: nbformat.NotebookNode) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat {title} answers, in one line."),
            *cells,
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def code(
    source: str, output: str | None = None, tags: tuple[str, ...] = ()
) -> nbformat.NotebookNode:
    cell = nbformat.v4.new_code_cell(source, metadata={"tags": list(tags)} if tags else {})
    if output is not None:  # a saved output, as if executed earlier
        cell.outputs = [nbformat.v4.new_output("stream", text=output)]
        cell.execution_count = 1
    return cell


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300
    )


def make_source(src: Path) -> Path:
    src.mkdir()
    # The saved output "41" is stale: a fresh execution prints 42.
    make_notebook(src / "01_first.ipynb", "First recipe", code("print(6 * 7)", "41\n"))
    make_notebook(
        src / "02_second.ipynb",
        "Second recipe",
        code("print('hello')"),
        nbformat.v4.new_markdown_cell("## Exercises"),
        nbformat.v4.new_markdown_cell("Print the answer."),
        code("answer = 6 * 7\nassert answer == 42\nprint('answer', answer)", tags=("solution",)),
    )
    return src


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return make_source(tmp_path / "notebooks")


@pytest.fixture(scope="module")
def sites(tmp_path_factory) -> dict:
    """The sources, and the site built fresh and from committed outputs (built once per module)."""
    root = tmp_path_factory.mktemp("sites")
    src = make_source(root / "notebooks")
    before = {p.name: p.read_bytes() for p in src.iterdir()}
    fresh = run_tool("site", str(src), str(root / "fresh"))
    assert fresh.returncode == 0, fresh.stderr
    committed = run_tool("site", str(src), str(root / "committed"), "--committed-outputs")
    assert committed.returncode == 0, committed.stderr
    return {
        "fresh": root / "fresh",
        "committed": root / "committed",
        "stdout": fresh.stdout,
        "unchanged": {p.name: p.read_bytes() for p in src.iterdir()} == before,
    }


def body(page: Path) -> str:
    """The page's article (its text, tags kept), without the sidebar and search boilerplate."""
    html = page.read_text(encoding="utf-8")
    return html[html.index("<article") : html.index("</article>")]


def test_site_executes_fresh_and_leaves_sources_untouched(sites):
    out = sites["fresh"]
    assert (out / "index.html").resolve().as_uri() in sites["stdout"]
    first = body(out / "01_first.html")
    assert ">42" in first and ">41" not in first  # the fresh output, not the stale one
    assert "answer 42" in body(out / "02_second.html")
    assert sites["unchanged"]


def test_landing_page_lists_each_notebook_with_its_question(sites):
    out = sites["committed"]
    index = body(out / "index.html")
    assert "The two commands" in index
    for stem, title in [("01_first", "First recipe"), ("02_second", "Second recipe")]:
        assert re.search(rf'href="{stem}\.html"[^>]*>.*{title}', index), stem
        assert f"What {title} answers, in one line." in index
    assert (out / "searchindex.js").is_file()


def test_landing_page_quotes_a_blockquoted_question_and_cuts_a_long_one(tmp_path):
    src = tmp_path / "notebooks"
    src.mkdir()
    quote = '> "Why is my kernel (2000, 32)?\n> I expected (32, 2000)."\n> (from a thread)'
    sentences = [f"Sentence {n} is here." for n in range(40)]
    long = "> " + " ".join(sentences)
    for stem, question in [("01_quote", quote), ("02_long", long)]:
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(f"# T\n\n{question}")])
        nbformat.write(nb, src / f"{stem}.ipynb")
    out = tmp_path / "site"
    assert run_tool("site", str(src), str(out), "--committed-outputs").returncode == 0
    index = html.unescape(body(out / "index.html"))
    assert '"Why is my kernel (2000, 32)? I expected (32, 2000)."' in index
    assert "from a thread" not in index and "<p>&gt;" not in body(out / "index.html")
    # Cut after the sentence that passes 300 characters (tools/notebooks.py QUESTION_CHARS).
    k = next(k for k in range(1, 40) if len(" ".join(sentences[:k])) > 300)
    assert " ".join(sentences[:k]) + " …" in index and sentences[k] not in index


def test_committed_outputs_renders_the_saved_outputs_without_executing(sites):
    out = sites["committed"]
    assert ">41" in body(out / "01_first.html")
    assert "answer 42" not in body(out / "02_second.html")  # never executed


def test_solution_cells_are_collapsed(sites):
    out = sites["fresh"]
    page = body(out / "02_second.html")
    details = re.findall(r"<details[^>]*>(.*?)</details>", page, re.S)
    assert len(details) == 1 and "Show solution" in details[0]
    assert "answer 42" in details[0] and "hello" not in details[0]
    assert "<details" not in body(out / "01_first.html")


def test_a_failing_notebook_costs_no_other_page_is_marked_and_fails_the_run(source, tmp_path):
    make_notebook(
        source / "03_broken.ipynb",
        "Broken",
        code("print('before')"),
        code("raise ValueError('boom')"),
        code("print('never')"),
    )
    out = tmp_path / "site"
    result = run_tool("site", str(source), str(out))
    assert result.returncode == 1
    # Every page is built; the good notebooks' fresh outputs are there.
    assert ">42" in body(out / "01_first.html") and "answer 42" in body(out / "02_second.html")
    broken = html.unescape(body(out / "03_broken.html"))
    assert "This notebook failed when the site was built" in broken
    banner = broken.index("This notebook failed")
    stop = broken.index("The notebook stopped here")
    ran = broken.index("before")
    assert banner < ran < broken.index("boom", ran) < stop  # the error output, then the note
    assert "cell 2: ValueError: boom" in broken and "never" in broken  # source shown, not run
    assert "\nnever" not in broken.split("The notebook stopped here")[1].split("print")[0]
    # A line per notebook as it finishes, then the summary: notebook, seconds, ok or the error.
    lines = result.stdout.splitlines()
    assert re.search(
        r"^  03_broken\.ipynb: FAILED \(cell 2: ValueError: boom\) in \d+ s$", result.stdout, re.M
    )
    assert re.search(r"^  01_first\.ipynb: ok in \d+ s$", result.stdout, re.M)
    table = lines[lines.index(next(ln for ln in lines if ln.startswith("notebook "))) :]
    assert re.match(r"01_first\.ipynb +\d+  ok$", table[1])
    assert re.match(r"03_broken\.ipynb +\d+  cell 2: ValueError: boom$", table[3])
    assert "1 of 3 notebooks failed: 03_broken.ipynb" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notebooks", "site", "site-logs"]


def test_the_kernels_stderr_goes_to_a_log_not_the_terminal(source, tmp_path):
    make_notebook(
        source / "03_noisy.ipynb",
        "Noisy",
        code(
            "import os, time\n"
            "os.write(2, b'I0000 00:00:1.5 1 cudart_stub.cc:31] Could not find\\n')\n"
            "os.write(2, b'E0000 00:00:1.5 1 x.cc:9] a kernel error\\n')\n"
            "time.sleep(0.5)  # the kernel config's fd-2 filter forwards lines from a thread"
        ),
    )
    out = tmp_path / "site"
    result = run_tool("site", str(source), str(out))
    assert result.returncode == 0, result.stderr
    assert "cudart" not in result.stdout + result.stderr
    assert "a kernel error" not in result.stdout + result.stderr
    assert "without encryption" not in result.stdout + result.stderr
    # the kernel's stderr goes to its log (the kernel config that make installs drops the info line)
    assert "x.cc:9] a kernel error" in (tmp_path / "site-logs" / "03_noisy.log").read_text()


def test_the_kernel_config_drops_absl_info_lines_and_keeps_the_rest(tmp_path):
    """tools/ipython_kernel_config.py's fd-2 filter, run as the kernel runs it (c is given)."""
    config = TOOL.parent / "ipython_kernel_config.py"
    script = (
        "import os, time, traitlets.config\n"
        "c = traitlets.config.Config()\n"
        f"exec(open({str(config)!r}).read())\n"
        "assert c.IPKernelApp.capture_fd_output is False\n"
        "for line in [b'WARNING: All log messages before absl::InitializeLog() is called are "
        "written to STDERR', b'I0000 00:00:1796586559.280712   14595 cudart_stub.cc:31] Could "
        "not find cuda drivers', b'To enable the following instructions: AVX2 FMA, in other "
        "operations, rebuild TensorFlow with the appropriate compiler flags.', b'E0000 "
        "00:00:1.5 1 x.cc:9] a real error', b'Segmentation fault']:\n"
        "    os.write(2, line + b'\\n')\n"
        "time.sleep(0.5)\n"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stderr.splitlines() == [
        "E0000 00:00:1.5 1 x.cc:9] a real error",
        "Segmentation fault",
    ]


def test_refresh_of_a_failing_notebook_names_the_cell_and_writes_nothing(source):
    path = source / "03_broken.ipynb"
    make_notebook(path, "Broken", code("raise ValueError('boom')"))
    before = path.read_bytes()
    result = run_tool("refresh", str(path))
    assert result.returncode != 0
    assert "03_broken.ipynb: cell 1: ValueError: boom (the file was not changed)" in result.stderr
    assert path.read_bytes() == before


def test_refresh_executes_in_place_with_counts_and_no_timings(source):
    path = source / "01_first.ipynb"
    result = run_tool("refresh", str(path))
    assert result.returncode == 0, result.stderr
    cell = nbformat.read(path, as_version=4).cells[1]
    assert cell.execution_count == 1
    assert cell.outputs[0]["text"] == "42\n"
    assert "execution" not in cell.metadata


def test_refresh_keeps_the_file_mode(source):
    path = source / "01_first.ipynb"
    path.chmod(0o644)
    assert run_tool("refresh", str(path)).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o644


def test_site_of_an_empty_folder_says_what_it_expected(tmp_path):
    result = run_tool("site", str(tmp_path), str(tmp_path / "out"))
    assert result.returncode != 0
    assert "no notebooks (*.ipynb) found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_refresh_of_a_missing_file_names_it(tmp_path):
    result = run_tool("refresh", str(tmp_path / "nope.ipynb"))
    assert result.returncode != 0
    assert "nope.ipynb" in result.stderr


def load_tool():
    """tools/notebooks.py as a module (it is a script, not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("notebooks_tool", TOOL)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_a_kernel_that_dies_while_starting_is_started_again(tmp_path, monkeypatch, capsys):
    tool = load_tool()
    path = tmp_path / "one.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("1 + 1")]), path)
    starts = []

    def flaky(self):  # the port race: the first kernel never answers
        starts.append(len(starts) + 1)
        if len(starts) == 1:
            raise RuntimeError("Kernel died before replying to kernel_info")
        self.nb.cells[0].outputs = [nbformat.v4.new_output("stream", text="ran\n")]

    monkeypatch.setattr(tool.NotebookClient, "execute", flaky)
    nb = tool.execute(path)
    assert starts == [1, 2] and nb.cells[0].outputs[0].text == "ran\n"
    assert "the kernel died while starting" in capsys.readouterr().out

    def always(self):
        starts.append(0)
        raise RuntimeError("Kernel died before replying to kernel_info")

    monkeypatch.setattr(tool.NotebookClient, "execute", always)
    starts.clear()
    with pytest.raises(RuntimeError, match="kernel_info"):
        tool.execute(path)
    assert len(starts) == tool.KERNEL_STARTS  # bounded, then the real error

    def cell_error(self):  # any other error is the notebook's, never retried
        starts.append(0)
        raise RuntimeError("a cell failed")

    monkeypatch.setattr(tool.NotebookClient, "execute", cell_error)
    starts.clear()
    with pytest.raises(RuntimeError, match="a cell failed"):
        tool.execute(path)
    assert len(starts) == 1


BUSY = TOOL.parent / "busy.py"
# Prints the pids of busy.py's busy processes (its children running the loop), then exits 3.
COUNT_BUSY = (
    "import os, psutil\n"
    "kids = psutil.Process(os.getppid()).children()\n"
    "print(*[k.pid for k in kids if k.pid != os.getpid() and 'while' in ' '.join(k.cmdline())])\n"
    "raise SystemExit(3)\n"
)


def test_busy_runs_the_command_beside_busy_loops_and_always_stops_them():
    psutil = pytest.importorskip("psutil")
    command = [sys.executable, str(BUSY), "--loops", "2", "--seconds", "60", "--"]
    result = subprocess.run(
        [*command, sys.executable, "-c", COUNT_BUSY], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 3, result.stderr  # the command's own exit code
    pids = [int(pid) for pid in result.stdout.splitlines()[1].split()]
    assert len(pids) == 2
    assert not any(
        psutil.pid_exists(pid) and psutil.Process(pid).status() != "zombie" for pid in pids
    )


def test_busy_stops_a_command_that_runs_out_of_time():
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, str(BUSY), "--loops", "1", "--seconds", "2", "--", "sleep", "60"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 124
    assert "ran out of time (2 s)" in result.stderr
    assert time.monotonic() - start < 30


def test_busy_refuses_a_missing_command():
    result = subprocess.run([sys.executable, str(BUSY), "--"], capture_output=True, text=True)
    assert result.returncode != 0 and "no command to run" in result.stderr


# The recipes page, plot alt text, the build line and launch buttons (issue 27).
PNG = (  # a 1x1 PNG, as a notebook stores a plot
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def make_recipe_source(src: Path) -> Path:
    """01 with a short answer (prose, code and its output) and a plot; 02 without a short answer."""
    src.mkdir()
    md = nbformat.v4.new_markdown_cell
    plot = code('fig, ax = plt.subplots()\nax.set_title(f"Kernel after {n} steps")')
    plot.outputs = [nbformat.v4.new_output("display_data", data={"image/png": PNG})]
    make_notebook(
        src / "01_a.ipynb",
        "Kernel shapes",
        md("## Short answer\n\nTranspose the **kernel**."),
        code('print("kernel", (4, 2))', "kernel (4, 2)\n"),
        md("## Setup"),
        code('print("setup only")', "setup only\n"),
        md("## A picture"),
        plot,
    )
    make_notebook(src / "02_b.ipynb", "No recipe", code("1 + 1"))
    return src


def text_of(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", body(page)))


def test_recipes_page_alt_text_and_build_line(tmp_path):
    src = make_recipe_source(tmp_path / "notebooks")
    out = tmp_path / "site"
    result = run_tool("site", str(src), str(out), "--committed-outputs")
    assert result.returncode == 0, result.stderr
    assert "left off the recipes page (no '## Short answer'): 02_b.ipynb" in result.stdout
    recipes = text_of(out / "recipes.html")
    assert "1. Kernel shapes" in recipes and "Transpose the kernel." in recipes
    assert 'print("kernel", (4, 2))' in recipes and "kernel (4, 2)" in recipes
    assert "setup only" not in recipes and "No recipe" not in recipes
    assert 'href="01_a.html#short-answer"' in body(out / "recipes.html")
    assert 'id="short-answer"' in body(out / "01_a.html")
    assert 'href="recipes.html"' in body(out / "index.html")
    page = (out / "01_a.html").read_text(encoding="utf-8")
    assert 'alt="Figure in &quot;A picture&quot;: Kernel after … steps"' in page
    assert 'data-lightbox="image-set"' in page  # a click opens the figure full size
    info = re.search(r'<p class="build-info">(.*?)</p>', page, re.S)[1]
    assert re.search(r"Keras 3\.\d+\.\d+, TensorFlow 2\.\d+\.\d+\. Built 20\d\d-", info), info
    assert "from commit <code>" in info and "no repository URL" not in info
    assert "colab" not in page.lower() and "mybinder" not in page  # offline: no launch buttons


def test_a_repository_url_adds_its_link_and_launch_buttons(tmp_path):
    src = make_recipe_source(tmp_path / "notebooks")
    out = tmp_path / "site"
    url = "https://github.com/me/recipes"
    result = run_tool("site", str(src), str(out), "--committed-outputs", "--repository-url", url)
    assert result.returncode == 0, result.stderr
    page = (out / "01_a.html").read_text(encoding="utf-8")
    assert "colab.research.google.com/github/me/recipes/blob/main/notebooks/01_a.ipynb" in page
    assert "mybinder.org/v2/gh/me/recipes/main?urlpath=lab/tree/notebooks/01_a.ipynb" in page
    for name in ["index.html", "recipes.html", "01_a.html"]:
        info = re.search(r'<p class="build-info">(.*?)</p>', (out / name).read_text(), re.S)[1]
        assert f'<a href="{url}">{url}</a>' in info, name


def test_a_repository_url_that_is_not_a_github_address_is_refused_first(tmp_path):
    src = make_recipe_source(tmp_path / "notebooks")
    result = run_tool("site", str(src), str(tmp_path / "site"), "--repository-url", "ftp://x/y")
    assert result.returncode != 0
    assert "'ftp://x/y' is not a GitHub repository's address" in result.stderr
    assert "https://github.com/OWNER/NAME" in result.stderr
    assert not (tmp_path / "site").exists() and not (tmp_path / "site-logs").exists()


def test_short_answer_takes_the_section_up_to_the_next_heading():
    tool = load_tool()
    md, py = nbformat.v4.new_markdown_cell, nbformat.v4.new_code_cell
    nb = nbformat.v4.new_notebook(
        cells=[
            md("# T\n\nQ?"),
            py("before = 1"),
            md("## Short answer\n\nFirst."),
            py("a = 1", outputs=[nbformat.v4.new_output("stream", text="1\n")]),
            md("And then:"),
            py("b = 2"),
            md("## Setup"),
            py("c = 3"),
        ]
    )
    answer = tool.short_answer(nb)
    assert answer.prose == "First.\n\nAnd then:"
    assert answer.code == [("a = 1", "1"), ("b = 2", "")]
    assert tool.short_answer(nbformat.v4.new_notebook(cells=[md("## Setup")])) is None


def test_plot_alt_reads_the_titles_a_cell_sets():
    tool = load_tool()
    source = 'fig.suptitle("Both")\nfor ax in axes:\n    ax.set(title=name)\n'
    source += 'ax.set_title(f"{k} units")'
    assert tool.plot_alt(source, "S") == 'Figure in "S": Both; … units'
    assert tool.plot_alt("draw_graph(model)\nplt.show()", "The graph") == 'Figure in "The graph"'
    assert tool.plot_alt("%matplotlib inline", "S") == 'Figure in "S"'  # not Python: no titles


def test_landing_entries_indent_their_question_under_a_two_digit_number():
    tool = load_tool()
    entries = [(f"{n:02d}_x", f"Title {n}", f"Question {n}?") for n in range(1, 11)]
    page = tool.landing_page(entries)
    assert "\n   Question 9?" in page and "\n    Question 10?" in page


def test_each_notebook_has_a_short_answer_and_its_own_question():
    """The recipes page lists every notebook; 03's landing entry quotes 03's question, not 02's."""
    tool = load_tool()
    root = TOOL.parents[1] / "notebooks"
    questions = {}
    for path in sorted(root.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        answer = tool.short_answer(nb)
        assert answer is not None and answer.code, path.name
        questions[path.stem] = tool.describe(nb, path.stem)[1]
    assert "choose among just those?" in questions["03_masked_outputs"]
    assert "extract the weights" not in questions["03_masked_outputs"]
    assert len(set(questions.values())) == len(questions)
