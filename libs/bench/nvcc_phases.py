#!/usr/bin/env python3
"""Where nvcc's time went: a summary of the CSV tables that `nvcc --time FILE` appends to.

Usage:
    python libs/bench/nvcc_phases.py PROFILE_DIR/pointops-nvcc.csv [more.csv ...]

bench_build.sh --profile writes such tables (one row per compilation phase of every .cu file,
wall-clock milliseconds). Prints, per source file, its seconds per phase kind (host
preprocessing, cudafe++ front end, cicc and ptxas per architecture, host compiler) and then
the totals per phase kind, largest first. Rows that parallel nvcc processes garbled while
appending to one file are skipped and counted.
"""
import collections
import csv
import sys


def phase_kind(phase):
    if phase.startswith("gcc (preprocessing"):
        return "preprocess"
    if phase == "gcc (compiling)":
        return "host compile"
    return phase.split(" ")[0]


def main(paths):
    per_file = collections.defaultdict(collections.Counter)
    skipped = 0
    for path in paths:
        with open(path, newline="") as f:
            for row in csv.reader(f):
                if len(row) != 8 or row[0].startswith("source file"):
                    continue
                try:
                    ms = float(row[6])
                except ValueError:
                    skipped += 1
                    continue
                source = row[0].strip().rsplit("/", 1)[-1] or "(driver)"
                per_file[source][phase_kind(row[1].strip())] += ms / 1000.0
    kinds = collections.Counter()
    for counter in per_file.values():
        kinds.update(counter)
    order = [k for k, _ in kinds.most_common()]
    print("| file | total (s) | " + " | ".join(order) + " |")
    print("|---" * (len(order) + 2) + "|")
    for source, c in sorted(per_file.items(), key=lambda kv: -sum(kv[1].values())):
        cells = " | ".join(f"{c[k]:.1f}" for k in order)
        print(f"| {source} | {sum(c.values()):.1f} | {cells} |")
    cells = " | ".join(f"{kinds[k]:.1f}" for k in order)
    print(f"| all | {sum(kinds.values()):.1f} | {cells} |")
    if skipped:
        print(f"\n{skipped} garbled row(s) skipped")
    return 0


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    sys.exit(main(sys.argv[1:]))
