"""The call pattern in its parts: why `idx.cpu()` takes longer after a many-thread search.

Usage (from the repository root, with this package importable):

    python libs/pointgroup_ops/benchmarks/copy_after_search.py [--threads 16] [--repeat 15]

Runs Pointcept's call (ball query on CUDA, the three `.cpu()` copies, CPU `bfs_cluster`) in a
loop, each part timed on its own, the GPU synchronised after the ball query. The loops differ
only in what runs after the copies:

  search on the fresh lists   the call as Pointcept makes it
  search on other lists       bfs_cluster on lists copied once before the loop; the fresh copy
                              of idx is written and then left alone
  no search                   the copies only
  search, caches refilled     as the first, and between calls every thread reads 64 MB
                              (outside the timed parts), as a training step's other work would

and prints the median of each part, and how many calls got the previous call's idx buffer
back from the allocator (the same address).
"""
import argparse
import statistics
import time

import torch

from bench_instance import MEAN_ACTIVE, RADIUS, THRESHOLD, cuda_workload, pgo, with_threads


def parts_ms(coords, batch, off, label, after, between, repeat):
    parts, same_address, previous = [], 0, None
    for k in range(repeat + 3):
        between()
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        idx, start_len = pgo.ballquery_batch_p(coords, batch, off, RADIUS, MEAN_ACTIVE)
        torch.cuda.synchronize()
        t1 = time.perf_counter()
        label_cpu = label.int().cpu()
        t2 = time.perf_counter()
        idx = idx.cpu()
        t3 = time.perf_counter()
        start_len = start_len.cpu()
        t4 = time.perf_counter()
        after(label_cpu, idx, start_len)
        t5 = time.perf_counter()
        same_address += idx.data_ptr() == previous
        previous = idx.data_ptr()
        if k >= 3:
            parts.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4))
    medians = [statistics.median(p[j] for p in parts) * 1e3 for j in range(5)]
    return dict(zip(("ball_query", "label_copy", "idx_copy", "start_len_copy", "after"), medians)), same_address


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=16)
    ap.add_argument("--repeat", type=int, default=15)
    args = ap.parse_args()
    coords, batch, off, label = cuda_workload("copy_after_search.py")
    idx, start_len = pgo.ballquery_batch_p(coords, batch, off, RADIUS, MEAN_ACTIVE)
    other = (label.int().cpu(), idx.cpu(), start_len.cpu())
    reads = torch.rand(16 * 2**20)  # 64 MB: 4 MB a thread on 16, twice a 2 MB L2
    loops = {
        "search on the fresh lists": (lambda a, i, s: pgo.bfs_cluster(a, i, s, THRESHOLD), lambda: None),
        "search on other lists": (lambda a, i, s: pgo.bfs_cluster(*other, THRESHOLD), lambda: None),
        "no search": (lambda a, i, s: None, lambda: None),
        "search, caches refilled": (lambda a, i, s: pgo.bfs_cluster(a, i, s, THRESHOLD), lambda: reads.sum()),
    }
    for name, (after, between) in loops.items():
        ms, same = with_threads(args.threads, lambda: parts_ms(coords, batch, off, label, after, between, args.repeat))
        print(f"{name:<27} {args.threads:2} threads: " + " ".join(f"{k} {v:.2f}" for k, v in ms.items())
              + f" ms; same idx address {same}/{args.repeat + 3}", flush=True)


if __name__ == "__main__":
    main()
