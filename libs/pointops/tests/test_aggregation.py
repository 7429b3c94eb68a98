"""aggregation: CPU against NumPy, gradcheck (all three inputs), determinism, validation,
CUDA against CPU."""
import numpy as np
import pytest
import torch

from pointops import aggregation


def ref(inp, pos, w, idx):
    inp, pos, w, idx = (np.asarray(x, dtype=np.float64) if i < 3 else np.asarray(x)
                        for i, x in enumerate((inp, pos, w, idx)))
    n, ns = idx.shape
    c = inp.shape[1]
    wc = w.shape[2]
    out = np.zeros((n, c))
    cols = np.arange(c) % wc if wc else np.zeros(0, dtype=int)
    for i in range(n):
        for j in range(ns):
            s = idx[i, j]
            if s < 0:
                continue
            out[i] += (inp[s] + pos[i, j]) * w[i, j, cols]
    return out


def make(n, n2, ns, c, wc, seed, dtype=torch.float32, device="cpu", idx_dtype=torch.int32, missing=0.2):
    g = torch.Generator().manual_seed(seed)
    inp = torch.randn(n2, c, generator=g, dtype=torch.float64).to(dtype)
    pos = torch.randn(n, ns, c, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(n, ns, wc, generator=g, dtype=torch.float64).to(dtype)
    idx = torch.randint(0, max(n2, 1), (n, ns), generator=g)
    if n2 == 0:
        idx.fill_(-1)
    idx[torch.rand(n, ns, generator=g) < missing] = -1
    return [t.to(device) for t in (inp, pos, w)] + [idx.to(idx_dtype).to(device)]


@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(20, 20, 8, 16, 4), (9, 5, 3, 6, 6), (7, 7, 4, 5, 1), (6, 6, 2, 8, 3)])
def test_matches_reference(device, shape, idx_dtype):
    n, n2, ns, c, wc = shape
    inp, pos, w, idx = make(*shape, seed=sum(shape), device=device, idx_dtype=idx_dtype)
    got = aggregation(inp, pos, w, idx)
    assert got.shape == (n, c)
    np.testing.assert_allclose(got.cpu().numpy(), ref(inp.cpu(), pos.cpu(), w.cpu(), idx.cpu()),
                               rtol=1e-5, atol=1e-5)


def test_missing_neighbours_skip_position(device):
    inp, pos, w, idx = make(4, 4, 3, 4, 2, seed=1, device=device, missing=0.0)
    idx[:] = -1
    assert torch.count_nonzero(aggregation(inp, pos, w, idx)) == 0


def test_backward_matches_reference(device):
    inp, pos, w, idx = make(15, 12, 5, 8, 4, seed=2, device=device)
    idx[:, 0] = 1
    for t in (inp, pos, w):
        t.requires_grad_(True)
    g = torch.randn(15, 8, generator=torch.Generator().manual_seed(3)).to(device)
    aggregation(inp, pos, w, idx).backward(g)
    # reference gradients by autograd of a float64 torch composition (a different code path)
    i64, p64, w64 = (t.detach().cpu().double().requires_grad_(True) for t in (inp, pos, w))
    ii = idx.cpu().long()
    valid = (ii >= 0).unsqueeze(-1).double()
    gathered = i64[ii.clamp(min=0)]
    wfull = w64[:, :, torch.arange(8) % 4]
    ((gathered + p64) * wfull * valid).sum(1).backward(g.cpu().double())
    for got, want in ((inp.grad, i64.grad), (pos.grad, p64.grad), (w.grad, w64.grad)):
        np.testing.assert_allclose(got.cpu().numpy(), want.numpy(), rtol=1e-5, atol=1e-5)


def test_gradcheck_float64_cpu():
    inp, pos, w, idx = make(6, 5, 4, 6, 3, seed=4, dtype=torch.float64)
    idx[0, 1] = idx[0, 0]
    assert torch.autograd.gradcheck(lambda a, b, c: aggregation(a, b, c, idx),
                                    tuple(t.requires_grad_(True) for t in (inp, pos, w)))


def test_noncontiguous_and_empty(device):
    inp, pos, w, idx = make(10, 10, 4, 6, 3, seed=5, device=device)
    pos_nc = pos.transpose(0, 1).contiguous().transpose(0, 1)
    assert not pos_nc.is_contiguous()
    np.testing.assert_allclose(aggregation(inp, pos_nc, w, idx).cpu().numpy(),
                               ref(inp.cpu(), pos.cpu(), w.cpu(), idx.cpu()), rtol=1e-5, atol=1e-5)
    for shape in [(0, 5, 3, 4, 2), (5, 0, 3, 4, 2), (5, 5, 0, 4, 2), (5, 5, 3, 0, 0)]:
        t = make(*shape, seed=6, device=device)
        for x in t[:3]:
            x.requires_grad_(True)
        out = aggregation(*t)
        assert out.shape == (shape[0], shape[3])
        assert torch.count_nonzero(out) == 0
        out.sum().backward()
        for x in t[:3]:
            assert x.grad.shape == x.shape


def test_backward_deterministic(device):
    inp, pos, w, idx = make(3000, 20, 16, 32, 8, seed=7, device=device, missing=0.05)
    g = torch.randn(3000, 32, generator=torch.Generator().manual_seed(8)).to(device)
    grads = []
    for _ in range(3):
        x = inp.clone().requires_grad_(True)
        aggregation(x, pos, w, idx).backward(g)
        grads.append(x.grad)
    assert torch.equal(grads[0], grads[1]) and torch.equal(grads[0], grads[2])


def test_validation():
    inp, pos, w, idx = make(6, 5, 3, 4, 2, seed=9)
    with pytest.raises(TypeError, match="input"):
        aggregation(inp.int(), pos, w, idx)
    with pytest.raises(TypeError, match="weight"):
        aggregation(inp, pos, w.double(), idx)
    with pytest.raises(ValueError, match="position must have shape"):
        aggregation(inp, pos[0], w, idx)
    with pytest.raises(ValueError, match=r"position.shape\[2\]"):
        aggregation(inp, pos[:, :, :3], w, idx)
    with pytest.raises(ValueError, match=r"weight.shape\[1\]"):
        aggregation(inp, pos, w[:, :2], idx)
    with pytest.raises(ValueError, match=r"w_c"):
        aggregation(inp, pos, w[:, :, :0], idx)
    with pytest.raises(TypeError, match="idx"):
        aggregation(inp, pos, w, idx.double())
    bad = idx.clone()
    bad[0, 0] = 5
    with pytest.raises(ValueError, match=r"idx entries must lie in \[-1, 4\]"):
        aggregation(inp, pos, w, bad)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = make(2000, 1800, 16, 64, 8, seed=10)
    gpu = [t.cuda() for t in cpu]
    for t in cpu[:3] + gpu[:3]:
        t.requires_grad_(True)
    out = aggregation(*cpu)
    outc = aggregation(*gpu)
    torch.testing.assert_close(outc.detach().cpu(), out.detach(), rtol=1e-4, atol=1e-4)
    g = torch.randn_like(out)
    out.backward(g)
    outc.backward(g.cuda())
    for a, b in zip(cpu[:3], gpu[:3]):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-4, atol=1e-4)
