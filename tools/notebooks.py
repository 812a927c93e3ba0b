"""Execute the notebooks: render copies to HTML with an index, or refresh the committed outputs.

    python tools/notebooks.py render notebooks build/html   # `make run`: sources are never written
    python tools/notebooks.py refresh notebooks/01_*.ipynb  # `make refresh-notebooks`: in place

Each notebook runs in a fresh kernel of this Python, with the notebook's folder as working
directory (as under nbval), so what `render` shows is what `make test` checks.
"""

from __future__ import annotations

import argparse
import html
import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbconvert import HTMLExporter

CELL_TIMEOUT = 600  # seconds; every notebook here runs in well under a minute on a laptop CPU


def execute(path: Path) -> nbformat.NotebookNode:
    """Run a notebook top to bottom in a new kernel and return it with fresh outputs."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        kernel_name="python3",
        timeout=CELL_TIMEOUT,
        record_timing=False,  # no wall-clock times in the committed files
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    client.execute()
    return nb


def describe(nb: nbformat.NotebookNode, fallback: str) -> tuple[str, str]:
    """Title (first `# ` heading) and one-line description (first paragraph line after it)."""
    title, description = fallback, ""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            line = line.strip()
            if line.startswith("# ") and title == fallback:
                title = line[2:].strip()
            elif line and not line.startswith("#") and not description:
                description = line
        if description:
            break
    return title, description


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


def render(source_dir: Path, out_dir: Path) -> Path:
    """Execute every notebook of source_dir and write HTML pages plus index.html to out_dir."""
    paths = sorted(source_dir.glob("*.ipynb"))
    if not paths:
        raise SystemExit(f"no notebooks (*.ipynb) found in {source_dir}")
    exporter = HTMLExporter()
    entries = []
    for path in paths:
        print(f"executing {path} ...", flush=True)
        nb = execute(path)
        body, _ = exporter.from_notebook_node(nb)
        page = out_dir / f"{path.stem}.html"
        write_atomic(page, body)
        entries.append((page.name, *describe(nb, path.stem)))
    items = "\n".join(
        f'  <li><a href="{html.escape(name)}">{html.escape(title)}</a><br>{html.escape(text)}</li>'
        for name, title, text in entries
    )
    index = out_dir / "index.html"
    write_atomic(
        index,
        "<!doctype html>\n<html><head><meta charset='utf-8'><title>keras-layer-recipes</title>"
        f"</head>\n<body>\n<h1>keras-layer-recipes</h1>\n<ol>\n{items}\n</ol>\n</body></html>\n",
    )
    print(f"\nRendered {len(entries)} notebooks. Open {index.resolve()} in a browser.")
    return index


def refresh(paths: list[Path]) -> None:
    """Re-execute notebooks in place, so their committed outputs match the current code."""
    for path in paths:
        print(f"refreshing {path} ...", flush=True)
        nb = execute(path)
        write_atomic(path, nbformat.writes(nb) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    render_cmd = sub.add_parser("render", help="execute copies and write HTML + index.html")
    render_cmd.add_argument("source_dir", type=Path)
    render_cmd.add_argument("out_dir", type=Path)
    refresh_cmd = sub.add_parser("refresh", help="re-execute notebooks in place")
    refresh_cmd.add_argument("paths", type=Path, nargs="+")
    args = parser.parse_args(argv)
    if args.command == "render":
        render(args.source_dir, args.out_dir)
    else:
        missing = [str(p) for p in args.paths if not p.is_file()]
        if missing:
            raise SystemExit(f"not a notebook file: {', '.join(missing)}")
        refresh(args.paths)


if __name__ == "__main__":
    sys.exit(main())
