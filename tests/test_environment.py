"""The three dependency sets: the learner's (requirements-learner.txt), the `scale` extra
(pyproject.toml) and the developer's (requirements.txt, which includes the learner's). Each pin is
written once; what is installed is what they pin; environment.yml installs the learner's set."""

from __future__ import annotations

import ast
import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.markers import Marker
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]
LEARNER = ROOT / "requirements-learner.txt"
DEVELOPER = ROOT / "requirements.txt"
# Platforms for the environment markers: (sys_platform, platform_machine).
PLATFORMS = {
    "linux-x86_64": ("linux", "x86_64"),
    "windows": ("win32", "AMD64"),
    "macos-arm": ("darwin", "arm64"),
    "macos-intel": ("darwin", "x86_64"),
    "linux-arm": ("linux", "aarch64"),
}


def requirements(path: Path) -> list[Requirement]:
    """The requirements of one file, without the ones it includes (-r lines)."""
    found = []
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line and not line.startswith("-r "):
            found.append(Requirement(line))
    return found


def pin(req: Requirement) -> str:
    (spec,) = req.specifier
    return spec.version


def pyproject_list(key: str) -> list[Requirement]:
    """A one-line list of pyproject.toml (`dependencies`, the `scale` extra) as requirements
    (without tomllib, which Python 3.10 lacks)."""
    text = (ROOT / "pyproject.toml").read_text()
    found = re.search(rf"^{key} = (\[.*\])$", text, re.M)
    assert found, f"pyproject.toml: no one-line `{key} = [...]`"
    return [Requirement(r) for r in ast.literal_eval(found[1])]


def applies(req: Requirement) -> bool:
    return req.marker is None or req.marker.evaluate()


SETS = {
    "learner": requirements(LEARNER),
    "developer": requirements(DEVELOPER),
    "scale": pyproject_list("scale"),
}


@pytest.mark.parametrize("name", sorted(SETS))
def test_every_requirement_is_an_exact_pin(name):
    for req in SETS[name]:
        assert len(req.specifier) == 1 and next(iter(req.specifier)).operator == "==", str(req)


def test_each_package_is_pinned_once_across_the_three_sets():
    names = [req.name.lower() for reqs in SETS.values() for req in reqs]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)


def test_the_developer_set_installs_the_learner_set():
    lines = [ln.strip() for ln in DEVELOPER.read_text().splitlines()]
    assert "-r requirements-learner.txt" in lines


def test_the_learner_set_is_the_notebooks_stack_and_no_developer_tool():
    learner = {req.name.lower(): req for req in SETS["learner"]}
    for name in ["keras", "numpy", "matplotlib", "jupyterlab", "ipykernel", "filelock"]:
        assert name in learner, name
    assert pin(learner["keras"]).startswith("3.15.")
    assert pin(learner["tensorflow-cpu"]) == pin(learner["tensorflow"])
    assert pin(learner["tensorflow"]).startswith("2.21.")
    tools = ["pytest", "ruff", "nbval", "sphinx", "playwright", "jax", "jaxlib", "jupyter", "ray"]
    assert not set(tools) & set(learner)
    developer = {req.name.lower(): req for req in SETS["developer"]}
    assert {"pytest", "ruff", "nbval", "sphinx", "playwright", "jax"} <= set(developer)
    assert pin(developer["jax"]) == pin(developer["jaxlib"])  # jaxlib must match jax exactly


@pytest.mark.parametrize("platform", sorted(PLATFORMS))
def test_exactly_one_tensorflow_per_platform_the_cpu_build_where_it_exists(platform):
    sys_platform, machine = PLATFORMS[platform]
    env = {"sys_platform": sys_platform, "platform_machine": machine}
    chosen = [
        req.name
        for req in SETS["learner"]
        if req.name.startswith("tensorflow") and Marker(str(req.marker)).evaluate(env)
    ]
    # tensorflow-cpu 2.21.0 has wheels for Linux and Windows on x86-64 only (checked on PyPI).
    cpu = platform in ("linux-x86_64", "windows")
    assert chosen == (["tensorflow-cpu"] if cpu else ["tensorflow"])


def test_the_package_names_no_backend():
    # `tensorflow` here would install the GPU build beside tensorflow-cpu.
    deps = [req.name for req in pyproject_list("dependencies")]
    assert not [d for d in deps if d.startswith(("tensorflow", "jax"))]


INSTALLED = [req for reqs in SETS.values() for req in reqs if applies(req)]


@pytest.mark.parametrize("req", INSTALLED, ids=[req.name for req in INSTALLED])
def test_installed_version_matches_pin(req):
    assert metadata.version(req.name) == pin(req)


def test_environment_yml_installs_the_learner_set_and_scale():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-r requirements-learner.txt", "-e .[scale]"]]
    assert "pip" in deps
    assert any(isinstance(d, str) and d.startswith("python=3.11") for d in deps)


def test_running_keras_is_the_pinned_one():
    import keras

    learner = {req.name: req for req in SETS["learner"]}
    assert keras.version() == pin(learner["keras"])


def test_the_active_backend_is_a_supported_one_and_the_one_asked_for():
    import keras

    assert keras.backend.backend() in ("tensorflow", "jax")  # README: PyTorch is out of scope
    # `make test` sets KERAS_BACKEND for each run: the run must test the backend it claims to.
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", keras.backend.backend())


def test_helpers_is_installed_as_a_package():
    import helpers

    assert Path(helpers.__file__).resolve().parent == ROOT / "helpers"
    assert metadata.version("keras-layer-recipes") == helpers.__version__
