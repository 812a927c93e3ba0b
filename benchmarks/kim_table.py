"""Reproduce Kim (2014), Table 2, CNN-rand column, on the datasets found in a folder.

    python benchmarks/kim_table.py DATA_FOLDER [--folds 10] [--only MR,TREC] [--out table.json]
        [--epochs 10 --patience 3] [--seeds 5 --seed 0] [--within 1.5]

Each dataset is run with the paper's protocol (helpers.kim): 10-fold cross-validation where it
has no test split (MR, Subj, CR, MPQA), else its train / dev / test split (SST-1, SST-2, TREC;
TREC's dev set is a random 10% of its training split), with early stopping on the dev data only.
SST read from the treebank's trees is trained on every labelled phrase of the training trees, as
Kim did (helpers.data.load_sst_trees). Datasets with a test split print a line per epoch.
The table shows the mean accuracy (and standard deviation over folds) beside Kim's figure and the
time each dataset took. Datasets whose files are missing are listed with where to get them;
with none found the script stops (exit status 1). See the README for the folder layout.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse
import datetime
import platform
import sys
import time
from pathlib import Path

import keras
import numpy as np

from helpers import kim
from helpers._files import write_json


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder holding the datasets' files")
    parser.add_argument("--folds", type=int, default=10, help="folds for CV datasets (default 10)")
    parser.add_argument("--preset", choices=sorted(kim.PRESETS), default="kim-rand")
    parser.add_argument("--epochs", type=int, help="epochs per run (default: the preset's, 25)")
    parser.add_argument(
        "--patience", type=int, help="stop after this many epochs without a better dev accuracy"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        help="seeds for each train/dev/test dataset, reported as mean ± std over them "
        "(default: the dataset's, 5 for TREC, else 1)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="the first seed (default 0): of a CV dataset's fold split and training, of a "
        "train/dev/test dataset's first run",
    )
    names = [b.name for b in kim.BENCHMARKS]
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(names)}")
    parser.add_argument("--out", type=Path, help="also write the table and every fold as JSON")
    parser.add_argument(
        "--within",
        type=float,
        default=1.5,
        help="points from Kim's figure that count as reproduced (default 1.5)",
    )
    args = parser.parse_args(argv)
    chosen = kim.BENCHMARKS
    if args.only:
        wanted = [name.strip() for name in args.only.split(",")]
        unknown = [name for name in wanted if name not in names]
        if unknown:
            parser.error(f"--only: unknown {unknown}; known: {names}")
        chosen = tuple(b for b in kim.BENCHMARKS if b.name in wanted)
    if not 0 <= args.within <= 100:  # also refuses nan
        parser.error(f"--within must be a number of points from 0 to 100, got {args.within}")
    if not 0 <= args.seed <= 2**31:
        parser.error(f"--seed must be from 0 to 2**31, got {args.seed}")
    if args.seeds is not None and args.seeds < 1:
        parser.error(f"--seeds must be at least 1, got {args.seeds}")
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    if args.out is not None:  # before hours of training, not after
        args.out.parent.mkdir(parents=True, exist_ok=True)

    found = [(b, b.find(args.folder)) for b in chosen]
    missing = [b for b, layout in found if layout is None]
    for bench in missing:
        accepted = " or ".join("{" + ", ".join(lay.files) + "}" for lay in bench.layouts)
        print(f"{bench.name}: not found in {args.folder}; expected {accepted}.")
        print(f"    source: {bench.source}")
    if len(missing) == len(found):
        print("No dataset found: nothing to run.")
        return 1

    print(f"preset {args.preset}: {kim.get_preset(args.preset).description}")
    meta = {
        "started": _now(),
        "machine": f"{_machine()}, {os.cpu_count()} CPUs",
        "keras": keras.__version__,
        "backend": keras.backend.backend(),
        "preset": args.preset,
        "epochs": args.epochs,
        "patience": args.patience,
        "folds": args.folds,
        "within": args.within,
        "seed": args.seed,
        "command": " ".join(["benchmarks/kim_table.py", *(sys.argv[1:] if argv is None else argv)]),
    }
    print(f"keras {meta['keras']} ({meta['backend']}), {meta['machine']}")
    clock = time.perf_counter()
    rows = []
    for bench, layout in found:
        if layout is None:
            continue
        splits = layout.load(args.folder)
        print(f"\n{bench.name}: {', '.join(f'{k} {len(v[0])}' for k, v in splits.items())}")
        options = {"epochs": args.epochs, "patience": args.patience, "lowercase": bench.lowercase}
        if "all" in splits:
            result = kim.cross_validate(
                *splits["all"], folds=args.folds, preset=args.preset, seed=args.seed, **options
            )
        else:
            seeds = bench.seeds if args.seeds is None else args.seeds
            result = _seeds(splits, range(args.seed, args.seed + seeds), args.preset, options)
        rows.append(
            {"dataset": bench.name, "kim_cnn_rand": bench.kim_rand, "note": bench.note, **result}
        )
        minutes = result["seconds"] / 60
        print(f"{bench.name}: {100 * result['accuracy_mean']:.1f} in {minutes:.1f} min")
        meta.update(finished=_now(), total_seconds=round(time.perf_counter() - clock, 1))
        if args.out:  # the datasets done so far, each time complete: a stopped run keeps them
            write_json(args.out, {"meta": meta, "rows": rows})

    header = f"{'dataset':8} {'measured':>15} {'Kim CNN-rand':>13} {'diff':>6} {'time':>10}"
    print(f"\n{header} {'s/epoch':>8} {'epochs':>6}")
    full = 0.0  # the time every run would take with all of Kim's 25 epochs, at this pace
    for row in rows:
        mean = 100 * row["accuracy_mean"]
        spread = f" ± {100 * row['accuracy_std']:.1f}" if row["accuracy_std"] is not None else ""
        epochs = sum(run["epochs_run"] for run in row["folds"])
        pace = row["seconds"] / epochs  # scoring included
        full += pace * 25 * len(row["folds"])
        print(
            f"{row['dataset']:8} {f'{mean:.1f}{spread}':>15} {row['kim_cnn_rand']:>13.1f} "
            f"{mean - row['kim_cnn_rand']:>+6.1f} {row['seconds'] / 60:>6.1f} min {pace:>8.1f} "
            f"{epochs / len(row['folds']):>6.1f}"
        )
        if row["note"]:
            print(f"         {row['dataset']}: {row['note']}")
    print(verdict(rows, args.within))
    print(f"all datasets: {meta['total_seconds'] / 60:.1f} min on {meta['machine']}")
    print(f"every run with all 25 epochs, at this pace: about {full / 60:.0f} min")
    if args.out:
        print(f"wrote {args.out}")
    return 0


def verdict(rows: list[dict], within: float) -> str:
    """Which rows are within ``within`` points of Kim's figure, as the table prints them.

    >>> verdict([{"dataset": "MR", "accuracy_mean": 0.754, "kim_cnn_rand": 76.1}], 1.5)
    'within 1.5 points of Kim: MR; not: none'
    """
    near, far = [], []
    for row in rows:
        diff = round(round(100 * row["accuracy_mean"], 1) - row["kim_cnn_rand"], 1)  # printed
        if abs(diff) <= within:
            near.append(row["dataset"])
        else:
            far.append(f"{row['dataset']} ({diff:+.1f})")
    near_text, far_text = ", ".join(near) or "none", ", ".join(far) or "none"
    return f"within {within:g} points of Kim: {near_text}; not: {far_text}"


def _seeds(splits: dict, seeds: range, preset: str, options: dict) -> dict:
    """A train/dev/test dataset run once with each seed: the mean and spread over them."""
    runs = []
    for seed in seeds:
        result, _ = kim.train_dev_test(
            splits["train"], splits["test"], splits.get("dev"), preset, seed=seed, **options
        )
        runs.append(result)
    accuracies = np.array([run["accuracy_mean"] for run in runs])
    result = runs[0]
    if len(seeds) > 1:
        result["protocol"] += f"; {len(seeds)} seeds ({seeds[0]}..{seeds[-1]}), ± over seeds"
    result.update(
        folds=[{**run["folds"][0], "seed": seed} for seed, run in zip(seeds, runs, strict=True)],
        accuracy_mean=float(accuracies.mean()),
        accuracy_std=float(accuracies.std(ddof=1)) if len(seeds) > 1 else None,
        seconds=round(sum(run["seconds"] for run in runs), 1),
    )
    return result


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _machine() -> str:
    """The CPU's model name (Linux), else what the platform module knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{platform.machine()} ({line.split(':', 1)[1].strip()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


if __name__ == "__main__":
    start = time.perf_counter()
    status = main()
    print(f"total {time.perf_counter() - start:.0f} s")
    sys.exit(status)
