"""NumPy / pure-Python references and input generators for the pointgroup_ops tests.

The references are deliberately simple (brute force distances, a textbook BFS)
so that they can be read and trusted independently of the compiled code.
"""
from collections import deque

import numpy as np
import torch


def ballquery_reference(coords, batch_offsets, radius):
    """Brute-force radius lists, float32 arithmetic in the documented order."""
    xyz = np.asarray(coords, dtype=np.float32)
    off = [int(v) for v in batch_offsets]
    r = np.float32(radius)
    r2 = np.float32(r * r)
    lists = []
    for b in range(len(off) - 1):
        pts = xyz[off[b] : off[b + 1]]
        for i in range(len(pts)):
            d = pts - pts[i]
            d2 = (d[:, 0] * d[:, 0] + d[:, 1] * d[:, 1]) + d[:, 2] * d[:, 2]
            lists.append((np.nonzero(d2 < r2)[0] + off[b]).astype(np.int32))
    return lists_as_arrays(lists)


def lists_as_arrays(lists):
    """Neighbour lists (one sequence of point indices per point) in the layout the ops use: idx,
    the lists one after the other, and start_len, (first entry, length) per point; int32 arrays."""
    lens = np.array([len(x) for x in lists], dtype=np.int64)
    starts = np.cumsum(lens) - lens
    idx = np.concatenate([np.asarray(x, dtype=np.int32) for x in lists]) if len(lists) else np.zeros(0, np.int32)
    return idx, np.stack([starts, lens], axis=1).astype(np.int32).reshape(-1, 2)


def lists_as_tensors(lists):
    """lists_as_arrays as int32 torch tensors."""
    idx, start_len = lists_as_arrays(lists)
    return torch.from_numpy(idx), torch.from_numpy(start_len)


def bfs_reference(label, idx, start_len, threshold):
    """Textbook BFS: seeds in ascending order, mark when enqueued, same label only."""
    label = np.asarray(label)
    idx = np.asarray(idx)
    sl = np.asarray(start_len)
    n = len(label)
    visited = np.zeros(n, dtype=bool)
    clusters = []
    for seed in range(n):
        if visited[seed]:
            continue
        visited[seed] = True
        queue = deque([seed])
        order = []
        while queue:
            u = queue.popleft()
            order.append(u)
            s, l = int(sl[u, 0]), int(sl[u, 1])
            for v in idx[s : s + l]:
                v = int(v)
                if not visited[v] and label[v] == label[u]:
                    visited[v] = True
                    queue.append(v)
        if len(order) >= threshold:
            clusters.append(order)
    rows = [(c, p) for c, members in enumerate(clusters) for p in members]
    cluster_idxs = np.array(rows, dtype=np.int32).reshape(-1, 2)
    offsets = np.concatenate([[0], np.cumsum([len(c) for c in clusters])]).astype(np.int32)
    return cluster_idxs, offsets


def offsets_from_counts(counts):
    return torch.tensor(np.concatenate([[0], np.cumsum(counts)]), dtype=torch.int32)


def batch_from_counts(counts):
    return torch.repeat_interleave(torch.arange(len(counts), dtype=torch.int32), torch.tensor(counts))


def clumped_scene(rng, n, n_clumps, sigma, box, n_labels):
    """Gaussian clumps in a box, points shuffled; returns (coords, labels) as numpy."""
    centres = rng.uniform(0, 1, size=(n_clumps, 3)) * np.asarray(box)
    which = rng.integers(0, n_clumps, size=n)
    pts = centres[which] + rng.normal(0, sigma, size=(n, 3))
    clump_label = rng.integers(0, n_labels, size=n_clumps)
    return pts.astype(np.float32), clump_label[which].astype(np.int32)


def instance_workload(seed=0, scenes=4, points=60000, clumps=40, device="cpu"):
    """The instance workload: per scene `points` points in `clumps` Gaussian clumps of
    sigma 5 cm, in voxel units of 2 cm (sigma = 2.5), a 10 x 10 x 3 m room, 18 labels.
    Returns coords (n,3) f32, batch_idxs (n,) i32, batch_offsets (B+1,) i32, labels (n,) i32."""
    rng = np.random.default_rng(seed)
    xyz, lab = [], []
    for _ in range(scenes):
        p, l = clumped_scene(rng, points, clumps, 2.5, (500.0, 500.0, 150.0), 18)
        xyz.append(p)
        lab.append(l)
    counts = [points] * scenes
    coords = torch.from_numpy(np.concatenate(xyz)).to(device)
    labels = torch.from_numpy(np.concatenate(lab)).to(device)
    return coords, batch_from_counts(counts).to(device), offsets_from_counts(counts).to(device), labels


def widest_bucket(values):
    """The size of the fullest of 32 equal buckets over the value range of one neighbour list.
    The CUDA fill pass orders a list of 65-512 entries by bucket when this is at most 32, else
    by a bitonic sort: tests use it to check that both ways are reached."""
    values = np.asarray(values, dtype=np.int64)
    lo, hi = values.min(), values.max()
    return int(np.bincount((values - lo) * 32 // (hi - lo + 1), minlength=32).max())
