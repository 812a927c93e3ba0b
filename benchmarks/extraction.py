"""Benchmark of helpers.activations on a TextCNN-sized model (issue 6). Run: `make bench`.

Runs once per supported Keras backend (TensorFlow, then JAX), each in a fresh process, and prints,
for each, every figure of the issue with its target and PASS/FAIL:
model.predict, extract(["extractor"]), extract of every layer, one sub-model per layer,
extract_to_disk, the peak-RSS growth of extract_to_disk from 20,000 to 200,000 sequences (each size
in a fresh subprocess, data generated batch by batch so only the extraction's own memory counts),
and the forward pass's GFLOP/s beside numpy matmul GFLOP/s measured in the same run.
Timings are the best of a few repeats; on a busy machine they are noisy. The targets were set on
TensorFlow and must hold there (the exit code); JAX's verdicts are printed for comparison.
`--backend NAME` runs one backend only, in this process.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras
import numpy as np

# The one-sub-model-per-layer baseline traces 12 predict functions on purpose; TensorFlow's
# "retracing" warning about that would only clutter the table.
logging.getLogger("tensorflow").setLevel(logging.ERROR)

from helpers.activations import activation_names, extract, extract_to_disk
from helpers.backend import SUPPORTED_BACKENDS
from helpers.textcnn import build_textcnn

SEQUENCE, VOCAB, EMBEDDING, WIDTHS, FILTERS, CLASSES = 50, 3333, 100, (3, 4, 5), 50, 10
BATCH = 256
DISK_LAYERS = ["extractor", "flatten"]  # flatten: 3,750 floats a sequence, 3 GB at 200,000


def textcnn() -> keras.Model:
    """The issue's TextCNN, exactly as helpers.textcnn builds it (checked, so the timings are of
    that model): Conv1D widths 3/4/5 x 50, padding="same", MaxPooling1D(2), Dense 100 extractor."""
    keras.utils.set_random_seed(0)
    model = build_textcnn(SEQUENCE, CLASSES, VOCAB, EMBEDDING)
    convs = [model.get_layer(f"conv_{width}") for width in WIDTHS]
    pools = [model.get_layer(f"pool_{width}") for width in WIDTHS]
    assert [(c.filters, c.kernel_size, c.padding) for c in convs] == [
        (FILTERS, (width,), "same") for width in WIDTHS
    ], convs
    assert all(isinstance(p, keras.layers.MaxPooling1D) and p.pool_size == (2,) for p in pools)
    assert tuple(model.get_layer("flatten").output.shape) == (None, 3 * FILTERS * SEQUENCE // 2)
    assert tuple(model.get_layer("extractor").output.shape) == (None, 100)
    return model


def sequences(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, VOCAB, (n, SEQUENCE)).astype("int32")


def forward_flops(model: keras.Model) -> int:
    """Floating-point operations of one sequence's forward pass: 2 x multiply-adds of the Conv1D
    and Dense layers (embedding lookups, pooling and activations are not counted)."""
    flops = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv1D):
            width, channels, filters = layer.kernel.shape
            flops += 2 * layer.output.shape[1] * width * channels * filters
        elif isinstance(layer, keras.layers.Dense):
            flops += 2 * int(np.prod(layer.kernel.shape))
    return flops


def best_time(fn, repeats: int) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process), each the best of `repeats` runs."""
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall = min(wall, time.perf_counter() - start)
        cpu = min(cpu, time.process_time() - start_cpu)
    return wall, cpu


def seconds(t: tuple[float, float]) -> str:
    return f"{t[0]:.2f} s (CPU {t[1]:.2f} s)"


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    rng = np.random.default_rng(0)
    a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
    a @ b  # warm up
    return 2 * n**3 / best_time(lambda: a @ b, repeats)[0] / 1e9


def peak_rss_mb() -> float:
    """This process's peak resident memory. On Linux, VmHWM of /proc/self/status: ru_maxrss would
    start at the parent's RSS, which the kernel carries over into a forked-then-exec'd child."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024 / 1e6
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1e6 if platform.system() == "Darwin" else peak * 1024 / 1e6  # bytes vs KiB


def rss_child(samples: int) -> None:
    """In a fresh process: stream `samples` sequences (made batch by batch) to disk; print RSS."""
    model = textcnn()
    extract(model, sequences(BATCH + 1), DISK_LAYERS)  # trace before measuring the baseline
    before = peak_rss_mb()  # model + traced extractor: the streaming's own part is peak - before

    def batches():
        for start in range(0, samples, BATCH):
            yield sequences(min(BATCH, samples - start), seed=start)

    with tempfile.TemporaryDirectory() as out_dir:
        paths = extract_to_disk(model, batches(), DISK_LAYERS, out_dir, progress=False)
        rows = np.load(paths["flatten"], mmap_mode="r").shape[0]
        size = sum(os.path.getsize(p) for p in paths.values())
    print(json.dumps({"before": before, "peak": peak_rss_mb(), "rows": rows, "bytes": size}))


def measure_rss(samples: int) -> dict:
    result = subprocess.run(
        [sys.executable, __file__, "--rss-child", str(samples)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(result.stdout.strip().splitlines()[-1])


def row(figure: str, value: str, target: str = "", ok: bool | None = None) -> None:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"{figure:<46} {value:<34} {target:<18} {verdict}".rstrip())


def main(samples: int, rss_sizes: tuple[int, int], repeats: int) -> int:
    print(
        f"Keras {keras.version()}, backend {keras.backend.backend()}, {os.cpu_count()} CPUs, "
        f"TextCNN: sequence {SEQUENCE}, vocabulary {VOCAB}, embedding {EMBEDDING}, "
        f"Conv1D {'/'.join(map(str, WIDTHS))} x {FILTERS}, batch {BATCH}, best of {repeats}"
    )
    model = textcnn()
    x = sequences(samples)
    warm = x[: BATCH + 1]  # a full and a partial batch: both traced before any timing
    model.predict(warm, BATCH, verbose=0)
    extract(model, warm, ["extractor"], BATCH)
    extract(model, warm, None, BATCH)
    results = []

    print(f"{'figure':<46} {'measured':<34} {'target':<18} result")
    t_predict = t_extract = (float("inf"), float("inf"))
    for _ in range(repeats):  # interleaved, so that machine noise hits both alike
        t_predict = min(t_predict, best_time(lambda: model.predict(x, BATCH, verbose=0), 1))
        t_extract = min(t_extract, best_time(lambda: extract(model, x, ["extractor"], BATCH), 1))
    row(f"model.predict, {samples:,} sequences", seconds(t_predict))
    ratio = t_extract[0] / t_predict[0]
    results.append(ratio <= 1.10)
    row('extract(model, x, ["extractor"])', seconds(t_extract), "", None)
    row("  extract / predict", f"{ratio:.2f}x", "<= 1.10x", results[-1])

    names = activation_names(model)
    t_all = best_time(lambda: extract(model, x, None, BATCH), repeats)
    row(f"extract(model, x): all {len(names)} layers", seconds(t_all))

    sub_models = [keras.Model(model.inputs, layer.output) for layer in model.layers[1:]]
    for sub_model in sub_models:  # built and traced before timing, like the extractor
        sub_model.predict(warm, BATCH, verbose=0)

    def one_sub_model_per_layer():
        for sub_model in sub_models:
            sub_model.predict(x, BATCH, verbose=0)

    t_sub = best_time(one_sub_model_per_layer, repeats)
    speedup = t_sub[0] / t_all[0]
    results.append(speedup >= 4)
    row(f"one sub-model per layer, {len(sub_models)} predicts", seconds(t_sub))
    row("  sub-models / extract all", f"{speedup:.1f}x", ">= 4x", results[-1])

    with tempfile.TemporaryDirectory() as out_dir:
        t_disk = best_time(
            lambda: extract_to_disk(
                model, x, ["extractor"], out_dir, progress=False, overwrite=True
            ),
            repeats,
        )
    row('extract_to_disk(model, x, ["extractor"], ...)', seconds(t_disk))

    small, large = (measure_rss(n) for n in rss_sizes)
    growth = large["peak"] - small["peak"]
    results.append(growth < 100 and [small["rows"], large["rows"]] == list(rss_sizes))
    for size, run in zip(rss_sizes, (small, large), strict=True):
        row(
            f"extract_to_disk peak RSS, {size:,} sequences",
            f"{run['peak']:.0f} MB ({run['bytes'] / 1e6:,.0f} MB written)",
        )
        row("  above the traced model, before streaming", f"{run['peak'] - run['before']:+.0f} MB")
    row(f"  growth, {'+'.join(DISK_LAYERS)}", f"{growth:+.1f} MB", "< 100 MB", results[-1])

    forward = forward_flops(model) * samples / t_predict[0] / 1e9
    blas = matmul_gflops()
    results.append(forward >= 0.4 * blas)
    row("numpy float32 matmul 2048x2048", f"{blas:.1f} GFLOP/s")
    row(
        f"forward pass ({forward_flops(model) / 1e6:.2f} MFLOP a sequence)",
        f"{forward:.1f} GFLOP/s = {forward / blas:.0%} of it",
        ">= 40% of matmul",
        results[-1],
    )
    print(f"{sum(results)}/{len(results)} targets met")
    return 0 if all(results) else 1


REQUIRED = ("tensorflow",)  # the backends whose targets decide the exit code


def each_backend(argv: list[str]) -> int:
    """This benchmark once per supported backend, each in a fresh process (the backend is fixed
    when Keras is imported); then each backend's verdict. Exit code: the REQUIRED backends'."""
    verdicts, failed = {}, False
    for backend in SUPPORTED_BACKENDS:
        print(f"\n=== KERAS_BACKEND={backend}", flush=True)
        child = subprocess.Popen(
            [sys.executable, __file__, "--backend", backend, *argv],
            env={**os.environ, "KERAS_BACKEND": backend},
            stdout=subprocess.PIPE,
            text=True,
        )
        last = "no output"
        for line in child.stdout:
            print(line, end="", flush=True)
            last = line.strip() or last
        code = child.wait()
        verdicts[backend] = last if code in (0, 1) else f"crashed (exit code {code})"
        failed |= backend in REQUIRED and code != 0
    print()
    for backend, verdict in verdicts.items():
        print(f"{backend:<11} {verdict}{'' if backend in REQUIRED else ' (for comparison)'}")
    return int(failed)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=20_000, help="sequences timed (20,000)")
    parser.add_argument("--rss-sizes", type=int, nargs=2, default=(20_000, 200_000))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--backend", choices=SUPPORTED_BACKENDS, help="this backend only")
    parser.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
    elif args.backend is None:
        sys.exit(each_backend(sys.argv[1:]))
    elif args.backend != keras.backend.backend():
        sys.exit(f"--backend {args.backend}: run it with KERAS_BACKEND={args.backend} set")
    else:
        sys.exit(main(args.samples, tuple(args.rss_sizes), args.repeats))
