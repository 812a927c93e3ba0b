"""Checks for the exercises of notebook 06 (distributed extraction): each returns None or a hint.

check_answer("06", 1, Labels=Labels, labels=labels, model_path=model_path, ids=ids)
check_answer("06", 2, nearest=nearest, folder=folder)
check_answer("06", 3, break_even=break_even, one=one, cluster=cluster, start=start)
"""

from __future__ import annotations

import json
import shutil
import tempfile
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np


def _predicted(model_path: str | Path, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each row's predicted class, and whether its top two outputs are too close to tell apart
    (a float rounding in another batch size could swap them)."""
    model = keras.saving.load_model(model_path, compile=False)
    outputs = keras.ops.convert_to_numpy(model.predict_on_batch(ids))
    top_two = np.sort(outputs, axis=1)[:, -2:]
    return np.argmax(outputs, axis=1), top_two[:, 1] - top_two[:, 0] < 1e-5


def exercise_1(Labels: Any, labels: Any, model_path: str | Path, ids: Any) -> str | None:
    """A callable class for ``map_batches`` that loads the model once, and its labels in order.

    ``Labels(model_path)`` must load the saved model in ``__init__``; called on a batch
    ``{"row": ..., "data": token ids}`` it returns ``{"label": ...}`` (and may return more
    columns). ``labels``: one predicted class per row of ``ids``, in the rows' order.
    """
    if not isinstance(Labels, type):
        return (
            f"Labels should be a class (map_batches builds one instance per worker), not a "
            f"{type(Labels).__name__}."
        )
    ids = np.asarray(ids)
    with tempfile.TemporaryDirectory() as folder:
        copy = Path(folder) / "model.keras"
        shutil.copyfile(model_path, copy)
        try:
            with warnings.catch_warnings():  # e.g. Keras on a compiled model's optimizer state
                warnings.simplefilter("ignore")
                worker = Labels(str(copy))
        except TypeError as error:
            return f"Labels(model_path) failed ({error}): __init__ takes the model's path."
    batch = {"row": np.arange(8), "data": ids[:8]}
    try:  # the model file is gone now: only a model loaded in __init__ still works
        out = worker(batch)
    except Exception as error:
        return (
            f"your class still needed the model file when called on a batch "
            f"({type(error).__name__}): load the model in __init__, once per worker, and only "
            "use it in __call__."
        )
    if not isinstance(out, dict) or "label" not in out:
        return "__call__ should return a dict of columns with a 'label' column, one per row."
    want, tie = _predicted(model_path, ids)
    got = np.asarray(out["label"])
    if got.shape != (8,):
        return f"one label per row of the batch: shape (8,) for 8 rows; yours has {got.shape}."
    if not np.all((got == want[:8]) | tie[:8]):
        return "the label of a row is the index of its largest output (the argmax over classes)."
    labels = np.asarray(labels)
    if labels.shape != want.shape:
        return f"labels should hold one label per sentence, shape {want.shape}; got {labels.shape}."
    if np.all((labels == want) | tie):
        return None
    if np.array_equal(np.sort(labels), np.sort(want)):
        return (
            "the right labels in the wrong order: Ray returns rows in whatever order the workers "
            "finish; return each row's number too and put the labels back in row order."
        )
    return "some labels differ from the model's predictions for those rows."


def _similarities(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    """The cosine and the dot product of every row's feature vector with row 0's."""
    entry = json.loads((folder / "index.json").read_text())["activations"]["extractor"]
    vectors = np.load(folder / entry["file"]).astype("float64")
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    return unit @ unit[0], vectors @ vectors[0]


def exercise_2(nearest: Any, folder: str | Path) -> str | None:
    """The three rows whose feature vectors are closest (cosine) to row 0's, closest first.

    ``folder``: the feature folder that ``index.json`` describes. Rows whose cosines tie
    (within float rounding) may come in either order.
    """
    got = np.asarray(nearest).ravel()
    if got.shape != (3,) or not np.issubdtype(got.dtype, np.integer):
        return f"nearest should hold 3 row numbers, closest first; yours is {got!r}."
    cosine, dot = _similarities(Path(folder))
    best = np.sort(cosine)[::-1][:3]
    if got[0] == 0 and np.allclose(cosine[got], best, rtol=0, atol=1e-6):
        return None
    if got[0] != 0:
        return (
            "row 0 is the closest to itself (cosine 1): sort the similarities from the largest "
            "down."
        )
    if np.array_equal(got, np.argsort(-dot, kind="stable")[:3]):
        return "that ranks by the dot product; cosine divides each vector by its length first."
    return "the cosine of rows a and b is (a · b) / (|a| |b|); rank the rows by it, largest first."


def exercise_3(break_even: Any, one: float, cluster: float, start: float) -> str | None:
    """The number of rows above which a cluster (after ``start`` seconds) beats one process.

    ``one`` and ``cluster``: rows per second of one process and of the running cluster.
    """
    try:
        answer = float(break_even)
    except (TypeError, ValueError):
        return f"break_even should be a number of rows; got {type(break_even).__name__}."
    want = start / (1 / one - 1 / cluster)
    if abs(answer - want) <= 0.01 * want:
        return None
    if abs(answer - start * one) <= 0.01 * start * one:
        return (
            "that is how many rows one process does while the cluster starts; but the cluster "
            "then needs time for those rows too."
        )
    return (
        "write both times for n rows (one process: n / one; the cluster: start + n / cluster) "
        "and solve for the n where they are equal."
    )


CHECKS = {1: exercise_1, 2: exercise_2, 3: exercise_3}
