"""Check a folder's copies of Kim's (2014) datasets against his Table 1, in seconds.

    python benchmarks/kim_data.py DATA_FOLDER

For each dataset of Table 2 found in the folder (the layouts ``kim_table.py`` reads), prints
its number of sentences, distinct words and mean words a sentence, counted with Kim's word
splitting (``helpers.kim.tokenize``; TREC keeps its case), beside his Table 1's N, |V| and l.
A copy that matches trains on the data he trained on; one that does not (a different release,
a truncated file, the wrong encoding) explains a row of the table before any training. SST's
are its whole sentences: from the trees, or not at all from the ``stsa.*.phrases.train``
copies, which hold the training phrases only. Exit status 1 when no dataset is found.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # helpers.kim imports Keras

import argparse
import sys
from pathlib import Path

from helpers import kim


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder holding the datasets' files")
    args = parser.parse_args(argv)
    if not args.folder.is_dir():
        parser.error(f"{args.folder} is not a folder")
    print(
        f"{'dataset':8} {'sentences':>9} {'Kim N':>6} {'words':>6} {'Kim |V|':>7} "
        f"{'length':>6} {'Kim l':>5}  files"
    )
    found = 0
    for bench in kim.BENCHMARKS:
        layout = bench.find(args.folder)
        if layout is None:
            print(f"{bench.name:8} not found; expected one of: "
                  + " or ".join(", ".join(lay.files) for lay in bench.layouts))  # fmt: skip
            continue
        found += 1
        n, words, length = bench.table1
        sentences = layout.load_sentences(args.folder)
        files = ", ".join(layout.files)
        if sentences is None:
            print(f"{bench.name:8} {'-':>9} {n:>6} {'-':>6} {words:>7} {'-':>6} {length:>5}  "
                  f"{files} (training phrases only: no sentences to count)")  # fmt: skip
            continue
        got = kim.statistics(sentences, bench.lowercase)
        print(
            f"{bench.name:8} {got['sentences']:>9} {n:>6} {got['vocabulary']:>6} {words:>7} "
            f"{got['mean_length']:>6.1f} {length:>5}  {files}"
        )
    if not found:
        print(f"No dataset found in {args.folder}: see the README for the files each one needs.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
