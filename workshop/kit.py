"""The workshop kit's two commands, on Linux, macOS and Windows (Python 3.10+, nothing else):

    python kit.py install     # .venv with the notebooks' packages (offline from wheels/ if there)
    python kit.py lab         # JupyterLab on notebooks/

and, for the instructor, the day before, on a machine of the students' platform and Python:

    python kit.py wheelhouse  # download every wheel the install needs into wheels/ (network)

With a wheels/ folder beside this file, `install` never touches the network
(`pip install --no-index --find-links wheels`); without one it uses the package registry.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

REQUIREMENTS = "requirements-learner.txt"
# In the kit this file sits beside requirements-learner.txt; in the repository it is workshop/kit.py
# (`make wheelhouse` runs it there).
HERE = Path(__file__).resolve().parent
HERE = HERE if (HERE / REQUIREMENTS).exists() else HERE.parent
VENV = HERE / ".venv"
WHEELS = HERE / "wheels"
PROJECT = "."  # the helpers package; its `scale` extra is Ray, which notebook 06 needs
BUILD = "setuptools>=68"  # pyproject.toml's build-system: `pip install -e .` builds with it
# TensorFlow's C++ start-up lines go to the terminal, not the notebooks, with this in the venv.
KERNEL_CONFIG = Path("tools", "ipython_kernel_config.py")


def venv_python(venv: Path = VENV) -> Path:
    """The Python of a venv: .venv/bin/python, or .venv\\Scripts\\python.exe on Windows."""
    if os.name == "nt":
        return venv / "Scripts" / "python.exe"
    return venv / "bin" / "python"


def run(*command: object) -> None:
    """Run a command, printing it first; stop with its exit code if it fails."""
    args = [str(c) for c in command]
    print("+", " ".join(args), flush=True)
    code = subprocess.call(args, cwd=HERE)
    if code:
        raise SystemExit(f"kit.py: the command above failed (exit code {code})")


def pip_source(wheels: Path, offline: bool | None) -> list[str]:
    """pip's options for where packages come from: the wheelhouse with no index, or the registry.

    >>> pip_source(Path("missing"), None)
    []
    """
    if offline is None:
        offline = wheels.is_dir() and any(wheels.glob("*.whl"))
    if not offline:
        return []
    if not wheels.is_dir():
        raise SystemExit(f"kit.py: --offline needs the wheelhouse folder {wheels}; it is missing")
    return ["--no-index", "--find-links", str(wheels)]


def install(offline: bool | None = None, scale: bool = True, venv: Path = VENV) -> None:
    """Create venv and install the pinned learner packages and the helpers package (with its
    `scale` extra, Ray, unless scale is False) into it."""
    if sys.version_info < (3, 10):  # noqa: UP036 (a student may run an older Python)
        raise SystemExit(
            f"kit.py: Python 3.10 or newer is needed; this is {sys.version.split()[0]}"
        )
    source = pip_source(WHEELS, offline)
    print("Installing from", f"{WHEELS} (no network)" if source else "the package registry")
    if not venv_python(venv).exists():
        run(sys.executable, "-m", "venv", venv)
    python = venv_python(venv)
    # --no-compile: Python byte-compiles the modules a notebook imports when it first imports
    # them, instead of pip compiling every module of every package now (0.14 GB, and half the
    # install time, measured).
    pip = [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-compile", *source]
    run(*pip, "-r", REQUIREMENTS, "-e", f"{PROJECT}[scale]" if scale else PROJECT)
    ipython = venv / "etc" / "ipython"
    ipython.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / KERNEL_CONFIG, ipython / KERNEL_CONFIG.name)
    # Build matplotlib's font cache now, so its one-time notice never lands in a notebook.
    env = {**os.environ, "MPLBACKEND": "Agg"}
    subprocess.run([str(python), "-c", "import matplotlib.pyplot"], check=True, env=env)
    print(f"\nInstalled. Open the notebooks with: {Path(sys.executable).name} kit.py lab")


def lab(extra: list[str], venv: Path = VENV) -> None:
    """Start JupyterLab on notebooks/ with the kit's venv."""
    python = venv_python(venv)
    if not python.exists():
        raise SystemExit("kit.py: no .venv here yet; run `python kit.py install` first")
    args = [python, "-m", "jupyter", "lab", "--notebook-dir", HERE / "notebooks", *extra]
    if hasattr(os, "geteuid") and os.geteuid() == 0 and "--allow-root" not in extra:
        print("Running as root: adding --allow-root (Jupyter refuses root without it)")
        args.append("--allow-root")
    run(*args)


def wheelhouse(dest: Path = WHEELS) -> None:
    """Download every wheel `install` needs, for this platform and Python, into dest."""
    dest.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, "-m", "pip", "download", "--disable-pip-version-check"]
    run(
        *command,
        "--only-binary",
        ":all:",
        "-d",
        dest,
        "-r",
        REQUIREMENTS,
        f"{PROJECT}[scale]",
        BUILD,
    )
    size = sum(p.stat().st_size for p in dest.iterdir()) / 1e6
    print(f"\n{len(list(dest.iterdir()))} files, {size:.0f} MB in {dest}")
    print(f"for Python {sys.version_info.major}.{sys.version_info.minor} on {sys.platform}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    install_cmd = sub.add_parser("install", help="create .venv and install the notebooks' packages")
    where = install_cmd.add_mutually_exclusive_group()
    where.add_argument("--offline", action="store_true", default=None, help="only from wheels/")
    where.add_argument("--online", dest="offline", action="store_false", help="from the registry")
    install_cmd.add_argument(
        "--no-scale", dest="scale", action="store_false", help="leave out Ray (notebook 06)"
    )
    sub.add_parser("lab", help="JupyterLab on notebooks/ (other options go to jupyter lab)")
    house = sub.add_parser("wheelhouse", help="download the wheels for an offline install")
    house.add_argument("--dest", type=Path, default=WHEELS)
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "lab":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    if args.command == "install":
        install(args.offline, args.scale)
    elif args.command == "lab":
        lab(extra)
    else:
        wheelhouse(args.dest.resolve())
    return 0


if __name__ == "__main__":
    sys.exit(main())
