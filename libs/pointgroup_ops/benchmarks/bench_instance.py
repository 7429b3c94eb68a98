"""Times ballquery_batch_p and ballquery_batch_p + bfs_cluster on the instance workload.

Usage (from the repository root, after installing the package):
    python libs/pointgroup_ops/benchmarks/bench_instance.py [--repeat 10] [--json out.json]

Instance workload: B=4 scenes of 60k points in 40 Gaussian clumps (sigma 5 cm) in
voxel units of 2 cm, 18 labels, radius 1.5, meanActive 300, cluster threshold 50.
Reports the median over --repeat timed runs after warm-up (CUDA events on GPU).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pgo_reference import instance_workload  # noqa: E402

import pointgroup_ops as pgo  # noqa: E402


def timed(fn, repeat, cuda):
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            times.append(a.elapsed_time(b))
        else:
            t = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--json", default=None)
    args = ap.parse_args()
    cuda = args.device.startswith("cuda")
    coords, batch, off, label = instance_workload(seed=0, device=args.device)
    radius, mean_active, threshold = 1.5, 300, 50

    def bq():
        return pgo.ballquery_batch_p(coords, batch, off, radius, mean_active)

    def end_to_end():
        idx, sl = pgo.ballquery_batch_p(coords, batch, off, radius, mean_active)
        return pgo.bfs_cluster(label, idx, sl, threshold)

    def end_to_end_cpu_bfs():  # what Pointcept does today: cluster on the host
        idx, sl = pgo.ballquery_batch_p(coords, batch, off, radius, mean_active)
        return pgo.bfs_cluster(label.cpu(), idx.cpu(), sl.cpu(), threshold)

    idx, sl = bq()
    ci, co = end_to_end()
    res = {
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "torch": torch.__version__,
        "points": int(coords.shape[0]),
        "neighbour_entries": int(idx.numel()),
        "max_list": int(sl[:, 1].max()),
        "clusters": int(co.numel() - 1),
        "ballquery_ms": timed(bq, args.repeat, cuda),
        "ballquery_bfs_ms": timed(end_to_end, args.repeat, cuda),
    }
    if cuda:
        res["ballquery_bfs_on_host_ms"] = timed(end_to_end_cpu_bfs, args.repeat, cuda)
    print(json.dumps(res, indent=1))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
