"""Checks for notebook 05b's exercises (TextCNN features at scale).

>>> from helpers.exercises import check_answer
>>> check_answer("05b", 1, a=..., kim_matrix=..., matrix=...)  # doctest: +SKIP
Exercise 1: not yet answered: ...
"""

from __future__ import annotations

import os

import numpy as np

from helpers import activations


def exercise_1(a: float, kim_matrix: np.ndarray, matrix: np.ndarray) -> str | None:
    """a = sqrt(3 var) of the file's rows; missing rows uniform in [-a, a]; the rest unchanged."""
    matrix = np.asarray(matrix)
    missing = ~matrix.any(axis=1)
    missing[0] = False  # the padding row
    known = ~missing
    known[0] = False
    variance = float(matrix[known].var())
    if not isinstance(a, (int, float, np.floating)) or isinstance(a, bool):
        return f"a is a number (a float); got {type(a).__name__}."
    if np.isclose(a, np.sqrt(variance)) or np.isclose(a, variance):
        return "U[-a, a] has variance a**2 / 3: solve a**2 / 3 = the pretrained variance for a."
    if np.isclose(a, np.sqrt(3 * float(matrix[1:].var()))) or np.isclose(
        a, np.sqrt(3 * float(matrix.var()))
    ):
        return "the variance counts zero rows: take only the rows the GloVe file had (~missing)."
    if np.isclose(a, np.sqrt(3 * float(matrix[~missing].var()))):
        return "~missing still holds the padding row 0, which the file never had: leave it out."
    if not np.isclose(a, np.sqrt(3 * variance), rtol=1e-4):
        return "a should give U[-a, a] the variance of the entries of the file's rows."
    kim_matrix = np.asarray(kim_matrix)
    if kim_matrix.shape != matrix.shape:
        return f"kim_matrix has matrix's shape {matrix.shape}; got {kim_matrix.shape}."
    if not np.array_equal(kim_matrix[known], matrix[known]):
        return "the file's vectors must stay as they are: change only the missing rows."
    if kim_matrix[0].any():
        return "row 0 is the padding token: it stays zero."
    drawn = kim_matrix[missing]
    if not drawn.all(axis=1).all() or np.abs(drawn).max() > a:
        return "every missing row is drawn from U[-a, a]: nonzero, and no value beyond a."
    return None


def exercise_2(
    class_means: np.ndarray, folder: str | os.PathLike, labels: np.ndarray
) -> str | None:
    """class_means[label] is the mean extractor vector of the sentences with that label."""
    stored = np.asarray(activations.load_features(folder)["extractor"])
    labels = np.asarray(labels)
    right = np.stack([stored[labels == label].mean(axis=0) for label in (0, 1)])
    class_means = np.asarray(class_means, dtype="float64")
    if class_means.shape != right.shape:
        return f"class_means has one row a label: shape {right.shape}; got {class_means.shape}."
    if np.allclose(class_means, right[::-1], atol=1e-4):
        return "the rows are swapped: row 0 is the negative sentences' (label 0)."
    if np.allclose(class_means, np.broadcast_to(stored.mean(axis=0), right.shape), atol=1e-4):
        return "both rows are the mean of all sentences: split the rows by corpus_labels."
    if not np.allclose(class_means, right, atol=1e-4):
        return "divide each label's sum by that label's count, over all 4096 sentences."
    return None


CHECKS = {1: exercise_1, 2: exercise_2}
