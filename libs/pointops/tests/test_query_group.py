"""knn_query_and_group, ball_query_and_group, query_and_group: the neighbour query of
pointops.knn_query / ball_query followed by grouping, checked against NumPy brute force."""
import numpy as np
import pytest
import torch

from pointops import ball_query_and_group, knn_query_and_group, query_and_group


def scenes(sizes, seed, c=5, device="cpu"):
    rng = np.random.default_rng(seed)
    n = int(sum(sizes))
    xyz = torch.tensor(rng.random((n, 3)) * 4, dtype=torch.float32, device=device)
    feat = torch.tensor(rng.standard_normal((n, c)), dtype=torch.float32, device=device)
    offset = torch.tensor(np.cumsum(sizes), dtype=torch.int32, device=device)
    return xyz, feat, offset


def brute_knn(xyz, new_xyz, offset, new_offset, k):
    xyz, new_xyz = np.asarray(xyz, np.float64), np.asarray(new_xyz, np.float64)
    ends, qends = np.asarray(offset), np.asarray(new_offset)
    out = -np.ones((new_xyz.shape[0], k), dtype=np.int64)
    s0 = q0 = 0
    for s1, q1 in zip(ends, qends):
        for q in range(q0, q1):
            d = ((xyz[s0:s1] - new_xyz[q]) ** 2).sum(1)
            order = np.argsort(d, kind="stable")[:k]
            out[q, : len(order)] = order + s0
        s0, q0 = s1, q1
    return out


def brute_ball(xyz, new_xyz, offset, new_offset, k, radius):
    xyz, new_xyz = np.asarray(xyz, np.float64), np.asarray(new_xyz, np.float64)
    ends, qends = np.asarray(offset), np.asarray(new_offset)
    out = -np.ones((new_xyz.shape[0], k), dtype=np.int64)
    s0 = q0 = 0
    for s1, q1 in zip(ends, qends):
        for q in range(q0, q1):
            d = ((xyz[s0:s1] - new_xyz[q]) ** 2).sum(1)
            order = [i for i in np.argsort(d, kind="stable") if d[i] < radius * radius][:k]
            out[q, : len(order)] = np.asarray(order, dtype=np.int64) + s0
        s0, q0 = s1, q1
    return out


def gather_ref(idx, feat, xyz=None, new_xyz=None):
    idx = np.asarray(idx)
    feat = np.concatenate([np.asarray(feat), np.zeros((1, np.asarray(feat).shape[1]), np.float32)])
    safe = np.where(idx >= 0, idx, feat.shape[0] - 1)
    out = feat[safe]
    if xyz is not None:
        xyz = np.concatenate([np.asarray(xyz), np.zeros((1, 3), np.float32)])
        rel = xyz[safe] - np.asarray(new_xyz)[:, None, :]
        out = np.concatenate([rel, out], axis=2)
    return np.where((idx >= 0)[..., None], out, 0)


@pytest.mark.parametrize("with_xyz", [False, True])
def test_knn_query_and_group(device, with_xyz):
    xyz, feat, offset = scenes([40, 3, 25], seed=1, device=device)  # the 3-point scene has < k points
    grouped, idx = knn_query_and_group(feat, xyz, offset, nsample=8, with_xyz=with_xyz)
    want_idx = brute_knn(xyz.cpu(), xyz.cpu(), offset.cpu(), offset.cpu(), 8)
    np.testing.assert_array_equal(idx.cpu().numpy(), want_idx)
    want = gather_ref(want_idx, feat.cpu(), xyz.cpu() if with_xyz else None, xyz.cpu())
    np.testing.assert_allclose(grouped.cpu().numpy(), want, rtol=0, atol=1e-6)


def test_knn_query_and_group_new_points_and_given_idx(device):
    xyz, feat, offset = scenes([30, 20], seed=2, device=device)
    new_xyz, _, new_offset = scenes([6, 4], seed=3, device=device)
    grouped, idx = knn_query_and_group(feat, xyz, offset, new_xyz, new_offset, nsample=5, with_xyz=True)
    want_idx = brute_knn(xyz.cpu(), new_xyz.cpu(), offset.cpu(), new_offset.cpu(), 5)
    np.testing.assert_array_equal(idx.cpu().numpy(), want_idx)
    np.testing.assert_allclose(grouped.cpu().numpy(), gather_ref(want_idx, feat.cpu(), xyz.cpu(), new_xyz.cpu()),
                               atol=1e-6, rtol=0)
    given = idx.clone()
    given[:, -1] = -1
    grouped2, idx2 = knn_query_and_group(feat, xyz, new_xyz=new_xyz, new_offset=new_offset, idx=given, with_xyz=True)
    assert idx2 is given
    assert torch.count_nonzero(grouped2[:, -1]) == 0
    torch.testing.assert_close(grouped2[:, :-1], grouped[:, :-1])


def test_knn_query_and_group_backward(device):
    xyz, feat, offset = scenes([20, 20], seed=4, device=device)
    feat.requires_grad_(True)
    grouped, idx = knn_query_and_group(feat, xyz, offset, nsample=4, with_xyz=True)
    grouped[..., 3:].sum().backward()
    counts = np.bincount(idx.cpu().numpy().reshape(-1)[idx.cpu().numpy().reshape(-1) >= 0], minlength=40)
    np.testing.assert_array_equal(feat.grad.cpu().numpy(), np.repeat(counts[:, None], 5, 1).astype(np.float32))


@pytest.mark.parametrize("with_xyz", [False, True])
def test_ball_query_and_group(device, with_xyz):
    xyz, feat, offset = scenes([50, 30], seed=5, device=device)
    grouped, idx = ball_query_and_group(feat, xyz, offset, max_radio=0.9, nsample=6, with_xyz=with_xyz)
    want_idx = brute_ball(xyz.cpu(), xyz.cpu(), offset.cpu(), offset.cpu(), 6, 0.9)
    # neighbours inside the radius are the same set (order: nearest first in both)
    np.testing.assert_array_equal(idx.cpu().numpy(), want_idx)
    want = gather_ref(want_idx, feat.cpu(), xyz.cpu() if with_xyz else None, xyz.cpu())
    np.testing.assert_allclose(grouped.cpu().numpy(), want, rtol=0, atol=1e-6)


@pytest.mark.parametrize("with_feat,with_xyz", [(True, True), (True, False), (False, True)])
def test_query_and_group(device, with_feat, with_xyz):
    xyz, feat, offset = scenes([30, 25], seed=6, device=device)
    new_xyz, _, new_offset = scenes([7, 5], seed=7, device=device)
    grouped, idx = query_and_group(6, xyz, new_xyz, feat, None, offset, new_offset,
                                   with_feat=with_feat, with_xyz=with_xyz)
    want_idx = brute_knn(xyz.cpu(), new_xyz.cpu(), offset.cpu(), new_offset.cpu(), 6)
    np.testing.assert_array_equal(idx.cpu().numpy(), want_idx)
    full = gather_ref(want_idx, feat.cpu(), xyz.cpu(), new_xyz.cpu())
    want = full if (with_feat and with_xyz) else (full[..., 3:] if with_feat else full[..., :3])
    np.testing.assert_allclose(grouped.cpu().numpy(), want, rtol=0, atol=1e-6)


def test_query_and_group_dilation(device):
    xyz, feat, offset = scenes([40], seed=8, device=device)
    grouped, idx = query_and_group(4, xyz, None, feat, None, offset, None, dilation=2, with_xyz=False)
    full = brute_knn(xyz.cpu(), xyz.cpu(), offset.cpu(), offset.cpu(), 12)
    np.testing.assert_array_equal(idx.cpu().numpy(), full[:, ::3])
    np.testing.assert_allclose(grouped.cpu().numpy(), gather_ref(full[:, ::3], feat.cpu()), atol=0, rtol=0)


def test_validation():
    xyz, feat, offset = scenes([10], seed=9)
    with pytest.raises(ValueError, match="nsample is required"):
        knn_query_and_group(feat, xyz, offset)
    with pytest.raises(ValueError, match="offset is required"):
        knn_query_and_group(feat, xyz, nsample=3)
    with pytest.raises(ValueError, match="max_radio is required"):
        ball_query_and_group(feat, xyz, offset, nsample=3)
    with pytest.raises(ValueError, match="at least one of with_feat and with_xyz"):
        query_and_group(3, xyz, None, feat, None, offset, None, with_feat=False, with_xyz=False)
    with pytest.raises(ValueError, match="dilation"):
        query_and_group(3, xyz, None, feat, None, offset, None, dilation=-1)
    with pytest.raises(ValueError, match=r"xyz.shape\[0\]"):
        knn_query_and_group(feat[:5], xyz, offset, nsample=3, with_xyz=True)
    with pytest.raises(TypeError, match="xyz"):
        knn_query_and_group(feat, xyz.int(), offset, nsample=3)
