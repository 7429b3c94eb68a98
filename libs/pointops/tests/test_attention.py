"""attention_relation_step / attention_fusion_step: CPU against NumPy, gradcheck (including the
gradient to the relation step's weight, which the old code dropped), determinism, validation,
CUDA against CPU."""
import numpy as np
import pytest
import torch

from pointops import attention_fusion_step, attention_relation_step


def ref_relation(q, k, w, it, ir):
    q, k, w = (np.asarray(x, dtype=np.float64) for x in (q, k, w))
    it, ir = np.asarray(it), np.asarray(ir)
    out = np.zeros((it.shape[0], q.shape[1]))
    for t in range(it.shape[0]):
        if it[t] >= 0 and ir[t] >= 0:
            out[t] = (q[it[t]] * k[ir[t]] * w).sum(-1)
    return out


def ref_fusion(w, v, it, ir):
    w, v = np.asarray(w, dtype=np.float64), np.asarray(v, dtype=np.float64)
    it, ir = np.asarray(it), np.asarray(ir)
    out = np.zeros(v.shape)
    for t in range(it.shape[0]):
        if it[t] >= 0 and ir[t] >= 0:
            out[it[t]] += w[t][:, None] * v[ir[t]]
    return out


def pairs(n, nk, k, seed, missing=0.1, idx_dtype=torch.int32, sorted_target=True):
    g = torch.Generator().manual_seed(seed)
    it = torch.arange(n).repeat_interleave(k) if sorted_target else torch.randint(0, max(n, 1), (n * k,), generator=g)
    ir = torch.randint(0, max(nk, 1), (n * k,), generator=g)
    if nk == 0:
        ir.fill_(-1)
    drop = torch.rand(n * k, generator=g) < missing
    ir[drop] = -1
    it[torch.rand(n * k, generator=g) < missing / 2] = -1
    return it.to(idx_dtype), ir.to(idx_dtype)


def make_relation(n, nk, k, G, C, seed, dtype=torch.float32, device="cpu", **kw):
    g = torch.Generator().manual_seed(seed)
    q = torch.randn(n, G, C, generator=g, dtype=torch.float64).to(dtype)
    key = torch.randn(nk, G, C, generator=g, dtype=torch.float64).to(dtype)
    w = torch.randn(C, generator=g, dtype=torch.float64).to(dtype)
    it, ir = pairs(n, nk, k, seed + 1, **kw)
    return [t.to(device) for t in (q, key, w, it, ir)]


def make_fusion(n, k, G, C, seed, dtype=torch.float32, device="cpu", **kw):
    g = torch.Generator().manual_seed(seed)
    it, ir = pairs(n, n, k, seed + 1, **kw)
    w = torch.randn(it.shape[0], G, generator=g, dtype=torch.float64).to(dtype)
    v = torch.randn(n, G, C, generator=g, dtype=torch.float64).to(dtype)
    return [t.to(device) for t in (w, v, it, ir)]


@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(20, 25, 8, 4, 16), (5, 3, 3, 1, 1), (9, 9, 16, 2, 5)])
def test_relation_matches_reference(device, shape, idx_dtype):
    q, k, w, it, ir = make_relation(*shape, seed=sum(shape), device=device, idx_dtype=idx_dtype)
    out = attention_relation_step(q, k, w, it, ir)
    assert out.shape == (it.shape[0], shape[3])
    np.testing.assert_allclose(out.cpu().numpy(), ref_relation(q.cpu(), k.cpu(), w.cpu(), it.cpu(), ir.cpu()),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sorted_target", [True, False])
@pytest.mark.parametrize("idx_dtype", [torch.int32, torch.int64])
@pytest.mark.parametrize("shape", [(20, 8, 4, 16), (5, 3, 1, 1), (9, 16, 2, 5)])
def test_fusion_matches_reference(device, shape, idx_dtype, sorted_target):
    w, v, it, ir = make_fusion(*shape, seed=sum(shape), device=device, idx_dtype=idx_dtype,
                               sorted_target=sorted_target)
    out = attention_fusion_step(w, v, it, ir)
    assert out.shape == v.shape
    np.testing.assert_allclose(out.cpu().numpy(), ref_fusion(w.cpu(), v.cpu(), it.cpu(), ir.cpu()),
                               rtol=1e-5, atol=1e-5)


def test_gradcheck_float64_cpu():
    q, k, w, it, ir = make_relation(6, 5, 4, 2, 3, seed=1, dtype=torch.float64, sorted_target=False)
    assert torch.autograd.gradcheck(lambda a, b, c: attention_relation_step(a, b, c, it, ir),
                                    tuple(t.requires_grad_(True) for t in (q, k, w)))
    fw, fv, fit, fir = make_fusion(6, 4, 2, 3, seed=2, dtype=torch.float64, sorted_target=False)
    assert torch.autograd.gradcheck(lambda a, b: attention_fusion_step(a, b, fit, fir),
                                    (fw.requires_grad_(True), fv.requires_grad_(True)))


def test_relation_weight_gets_gradient(device):
    q, k, w, it, ir = make_relation(10, 10, 4, 2, 6, seed=3, device=device)
    w.requires_grad_(True)
    attention_relation_step(q, k, w, it, ir).sum().backward()
    valid = ((it >= 0) & (ir >= 0)).cpu()
    qq, kk = q.cpu()[it.cpu().long()[valid]], k.cpu()[ir.cpu().long()[valid]]
    want = (qq * kk).sum((0, 1))
    torch.testing.assert_close(w.grad.cpu(), want, rtol=1e-5, atol=1e-5)


def test_empty_and_all_missing(device):
    q, k, w, it, ir = make_relation(0, 4, 3, 2, 3, seed=4, device=device)
    assert attention_relation_step(q, k, w, it, ir).shape == (0, 2)
    q, k, w, it, ir = make_relation(4, 4, 3, 2, 3, seed=5, device=device)
    ir[:] = -1
    for t in (q, k, w):
        t.requires_grad_(True)
    out = attention_relation_step(q, k, w, it, ir)
    assert torch.count_nonzero(out) == 0
    out.sum().backward()
    for t in (q, k, w):
        assert torch.count_nonzero(t.grad) == 0
    fw, fv, fit, fir = make_fusion(4, 0, 2, 3, seed=6, device=device)
    out = attention_fusion_step(fw, fv, fit, fir)
    assert out.shape == (4, 2, 3) and torch.count_nonzero(out) == 0


def test_backward_deterministic(device):
    q, k, w, it, ir = make_relation(2000, 50, 16, 4, 16, seed=7, device=device, sorted_target=False)
    fw, fv, fit, fir = make_fusion(2000, 16, 4, 16, seed=8, device=device, sorted_target=False)
    fir = fir % 40  # long runs per value row
    runs = []
    for _ in range(3):
        ts = [t.clone().requires_grad_(True) for t in (q, k, w)]
        attention_relation_step(*ts, it, ir).sum().backward()
        fs = [t.clone().requires_grad_(True) for t in (fw, fv)]
        attention_fusion_step(*fs, fit, fir).pow(2).sum().backward()
        runs.append([t.grad for t in ts + fs])
    for a, b in zip(runs[0], runs[1]):
        assert torch.equal(a, b)
    for a, b in zip(runs[0], runs[2]):
        assert torch.equal(a, b)


def test_fusion_forward_deterministic(device):
    fw, fv, fit, fir = make_fusion(3000, 16, 4, 16, seed=9, device=device, sorted_target=False)
    fit = fit % 30
    a = attention_fusion_step(fw, fv, fit, fir)
    b = attention_fusion_step(fw, fv, fit, fir)
    assert torch.equal(a, b)


def test_validation():
    q, k, w, it, ir = make_relation(6, 5, 3, 2, 4, seed=10)
    with pytest.raises(TypeError, match="query"):
        attention_relation_step(q.int(), k, w, it, ir)
    with pytest.raises(TypeError, match="weight"):
        attention_relation_step(q, k, w.double(), it, ir)
    with pytest.raises(ValueError, match=r"weight.shape\[0\]"):
        attention_relation_step(q, k, w[:3], it, ir)
    with pytest.raises(ValueError, match=r"key.shape\[1\]"):
        attention_relation_step(q, k[:, :1], w, it, ir)
    with pytest.raises(ValueError, match=r"index_refer.shape\[0\]"):
        attention_relation_step(q, k, w, it, ir[:-1])
    with pytest.raises(TypeError, match="index_target"):
        attention_relation_step(q, k, w, it.float(), ir)
    bad = ir.clone()
    bad[0] = 5  # key has 5 rows
    with pytest.raises(ValueError, match=r"index_refer entries must lie in \[-1, 4\]"):
        attention_relation_step(q, k, w, it, bad)
    bad = it.clone()
    bad[0] = 6
    with pytest.raises(ValueError, match=r"index_target entries must lie in \[-1, 5\]"):
        attention_relation_step(q, k, w, bad, ir)
    fw, fv, fit, fir = make_fusion(6, 3, 2, 4, seed=11)
    with pytest.raises(ValueError, match=r"index_target.shape\[0\]"):
        attention_fusion_step(fw[:-1], fv, fit, fir)
    with pytest.raises(ValueError, match=r"weight.shape\[1\]"):
        attention_fusion_step(fw[:, :1], fv, fit, fir)
    with pytest.raises(ValueError, match="value must have shape"):
        attention_fusion_step(fw, fv[0], fit, fir)
    bad = fit.clone()
    bad[1] = 6
    with pytest.raises(ValueError, match=r"index_target entries must lie in \[-1, 5\]"):
        attention_fusion_step(fw, fv, bad, fir)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu():
    cpu = make_relation(3000, 2800, 16, 4, 16, seed=12, sorted_target=False)
    gpu = [t.cuda() for t in cpu]
    for t in cpu[:3] + gpu[:3]:
        t.requires_grad_(True)
    out, outc = attention_relation_step(*cpu), attention_relation_step(*gpu)
    torch.testing.assert_close(outc.detach().cpu(), out.detach(), rtol=1e-4, atol=1e-4)
    g = torch.randn_like(out)
    out.backward(g)
    outc.backward(g.cuda())
    for a, b in zip(cpu[:3], gpu[:3]):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-3, atol=1e-3)
    cpu = make_fusion(3000, 16, 4, 16, seed=13, sorted_target=False)
    gpu = [t.cuda() for t in cpu]
    for t in cpu[:2] + gpu[:2]:
        t.requires_grad_(True)
    out, outc = attention_fusion_step(*cpu), attention_fusion_step(*gpu)
    torch.testing.assert_close(outc.detach().cpu(), out.detach(), rtol=1e-4, atol=1e-4)
    g = torch.randn_like(out)
    out.backward(g)
    outc.backward(g.cuda())
    for a, b in zip(cpu[:2], gpu[:2]):
        torch.testing.assert_close(b.grad.cpu(), a.grad, rtol=1e-4, atol=1e-4)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_gradcheck_float64():
    q, k, w, it, ir = make_relation(6, 5, 4, 2, 3, seed=14, dtype=torch.float64, device="cuda", sorted_target=False)
    assert torch.autograd.gradcheck(lambda a, b, c: attention_relation_step(a, b, c, it, ir),
                                    tuple(t.requires_grad_(True) for t in (q, k, w)))
    fw, fv, fit, fir = make_fusion(6, 4, 2, 3, seed=15, dtype=torch.float64, device="cuda", sorted_target=False)
    assert torch.autograd.gradcheck(lambda a, b: attention_fusion_step(a, b, fit, fir),
                                    (fw.requires_grad_(True), fv.requires_grad_(True)))
