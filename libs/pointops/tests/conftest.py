"""Shared fixtures of the pointops tests.

`device`: every test that takes it runs on "cpu" and, when torch sees a GPU, on "cuda".
`data`: small generators of batched point clouds (offset layout, see OPS_API.md) plus
helpers to compare against NumPy references.
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


@pytest.fixture
def data():
    return Data
