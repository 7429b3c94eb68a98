"""ball_query / random_ball_query against a brute-force NumPy reference, CPU and CUDA."""
import numpy as np
import pytest
import torch

import pointops


def _check(device, data, k, max_r, min_r, xyz, sizes, new_xyz=None, new_sizes=None,
           odtype=torch.int32):
    t = torch.from_numpy(xyz).to(device)
    off = data.offsets(sizes, odtype, device)
    if new_xyz is None:
        idx, dist = pointops.ball_query(k, max_r, min_r, t, off)
        q, qs = xyz, sizes
    else:
        idx, dist = pointops.ball_query(k, max_r, min_r, t, off,
                                        torch.from_numpy(new_xyz).to(device),
                                        data.offsets(new_sizes, odtype, device))
        q, qs = new_xyz, new_sizes
    ref = data.ref_search("ball", k, xyz, np.cumsum(sizes), q, np.cumsum(qs), max_r, min_r)
    assert idx.dtype == torch.int32 and dist.dtype == torch.float32
    np.testing.assert_array_equal(idx.cpu().numpy(), ref[0])
    np.testing.assert_array_equal(dist.cpu().numpy(), ref[1])
    return idx, dist


@pytest.mark.parametrize("k", [1, 4, 5, 31, 32, 33, 100])
@pytest.mark.parametrize("radius", [0.3, 1.5, 50.0])
def test_ball_query_self(device, data, k, radius):
    sizes = [300, 0, 1, 120]
    _check(device, data, k, radius, 0.0, data.uniform(sizes, seed=k, scale=(3, 3, 1)), sizes)


@pytest.mark.parametrize("odtype", [torch.int32, torch.int64])
def test_ball_query_min_radius_and_cross(device, data, odtype):
    sizes, new_sizes = [200, 100], [50, 70]
    xyz = data.uniform(sizes, seed=1, scale=(2, 2, 2))
    new_xyz = data.uniform(new_sizes, seed=2, scale=(3, 3, 3), shift=-0.5)
    idx, dist = _check(device, data, 16, 0.8, 0.3, xyz, sizes, new_xyz, new_sizes, odtype)
    valid = idx >= 0
    assert (dist[valid] >= 0.29).all() and (dist[valid] < 0.81).all()


def test_ball_query_ties_and_duplicates(device, data):
    sizes = [300, 100]
    _check(device, data, 20, 1.01, 0.0, data.lattice(sizes, seed=3), sizes)
    _check(device, data, 8, 0.5, 0.0, data.duplicates(sizes, seed=4), sizes)
    # a radius exactly on lattice distances: d == max_radius is excluded, d == min included
    _check(device, data, 30, 1.0, 0.5, data.lattice(sizes, seed=5), sizes)


def test_ball_query_far_coordinates(device, data):
    sizes = [200, 200]
    xyz = data.uniform(sizes, seed=6, scale=(2, 2, 2), shift=1e6)
    _check(device, data, 10, 0.5, 0.0, xyz, sizes)


def test_ball_query_sorted_and_padded(device, data):
    sizes = [100]
    xyz = torch.from_numpy(data.uniform(sizes, seed=7, scale=(5, 5, 5))).to(device)
    off = data.offsets(sizes, torch.int32, device)
    idx, dist = pointops.ball_query(64, 0.8, 0.0, xyz, off)
    valid = idx >= 0
    # padding only at the end of a row, with +inf distance
    assert (valid[:, :-1] | ~valid[:, 1:]).all()
    assert torch.isinf(dist[~valid]).all()
    d = torch.where(valid, dist, torch.full_like(dist, float("inf")))
    assert (d[:, 1:] >= d[:, :-1]).all()
    assert (idx[:, 0] == torch.arange(100, device=device, dtype=torch.int32)).all()


@pytest.mark.parametrize("k", [1, 4, 16, 70])
def test_random_ball_query_matches_reference(device, data, k):
    sizes, new_sizes = [150, 80], [40, 30]
    xyz = data.uniform(sizes, seed=8, scale=(2, 2, 1))
    new_xyz = data.uniform(new_sizes, seed=9, scale=(2, 2, 1))
    t, off = torch.from_numpy(xyz).to(device), data.offsets(sizes, torch.int64, device)
    q, qoff = torch.from_numpy(new_xyz).to(device), data.offsets(new_sizes, torch.int64, device)
    torch.manual_seed(1234)
    idx, dist = pointops.random_ball_query(k, 0.7, 0.1, t, off, q, qoff)
    torch.manual_seed(1234)
    seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())
    ref = data.ref_search("random", k, xyz, np.cumsum(sizes), new_xyz, np.cumsum(new_sizes),
                          0.7, 0.1, seed)
    np.testing.assert_array_equal(idx.cpu().numpy(), ref[0])
    np.testing.assert_array_equal(dist.cpu().numpy(), ref[1])
    # the kept set is a subset of the ball, as large as possible, without repeats
    ball = data.ref_search("ball", 1000, xyz, np.cumsum(sizes), new_xyz, np.cumsum(new_sizes),
                           0.7, 0.1)[0]
    for r in range(idx.shape[0]):
        got = [v for v in idx[r].tolist() if v >= 0]
        inside = set(v for v in ball[r].tolist() if v >= 0)
        assert len(got) == len(set(got)) == min(k, len(inside))
        assert set(got) <= inside


def test_random_ball_query_reproducible_and_random(device, data):
    sizes = [400]
    t = torch.from_numpy(data.uniform(sizes, seed=10, scale=(1, 1, 1))).to(device)
    off = data.offsets(sizes, torch.int32, device)
    torch.manual_seed(7)
    a = pointops.random_ball_query(8, 0.5, 0.0, t, off)
    torch.manual_seed(7)
    b = pointops.random_ball_query(8, 0.5, 0.0, t, off)
    torch.manual_seed(8)
    c = pointops.random_ball_query(8, 0.5, 0.0, t, off)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
    assert not torch.equal(a[0], c[0])
    # not simply the nearest ones
    near = pointops.ball_query(8, 0.5, 0.0, t, off)[0]
    assert not torch.equal(a[0], near)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("k,radius", [(32, 0.1), (32, 0.4), (16, 2.0), (100, 0.5)])
def test_ball_query_cuda_equals_cpu_large(data, k, radius):
    sizes = [8000, 5000, 2]
    xyz = torch.from_numpy(data.uniform(sizes, seed=k))
    off = data.offsets(sizes)
    q = torch.from_numpy(data.uniform([2000, 3000, 4], seed=k + 1))
    qoff = data.offsets([2000, 3000, 4])
    for args in ((xyz, off), (xyz, off, q, qoff)):
        cpu = pointops.ball_query(k, radius, 0.0, *args)
        gpu = pointops.ball_query(k, radius, 0.0, *[a.cuda() for a in args])
        assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
        torch.manual_seed(3)
        cpu = pointops.random_ball_query(k, radius, 0.05, *args)
        torch.manual_seed(3)
        gpu = pointops.random_ball_query(k, radius, 0.05, *[a.cuda() for a in args])
        assert torch.equal(cpu[0], gpu[0].cpu()) and torch.equal(cpu[1], gpu[1].cpu())
