"""Shared test tools: the active Keras backend in the report header, a backend-neutral gradient,
the ``backend_independent`` marker, the order in which files start, and the fresh_session
fixture of test_pytorch.py and test_weights.py.

`make test` runs this suite once per supported backend (KERAS_BACKEND=tensorflow, then jax).
A test marked ``backend_independent`` (the notebook tools, the site, the workshop kit, the CLI's
plumbing, Ray's job machinery) checks code that does not depend on the backend: it runs on
TensorFlow only and is skipped, with that reason, on the other backends.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
import pytest

# The longest files start first, so that the two pytest-xdist workers (`--dist loadfile`, one
# file per worker at a time, in collection order) finish together instead of one idling while the
# other runs a long file that happened to come last.
LONGEST_FIRST = (
    "tests/test_kit_notebooks.py",  # every notebook's student copy, blank and solved
    "notebooks/06_distributed_extraction.ipynb",
    "tests/test_scale.py",
    "tests/test_tools.py",
    "tests/test_textcnn.py",
    "tests/test_cli.py",
    "tests/test_site.py",
    "tests/test_masking.py",
    "tests/test_kim.py",
    "tests/test_workshop.py",
)
SKIPPED_OFF_TENSORFLOW = "backend-independent: runs once, on TensorFlow"


def pytest_report_header() -> str:
    return f"keras {keras.version()}, backend: {keras.backend.backend()}"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"backend_independent: the code under test does not use Keras' backend; "
        f"{SKIPPED_OFF_TENSORFLOW}",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if keras.backend.backend() != "tensorflow":
        for item in items:
            if item.get_closest_marker("backend_independent"):
                item.add_marker(pytest.mark.skip(reason=SKIPPED_OFF_TENSORFLOW))
    root = config.rootpath

    def rank(item: pytest.Item) -> int:
        path = item.path.relative_to(root).as_posix() if item.path.is_relative_to(root) else ""
        return LONGEST_FIRST.index(path) if path in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: each file keeps its own order


def value_and_gradients(
    loss_fn: Callable[[], object], variables: Sequence[keras.Variable]
) -> tuple[float, list[np.ndarray]]:
    """(loss_fn(), d loss_fn() / d each variable) with the active backend's autodiff; the
    variables are read, never changed (a variable the loss does not use gets zeros). loss_fn takes
    no argument and returns a scalar.

    >>> value_and_gradients(lambda: keras.ops.sum(v * v), [v])  # (sum(v**2), [2 * v])
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, list(variables))  # None for a variable the loss does not use
        grads = [
            np.zeros(v.shape, v.dtype) if g is None else g
            for v, g in zip(variables, grads, strict=True)
        ]
    elif backend == "jax":
        import jax

        def loss_of(values):
            # Inside the scope every read of a variable gives the traced value instead.
            with keras.StatelessScope(state_mapping=list(zip(variables, values, strict=True))):
                return loss_fn()

        loss, grads = jax.value_and_grad(loss_of)([v.value for v in variables])
    else:
        raise NotImplementedError(f"no gradient for the {backend!r} backend (tensorflow, jax)")
    return float(loss), [keras.ops.convert_to_numpy(g) for g in grads]


# The fresh_session fixture test_pytorch.py and test_weights.py ask for (their shared values
# and functions are in tests/layer_helpers.py).
@pytest.fixture
def fresh_session() -> None:
    """A cleared Keras session and seed 0, for files that ask for it with
    ``pytestmark = pytest.mark.usefixtures("fresh_session")``."""
    keras.backend.clear_session(free_memory=False)  # gc.collect() per test was most of the run time
    keras.utils.set_random_seed(0)


@pytest.fixture
def gradients() -> Callable[..., tuple[float, list[np.ndarray]]]:
    """``gradients(loss_fn, variables)`` -> (loss, [numpy gradient per variable]), any backend."""
    return value_and_gradients
