"""Time of one training step of Kim's CNN-rand, its word-vector table read by row or whole.

    python benchmarks/kim_step.py [--steps 60] [--vocab 18000]

Kim's model (``textcnn.build_textcnn(kim_code=True)``, 300-d vectors, windows 3/4/5 x 100
maps) and optimizer (``kim.SparseAdadelta``), batches of 50 sentences of 1, 10, 30 and 50 words,
``model.train_on_batch`` as ``kim.train`` calls it. Two tables: ``sparse_table.RowEmbedding``
(the model's), which gathers the batch's rows from the variable, and ``keras.layers.Embedding``,
which reads the whole table first (and on TensorFlow, once the table has been updated row by
row, copies it). Prints the median milliseconds a step of each, and the ratio.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import statistics
import time
from unittest import mock

import keras
import numpy as np

from helpers import kim, sparse_table, textcnn

WIDTHS = (1, 10, 30, 50)


def step_ms(embedding: type, vocab: int, steps: int) -> dict[int, float]:
    """Median ms of ``train_on_batch`` per batch width, with ``embedding`` as the table."""
    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    with mock.patch.object(sparse_table, "RowEmbedding", embedding):
        model = textcnn.build_textcnn(
            None, 2, vocab, 300, feature_dim=None, pooling="max_over_time", max_norm=3.0,
            dropout=0.5, kim_code=True,
        )  # fmt: skip
    model.compile(kim.SparseAdadelta(1.0, 0.95, 1e-6), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, size=50)
    times = {}
    for width in WIDTHS:
        x = rng.integers(1, vocab, size=(50, width)).astype("int32")
        for _ in range(5):  # trace and warm up
            model.train_on_batch(x, y)
        laps = []
        for _ in range(steps):
            start = time.perf_counter()
            model.train_on_batch(x, y)
            laps.append(time.perf_counter() - start)
        times[width] = 1000 * statistics.median(laps)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=60, help="timed steps a width (60)")
    parser.add_argument("--vocab", type=int, default=18000, help="rows of the table (18000: MR)")
    args = parser.parse_args()
    if args.steps < 1 or args.vocab < 2:
        parser.error(f"--steps must be >= 1 and --vocab >= 2; got {args.steps}, {args.vocab}")
    print(f"keras {keras.__version__} ({keras.backend.backend()}), {os.cpu_count()} CPUs, "
          f"table {args.vocab} x 300, batches of 50, median of {args.steps} steps")  # fmt: skip
    rows = step_ms(sparse_table.RowEmbedding, args.vocab, args.steps)
    whole = step_ms(keras.layers.Embedding, args.vocab, args.steps)
    print(f"{'words':>6} {'RowEmbedding':>13} {'Embedding':>10} {'ratio':>6}")
    for width in WIDTHS:
        print(f"{width:>6} {rows[width]:>10.1f} ms {whole[width]:>7.1f} ms "
              f"{whole[width] / rows[width]:>6.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
