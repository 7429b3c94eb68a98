#!/usr/bin/env python3
"""Where nvcc's time went: a summary of the CSV tables that `nvcc --time FILE` appends to.

Usage:
    python libs/bench/nvcc_phases.py [--lib NAME] PROFILE_DIR/nvcc.csv [more.csv ...]

bench_build.sh --profile writes such a table (one row per compilation phase of every .cu file
of both libraries, wall-clock milliseconds); --lib NAME keeps the rows of the sources under a
folder NAME (pointops, pointgroup_ops). Prints, per source file, its seconds per phase kind (host
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


def main(args):
    lib = None
    if args[:1] == ["--lib"]:
        if len(args) < 3:
            sys.exit(__doc__)
        lib, args = args[1], args[2:]
    per_file = collections.defaultdict(collections.Counter)
    skipped = 0
    for path in args:
        with open(path, newline="") as f:
            for row in csv.reader(f):
                if len(row) != 8 or row[0].startswith("source file"):
                    continue
                if lib is not None and f"/{lib}/" not in row[0]:
                    continue
                try:
                    ms = float(row[6])
                except ValueError:
                    skipped += 1
                    continue
                source = row[0].strip().rsplit("/", 1)[-1] or "(driver)"
                per_file[source][phase_kind(row[1].strip())] += ms / 1000.0
    if not per_file:
        print("no nvcc timing rows" + (f" of sources under {lib}/" if lib else ""), file=sys.stderr)
        return 1
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
