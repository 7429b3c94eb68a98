"""Kernel-level breakdown of the instance workload on CUDA (torch.profiler): ballquery_batch_p
at radius 1.5 (~30 neighbours per point) and at a radius giving ~200, then bfs_cluster.

Usage: python libs/pointgroup_ops/benchmarks/profile_instance.py
"""
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pgo_reference import instance_workload  # noqa: E402

import pointgroup_ops as pgo  # noqa: E402


def show(name, fn, calls=10):
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    print(f"=== {name} ({calls} calls)")
    print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))


def main():
    coords, batch, off, label = instance_workload(seed=0, device="cuda")
    idx, sl = pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)
    mean = float(sl[:, 1].float().mean())
    dense = 1.5 * (200 / mean) ** (1 / 3)  # list length grows with radius^3
    show(f"ballquery_batch_p, radius 1.5 (mean list {mean:.1f})",
         lambda: pgo.ballquery_batch_p(coords, batch, off, 1.5, 300))
    show(f"ballquery_batch_p, radius {dense:.3f} (~200 neighbours)",
         lambda: pgo.ballquery_batch_p(coords, batch, off, dense, 300))
    show("bfs_cluster", lambda: pgo.bfs_cluster(label, idx, sl, 50))


if __name__ == "__main__":
    main()
