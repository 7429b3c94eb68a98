"""knn_query against a brute-force NumPy reference (exact indices and distances), on CPU and,
when available, CUDA (which must also equal the CPU result exactly)."""
import numpy as np
import pytest
import torch

import pointops


def _run(device, k, xyz, sizes, new_xyz=None, new_sizes=None, odtype=torch.int32, data=None):
    t_xyz = torch.from_numpy(xyz).to(device)
    off = data.offsets(sizes, odtype, device)
    if new_xyz is None:
        idx, dist = pointops.knn_query(k, t_xyz, off)
        ref = data.ref_search("knn", k, xyz, np.cumsum(sizes), xyz, np.cumsum(sizes))
    else:
        t_new = torch.from_numpy(new_xyz).to(device)
        new_off = data.offsets(new_sizes, odtype, device)
        idx, dist = pointops.knn_query(k, t_xyz, off, t_new, new_off)
        ref = data.ref_search("knn", k, xyz, np.cumsum(sizes), new_xyz, np.cumsum(new_sizes))
    assert idx.dtype == torch.int32 and dist.dtype == torch.float32
    assert idx.device.type == torch.device(device).type
    np.testing.assert_array_equal(idx.cpu().numpy(), ref[0])
    np.testing.assert_array_equal(dist.cpu().numpy(), ref[1])
    return idx, dist


@pytest.mark.parametrize("k", [1, 3, 4, 5, 8, 16, 17, 31, 32, 33, 64, 200])
def test_knn_self_uniform(device, data, k):
    sizes = [300, 1, 0, 57, 150]
    _run(device, k, data.uniform(sizes, seed=k), sizes, data=data)


@pytest.mark.parametrize("odtype", [torch.int32, torch.int64])
def test_knn_cross_query(device, data, odtype):
    sizes, new_sizes = [120, 0, 80, 5], [200, 7, 0, 30]
    xyz = data.uniform(sizes, seed=1)
    new_xyz = data.uniform(new_sizes, seed=2, scale=(12.0, 12.0, 4.0), shift=-1.0)
    _run(device, 3, xyz, sizes, new_xyz, new_sizes, odtype, data)
    _run(device, 16, xyz, sizes, new_xyz, new_sizes, odtype, data)


@pytest.mark.parametrize("k", [4, 16, 40])
def test_knn_exact_ties(device, data, k):
    # a small lattice: many equal distances; the lower index must win at the k-th place
    sizes = [400, 200]
    _run(device, k, data.lattice(sizes, seed=3), sizes, data=data)


def test_knn_duplicate_points(device, data):
    sizes = [250, 100]
    _run(device, 16, data.duplicates(sizes, seed=4), sizes, data=data)
    sizes = [64]
    same = np.zeros((64, 3), dtype=np.float32)
    idx, dist = _run(device, 10, same, sizes, data=data)
    assert (idx.cpu()[:, :10] == torch.arange(10, dtype=torch.int32)).all()
    assert (dist == 0).all()


def test_knn_scene_smaller_than_k_pads(device, data):
    sizes = [3, 0, 1]
    idx, dist = _run(device, 5, data.uniform(sizes, seed=5), sizes, data=data)
    assert (idx[:3, 3:] == -1).all() and torch.isinf(dist[:3, 3:]).all()
    assert (idx[3, 1:] == -1).all() and idx[3, 0] == 3 and dist[3, 0] == 0


def test_knn_queries_in_scene_without_sources(device, data):
    sizes, new_sizes = [0, 20], [6, 4]
    xyz = data.uniform(sizes, seed=6)
    new_xyz = data.uniform(new_sizes, seed=7)
    idx, dist = _run(device, 4, xyz, sizes, new_xyz, new_sizes, data=data)
    assert (idx[:6] == -1).all() and torch.isinf(dist[:6]).all()
    assert ((idx[6:] >= 0) & (idx[6:] < 20)).all()


def test_knn_far_away_coordinates(device, data):
    sizes = [200, 200]
    xyz = data.uniform(sizes, seed=8, shift=1e6)
    xyz[200:] -= 2e6  # second scene far on the other side
    _run(device, 8, xyz, sizes, data=data)


def test_knn_flat_and_collinear_scenes(device, data):
    sizes = [150, 150]
    xyz = data.uniform(sizes, seed=9)
    xyz[:150, 2] = 1.0  # a plane
    xyz[150:, 1:] = 0.5  # a line
    _run(device, 12, xyz, sizes, data=data)


def test_knn_non_contiguous_inputs(device, data):
    sizes = [90, 60]
    xyz = data.uniform(sizes, seed=10)
    base = torch.from_numpy(np.ascontiguousarray(xyz.T)).to(device)
    t = base.t()  # (n, 3), not contiguous
    assert not t.is_contiguous()
    off = data.offsets(sizes, torch.int64, device)[::1]
    idx, dist = pointops.knn_query(7, t, off)
    ref = data.ref_search("knn", 7, xyz, np.cumsum(sizes), xyz, np.cumsum(sizes))
    np.testing.assert_array_equal(idx.cpu().numpy(), ref[0])
    np.testing.assert_array_equal(dist.cpu().numpy(), ref[1])


def test_knn_self_query_flag_equivalent(device, data):
    # passing new_xyz explicitly (a copy) gives the same answer as the self-query
    sizes = [100, 50]
    xyz = torch.from_numpy(data.uniform(sizes, seed=11)).to(device)
    off = data.offsets(sizes, torch.int32, device)
    a = pointops.knn_query(9, xyz, off)
    b = pointops.knn_query(9, xyz, off, xyz.clone(), off.clone())
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_knn_result_is_sorted_and_in_scene(device, data):
    sizes = [500, 300]
    xyz = torch.from_numpy(data.uniform(sizes, seed=12)).to(device)
    off = data.offsets(sizes, torch.int32, device)
    idx, dist = pointops.knn_query(16, xyz, off)
    assert (dist[:, 1:] >= dist[:, :-1]).all()
    assert (idx[:500] < 500).all() and (idx[500:] >= 500).all()
    assert (idx[:, 0] == torch.arange(800, device=device, dtype=torch.int32)).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("k", [3, 16, 32, 48, 100])
@pytest.mark.parametrize("kind", ["uniform", "surface", "clumps"])
def test_knn_cuda_equals_cpu_large(data, k, kind):
    rng = np.random.default_rng(k)
    sizes = [6000, 4000, 3]
    n = sum(sizes)
    if kind == "uniform":
        xyz = data.uniform(sizes, seed=k)
    elif kind == "surface":
        xyz = data.uniform(sizes, seed=k)
        xyz[: n // 2, 2] = 0.0  # floor
        xyz[n // 2 :, 0] = 10.0  # a wall
        xyz += rng.normal(0, 0.005, size=xyz.shape).astype(np.float32)
    else:
        centers = rng.random((20, 3)) * 10
        xyz = (centers[rng.integers(0, 20, n)] + rng.normal(0, 0.05, (n, 3))).astype(np.float32)
    t = torch.from_numpy(xyz)
    off = data.offsets(sizes)
    q = torch.from_numpy(data.uniform([3000, 2000, 10], seed=k + 1, shift=-0.5))
    qoff = data.offsets([3000, 2000, 10])
    for args in ((t, off), (t, off, q, qoff)):
        cpu = pointops.knn_query(k, *args)
        gpu = pointops.knn_query(k, *[a.cuda() for a in args])
        assert torch.equal(cpu[0], gpu[0].cpu())
        assert torch.equal(cpu[1], gpu[1].cpu())
