"""The environment is what requirements.txt pins, and environment.yml installs the same thing."""

from __future__ import annotations

import os
import re
from importlib import metadata
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]


def pinned_requirements() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([A-Za-z0-9_.\-]+)", line)
        assert match, f"requirements.txt line {line!r} is not an exact pin (name==version)"
        pins[match[1]] = match[2]
    return pins


def test_every_requirement_is_pinned_and_includes_the_stack():
    pins = pinned_requirements()
    stack = ["tensorflow", "jax", "jaxlib", "keras", "numpy", "matplotlib", "jupyter", "nbval"]
    for name in [*stack, "pytest", "pytest-xdist", "ruff"]:
        assert name in pins, f"{name} is missing from requirements.txt"
    assert pins["tensorflow"].startswith("2.21.")
    assert pins["keras"].startswith("3.15.")
    assert pins["jax"] == pins["jaxlib"]  # jaxlib must match jax exactly


@pytest.mark.parametrize("name", sorted(pinned_requirements()))
def test_installed_version_matches_pin(name):
    assert metadata.version(name) == pinned_requirements()[name]


def test_environment_yml_installs_requirements_and_package():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    deps = env["dependencies"]
    pip_sections = [d["pip"] for d in deps if isinstance(d, dict) and "pip" in d]
    assert pip_sections == [["-r requirements.txt", "-e ."]]
    assert "pip" in deps
    assert any(isinstance(d, str) and d.startswith("python=3.11") for d in deps)


def test_running_keras_is_the_pinned_one():
    import keras

    assert keras.version() == pinned_requirements()["keras"]


def test_the_active_backend_is_a_supported_one_and_the_one_asked_for():
    import keras

    assert keras.backend.backend() in ("tensorflow", "jax")  # README: PyTorch is out of scope
    # `make test` sets KERAS_BACKEND for each run: the run must test the backend it claims to.
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", keras.backend.backend())


def test_helpers_is_installed_as_a_package():
    import helpers

    assert Path(helpers.__file__).resolve().parent == ROOT / "helpers"
    assert metadata.version("keras-layer-recipes") == helpers.__version__
