"""Every bad argument of the spatial ops raises TypeError/ValueError naming the argument, both
through the Python functions and through the raw torch.ops.pointops operators (C++ checks)."""
import pytest
import torch

import pointops

OPS = torch.ops.pointops


def _good(device="cpu"):
    xyz = torch.rand(10, 3, device=device)
    off = torch.tensor([4, 10], dtype=torch.int32, device=device)
    return xyz, off


def _calls(xyz, off, new_xyz=None, new_off=None, k=3, max_r=0.5, min_r=0.0):
    feat = torch.rand(xyz.shape[0] if xyz.dim() == 2 else 10, 4, device=xyz.device)
    nx = xyz if new_xyz is None else new_xyz
    no = off if new_off is None else new_off
    return {
        "knn_query": lambda: pointops.knn_query(k, xyz, off, new_xyz, new_off),
        "ball_query": lambda: pointops.ball_query(k, max_r, min_r, xyz, off, new_xyz, new_off),
        "random_ball_query": lambda: pointops.random_ball_query(k, max_r, min_r, xyz, off, new_xyz, new_off),
        "interpolation": lambda: pointops.interpolation(xyz, nx, feat, off, no, k),
        "raw knn_query": lambda: OPS.knn_query(k, xyz, off, nx, no),
        "raw ball_query": lambda: OPS.ball_query(k, max_r, min_r, xyz, off, nx, no),
        "raw random_ball_query": lambda: OPS.random_ball_query(k, max_r, min_r, xyz, off, nx, no, 1),
        "raw interpolation_forward": lambda: OPS.interpolation_forward(xyz, off, nx, no, feat, k),
    }


def _expect(calls, exc, pattern, only=None):
    for name, call in calls.items():
        if only is not None and not any(name.endswith(o) for o in only):
            continue
        with pytest.raises(exc, match=pattern):
            call()


def test_xyz_dtype(device):
    xyz, off = _good(device)
    _expect(_calls(xyz.double(), off), TypeError, "xyz")


def test_xyz_shape(device):
    xyz, off = _good(device)
    _expect(_calls(torch.rand(10, 2, device=device), off), ValueError, r"xyz.*\(n, 3\)")


def test_xyz_not_a_tensor():
    _, off = _good()
    with pytest.raises(TypeError, match="xyz"):
        pointops.knn_query(3, [[0.0, 0.0, 0.0]], off)


def test_offset_dtype(device):
    xyz, off = _good(device)
    _expect(_calls(xyz, off.float()), TypeError, "offset")


def test_offset_shape(device):
    xyz, off = _good(device)
    _expect(_calls(xyz, off.reshape(1, 2)), ValueError, "offset")
    _expect(_calls(xyz, off[:0]), ValueError, "offset")


def test_offset_must_end_at_n(device):
    xyz, off = _good(device)
    for bad in ([4, 9], [4, 11], [4, 100000]):
        _expect(_calls(xyz, torch.tensor(bad, dtype=torch.int32, device=device)), ValueError,
                r"offset\[-1\] must equal the number of points")


def test_offset_must_be_non_decreasing(device):
    xyz, off = _good(device)
    _expect(_calls(xyz, torch.tensor([6, 4, 10], dtype=torch.int64, device=device)), ValueError,
            "offset must be non-negative and non-decreasing")
    _expect(_calls(xyz, torch.tensor([-2, 10], dtype=torch.int64, device=device)), ValueError,
            "offset must be non-negative and non-decreasing")


def test_new_offset_checks(device):
    xyz, off = _good(device)
    q = torch.rand(5, 3, device=device)
    _expect(_calls(xyz, off, q, torch.tensor([2, 4], dtype=torch.int32, device=device)),
            ValueError, r"new_offset\[-1\]")
    _expect(_calls(xyz, off, q, torch.tensor([5], dtype=torch.int32, device=device)),
            ValueError, "same number of scenes")
    _expect(_calls(xyz, off, q.double(), torch.tensor([2, 5], dtype=torch.int32, device=device)),
            TypeError, "new_xyz")


def test_k_must_be_positive(device):
    xyz, off = _good(device)
    _expect(_calls(xyz, off, k=0), ValueError, r"(nsample|k) must be")
    _expect(_calls(xyz, off, k=-3), ValueError, r"(nsample|k) must be")
    with pytest.raises(TypeError, match="nsample"):
        pointops.knn_query(2.5, xyz, off)


def test_radii(device):
    xyz, off = _good(device)
    only = ["ball_query"]
    _expect(_calls(xyz, off, max_r=0.0), ValueError, "max_radius must be > 0", only)
    _expect(_calls(xyz, off, max_r=-1.0), ValueError, "max_radius must be > 0", only)
    _expect(_calls(xyz, off, min_r=-0.1), ValueError, "min_radius must be >= 0", only)
    _expect(_calls(xyz, off, max_r=0.2, min_r=0.3), ValueError, "min_radius .* must not exceed", only)
    with pytest.raises(ValueError, match="max_radius"):
        pointops.ball_query(3, float("nan"), 0.0, xyz, off)


def test_interpolation_feat(device):
    xyz, off = _good(device)
    with pytest.raises(ValueError, match="feat"):
        pointops.interpolation(xyz, xyz, torch.rand(9, 4, device=device), off, off)
    with pytest.raises(TypeError, match="feat"):
        pointops.interpolation(xyz, xyz, torch.rand(10, 4, device=device).double(), off, off)
    with pytest.raises(ValueError, match="feat"):
        OPS.interpolation_forward(xyz, off, xyz, off, torch.rand(9, 4, device=device), 3)


def test_interpolation_backward_args(device):
    g = torch.rand(5, 4, device=device)
    idx = torch.zeros(5, 3, dtype=torch.int32, device=device)
    w = torch.rand(5, 3, device=device)
    with pytest.raises(TypeError, match="idx"):
        OPS.interpolation_backward(g, idx.long(), w, 10)
    with pytest.raises(ValueError, match="weight"):
        OPS.interpolation_backward(g, idx, w[:, :2].contiguous(), 10)
    with pytest.raises(ValueError, match="n must be"):
        OPS.interpolation_backward(g, idx, w, -1)
    # out-of-range indices reaching the backward are skipped, never read out of bounds
    bad = torch.tensor([[0, 99, -5]] * 5, dtype=torch.int32, device=device)
    out = OPS.interpolation_backward(g, bad, w, 10)
    assert out.shape == (10, 4) and torch.isfinite(out).all() and (out[1:] == 0).all()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_device_mismatch():
    xyz, off = _good("cuda")
    _expect(_calls(xyz, off.cpu()), ValueError, "offset")
    q = torch.rand(5, 3)
    qo = torch.tensor([2, 5], dtype=torch.int32)
    with pytest.raises(ValueError, match="new_xyz"):
        pointops.knn_query(3, xyz, off, q, qo.cuda())
    with pytest.raises(ValueError, match="feat"):
        pointops.interpolation(xyz, xyz, torch.rand(10, 4), off, off)
