"""Checks for notebook 05's exercises (TextCNN features).

>>> from helpers.exercises import check_answer
>>> check_answer("05", 1, text_cnn_kim=..., kim_extractor_params=...)  # doctest: +SKIP
Exercise 1: not yet answered: ...
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import numpy as np

from helpers import activations, textcnn

# The sizes the check builds Kim's model with: notebook 05's.
SEQ_LEN, CLASSES, VOCAB, EMB = 16, 2, 55, 32


def exercise_1(text_cnn_kim: Callable[..., keras.Model], kim_extractor_params: int) -> str | None:
    """text_cnn_kim builds build_textcnn(pooling="max_over_time")'s model; the count is right."""
    if not callable(text_cnn_kim):
        return "text_cnn_kim is a function (seq_len, num_classes, vocab_size, emb_dim) -> Model."
    yours = text_cnn_kim(SEQ_LEN, CLASSES, VOCAB, EMB)
    if not isinstance(yours, keras.Model):
        return f"text_cnn_kim should return a keras.Model; it returned {type(yours).__name__}."
    ref = textcnn.build_textcnn(SEQ_LEN, CLASSES, VOCAB, EMB, pooling="max_over_time")
    names = sorted(layer.name for layer in yours.layers)  # any order of building them
    expected = sorted(layer.name for layer in ref.layers)
    if "flatten" in names:
        return "max-over-time pooling leaves one number per filter: there is nothing to Flatten."
    if names != expected:
        return f"name the layers as text_cnn does; expected {expected}, got {names}."
    if yours.count_params() != ref.count_params():
        return "the parameter count differs: GlobalMaxPooling1D after each Conv1D, no window."
    for layer in ref.layers:  # layer by layer, by name: the order of model.layers may differ
        layer.set_weights(yours.get_layer(layer.name).get_weights())
    ids = np.random.default_rng(0).integers(0, VOCAB, size=(8, SEQ_LEN))
    if not np.allclose(yours.predict(ids, verbose=0), ref.predict(ids, verbose=0), atol=1e-5):
        return 'the outputs differ: Kim\'s convolutions use padding="valid" (full windows only).'
    right = ref.get_layer("extractor").count_params()
    if isinstance(kim_extractor_params, bool) or not isinstance(
        kim_extractor_params, (int, np.integer)
    ):
        return "kim_extractor_params is an int: the extractor's kernel and bias, counted."
    if kim_extractor_params == right - 100:
        return "the model is right; the count misses the extractor's 100 biases."
    if kim_extractor_params != right:
        return "the model is right; the extractor's input is 3 filter sizes x 50 maxima each."
    return None


def exercise_2(bag_of_vectors: Callable[..., np.ndarray], model: keras.Model) -> str | None:
    """bag_of_vectors(model, ids) is the mean over positions of the model's embedding output."""
    if not callable(bag_of_vectors):
        return "bag_of_vectors is a function (model, ids) -> one averaged vector a sentence."
    shape = (6, model.inputs[0].shape[1])  # 6 sentences of the model's length
    ids = np.random.default_rng(0).integers(1, model.get_layer("embedding").input_dim, shape)
    ids[:, shape[1] // 2 :] = 0  # padded, as short sentences are
    embedded = activations.extract(model, ids, ["embedding"])["embedding"]
    rows, positions, dim = embedded.shape
    bags = np.asarray(bag_of_vectors(model, ids))
    if bags.shape == (rows, positions * dim):
        return "your bags are flattened, which keeps each word's position; average over axis 1."
    if bags.shape == embedded.shape:
        return "your bags still have one vector per position; average over the positions (axis 1)."
    if bags.shape != (rows, dim):
        return f"for {rows} sentences the bags should have shape {(rows, dim)}; got {bags.shape}."
    if np.allclose(bags, embedded.sum(axis=1), atol=1e-4):
        return "that is the sum over the positions; the exercise asks for the mean."
    if np.allclose(bags, embedded.mean(axis=1), atol=1e-4):
        return None
    words = (ids > 0)[..., None]  # the positions that hold a word, not padding (id 0)
    if np.allclose(bags, (embedded * words).sum(axis=1) / words.sum(axis=1), atol=1e-4):
        return "average over every position, padding included, as the exercise asks."
    return "the bags are not the mean over axis 1 of the model's embedding output."


CHECKS = {1: exercise_1, 2: exercise_2}
