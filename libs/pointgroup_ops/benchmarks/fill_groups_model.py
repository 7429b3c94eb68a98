"""How many walks the CUDA fill pass of ballquery_batch_p makes: a model of its query groups.

Usage (from the repository root, with this package importable; no GPU needed):

    python libs/pointgroup_ops/benchmarks/fill_groups_model.py [--density 200]

The fill pass (csrc/cuda/ballquery_cuda.cu) takes the points in cell order, kFillPerWarp to a
warp, and walks the candidates around a cell once for each group of that cell's queries. The
cost of a walk is mostly per candidate batch, whatever the group's size, so fewer, larger
groups mean fewer instructions. This script takes bench_instance.py's workload, finds the radius
that gives the asked mean list length (the lists come from this package's ball query on the
CPU), orders the points by cell as the kernel does (cells of edge radius / 2, a stable sort) and
counts the walks under two rules:

  room rule    a group is cut where the lists packed so far plus the longest of them would pass
               kSortCap ints (the scratch to order the longest), and a list longer than
               kBucketSortMax is walked alone: the fill before its hits went straight to the
               output;
  whole cell   a group is every query of the cell among the warp's positions: the fill now.

It prints the walks and the queries per walk for each rule at 8 and 16 positions a warp. Nsight
Compute counted 129k walks of the old fill at ~200 neighbours on an H100 host; the model gives
128.9k there with the room rule.
"""
import argparse
import sys

import numpy as np

from bench_instance import MEAN_ACTIVE, RADIUS, instance_workload, pgo, radius_for

SORT_CAP = 1024  # kSortCap: ints of a warp's shared list
BUCKET_SORT_MAX = 512  # kBucketSortMax: longer lists are walked alone under the room rule


def list_lengths(coords, batch, offsets, radius):
    _, start_len = pgo.ballquery_batch_p(coords, batch, offsets, radius, MEAN_ACTIVE)
    return start_len[:, 1].numpy()


def cell_order(xyz, scene, radius):
    """The points' order in the kernel: by (scene, z, y, x) cell of edge radius / 2, stable.
    Returns the permutation and each point's cell, both in that order."""
    cell = np.floor((xyz - xyz.min(axis=0)) / (radius / 2)).astype(np.int64)
    order = np.lexsort((cell[:, 0], cell[:, 1], cell[:, 2], scene))
    keys = np.stack([scene[order], cell[order, 2], cell[order, 1], cell[order, 0]], axis=1)
    return order, keys


def walks(keys, lengths, per_warp, room_rule):
    """Walks the fill makes over points in cell order (`keys`: one row per point, equal rows =
    same cell; `lengths`: their list lengths in the same order)."""
    count = 0
    for first in range(0, len(keys), per_warp):
        k, here = first, min(first + per_warp, len(keys))
        while k < here:
            m, packed, longest = 0, 0, 0
            while k + m < here and (keys[k + m] == keys[k]).all():
                length = int(lengths[k + m])
                longest = max(longest, length)
                if room_rule and (length > BUCKET_SORT_MAX or packed + length + longest > SORT_CAP):
                    break
                packed += length
                m += 1
            k += max(m, 1)  # a list that fits no group is walked alone
            count += 1
    return count


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--density", type=float, default=200, help="mean neighbours per point")
    args = ap.parse_args()
    coords, batch, offsets, _ = instance_workload(seed=0)
    radius = radius_for(args.density, float(list_lengths(coords, batch, offsets, RADIUS).mean()))
    lengths = list_lengths(coords, batch, offsets, radius)
    order, keys = cell_order(coords.numpy().astype(np.float64), batch.numpy(), radius)
    print(f"command: python {' '.join(sys.argv)}")
    print(f"{len(keys)} points, radius {radius:.3f}, mean list {lengths.mean():.1f}, "
          f"longest {lengths.max()}")
    for per_warp in (8, 16):
        for name, rule in (("room rule", True), ("whole cell", False)):
            n = walks(keys, lengths[order], per_warp, rule)
            print(f"{per_warp:2} positions a warp, {name:10}: {n} walks, "
                  f"{len(keys) / n:.2f} queries a walk")


if __name__ == "__main__":
    main()
