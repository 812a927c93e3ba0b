"""tools/notebooks.py: `make run` renders executed copies with an index; refresh writes in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

TOOL = Path(__file__).resolve().parents[1] / "tools" / "notebooks.py"


def make_notebook(path: Path, title: str, code: str) -> None:
    nb = nbformat.v4.new_notebook(
        cells=[
            nbformat.v4.new_markdown_cell(f"# {title}\n\nWhat {title} answers, in one line."),
            nbformat.v4.new_code_cell(code),
        ]
    )
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    nbformat.write(nb, path)


def run_tool(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "notebooks"
    src.mkdir()
    make_notebook(src / "01_first.ipynb", "First recipe", "print(6 * 7)")
    make_notebook(src / "02_second.ipynb", "Second recipe", "print('hello')")
    return src


def test_render_writes_pages_and_an_index_without_touching_sources(source, tmp_path):
    before = {p.name: p.read_bytes() for p in source.iterdir()}
    out = tmp_path / "html"
    result = run_tool("render", str(source), str(out))
    assert result.returncode == 0, result.stderr
    assert "index.html" in result.stdout
    index = (out / "index.html").read_text()
    for stem, title in [("01_first", "First recipe"), ("02_second", "Second recipe")]:
        assert f'href="{stem}.html"' in index
        assert title in index and f"What {title} answers, in one line." in index
    assert "42" in (out / "01_first.html").read_text()
    assert {p.name: p.read_bytes() for p in source.iterdir()} == before


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


def test_render_of_an_empty_folder_says_what_it_expected(tmp_path):
    result = run_tool("render", str(tmp_path), str(tmp_path / "out"))
    assert result.returncode != 0
    assert "no notebooks (*.ipynb) found" in result.stderr
    assert not (tmp_path / "out").exists()


def test_refresh_of_a_missing_file_names_it(tmp_path):
    result = run_tool("refresh", str(tmp_path / "nope.ipynb"))
    assert result.returncode != 0
    assert "nope.ipynb" in result.stderr
