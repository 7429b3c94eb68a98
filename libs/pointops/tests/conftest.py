"""Shared fixtures of the pointops tests.

`device`: every test that takes it runs on "cpu" and, when torch sees a GPU, on "cuda".
`data`: small generators of batched point clouds (the offset layout of "Conventions" in
libs/pointops/README.md) plus helpers to compare against NumPy references.
"""
import numpy as np
import pytest
import torch

DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.fixture(params=DEVICES)
def device(request):
    return torch.device(request.param)


class Data:
    """Deterministic generators (each call takes an explicit seed)."""

    @staticmethod
    def offsets(sizes, dtype=torch.int32, device="cpu"):
        return torch.tensor(np.cumsum(sizes), dtype=dtype, device=device)

    @staticmethod
    def uniform(sizes, seed, scale=(10.0, 10.0, 3.0), shift=0.0):
        """float32 (sum(sizes), 3) uniform in a box, as a NumPy array."""
        rng = np.random.default_rng(seed)
        n = int(sum(sizes))
        pts = rng.random((n, 3)) * np.asarray(scale, dtype=np.float64) + shift
        return pts.astype(np.float32)

    @staticmethod
    def lattice(sizes, seed, step=0.5):
        """Points on an integer lattice: many exactly equal distances (ties)."""
        rng = np.random.default_rng(seed)
        n = int(sum(sizes))
        return (rng.integers(0, 6, size=(n, 3)) * step).astype(np.float32)

    @staticmethod
    def duplicates(sizes, seed, distinct=5):
        """Few distinct positions, each repeated many times."""
        rng = np.random.default_rng(seed)
        base = rng.random((distinct, 3)).astype(np.float32)
        n = int(sum(sizes))
        return base[rng.integers(0, distinct, size=n)]

    @staticmethod
    def scene_ranges(sizes):
        ends = np.cumsum(sizes)
        starts = ends - np.asarray(sizes)
        return list(zip(starts.tolist(), ends.tolist()))

    @staticmethod
    def sqdist(q, p):
        """Squared distances with the exact float32 evaluation order of the kernels:
        ((dx*dx + dy*dy) + dz*dz), every operation rounded to float32."""
        q = np.asarray(q, dtype=np.float32)
        p = np.asarray(p, dtype=np.float32)
        d = q[:, None, :] - p[None, :, :]
        sq = d * d
        return (sq[..., 0] + sq[..., 1]) + sq[..., 2]

    @staticmethod
    def random_rank(seed, q, p):
        """NumPy twin of the kernels' counter-based rank (random_ball_query order)."""
        with np.errstate(over="ignore"):
            m64 = np.uint64
            z = m64(seed % 2**64) + m64(0x9E3779B97F4A7C15) * (np.asarray(q, dtype=np.uint64) + m64(1))
            z = z ^ (m64(0xD1B54A32D192ED03) * (np.asarray(p, dtype=np.uint64) + m64(1)))
            z = (z ^ (z >> m64(30))) * m64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> m64(27))) * m64(0x94D049BB133111EB)
            z = z ^ (z >> m64(31))
            return (z >> m64(32)).astype(np.uint64)

    @classmethod
    def ref_search(cls, mode, k, xyz, offset, new_xyz, new_offset, max_radius=None,
                   min_radius=0.0, seed=0):
        """Brute-force NumPy reference of knn_query ("knn"), ball_query ("ball") and
        random_ball_query ("random"): (idx int32 (m, k), dist float32 (m, k)), -1 / +inf padding."""
        xyz = np.asarray(xyz, dtype=np.float32)
        new_xyz = np.asarray(new_xyz, dtype=np.float32)
        offset = np.asarray(offset, dtype=np.int64)
        new_offset = np.asarray(new_offset, dtype=np.int64)
        m = new_xyz.shape[0]
        idx = np.full((m, k), -1, dtype=np.int32)
        dist = np.full((m, k), np.inf, dtype=np.float32)
        if mode != "knn":
            max2 = np.float32(max_radius) * np.float32(max_radius)
            min2 = np.float32(min_radius) * np.float32(min_radius)
        ps = qs = 0
        for pe, qe in zip(offset.tolist(), new_offset.tolist()):
            if pe > ps and qe > qs:
                d2 = cls.sqdist(new_xyz[qs:qe], xyz[ps:pe])
                cols = np.arange(ps, pe, dtype=np.int64)
                for r in range(qe - qs):
                    row = d2[r]
                    if mode == "knn":
                        keep = np.ones(row.shape, dtype=bool)
                    else:
                        keep = (row < max2) & (row >= min2)
                    c, dd = cols[keep], row[keep]
                    if mode == "random":
                        primary = cls.random_rank(seed, qs + r, c)
                    else:
                        primary = dd
                    order = np.lexsort((c, primary))[:k]
                    idx[qs + r, : len(order)] = c[order]
                    dist[qs + r, : len(order)] = np.sqrt(dd[order])
            ps, qs = pe, qe
        return idx, dist


@pytest.fixture
def data():
    return Data
