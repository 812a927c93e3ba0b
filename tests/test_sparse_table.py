"""helpers.sparse_table: a word-vector table read and stepped only in the rows a batch uses."""

from __future__ import annotations

import runpy
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from helpers import kim, textcnn
from helpers.sparse_table import RowEmbedding, SparseAdadelta


def tiny_model(embedding: type, table: np.ndarray) -> keras.Model:
    """Embedding -> zero-padding mask -> Conv1D -> max -> softmax, compiled with SparseAdadelta."""
    tokens = keras.Input((None,), dtype="int32", name="tokens")
    x = embedding(*table.shape, weights=[table], name="embedding")(tokens)
    x = keras.layers.Conv1D(5, 2, activation="relu", name="conv", kernel_initializer="ones")(x)
    x = keras.layers.GlobalMaxPooling1D(name="pool")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="output")(x)
    model = keras.Model(tokens, outputs)
    model.compile(SparseAdadelta(1.0, 0.95, 1e-6), "sparse_categorical_crossentropy")
    return model


def test_row_embedding_trains_exactly_as_keras_embedding():
    """The same outputs and, step by step, the same table as keras.layers.Embedding."""
    table = np.random.default_rng(0).uniform(-0.25, 0.25, (30, 4)).astype("float32")
    rows, keras_rows = tiny_model(RowEmbedding, table), tiny_model(keras.layers.Embedding, table)
    keras_rows.set_weights(rows.get_weights())
    rng = np.random.default_rng(1)
    for step in range(6):
        x = rng.integers(0, 8 if step < 3 else 30, size=(4, 2 + step))  # rows 8.. unused at first
        y = rng.integers(0, 3, size=4)
        np.testing.assert_array_equal(rows.predict_on_batch(x), keras_rows.predict_on_batch(x))
        rows.train_on_batch(x, y)
        keras_rows.train_on_batch(x, y)
        np.testing.assert_array_equal(
            rows.get_layer("embedding").embeddings.numpy(),
            keras_rows.get_layer("embedding").embeddings.numpy(),
        )
    moved = rows.get_layer("embedding").embeddings.numpy() != table
    assert moved[:8].any() and moved[8:].any()  # both phases stepped rows


def test_row_embedding_saves_loads_and_is_kims_table(tmp_path):
    table = np.arange(12, dtype="float32").reshape(6, 2)
    model = tiny_model(RowEmbedding, table)
    model.save(tmp_path / "rows.keras")
    loaded = keras.saving.load_model(tmp_path / "rows.keras", compile=False)
    layer = loaded.get_layer("embedding")
    assert type(layer) is RowEmbedding and isinstance(layer, keras.layers.Embedding)
    assert layer.get_config() == model.get_layer("embedding").get_config()
    x = np.array([[5, 0, 3]])
    np.testing.assert_array_equal(loaded.predict_on_batch(x), model.predict_on_batch(x))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(layer(x))[0], table[[5, 0, 3]])
    kims = textcnn.build_textcnn(None, 2, 10, 4, pooling="max_over_time", kim_code=True)
    plain = textcnn.build_textcnn(None, 2, 10, 4, pooling="max_over_time")
    assert type(kims.get_layer("embedding")) is RowEmbedding
    assert type(plain.get_layer("embedding")) is keras.layers.Embedding
    assert kim.SparseAdadelta is SparseAdadelta  # Kim's optimizer, where kim.train finds it


def test_step_benchmark_prints_both_tables_and_refuses_bad_counts(capsys, monkeypatch):
    script = str(Path(__file__).parents[1] / "benchmarks" / "kim_step.py")
    monkeypatch.setattr(sys, "argv", ["kim_step.py", "--steps", "1", "--vocab", "20"])
    runpy.run_path(script, run_name="__main__")
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split() == ["words", "RowEmbedding", "Embedding", "ratio"]
    assert [line.split()[0] for line in lines[2:]] == ["1", "10", "30", "50"]
    assert all(float(line.split()[-1]) > 0 for line in lines[2:])
    monkeypatch.setattr(sys, "argv", ["kim_step.py", "--steps", "0"])
    with pytest.raises(SystemExit) as exit_:
        runpy.run_path(script, run_name="__main__")
    assert exit_.value.code == 2
    assert "--steps must be >= 1 and --vocab >= 2; got 0, 18000" in capsys.readouterr().err
