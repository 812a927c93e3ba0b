"""Benchmark of helpers.scale (Ray Data) against activations.extract_to_disk (issue 17).

Run: `make bench-scale`. On the same token ids on disk (200,000 sequences by default) and the
same TextCNN as benchmarks/extraction.py, prints rows per second for one process
(activations.extract_to_disk) and for the Ray Data job on 2 local workers (scale.extract_to_disk),
the engine's fixed start-up cost (starting Ray; a one-shard job: 2 workers import Keras and load
the model), the machine's load average before and after, and the target: the job at most 2x the
single-process time. Timings on a busy machine are noisy: read them with the load beside them.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np
from extraction import BATCH, row, sequences, textcnn  # benchmarks/extraction.py, beside this

from helpers import activations, scale

LAYERS = ["extractor"]


def load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"{one:.1f} / {five:.1f} / {fifteen:.1f} (1 / 5 / 15 min)"


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main(samples: int, workers: int, shard_rows: int) -> int:
    print(
        f"Keras {keras.version()} ({keras.backend.backend()}), {os.cpu_count()} CPUs, "
        f"{samples:,} sequences, batch {BATCH}, shards of {shard_rows:,} rows, "
        f"{workers} Ray workers; load before: {load()}"
    )
    print(f"{'figure':<46} {'measured':<34} {'target':<18} result")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model = textcnn()
        model_path = folder / "textcnn.keras"
        model.save(model_path)
        ids_path = folder / "ids.npy"
        np.save(ids_path, sequences(samples))
        ids = np.load(ids_path, mmap_mode="r")

        activations.extract(model, ids[: BATCH + 1], LAYERS, BATCH)  # trace before timing
        single = timed(
            lambda: activations.extract_to_disk(
                model, ids, LAYERS, folder / "single", BATCH, progress=False
            )
        )
        row("extract_to_disk, one process", f"{single:.1f} s = {samples / single:,.0f} rows/s")

        start = timed(lambda: scale.start_local(num_cpus=workers))
        row("start Ray (start_local)", f"{start:.1f} s")
        tiny = folder / "tiny.npy"
        np.save(tiny, np.asarray(ids[:BATCH]))
        small = timed(
            lambda: scale.extract_to_disk(
                model_path, tiny, LAYERS, folder / "small", batch_size=BATCH
            )
        )
        row(f"a one-shard job ({BATCH} rows): workers start", f"{small:.1f} s")

        job = timed(
            lambda: scale.extract_to_disk(
                model_path,
                ids_path,
                LAYERS,
                folder / "ray",
                batch_size=BATCH,
                shard_rows=shard_rows,
                workers=workers,
            )
        )
        row(
            f"scale.extract_to_disk, {workers} workers",
            f"{job:.1f} s = {samples / job:,.0f} rows/s",
        )
        for name in ("ray", "single"):
            assert np.load(folder / name / "extractor.npy", mmap_mode="r").shape == (samples, 100)
        same = np.array_equal(
            np.load(folder / "ray" / "extractor.npy"), np.load(folder / "single" / "extractor.npy")
        )
        row("  same numbers as one process", str(same), "bit-identical", same)
        ratio = job / single
        row("  job / one process", f"{ratio:.2f}x", "<= 2x", ratio <= 2)
        with_start = (job + start) / single
        row("  (job + starting Ray) / one process", f"{with_start:.2f}x")
        print(f"load after: {load()}")
    return 0 if same and ratio <= 2 else 1


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200_000, help="sequences (200,000)")
    parser.add_argument("--workers", type=int, default=2, help="Ray workers (2)")
    parser.add_argument("--shard-rows", type=int, default=8192, help="rows a shard (8192)")
    args = parser.parse_args()
    sys.exit(main(args.samples, args.workers, args.shard_rows))
