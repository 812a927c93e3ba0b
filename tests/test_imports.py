"""The helpers modules import each other without a cycle: one topic a module, used one way.

Every import of a helpers module counts, also one inside a function (a lazy import hides a cycle
from Python but not from a reader). Only an import under ``if __name__ == "__main__":`` is left
out: it runs when the module is the command itself, after every module is loaded.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "helpers"


def module_name(path: Path, root: Path) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_main_guard(node: ast.AST) -> bool:
    """``if __name__ == "__main__":``"""
    return (
        isinstance(node, ast.If)
        and isinstance(node.test, ast.Compare)
        and isinstance(node.test.left, ast.Name)
        and node.test.left.id == "__name__"
        and any(
            isinstance(c, ast.Constant) and c.value == "__main__" for c in node.test.comparators
        )
    )


def imported_modules(tree: ast.Module, known: set[str]) -> set[str]:
    """The modules of ``known`` that ``tree`` imports anywhere but under a ``__main__`` guard."""
    found: set[str] = set()
    guarded = {id(n) for g in ast.walk(tree) if is_main_guard(g) for n in ast.walk(g)}
    for node in ast.walk(tree):
        if id(node) in guarded:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return found & known


def import_graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    """Module name -> the package's modules it imports (the package itself left out)."""
    paths = {module_name(p, package.parent): p for p in package.rglob("*.py")}
    known = set(paths) - {package.name}
    return {
        name: imported_modules(ast.parse(path.read_text(encoding="utf-8")), known) - {name}
        for name, path in paths.items()
    }


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None."""
    state: dict[str, str] = {}  # "open" while on the current path, "done" after

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = "open"
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state:
                cycle = visit(nxt, [*path, nxt])
                if cycle:
                    return cycle
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            cycle = visit(start, [start])
            if cycle:
                return cycle
    return None


def test_no_import_cycle_among_the_helpers_modules():
    graph = import_graph()
    assert {"helpers.cli", "helpers.kim", "helpers.textcnn", "helpers.pytorch"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph))
    # the layering the split is for: the command on top, the protocol, then the model
    assert {"helpers.kim", "helpers.textcnn"} <= graph["helpers.cli"]
    assert "helpers.textcnn" in graph["helpers.kim"]
    assert not graph["helpers.textcnn"] & {"helpers.kim", "helpers.cli"}
    assert "helpers.pytorch" not in graph["helpers.weights"]


def test_the_cycle_finder_finds_lazy_imports_and_skips_the_main_guard(tmp_path):
    package = tmp_path / "helpers"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from helpers import b\n")
    (package / "b.py").write_text("def f():\n    from helpers.c import g\n")
    (package / "c.py").write_text('if __name__ == "__main__":\n    import helpers.a\n')
    assert find_cycle(import_graph(package)) is None
    (package / "c.py").write_text("def g():\n    import helpers.a\n")
    assert find_cycle(import_graph(package)) == ["helpers.a", "helpers.b", "helpers.c", "helpers.a"]


@pytest.mark.backend_independent
def test_the_old_command_name_still_runs_the_command_line():
    done = subprocess.run(
        [sys.executable, "-m", "helpers.textcnn", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith("usage: python -m helpers.cli")
