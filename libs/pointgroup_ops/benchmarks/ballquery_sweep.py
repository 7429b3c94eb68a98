"""ballquery_batch_p on CUDA across densities: the time of a call, of its count and fill passes,
and a hash of its output, so that two builds can be compared in turn on one machine.

Usage (from the repository root, with the build to measure importable):

    python libs/pointgroup_ops/benchmarks/ballquery_sweep.py [--repeat 15]

Run it once per build, alternating builds, on the same machine: timings move between runs and
hosts far more than between two calls in one run. The workload is bench_instance.py's (4 scenes
of 60k points), at the radii that give ~20, 50, 100 and 200 neighbours per point. Per density it
prints the mean list length, the median call (bench_instance.median_ms: wall clock, the GPU
synchronised), the mean device time per call as torch.profiler reports it (each of this package's
kernels by name, "other" for the rest: cub's sort and scan, memset and copies; "gpu" for all of
them; the rest of the median is the host's share), and the first 12 hex digits of a SHA-1 of idx
and start_len: equal hashes, equal output.
"""
import argparse
import hashlib
import re

import torch
from torch.profiler import ProfilerActivity, profile

from bench_instance import MEAN_ACTIVE, RADIUS, cuda_workload, density_radii, median_ms, pgo


def kernel_ms(fn, calls=5):
    """Mean device time per call in ms: this package's kernels by name (count_kernel: "count"),
    the rest as "other", all of it as "gpu"."""
    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        for _ in range(calls):
            fn()
        torch.cuda.synchronize()
    found = {"other": 0.0, "gpu": 0.0}
    for event in prof.key_averages():
        ms = event.device_time_total / calls / 1e3
        if ms == 0:
            continue
        ours = re.search(r"pointgroup_ops::.*?(\w+)_kernel", event.key)
        name = ours.group(1) if ours else "other"
        found[name] = found.get(name, 0.0) + ms
        found["gpu"] += ms
    return found


def output_hash(idx, start_len):
    return hashlib.sha1(idx.cpu().numpy().tobytes() + start_len.cpu().numpy().tobytes()).hexdigest()[:12]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    coords, batch, off, _ = cuda_workload("ballquery_sweep.py")
    _, sl = pgo.ballquery_batch_p(coords, batch, off, RADIUS, MEAN_ACTIVE)
    for density, radius in density_radii(float(sl[:, 1].float().mean())):
        call = lambda: pgo.ballquery_batch_p(coords, batch, off, radius, MEAN_ACTIVE)  # noqa: E731
        median = median_ms(call, args.repeat, True)
        idx, sl = call()
        kernels = " ".join(f"{k}={v:.3f}" for k, v in kernel_ms(call).items())
        print(f"~{density:3} neighbours (mean {float(sl[:, 1].float().mean()):6.1f}): median {median:.3f} ms; "
              f"kernels ms: {kernels or '-'}; output {output_hash(idx, sl)}", flush=True)


if __name__ == "__main__":
    main()
