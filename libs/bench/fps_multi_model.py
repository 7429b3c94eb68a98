#!/usr/bin/env python3
"""A NumPy model of the multi FPS kernel's rule (csrc/cuda/fps/fps_multi_kernels.cu), on the CPU.

Usage:
    python libs/bench/fps_multi_model.py            # exactness checks, then the 4 x 25k rows
    python libs/bench/fps_multi_model.py --large    # also 100k -> 25k (minutes)

The rule: the points sit on 32-lane warps of 32-warp blocks (point i on thread i mod
(blocks x 1024)); every warp offers its 3 best keys (distance descending, index ascending), a
block keeps its 31 best below its bound (its 32nd key, or a warp's third), the cluster its 31
best below the smallest bound; the round then takes the best candidate under the updated
distances while it ranks before that bound. The model checks that this gives the samples of
sequential FPS (uniform, lattice with exact ties, duplicates, NaN / inf coordinates), then
counts the samples per round on bench_ops.py's workloads: the number of cluster-wide exchanges
the kernel needs, against one per sample for the dense kernel.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_ops  # noqa: E402  (the workload generators)

EMPTY = np.uint64(2**64 - 1)


def sq(p, q):
    d = (p - q).astype(np.float32)
    return ((d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2]).astype(np.float32)


def fmin(a, b):
    """fminf: the operand that is not NaN."""
    return np.where(np.isnan(a), b, np.where(np.isnan(b), a, np.minimum(a, b)))


def key(d, i):
    bits = np.asarray(d, np.float32).view(np.uint32)
    return (~bits).astype(np.uint64) << np.uint64(32) | np.asarray(i, np.uint64)


def sequential(pts, m):
    d = np.full(len(pts), np.inf, np.float32)
    out = [0]
    for _ in range(1, m):
        d = fmin(sq(pts, pts[out[-1]]), d)
        out.append(int(np.flatnonzero(d == d.max())[0]))
    return out


def multi(pts, m, blocks):
    """(samples, rounds) of the kernel's rule with `blocks` blocks of 1024 threads per scene."""
    n = len(pts)
    idx = np.arange(n)
    thread = idx % (blocks * 1024)
    warp, block = thread // 32, thread // 1024
    d = np.full(n, np.inf, np.float32)
    out, taken, rounds = [0], [0], 0
    while len(out) < m:
        for t in taken:
            d = fmin(sq(pts, pts[t]), d)
        k = key(d, idx)
        order = np.lexsort((k, warp))
        first = np.searchsorted(warp[order], np.arange(warp.max() + 1))
        pos = np.arange(n) - first[warp[order]]
        offered = order[pos < 3]
        thirds = order[pos == 2]
        candidates, bound = [], EMPTY
        for b in range(blocks):
            keys = np.sort(k[offered[block[offered] == b]])
            if len(keys) == 0:
                continue
            b_bound = min([keys[31]] if len(keys) > 31 else [EMPTY])
            third = k[thirds[block[thirds] == b]]
            b_bound = min(b_bound, third.min()) if len(third) else b_bound
            candidates += [c for c in keys[:31] if c < b_bound]
            bound = min(bound, b_bound)
        candidates.sort()
        if len(candidates) > 31:
            bound = min(bound, candidates[31])
        ci = np.array([int(c & np.uint64(0xFFFFFFFF)) for c in candidates[:31] if c < bound])
        cd = d[ci].copy()
        taken = []
        while len(out) < m and len(taken) < 31:
            ck = key(cd, ci)
            j = int(np.argmin(ck))
            if taken and not ck[j] < bound:
                break
            out.append(int(ci[j]))
            taken.append(int(ci[j]))
            cd = fmin(sq(pts[ci], pts[ci[j]]), cd)
        rounds += 1
    return out, rounds


def blocks_for(n):
    """The kernel's cluster size: at most 2 points per thread, at most 16 blocks."""
    c = 1
    while c < 16 and c * 2048 < n:
        c *= 2
    return c


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--large", action="store_true", help="also the 4 x 100k -> 4 x 25k rows")
    args = ap.parse_args(argv)
    rng = np.random.default_rng(1)
    uniform = rng.random((6000, 3)).astype(np.float32) * 10
    odd = uniform.copy()
    odd[[7, 4000]] = np.nan
    odd[100] = np.inf
    odd[2000, 1] = -np.inf
    odd[300] = 1e19
    cases = {
        "uniform": (uniform, 1500),
        "lattice": ((rng.integers(0, 6, (6000, 3)) * 0.5).astype(np.float32), 400),
        "duplicates": (rng.random((40, 3)).astype(np.float32)[rng.integers(0, 40, 6000)], 300),
        "nan/inf": (odd, 800),
    }
    status = 0
    for name, (pts, m) in cases.items():
        for blocks in (1, 2, 4):
            same = multi(pts, m, blocks)[0] == sequential(pts, m)
            status |= not same
            print(f"exactness, {name}, {blocks} block(s): {'same samples' if same else 'DIFFERENT'}")
    rows = [(25000, 6250)] + ([(100000, 25000)] if args.large else [])
    for data in ("uniform", "surface"):
        for n, m in rows:
            pts = bench_ops.GENERATORS[data](n, np.random.default_rng(4))
            rounds = multi(pts, m, blocks_for(n))[1]
            print(f"{data} {n} -> {m}: {rounds} rounds, {m / rounds:.1f} samples per round")
    return status


if __name__ == "__main__":
    sys.exit(main())
