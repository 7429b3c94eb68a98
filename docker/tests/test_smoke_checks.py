"""The numerical checks of smoke_tests.py, run on the CPU so their comparison logic is proven
here: each must pass on a correct implementation and fail on a wrong one. pointops and
pointgroup_ops are replaced by stand-ins written in this file (this machine has no GPU to run the
real ones); spconv's own CPU path is used where spconv is installed."""
import importlib.util
import types

import pytest
import torch

import docker_test_paths  # noqa: F401  (puts pcb_smoke on sys.path)
from pcb_smoke import core, facts
from pcb_smoke.checks import extensions, sparse_conv, torch_stack


def ctx():
    return core.Context("cpu")


def test_version_and_hint_helpers():
    assert facts.cudnn_version_string(90100) == "9.1.0"
    assert facts.cudnn_version_string(90501) == "9.5.1"
    assert facts.cudnn_version_string(8902) == "8.9.2"
    assert facts.cudnn_version_string(None) is None
    msg = core.with_hint("CUDA error: no kernel image is available for execution on the device")
    assert "TORCH_CUDA_ARCH_LIST" in msg
    assert core.with_hint("plain failure") == "plain failure"


def test_matmul_and_conv_checks_on_cpu():
    assert "fp32 err" in torch_stack.check_gpu_matmul(ctx())
    assert "conv2d" in torch_stack.check_cudnn_conv(ctx())


# ---- spconv: SubMConv3d vs the dense reference -------------------------------------------------

needs_spconv = pytest.mark.skipif(importlib.util.find_spec("spconv") is None,
                                  reason="spconv is not installed")


@needs_spconv
def test_spconv_subm_conv_matches_dense_reference_on_cpu():
    detail = sparse_conv.spconv_subm_conv_vs_dense("cpu")
    assert detail.startswith("SubMConv3d 4->5 k3 on 320 sites")


@needs_spconv
def test_spconv_check_fails_when_the_kernel_is_mirrored(monkeypatch):
    real = sparse_conv._spconv_weight_to_oidhw

    def mirrored(w, cin, cout, k):  # a reference with a flipped kernel must not match
        return real(w, cin, cout, k).flip(2, 3, 4)

    monkeypatch.setattr(sparse_conv, "_spconv_weight_to_oidhw", mirrored)
    with pytest.raises(core.CheckFailed, match="forward: max abs error"):
        sparse_conv.spconv_subm_conv_vs_dense("cpu")


def test_spconv_weight_layouts():
    w = torch.arange(5 * 3 * 3 * 3 * 4).reshape(5, 3, 3, 3, 4)  # (out, kd, kh, kw, in)
    out = sparse_conv._spconv_weight_to_oidhw(w, 4, 5, 3)
    assert tuple(out.shape) == (5, 4, 3, 3, 3) and out[2, 1, 0, 2, 1] == w[2, 0, 2, 1, 1]
    old = torch.arange(3 * 3 * 3 * 4 * 5).reshape(3, 3, 3, 4, 5)  # (kd, kh, kw, in, out)
    out = sparse_conv._spconv_weight_to_oidhw(old, 4, 5, 3)
    assert tuple(out.shape) == (5, 4, 3, 3, 3) and out[2, 1, 0, 2, 1] == old[0, 2, 1, 1, 2]
    with pytest.raises(core.CheckFailed, match="unexpected SubMConv3d weight shape"):
        sparse_conv._spconv_weight_to_oidhw(torch.zeros(5, 4, 3, 3, 3), 4, 5, 3)


# ---- pointops stand-ins -------------------------------------------------------------------------

def _scenes(offset):
    start = 0
    for end in offset.tolist():
        yield start, end
        start = end


def standin_knn_query(nsample, xyz, offset, new_xyz=None, new_offset=None, exclude_self=False):
    idx = torch.empty(xyz.shape[0], nsample, dtype=torch.int32)
    dist = torch.empty(xyz.shape[0], nsample)
    for start, end in _scenes(offset):
        d = torch.cdist(xyz[start:end].double(), xyz[start:end].double())
        if exclude_self:
            d.fill_diagonal_(float("inf"))
        val, ind = d.topk(nsample, dim=1, largest=False)
        idx[start:end] = (ind + start).int()
        dist[start:end] = val.float()
    return idx, dist


def standin_fps(xyz, offset, new_offset, first=0):
    """A straightforward FPS written independently of pcb_smoke.checks.extensions._brute_fps."""
    out = []
    nstart = 0
    for (start, end), nend in zip(_scenes(offset), new_offset.tolist()):
        pts = xyz[start:end].tolist()
        chosen = [first]
        best = [float("inf")] * len(pts)
        while len(chosen) < nend - nstart:
            last = pts[chosen[-1]]
            for i, p in enumerate(pts):
                best[i] = min(best[i], sum((a - b) ** 2 for a, b in zip(p, last)))
            top = max(best)
            chosen.append(best.index(top))
        out += [start + c for c in chosen[: nend - nstart]]
        nstart = nend
    return torch.tensor(out, dtype=torch.int32)


def install_pointops(monkeypatch, knn=standin_knn_query, fps=standin_fps):
    module = types.ModuleType("pointops")
    module.knn_query = knn
    module.farthest_point_sampling = fps
    module.__file__ = "stand-in/pointops/__init__.py"
    monkeypatch.setitem(__import__("sys").modules, "pointops", module)


def test_pointops_check_passes_on_a_correct_standin(monkeypatch):
    install_pointops(monkeypatch)
    assert "match CPU brute force" in extensions.check_pointops_gpu(ctx())
    assert "stand-in" in extensions.check_pointops(ctx())


def test_pointops_check_fails_on_wrong_knn(monkeypatch):
    install_pointops(monkeypatch, knn=lambda *a, **k: standin_knn_query(*a, exclude_self=True))
    with pytest.raises(core.CheckFailed, match="knn_query"):
        extensions.check_pointops_gpu(ctx())


def test_pointops_check_fails_on_wrong_fps(monkeypatch):
    install_pointops(monkeypatch, fps=lambda *a: standin_fps(*a, first=1))
    with pytest.raises(core.CheckFailed, match="farthest_point_sampling differs"):
        extensions.check_pointops_gpu(ctx())


def test_pointops_check_fails_on_missing_function(monkeypatch):
    module = types.ModuleType("pointops")
    module.knn_query = standin_knn_query
    monkeypatch.setitem(__import__("sys").modules, "pointops", module)
    with pytest.raises(core.CheckFailed, match="lacks farthest_point_sampling"):
        extensions.check_pointops(ctx())


# ---- pointgroup_ops stand-in --------------------------------------------------------------------

def standin_ballquery(coords, batch_idxs, batch_offsets, radius, mean_active, drop_self=False):
    idx, start_len = [], []
    for i in range(coords.shape[0]):
        b = int(batch_idxs[i])
        lo, hi = int(batch_offsets[b]), int(batch_offsets[b + 1])
        near = [j for j in range(lo, hi)
                if float(((coords[j] - coords[i]) ** 2).sum()) < radius * radius
                and not (drop_self and j == i)]
        start_len.append([len(idx), len(near)])
        idx += near
    return torch.tensor(idx, dtype=torch.int32), torch.tensor(start_len, dtype=torch.int32)


def install_pointgroup_ops(monkeypatch, fn):
    module = types.ModuleType("pointgroup_ops")
    module.ballquery_batch_p = fn
    monkeypatch.setitem(__import__("sys").modules, "pointgroup_ops", module)


def test_pointgroup_ops_check_passes_on_a_correct_standin(monkeypatch):
    install_pointgroup_ops(monkeypatch, standin_ballquery)
    assert "all lists exact" in extensions.check_pointgroup_ops_gpu(ctx())


def test_pointgroup_ops_check_fails_on_wrong_lists(monkeypatch):
    install_pointgroup_ops(monkeypatch, lambda *a: standin_ballquery(*a, drop_self=True))
    with pytest.raises(core.CheckFailed, match="neighbour lists differ"):
        extensions.check_pointgroup_ops_gpu(ctx())


# ---- the real libraries, where this machine has them built (their CPU path) ---------------------

@pytest.mark.skipif(importlib.util.find_spec("pointgroup_ops") is None,
                    reason="pointgroup_ops is not installed here")
def test_pointgroup_ops_check_on_the_real_library_cpu_path():
    assert "all lists exact" in extensions.check_pointgroup_ops_gpu(ctx())


@pytest.mark.skipif(importlib.util.find_spec("pointops") is None,
                    reason="pointops is not installed here")
def test_pointops_check_on_the_real_library_cpu_path():
    assert "match CPU brute force" in extensions.check_pointops_gpu(ctx())
