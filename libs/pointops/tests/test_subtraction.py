"""subtraction: CPU against NumPy, gradcheck, determinism, validation, CUDA against CPU."""
import numpy as np
import pytest
import torch

from pointops import subtraction


def ref(input1, input2, idx):
    a, b, idx = (np.asarray(x) for x in (input1, input2, idx))
    valid = idx >= 0
    out = a[:, None, :] - b[np.where(valid, idx, 0)] if b.shape[0] else np.zeros(idx.shape + (a.shape[1],))
    return np.where(valid[..., None], out, 0)


def make(n, n2, ns, c, seed, dtype=torch.float32, device="cpu", idx_dtype=torch.int32, missing=0.2):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, c, generator=g, dtype=torch.float64).to(dtype)
    b = torch.randn(n2, c, generator=g, dtype=torch.float64).to(dtype)
    idx = torch.randint(0, max(n2, 1), (n, ns), generator=g)
    if n2 == 0:
        idx.fill_(-1)
    idx[torch.rand(n, ns, generator=g) < missing] = -1
    return a.to(device), b.to(device), idx.to(idx_dtype).to(device)


def ref_grads(g, idx, n, n2):
    g, idx = np.asarray(g, dtype=np.float64), np.asarray(idx)
    g1 = np.zeros((n, g.shape[2]))
    g2 = np.zeros((n2, g.shape[2]))
    for i in range(idx.shape[0]):
        for j in range(idx.shape[1]):
            if idx[i, j] >= 0:
                g1[i] += g[i, j]
                g2[idx[i, j]] -= g[i, j]
    return g1, g2


@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(30, 30, 8, 16), (9, 4, 5, 3), (1, 1, 1, 1), (20, 25, 16, 64)])
def test_matches_reference(device, shape, idx_dtype):
    a, b, idx = make(*shape, seed=sum(shape), device=device, idx_dtype=idx_dtype)
    got = subtraction(a, b, idx)
    np.testing.assert_allclose(got.cpu().numpy(), ref(a.cpu(), b.cpu(), idx.cpu()), rtol=0, atol=0)


def test_backward_matches_reference(device):
    a, b, idx = make(25, 20, 6, 7, seed=1, device=device)
    idx[:, 0] = 3  # duplicates
    a.requires_grad_(True)
    b.requires_grad_(True)
    g = torch.randn(25, 6, 7, generator=torch.Generator().manual_seed(2)).to(device)
    subtraction(a, b, idx).backward(g)
    g1, g2 = ref_grads(g.cpu(), idx.cpu(), 25, 20)
    np.testing.assert_allclose(a.grad.cpu().numpy(), g1, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(b.grad.cpu().numpy(), g2, rtol=1e-5, atol=1e-5)


def test_noncontiguous_and_empty(device):
    a, b, idx = make(10, 10, 4, 6, seed=3, device=device)
    at = a.t().contiguous().t()
    assert not at.is_contiguous()
    idx_nc = idx.t().contiguous().t()
    assert not idx_nc.is_contiguous()
    np.testing.assert_array_equal(subtraction(at, b, idx_nc).cpu().numpy(), ref(a.cpu(), b.cpu(), idx.cpu()))
    for shape in [(0, 5, 3, 4), (5, 0, 3, 4), (5, 5, 0, 4), (5, 5, 3, 0)]:
        a, b, idx = make(*shape, seed=4, device=device)
        a.requires_grad_(True)
        b.requires_grad_(True)
        out = subtraction(a, b, idx)
        assert out.shape == (shape[0], shape[2], shape[3])
        np.testing.assert_array_equal(out.detach().cpu().numpy(), ref(a.detach().cpu(), b.detach().cpu(), idx.cpu()))
        out.sum().backward()
        assert a.grad.shape == a.shape and b.grad.shape == b.shape


def test_gradcheck_float64_cpu():
    a, b, idx = make(7, 6, 4, 3, seed=5, dtype=torch.float64)
    idx[1, 1] = idx[1, 0]
    assert torch.autograd.gradcheck(lambda x, y: subtraction(x, y, idx),
                                    (a.requires_grad_(True), b.requires_grad_(True)))


def test_backward_deterministic(device):
    a, b, idx = make(2000, 30, 16, 32, seed=6, device=device, missing=0.05)
    g = torch.randn(2000, 16, 32, generator=torch.Generator().manual_seed(7)).to(device)
    grads = []
    for _ in range(3):
        bb = b.clone().requires_grad_(True)
        subtraction(a, bb, idx).backward(g)
        grads.append(bb.grad)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


def test_validation():
    a, b, idx = make(6, 5, 3, 2, seed=8)
    with pytest.raises(TypeError, match="input1"):
        subtraction(a.long(), b, idx)
    with pytest.raises(TypeError, match="input2"):
        subtraction(a, b.double(), idx)
    with pytest.raises(TypeError, match="idx"):
        subtraction(a, b, idx.float())
    with pytest.raises(ValueError, match=r"input2.shape\[1\]"):
        subtraction(a, b[:, :1], idx)
    with pytest.raises(ValueError, match=r"idx.shape\[0\]"):
        subtraction(a, b, idx[:4])
    with pytest.raises(ValueError, match="idx must have shape"):
        subtraction(a, b, idx[:, 0])
    bad = idx.clone()
    bad[2, 2] = 5
    with pytest.raises(ValueError, match=r"idx entries must lie in \[-1, 4\]"):
        subtraction(a, b, bad)
    with pytest.raises(ValueError, match="grad_output"):
        torch.ops.pointops.subtraction_backward(torch.zeros(6, 2, 2), idx, 5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    a, b, idx = make(3000, 2500, 16, 48, seed=9)
    ac, bc = a.cuda().requires_grad_(True), b.cuda().requires_grad_(True)
    a.requires_grad_(True)
    b.requires_grad_(True)
    out = subtraction(a, b, idx)
    outc = subtraction(ac, bc, idx.cuda())
    assert torch.equal(outc.detach().cpu(), out.detach())
    g = torch.randn_like(out)
    out.backward(g)
    outc.backward(g.cuda())
    torch.testing.assert_close(ac.grad.cpu(), a.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(bc.grad.cpu(), b.grad, rtol=1e-5, atol=1e-5)
    bad = idx.cuda().clone()
    bad[0, 0] = -5
    with pytest.raises(ValueError, match="idx entries"):
        subtraction(ac, bc, bad)
