"""interpolation / interpolation2: forward against a NumPy reference built from the kNN
reference, backward against the transposed weight matrix, gradcheck, CPU and CUDA."""
import numpy as np
import pytest
import torch

import pointops


def _reference(data, xyz, sizes, new_xyz, new_sizes, feat, k):
    idx, dist = data.ref_search("knn", k, xyz, np.cumsum(sizes), new_xyz, np.cumsum(new_sizes))
    w = (np.float32(1.0) / (dist + np.float32(1e-8))).astype(np.float32)
    norm = np.zeros(w.shape[0], dtype=np.float32)
    for j in range(k):
        norm = norm + w[:, j]
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(norm[:, None] > 0, w / norm[:, None], np.float32(0)).astype(np.float32)
    out = np.zeros((new_xyz.shape[0], feat.shape[1]), dtype=np.float32)
    for j in range(k):
        valid = idx[:, j] >= 0
        out[valid] = out[valid] + feat[idx[valid, j]] * weight[valid, j][:, None]
    # the linear map out = W @ feat, for the backward
    W = np.zeros((new_xyz.shape[0], xyz.shape[0]), dtype=np.float64)
    for j in range(k):
        valid = np.nonzero(idx[:, j] >= 0)[0]
        W[valid, idx[valid, j]] += weight[valid, j]
    return out, W


def _inputs(data, sizes, new_sizes, c, seed):
    rng = np.random.default_rng(seed)
    xyz = data.uniform(sizes, seed=seed)
    new_xyz = data.uniform(new_sizes, seed=seed + 100)
    feat = rng.standard_normal((xyz.shape[0], c)).astype(np.float32)
    return xyz, new_xyz, feat


@pytest.mark.parametrize("fn", ["interpolation", "interpolation2"])
@pytest.mark.parametrize("k,c", [(3, 8), (1, 5), (6, 16)])
def test_interpolation_forward_backward(device, data, fn, k, c):
    sizes, new_sizes = [40, 2, 0, 30], [100, 9, 5, 60]
    xyz, new_xyz, feat = _inputs(data, sizes, new_sizes, c, seed=k * 10 + c)
    ref, W = _reference(data, xyz, sizes, new_xyz, new_sizes, feat, k)
    f = torch.from_numpy(feat).to(device).requires_grad_(True)
    out = getattr(pointops, fn)(torch.from_numpy(xyz).to(device), torch.from_numpy(new_xyz).to(device),
                                f, data.offsets(sizes, torch.int32, device),
                                data.offsets(new_sizes, torch.int64, device), k)
    assert out.shape == (sum(new_sizes), c) and out.dtype == torch.float32
    np.testing.assert_allclose(out.detach().cpu().numpy(), ref, rtol=1e-6, atol=1e-6)
    # targets of the scene without sources get zeros
    assert (out[109:114] == 0).all()
    g = torch.from_numpy(np.random.default_rng(0).standard_normal(out.shape).astype(np.float32))
    out.backward(g.to(device))
    np.testing.assert_allclose(f.grad.cpu().numpy(), W.T @ g.numpy().astype(np.float64),
                               rtol=1e-5, atol=1e-5)


def test_interpolation_exact_hit_and_small_scene(device, data):
    # a target on top of a source takes (almost exactly) that source's features; a scene with
    # a single source copies it to every target
    xyz = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [5, 5, 5]], dtype=np.float32)
    new_xyz = np.array([[1, 0, 0], [0.2, 0.1, 0], [9, 9, 9]], dtype=np.float32)
    feat = np.array([[1, 2], [3, 4], [5, 6], [7, 8]], dtype=np.float32)
    out = pointops.interpolation(torch.from_numpy(xyz).to(device), torch.from_numpy(new_xyz).to(device),
                                 torch.from_numpy(feat).to(device),
                                 data.offsets([3, 1], torch.int32, device),
                                 data.offsets([2, 1], torch.int32, device))
    out = out.cpu().numpy()
    np.testing.assert_allclose(out[0], feat[1], rtol=1e-6)
    np.testing.assert_allclose(out[2], feat[3], rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Input #0 requires gradient and is not a double")
def test_interpolation_gradcheck(device, data):
    # The op takes float32 only, so gradcheck runs in float32 with tolerances fitting float32;
    # the map is linear in feat, so finite differences are accurate up to rounding.
    sizes, new_sizes = [12, 7], [15, 6]
    xyz, new_xyz, feat = _inputs(data, sizes, new_sizes, 3, seed=5)
    args = (torch.from_numpy(xyz).to(device), torch.from_numpy(new_xyz).to(device))
    f = torch.from_numpy(feat).to(device).requires_grad_(True)
    off, noff = data.offsets(sizes, torch.int32, device), data.offsets(new_sizes, torch.int32, device)

    def fn(x):
        return pointops.interpolation(args[0], args[1], x, off, noff, 3)

    assert torch.autograd.gradcheck(fn, (f,), eps=1e-2, atol=2e-3, rtol=1e-2,
                                    nondet_tol=0.0, fast_mode=False)


def test_interpolation_half_features(device, data):
    sizes, new_sizes = [30], [50]
    xyz, new_xyz, feat = _inputs(data, sizes, new_sizes, 4, seed=6)
    args = (torch.from_numpy(xyz).to(device), torch.from_numpy(new_xyz).to(device))
    off, noff = data.offsets(sizes, torch.int32, device), data.offsets(new_sizes, torch.int32, device)
    f32 = pointops.interpolation(*args, torch.from_numpy(feat).to(device), off, noff)
    f16 = pointops.interpolation(*args, torch.from_numpy(feat).to(device).half(), off, noff)
    assert f16.dtype == torch.float16
    np.testing.assert_allclose(f16.float().cpu().numpy(), f32.cpu().numpy(), rtol=1e-2, atol=1e-2)


def test_interpolation_backward_deterministic(device, data):
    sizes, new_sizes = [50], [400]
    xyz, new_xyz, feat = _inputs(data, sizes, new_sizes, 8, seed=7)
    grads = []
    for _ in range(2):
        f = torch.from_numpy(feat).to(device).requires_grad_(True)
        out = pointops.interpolation(torch.from_numpy(xyz).to(device),
                                     torch.from_numpy(new_xyz).to(device), f,
                                     data.offsets(sizes, torch.int32, device),
                                     data.offsets(new_sizes, torch.int32, device))
        out.sum().backward()
        grads.append(f.grad.clone())
    assert torch.equal(grads[0], grads[1])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("c", [64, 7])
def test_interpolation_cuda_equals_cpu(data, c):
    sizes, new_sizes = [3000, 1500], [9000, 6000]
    xyz, new_xyz, feat = _inputs(data, sizes, new_sizes, c, seed=c)
    g = np.random.default_rng(1).standard_normal((sum(new_sizes), c)).astype(np.float32)
    res = []
    for dev in ("cpu", "cuda"):
        f = torch.from_numpy(feat).to(dev).requires_grad_(True)
        out = pointops.interpolation(torch.from_numpy(xyz).to(dev), torch.from_numpy(new_xyz).to(dev),
                                     f, data.offsets(sizes, torch.int32, dev),
                                     data.offsets(new_sizes, torch.int32, dev))
        out.backward(torch.from_numpy(g).to(dev))
        res.append((out.detach().cpu(), f.grad.cpu()))
    # same kNN, same float32 operation order: identical results
    assert torch.equal(res[0][0], res[1][0])
    assert torch.equal(res[0][1], res[1][1])
