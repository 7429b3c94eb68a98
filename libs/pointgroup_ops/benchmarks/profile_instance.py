"""Kernel-level breakdown of the instance workload on CUDA (torch.profiler).

Usage: python libs/pointgroup_ops/benchmarks/profile_instance.py
"""
import os
import sys

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pgo_reference import instance_workload  # noqa: E402

import pointgroup_ops as pgo  # noqa: E402


def main():
    coords, batch, off, label = instance_workload(seed=0, device="cuda")
    for _ in range(5):
        idx, sl = pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)
        pgo.bfs_cluster(label, idx, sl, 50)
    torch.cuda.synchronize()
    for name, fn in [
        ("ballquery", lambda: pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)),
        ("bfs_cluster", lambda: pgo.bfs_cluster(label, idx, sl, 50)),
    ]:
        with profile(activities=[ProfilerActivity.CPU, ProfilerActivity.CUDA]) as prof:
            for _ in range(10):
                fn()
            torch.cuda.synchronize()
        print(f"=== {name} (10 calls)")
        print(prof.key_averages().table(sort_by="cuda_time_total", row_limit=18, max_name_column_width=60))


if __name__ == "__main__":
    main()
