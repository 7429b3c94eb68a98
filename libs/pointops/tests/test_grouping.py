"""grouping / grouping2: CPU against a NumPy reference, gradcheck, determinism, validation,
CUDA against CPU (when a GPU is present)."""
import numpy as np
import pytest
import torch

import pointops
from pointops import grouping, grouping2


def ref_grouping(idx, feat, xyz=None, new_xyz=None):
    idx = np.asarray(idx)
    feat = np.asarray(feat)
    m, ns = idx.shape
    valid = idx >= 0
    safe = np.where(valid, idx, feat.shape[0])  # a padding row
    feat = np.concatenate([feat, np.zeros((1, feat.shape[1]), feat.dtype)])
    out = feat[safe.reshape(-1)].reshape(m, ns, feat.shape[1])
    if xyz is not None:
        xyz = np.concatenate([np.asarray(xyz), np.zeros((1, 3), np.asarray(xyz).dtype)])
        rel = xyz[safe.reshape(-1)].reshape(m, ns, 3) - np.asarray(new_xyz)[:, None, :]
        out = np.concatenate([rel, out], axis=2)
    return np.where(valid[..., None], out, 0)


def make(n, m, ns, c, seed, dtype=torch.float32, missing=0.2, device="cpu", idx_dtype=torch.int32):
    g = torch.Generator().manual_seed(seed)
    feat = torch.randn(n, c, generator=g, dtype=torch.float64).to(dtype)
    xyz = (torch.rand(n, 3, generator=g, dtype=torch.float64) * 10).to(dtype)
    new_xyz = (torch.rand(m, 3, generator=g, dtype=torch.float64) * 10).to(dtype)
    idx = torch.randint(0, max(n, 1), (m, ns), generator=g)
    if n == 0:
        idx.fill_(-1)
    idx[torch.rand(m, ns, generator=g) < missing] = -1
    return (feat.to(device), xyz.to(device), new_xyz.to(device), idx.to(idx_dtype).to(device))


@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(50, 30, 8, 16), (7, 7, 1, 3), (40, 12, 16, 64), (5, 9, 32, 5)])
def test_grouping_matches_reference(device, shape, idx_dtype):
    n, m, ns, c = shape
    feat, xyz, new_xyz, idx = make(n, m, ns, c, seed=sum(shape), device=device, idx_dtype=idx_dtype)
    got = grouping(idx, feat, xyz, new_xyz, with_xyz=False)
    np.testing.assert_array_equal(got.cpu().numpy(), ref_grouping(idx.cpu(), feat.cpu()))
    got = grouping(idx, feat, xyz, new_xyz, with_xyz=True)
    assert got.shape == (m, ns, 3 + c)
    want = ref_grouping(idx.cpu(), feat.cpu(), xyz.cpu(), new_xyz.cpu())
    np.testing.assert_allclose(got.cpu().numpy(), want, rtol=0, atol=1e-6)
    got2 = grouping2(feat, idx)
    np.testing.assert_array_equal(got2.cpu().numpy(), ref_grouping(idx.cpu(), feat.cpu()))


def test_grouping_missing_neighbours_give_zero_rows(device):
    feat, xyz, new_xyz, idx = make(10, 6, 4, 5, seed=1, device=device, missing=0.0)
    idx[:, 2] = -1
    idx[3, :] = -1
    out = grouping(idx, feat, xyz, new_xyz, with_xyz=True)
    assert torch.count_nonzero(out[:, 2]) == 0
    assert torch.count_nonzero(out[3]) == 0
    # a present neighbour of a query is not zero (the rows are random)
    assert torch.count_nonzero(out[0, 0]) > 0


def test_grouping_new_xyz_defaults_to_xyz(device):
    feat, xyz, _, idx = make(20, 20, 5, 4, seed=2, device=device)
    a = grouping(idx, feat, xyz, None, with_xyz=True)
    b = grouping(idx, feat, xyz, xyz, with_xyz=True)
    assert torch.equal(a, b)
    np.testing.assert_allclose(a.cpu().numpy(), ref_grouping(idx.cpu(), feat.cpu(), xyz.cpu(), xyz.cpu()),
                               atol=1e-6, rtol=0)


def test_grouping_duplicates_noncontiguous_and_int64(device):
    n, m, ns, c = 12, 9, 6, 10
    g = torch.Generator().manual_seed(3)
    big = torch.randn(c, n * 2, generator=g).to(device)
    feat = big.t()[::2]  # (n, c) non-contiguous
    assert not feat.is_contiguous()
    idx = torch.full((ns, m), 4, dtype=torch.int64).to(device).t()  # every neighbour the same row
    idx[0, 1] = -1
    assert not idx.is_contiguous()
    out = grouping(idx, feat, None)
    np.testing.assert_array_equal(out.cpu().numpy(), ref_grouping(idx.cpu(), feat.cpu()))


@pytest.mark.parametrize("shape", [(0, 0, 4, 3), (5, 0, 3, 2), (5, 4, 0, 3), (5, 4, 3, 0), (0, 4, 3, 2)])
def test_grouping_empty(device, shape):
    n, m, ns, c = shape
    feat, xyz, new_xyz, idx = make(n, m, ns, c, seed=4, device=device)
    out = grouping(idx, feat, xyz, new_xyz, with_xyz=True)
    assert out.shape == (m, ns, c + 3)
    np.testing.assert_array_equal(out.cpu().numpy(), ref_grouping(idx.cpu(), feat.cpu(), xyz.cpu(), new_xyz.cpu()))
    feat.requires_grad_(True)
    grouping2(feat, idx).sum().backward()
    counts = np.bincount(idx.cpu().numpy().reshape(-1) + 1, minlength=n + 1)[1:]
    want = np.repeat(counts[:, None], c, axis=1).astype(np.float32)
    np.testing.assert_array_equal(feat.grad.cpu().numpy(), want)


def test_grouping_gradcheck_float64_cpu():
    # gradcheck needs float64; the CPU kernels support it (CUDA too, see the cuda test below).
    feat, xyz, new_xyz, idx = make(8, 6, 5, 3, seed=5, dtype=torch.float64)
    idx[0, 0] = idx[0, 1]  # duplicate neighbour
    feat.requires_grad_(True)
    xyz.requires_grad_(True)
    new_xyz.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f: grouping(idx, f, xyz.detach()), (feat,))
    assert torch.autograd.gradcheck(lambda f, p, q: grouping(idx, f, p, q, with_xyz=True), (feat, xyz, new_xyz))
    assert torch.autograd.gradcheck(lambda f: grouping2(f, idx), (feat,))
    # new_xyz defaulting to xyz: both paths of the gradient arrive in xyz
    sq, _, _, sidx = make(8, 8, 5, 3, seed=6, dtype=torch.float64)
    p = xyz.detach().clone().requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, p: grouping(sidx, f, p, None, with_xyz=True),
                                    (sq.requires_grad_(True), p))


def test_grouping_backward_matches_reference(device):
    feat, xyz, new_xyz, idx = make(30, 40, 8, 12, seed=7, device=device)
    feat.requires_grad_(True)
    g = torch.randn(40, 8, 15, generator=torch.Generator().manual_seed(8)).to(device)
    grouping(idx, feat, xyz, new_xyz, with_xyz=True).backward(g)
    want = np.zeros((30, 12))
    ii = idx.cpu().numpy()
    gn = g.cpu().numpy().astype(np.float64)
    for i in range(40):
        for j in range(8):
            if ii[i, j] >= 0:
                want[ii[i, j]] += gn[i, j, 3:]
    np.testing.assert_allclose(feat.grad.cpu().numpy(), want, rtol=1e-5, atol=1e-5)


def test_grouping_backward_is_deterministic(device):
    feat, xyz, new_xyz, idx = make(50, 3000, 16, 32, seed=9, device=device, missing=0.05)
    idx = idx % 7  # many duplicates: long runs per source row
    g = torch.randn(3000, 16, 32, generator=torch.Generator().manual_seed(10)).to(device)
    grads = []
    for _ in range(3):
        f = feat.clone().requires_grad_(True)
        grouping2(f, idx).backward(g)
        grads.append(f.grad)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[1], grads[2])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_grouping_other_dtypes(device, dtype):
    feat, xyz, new_xyz, idx = make(20, 10, 4, 8, seed=11, dtype=dtype, device=device)
    out = grouping(idx, feat, xyz, new_xyz, with_xyz=True)
    assert out.dtype == dtype
    want = ref_grouping(idx.cpu(), feat.cpu().double(), xyz.cpu().double(), new_xyz.cpu().double())
    tol = 1e-12 if dtype == torch.float64 else 0.05
    np.testing.assert_allclose(out.cpu().double().numpy(), want, atol=tol, rtol=tol)


def test_grouping_mixed_dtypes_promote(device):
    feat, xyz, new_xyz, idx = make(10, 5, 3, 4, seed=12, device=device)
    out = grouping(idx, feat.half(), xyz, new_xyz, with_xyz=True)
    assert out.dtype == torch.float32


# ---------------------------------------------------------------- validation
def _base(device="cpu"):
    return make(6, 4, 3, 2, seed=13, device=device)


def test_validation_errors():
    feat, xyz, new_xyz, idx = _base()
    with pytest.raises(TypeError, match="idx"):
        grouping(idx.float(), feat, xyz)
    with pytest.raises(TypeError, match="feat"):
        grouping(idx, feat.int(), xyz)
    with pytest.raises(TypeError, match="idx must be a torch.Tensor"):
        grouping([[0]], feat, xyz)
    with pytest.raises(ValueError, match="idx"):
        grouping(idx.reshape(-1), feat, xyz)
    with pytest.raises(ValueError, match="feat"):
        grouping(idx, feat.reshape(-1), xyz)
    with pytest.raises(ValueError, match=r"xyz.shape\[0\]"):
        grouping(idx, feat, xyz[:5], new_xyz, with_xyz=True)
    with pytest.raises(ValueError, match=r"new_xyz.shape\[0\]"):
        grouping(idx, feat, xyz, new_xyz[:3], with_xyz=True)
    with pytest.raises(ValueError, match=r"xyz.shape\[1\]"):
        grouping(idx, feat, xyz[:, :2], new_xyz, with_xyz=True)
    bad = idx.clone()
    bad[0, 0] = 6  # n == 6
    with pytest.raises(ValueError, match=r"idx entries must lie in \[-1, 5\]"):
        grouping(bad, feat, xyz)
    bad[0, 0] = -2
    with pytest.raises(ValueError, match=r"idx entries must lie in \[-1, 5\]"):
        grouping2(feat, bad)
    with pytest.raises(TypeError, match="input"):
        grouping2(feat.long(), idx)


def test_validation_errors_in_cpp_ops():
    feat, xyz, new_xyz, idx = _base()
    with pytest.raises(ValueError, match="new_xyz must be given together with xyz"):
        torch.ops.pointops.grouping(feat, idx, xyz, None)
    with pytest.raises(ValueError, match="column range"):
        torch.ops.pointops.grouping_backward(torch.zeros(4, 3, 2), idx, 6, 1, 2)
    with pytest.raises(ValueError, match="grad_output"):
        torch.ops.pointops.grouping_backward(torch.zeros(5, 3, 2), idx, 6, 0, 2)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_validation_device_mismatch():
    feat, xyz, new_xyz, idx = _base()
    with pytest.raises(ValueError, match="same device"):
        grouping(idx.cuda(), feat, xyz)
    bad = idx.clone().cuda()
    bad[1, 1] = 100
    with pytest.raises(ValueError, match=r"idx entries must lie in \[-1, 5\]"):
        grouping2(feat.cuda(), bad)


# ---------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("c", [1, 3, 4, 64, 67])
def test_cuda_matches_cpu(c):
    feat, xyz, new_xyz, idx = make(300, 500, 16, c, seed=14)
    for with_xyz in (False, True):
        f = feat.clone().requires_grad_(True)
        out = grouping(idx, f, xyz, new_xyz, with_xyz=with_xyz)
        g = torch.randn_like(out)
        out.backward(g)
        fc = feat.cuda().requires_grad_(True)
        outc = grouping(idx.cuda(), fc, xyz.cuda(), new_xyz.cuda(), with_xyz=with_xyz)
        outc.backward(g.cuda())
        assert torch.equal(outc.cpu(), out)  # a copy (and one float32 subtraction): exact
        torch.testing.assert_close(fc.grad.cpu(), f.grad, rtol=1e-5, atol=1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gradcheck_float64():
    feat, xyz, new_xyz, idx = make(8, 6, 5, 3, seed=15, dtype=torch.float64, device="cuda")
    feat.requires_grad_(True)
    xyz.requires_grad_(True)
    new_xyz.requires_grad_(True)
    assert torch.autograd.gradcheck(lambda f, p, q: grouping(idx, f, p, q, with_xyz=True), (feat, xyz, new_xyz))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_grouping2_64bit_indexing():
    # m * ns * c >= 2^31 (the old kernel overflowed int32 here): 400k x 16 x 384 float32 = 9.8 GB.
    free, _ = torch.cuda.mem_get_info()
    if free < 14 * 2**30:
        pytest.skip("needs ~14 GiB of free GPU memory")
    n, m, ns, c = 1000, 400_000, 16, 384
    g = torch.Generator(device="cuda").manual_seed(16)
    feat = torch.randn(n, c, device="cuda", generator=g)
    idx = torch.randint(-1, n, (m, ns), device="cuda", generator=g, dtype=torch.int32)
    out = grouping2(feat, idx)
    assert out.numel() >= 2**31
    rows = torch.tensor([0, 1, m // 2, m - 2, m - 1], device="cuda")
    sub = out[rows]
    want = torch.where((idx[rows] >= 0).unsqueeze(-1), feat[idx[rows].clamp(min=0).long()], 0.0)
    assert torch.equal(sub, want)
    del out


def test_version_and_exports():
    assert pointops.grouping is grouping and pointops.grouping2 is grouping2


SKIP_CHECK_SCRIPT = r"""
import sys, torch, pointops
dev = sys.argv[1]
feat = torch.arange(12, dtype=torch.float32, device=dev).reshape(4, 3) + 1
idx = torch.tensor([[0, 4, -7], [1000000, 3, -1]], dtype=torch.int32, device=dev)
out = pointops.grouping2(feat, idx)
want = torch.zeros(2, 3, 3, device=dev)
want[0, 0] = feat[0]
want[1, 1] = feat[3]
assert torch.equal(out, want), out
sub = pointops.subtraction(feat[:2], feat, idx)
assert torch.count_nonzero(sub[0, 1:]) == 0 and torch.count_nonzero(sub[1, 0]) == 0
print("ok")
"""


def test_skip_index_check_treats_out_of_range_as_missing(device):
    # With POINTOPS_SKIP_INDEX_CHECK=1 the range check is skipped; the kernels must still never
    # read out of bounds and treat such indices like -1. (Read once per process: a subprocess.)
    import os
    import subprocess
    import sys

    env = dict(os.environ, POINTOPS_SKIP_INDEX_CHECK="1")
    r = subprocess.run([sys.executable, "-c", SKIP_CHECK_SCRIPT, str(device)], env=env,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr


def index_check_outcomes(dev):
    """grouping over in-range and out-of-range indices (int32 and int64, with and without xyz,
    nothing to gather): each case's result sum and shape, or its ValueError, in order."""
    g = torch.Generator().manual_seed(17)
    feat, xyz, new_xyz = torch.randn(6, 5, generator=g), torch.randn(6, 3, generator=g), torch.randn(4, 3, generator=g)
    good = torch.tensor([[0, 5, -1], [2, 3, 4], [1, 1, -1], [5, 0, 2]])
    cases = []
    for dtype in (torch.int32, torch.int64):
        for values in ((), ((3, 1, 6),), ((0, 0, 1000000),), ((2, 2, -2),), ((1, 0, 7), (2, 1, -9)),
                       ((3, 2, -(2**40)),), ((0, 1, 2**40),)):
            if dtype == torch.int32 and any(abs(v) >= 2**31 for _, _, v in values):
                continue
            idx = good.to(dtype).clone()
            for i, j, v in values:
                idx[i, j] = v
            for with_xyz in (False, True):
                cases.append((idx, feat, with_xyz))
        cases.append((good.to(dtype), feat[:, :0], False))  # nothing to gather: c == 0
        cases.append((torch.tensor([[6]], dtype=dtype), feat[:, :0], False))
    outcomes = []
    for idx, f, with_xyz in cases:
        try:
            out = pointops.grouping(idx.to(dev), f.to(dev), xyz.to(dev), new_xyz.to(dev), with_xyz=with_xyz)
            outcomes.append(("ok", out.cpu().double().sum().item(), tuple(out.shape)))
        except ValueError as e:
            outcomes.append(("ValueError", str(e)))
    out = pointops.grouping(good.to(dev), feat.to(dev), xyz.to(dev), new_xyz.to(dev), with_xyz=True)
    outcomes.append(("after the errors", out.cpu().double().sum().item()))
    return outcomes


def test_index_check_refuses_every_out_of_range_case():
    outcomes = index_check_outcomes("cpu")
    assert sum(o[0] == "ValueError" for o in outcomes) == 22, outcomes


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_index_check_gives_the_results_and_errors_of_the_cpu():
    assert index_check_outcomes("cuda") == index_check_outcomes("cpu")
