"""Small CUDA workload for compute-sanitizer: every kernel path of both ops once
(lists ordered by each of the four ways, empty scenes, error paths, the non-symmetric
fallback).

Usage: compute-sanitizer --tool memcheck python libs/pointgroup_ops/benchmarks/sanitizer_driver.py
"""
import os
import sys

import numpy as np
import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pgo_reference import batch_from_counts, clumped_scene, offsets_from_counts, widest_bucket  # noqa: E402

import pointgroup_ops as pgo  # noqa: E402


def main():
    rng = np.random.default_rng(0)
    counts = [2000, 0, 1500]
    parts = [clumped_scene(rng, c, 6, 2.5, (40, 40, 15), 3) for c in counts]
    dense = rng.uniform(0, 0.5, size=(1200, 3)).astype(np.float32)  # lists > 1024: the global sort afterwards
    medium = rng.uniform(0, 3.0, size=(600, 3)).astype(np.float32)  # lists of ~300, even indices: by bucket
    # lists of ~300 packed at the start of a scene of 2000 but for a few strays at its end: the
    # bitonic sort (far points make up the rest of the scene)
    skewed = np.concatenate([rng.uniform(0, 3.0, size=(290, 3)), rng.uniform(100, 400, size=(1700, 3)),
                             rng.uniform(0, 3.0, size=(10, 3))]).astype(np.float32)
    coords = torch.from_numpy(np.concatenate([p[0] for p in parts] + [dense, medium, skewed])).cuda()
    label = torch.from_numpy(np.concatenate([p[1] for p in parts] + [np.zeros(3800, np.int32)])).cuda()
    counts = counts + [1200, 600, 2000]
    batch, off = batch_from_counts(counts).cuda(), offsets_from_counts(counts).cuda()
    idx, sl = pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)
    host_idx, host_sl = pgo.ballquery_batch_p(coords.cpu(), batch.cpu(), off.cpu(), 1.5, 300)
    assert torch.equal(host_sl, sl.cpu()) and torch.equal(host_idx, idx.cpu())
    lens = sl[:, 1]
    assert bool((lens > 1024).any()) and bool(((lens > 64) & (lens <= 1024)).any()) and bool((lens <= 64).any())
    widest = [widest_bucket(host_idx[s:s + n]) for s, n in host_sl.tolist() if 64 < n <= 512]
    assert min(widest) <= 32 < max(widest), "lists of 65-512 not ordered both by bucket and by the bitonic sort"
    ci, co = pgo.bfs_cluster(label, idx, sl, 5)
    cpu = pgo.bfs_cluster(label.cpu(), host_idx, host_sl, 5)
    assert torch.equal(cpu[0], ci.cpu()) and torch.equal(cpu[1], co.cpu())
    sl2 = sl.clone()
    sl2[:, 1] = torch.clamp(sl2[:, 1] - 1, min=0)
    pgo.bfs_cluster(label, idx, sl2, 1)  # non-symmetric: CPU fallback
    for bad in ([0, 10, 20, 30, 40, 50], [0, 2000, 2000, 3500, 4700, 5299]):
        try:
            pgo.ballquery_batch_p(coords, batch, torch.tensor(bad, dtype=torch.int32, device="cuda"), 1.5, 300)
        except ValueError:
            pass
        else:
            raise AssertionError("bad batch_offsets accepted")
    bad_idx = idx.clone()
    bad_idx[5] = -3
    try:
        pgo.bfs_cluster(label, bad_idx, sl, 1)
    except ValueError:
        pass
    else:
        raise AssertionError("bad ball_query_idxs accepted")
    torch.cuda.synchronize()
    print("sanitizer driver done:", idx.numel(), "entries,", co.numel() - 1, "clusters")


if __name__ == "__main__":
    main()
