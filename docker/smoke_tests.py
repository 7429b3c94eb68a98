#!/usr/bin/env python3
"""Smoke tests for the Pointcept GPU image.

Proves that the image's stack works on the GPU it runs on: PyTorch + CUDA + cuDNN, spconv (a
SubMConv3d forward and backward checked against a dense convolution), PyG and its compiled
companions, flash-attn, the image's own CUDA extensions (pointops, pointgroup_ops) and open3d.

Usage:
    python smoke_tests.py [--json PATH] [--no-gpu] [--only a,b] [--skip a,b]
                          [--optional a,b] [--require a,b] [--timeout SECONDS] [--list]

Only the standard library and what the image ships are used. A human-readable table goes to
stdout; `--json PATH` also writes the machine-readable report (schema 1):

    {"schema": 1, "ok": bool, "complete": bool, "seconds": float, "mode": "gpu" | "no-gpu",
     "versions": {"python", "torch", "torch_cuda", "cudnn", "nvcc", "spconv", ...: str | null},
     "gpu": {"name", "capability", "driver", "memory_gib", "count", "cuda_driver_api"} | null,
     "checks": [{"name", "ok", "required", "seconds", "detail", "skipped"}]}

Exit status: 0 when every required check passed, 1 when one failed, 2 on bad arguments.

Checks that load compiled extensions run in a child process of the same interpreter with a
timeout, so a segfault or a hang in an extension is reported as a failed check and the report is
still written. The report file is rewritten after every check (with "complete": false until the
end), so even a crash of this process itself leaves the results so far.

Expectations come from the environment, so the same script serves the image and other machines:
    PCB_ENV_NAME            expected conda env name (check `env_name`, not required)
    PCB_EXPECT_PYTHON       e.g. 3.10: the Python version must start with it
    PCB_EXPECT_TORCH        e.g. 2.5.0: torch.__version__ without its local part must equal it
    PCB_EXPECT_TORCH_CUDA   e.g. 12.4: torch.version.cuda must equal it
    PCB_SMOKE_EXTRA_CHECKS  path of a Python file with a list SMOKE_CHECKS of extra checks
                            (dicts with name, func, required, gpu, isolate, needs, description);
                            a site hook for checks of your own.
"""
from __future__ import annotations

import argparse
import datetime as _dt
import importlib.util
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback

SCHEMA = 1
DEFAULT_TIMEOUT = 180.0


class CheckFailed(Exception):
    """A check's result is wrong; the message is the detail shown to the user."""


class Context:
    """What a check function gets: the device to use and a dict for versions it finds."""

    def __init__(self, device: str = "cuda"):
        self.device = device
        self.versions: dict = {}


class Check:
    def __init__(self, name, func, required=True, gpu=False, isolate=False, needs=(),
                 description=""):
        self.name = name
        self.func = func
        self.required = bool(required)
        self.gpu = bool(gpu)
        self.isolate = bool(isolate)
        self.needs = tuple(needs)
        self.description = description


# --------------------------------------------------------------------------------------------
# helpers


def _env_expect(var):
    value = os.environ.get(var, "").strip()
    return value or None


def _missing_modules(names):
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def _max_abs(a, b):
    return float((a.double() - b.double()).abs().max().item()) if a.numel() else 0.0


def _close(name, got, ref, rel, errors):
    """Append to errors when got and ref differ by more than rel * max(1, |ref|max)."""
    if tuple(got.shape) != tuple(ref.shape):
        errors.append(f"{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
        return 0.0
    err = _max_abs(got, ref)
    scale = max(1.0, float(ref.double().abs().max().item())) if ref.numel() else 1.0
    if not math.isfinite(err) or err > rel * scale:
        errors.append(f"{name}: max abs error {err:.3g} > {rel * scale:.3g}")
    return err


HINTS = [
    ("no kernel image is available",
     "the extension was not compiled for this GPU's architecture: rebuild with "
     "TORCH_CUDA_ARCH_LIST including its compute capability"),
    ("CUDA driver version is insufficient",
     "the NVIDIA driver is older than this CUDA runtime needs (CUDA 12.4: driver >= 550.54.14, "
     "or the CUDA forward-compatibility package)"),
    ("nvrtc", "NVRTC (runtime compilation) failed: the image sets SPCONV_DISABLE_JIT=1 and "
     "CUMM_DISABLE_JIT=1 so spconv uses its prebuilt kernels; check that they are set"),
    ("undefined symbol", "a compiled package was built against another PyTorch/C++ ABI than the "
     "one installed"),
    ("out of memory", "the GPU is out of memory: is another process using it?"),
]


def _with_hint(message):
    low = message.lower()
    for needle, hint in HINTS:
        if needle.lower() in low:
            return f"{message} (hint: {hint})"
    return message


def _capability_of(torch, device):
    major, minor = torch.cuda.get_device_capability(device)
    return major, minor


# --------------------------------------------------------------------------------------------
# facts gathered by the parent (no risky imports)

_DIST_KEYS = {
    # version key -> predicate on a normalised distribution name
    "torch": lambda n: n == "torch",
    "spconv": lambda n: n == "spconv" or n.startswith("spconv-cu"),
    "cumm": lambda n: n == "cumm" or n.startswith("cumm-cu"),
    "torch_geometric": lambda n: n == "torch-geometric",
    "torch_scatter": lambda n: n == "torch-scatter",
    "torch_cluster": lambda n: n == "torch-cluster",
    "torch_sparse": lambda n: n == "torch-sparse",
    "flash_attn": lambda n: n == "flash-attn",
    "open3d": lambda n: n in ("open3d", "open3d-cpu"),
    "pointops": lambda n: n == "pointops",
    "pointgroup_ops": lambda n: n == "pointgroup-ops",
    "clip": lambda n: n in ("clip-anytorch", "openai-clip", "clip"),
    "ocnn": lambda n: n == "ocnn",
    "peft": lambda n: n == "peft",
}


def distribution_versions():
    """Versions of the packages of interest from installed metadata (nothing is imported)."""
    from importlib import metadata

    found = {key: None for key in _DIST_KEYS}
    try:
        dists = list(metadata.distributions())
    except Exception:  # a broken site-packages must not stop the report
        dists = []
    for dist in dists:
        try:
            raw = dist.metadata["Name"]
        except Exception:
            continue
        if not raw:
            continue
        norm = re.sub(r"[-_.]+", "-", raw).lower()
        for key, pred in _DIST_KEYS.items():
            if found[key] is None and pred(norm):
                found[key] = dist.version
    return found


def env_name():
    name = os.environ.get("CONDA_DEFAULT_ENV")
    if name:
        return name
    prefix = os.path.normpath(sys.prefix)
    if os.path.basename(os.path.dirname(prefix)) == "envs":
        return os.path.basename(prefix)
    return None


def nvcc_version():
    candidates = []
    cuda_home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH")
    if cuda_home:
        candidates.append(os.path.join(cuda_home, "bin", "nvcc"))
    which = shutil.which("nvcc")
    if which:
        candidates.append(which)
    for exe in candidates:
        if not os.path.isfile(exe):
            continue
        try:
            out = subprocess.run([exe, "--version"], capture_output=True, text=True,
                                 timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        match = re.search(r"release [\d.]+, V([\d.]+)", out)
        if match:
            return match.group(1)
    return None


def cudnn_version_string(v):
    if not v:
        return None
    v = int(v)
    if v >= 90000:  # cuDNN 9 encodes major * 10000 + minor * 100 + patch
        return f"{v // 10000}.{(v % 10000) // 100}.{v % 100}"
    return f"{v // 1000}.{(v % 1000) // 100}.{v % 100}"


def driver_version():
    """The NVIDIA kernel driver version, from nvidia-smi or /proc; None when unknown."""
    smi = shutil.which("nvidia-smi")
    if smi:
        try:
            out = subprocess.run([smi, "--query-gpu=driver_version", "--format=csv,noheader"],
                                 capture_output=True, text=True, timeout=30)
            line = out.stdout.strip().splitlines()[0].strip() if out.stdout.strip() else ""
            if out.returncode == 0 and re.match(r"^\d+(\.\d+)+$", line):
                return line
        except (OSError, subprocess.SubprocessError, IndexError):
            pass
    try:
        with open("/proc/driver/nvidia/version", encoding="utf-8") as fh:
            match = re.search(r"Kernel Module\s+(\d+(?:\.\d+)+)", fh.read())
            if match:
                return match.group(1)
    except OSError:
        pass
    return None


def cuda_driver_api_version():
    """The CUDA version the driver supports (cuDriverGetVersion), e.g. '12.4'; None if unknown."""
    try:
        import ctypes

        lib = ctypes.CDLL("libcuda.so.1")
        value = ctypes.c_int(0)
        if lib.cuDriverGetVersion(ctypes.byref(value)) != 0:
            return None
        return f"{value.value // 1000}.{(value.value % 1000) // 10}"
    except (OSError, AttributeError):
        return None


def cuda_unavailable_reason(torch):
    """None when CUDA works; else one line saying why not."""
    if torch is None:
        return "PyTorch could not be imported (see check 'torch')"
    if torch.version.cuda is None:
        return "this PyTorch build has no CUDA support (torch.version.cuda is None)"
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    try:
        torch.cuda.init()
    except Exception as exc:  # e.g. "Found no NVIDIA driver on your system"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        extra = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        return _with_hint(f"CUDA is not usable: {first}{extra}")
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return "no CUDA device is visible (run the container with --gpus all)"
    return None


# --------------------------------------------------------------------------------------------
# checks


def check_python(ctx):
    version = platform.python_version()
    ctx.versions["python"] = version
    expect = _env_expect("PCB_EXPECT_PYTHON")
    if expect and not (version == expect or version.startswith(expect + ".")):
        raise CheckFailed(f"Python {version} at {sys.executable}; expected {expect}")
    return f"{version} ({sys.executable})"


def check_env_name(ctx):
    name = env_name()
    ctx.versions["env_name"] = name
    expect = _env_expect("PCB_ENV_NAME")
    if expect is None:
        return f"{name or 'no conda env'} (no expectation: PCB_ENV_NAME unset)"
    if name != expect:
        raise CheckFailed(f"running in env {name!r} (sys.prefix {sys.prefix}); expected {expect!r}")
    return f"{name} ({sys.prefix})"


def check_torch(ctx):
    import torch

    ctx.versions["torch"] = torch.__version__
    ctx.versions["torch_cuda"] = torch.version.cuda
    # "true"/"false": which C++ ABI compiled packages (flash-attn wheels) must match.
    abi = getattr(torch._C, "_GLIBCXX_USE_CXX11_ABI", None)
    ctx.versions["torch_cxx11_abi"] = None if abi is None else str(bool(abi)).lower()
    problems = []
    expect = _env_expect("PCB_EXPECT_TORCH")
    if expect and torch.__version__.split("+")[0] != expect:
        problems.append(f"torch {torch.__version__}, expected {expect}")
    expect_cuda = _env_expect("PCB_EXPECT_TORCH_CUDA")
    if expect_cuda and torch.version.cuda != expect_cuda:
        problems.append(f"torch.version.cuda {torch.version.cuda}, expected {expect_cuda}")
    if problems:
        raise CheckFailed("; ".join(problems))
    arches = torch.cuda.get_arch_list() if torch.version.cuda else []
    return (f"torch {torch.__version__}, CUDA {torch.version.cuda}, "
            f"kernels for {' '.join(arches) or 'no GPU arch'}")


def check_cuda(ctx):
    import torch

    count = torch.cuda.device_count()
    idx = torch.cuda.current_device()
    name = torch.cuda.get_device_name(idx)
    major, minor = _capability_of(torch, idx)
    arches = torch.cuda.get_arch_list()
    sm = f"sm_{major}{minor}"
    # Runnable when torch has a cubin for this exact arch, or PTX (compute_XY) of an older one.
    ptx = [a for a in arches if a.startswith("compute_")]
    ptx_ok = any(int(a.split("_")[1]) <= major * 10 + minor for a in ptx)
    if sm not in arches and not ptx_ok:
        raise CheckFailed(f"{name} is {sm}; this PyTorch has kernels only for {' '.join(arches)}")
    # A kernel launch proves the driver and the runtime really work together.
    x = torch.arange(1024, device="cuda", dtype=torch.float32)
    total = float((x * 2).sum().item())
    if total != 1023 * 1024:
        raise CheckFailed(f"a trivial kernel gave {total}, expected {1023 * 1024}")
    driver = driver_version()
    return (f"{count} device(s); device {idx}: {name}, capability {major}.{minor}, "
            f"driver {driver or 'unknown'}, driver CUDA {cuda_driver_api_version() or 'unknown'}")


def check_cudnn(ctx):
    import torch

    if not torch.backends.cudnn.is_available():
        raise CheckFailed("torch.backends.cudnn.is_available() is False")
    version = cudnn_version_string(torch.backends.cudnn.version())
    ctx.versions["cudnn"] = version
    return f"cuDNN {version}"


def check_gpu_matmul(ctx):
    import torch

    gen = torch.Generator().manual_seed(0)
    a = torch.randn(512, 384, generator=gen)
    b = torch.randn(384, 256, generator=gen)
    ref = a.double() @ b.double()
    errors = []
    old = torch.backends.cuda.matmul.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = False
    try:
        out = (a.to(ctx.device) @ b.to(ctx.device)).cpu()
    finally:
        torch.backends.cuda.matmul.allow_tf32 = old
    e32 = _close("fp32", out, ref, 1e-4, errors)
    # Half precision exercises the tensor cores; its tolerance reflects fp16 rounding.
    out16 = (a.to(ctx.device, torch.float16) @ b.to(ctx.device, torch.float16)).cpu()
    e16 = _close("fp16", out16, ref, 2e-2, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return f"512x384 @ 384x256 vs CPU float64: fp32 err {e32:.2e}, fp16 err {e16:.2e}"


def check_cudnn_conv(ctx):
    import torch
    import torch.nn.functional as F

    gen = torch.Generator().manual_seed(1)
    x = torch.randn(2, 8, 20, 20, generator=gen)
    w = torch.randn(16, 8, 3, 3, generator=gen)
    ref = F.conv2d(x.double(), w.double(), padding=1)
    old = torch.backends.cudnn.allow_tf32
    torch.backends.cudnn.allow_tf32 = False
    try:
        out = F.conv2d(x.to(ctx.device), w.to(ctx.device), padding=1).cpu()
    finally:
        torch.backends.cudnn.allow_tf32 = old
    errors = []
    err = _close("conv2d", out, ref, 1e-4, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return f"conv2d 2x8x20x20 * 16x8x3x3 vs CPU float64: err {err:.2e}"


def check_jit_flags(ctx):
    flags = {k: os.environ.get(k) for k in ("SPCONV_DISABLE_JIT", "CUMM_DISABLE_JIT")}
    bad = [f"{k}={v!r}" for k, v in flags.items() if v != "1"]
    if bad:
        raise CheckFailed("expected SPCONV_DISABLE_JIT=1 and CUMM_DISABLE_JIT=1 (no runtime "
                          "compilation of spconv kernels); got " + ", ".join(bad))
    return "SPCONV_DISABLE_JIT=1, CUMM_DISABLE_JIT=1"


def check_spconv(ctx):
    import cumm
    import spconv
    import spconv.pytorch  # noqa: F401  (loads the compiled core)

    ctx.versions["spconv"] = getattr(spconv, "__version__", None) or ctx.versions.get("spconv")
    ctx.versions["cumm"] = getattr(cumm, "__version__", None) or ctx.versions.get("cumm")
    return f"spconv {ctx.versions['spconv']}, cumm {ctx.versions['cumm']}"


def _spconv_weight_to_oidhw(w, cin, cout, k):
    """spconv stores SubMConv3d weights as (out, kd, kh, kw, in) in 2.2+ and as
    (kd, kh, kw, in, out) before; return (out, in, kd, kh, kw) as torch's conv3d wants."""
    shape = tuple(w.shape)
    if shape == (cout, k, k, k, cin):
        return w.permute(0, 4, 1, 2, 3)
    if shape == (k, k, k, cin, cout):
        return w.permute(4, 3, 0, 1, 2)
    raise CheckFailed(f"unexpected SubMConv3d weight shape {shape} for in={cin}, out={cout}")


def spconv_subm_conv_vs_dense(device, seed=1234):
    """SubMConv3d forward + backward on `device`, compared with a dense float64 conv3d on the
    CPU restricted to the active sites. Returns a detail string; raises CheckFailed."""
    import torch
    import torch.nn.functional as F
    import spconv.pytorch as spconv

    gen = torch.Generator().manual_seed(seed)
    batch, shape, cin, cout, k = 2, (9, 10, 11), 4, 5, 3  # distinct sizes catch axis mix-ups
    depth, height, width = shape
    per_scene = 160
    coords = []
    for b in range(batch):
        flat = torch.randperm(depth * height * width, generator=gen)[:per_scene]
        z = flat // (height * width)
        y = (flat // width) % height
        x = flat % width
        coords.append(torch.stack([torch.full_like(flat, b), z, y, x], dim=1))
    indices = torch.cat(coords).to(torch.int32)
    feats = torch.randn(indices.shape[0], cin, generator=gen)

    # On the GPU the default algorithm (implicit GEMM, what Pointcept uses) is tested; spconv's
    # CPU path supports only the native gather-GEMM-scatter algorithm.
    extra = {"algo": spconv.ConvAlgo.Native} if device == "cpu" else {}
    conv = spconv.SubMConv3d(cin, cout, k, padding=k // 2, bias=True, indice_key="smoke",
                             **extra)
    with torch.no_grad():
        conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen))
        conv.bias.copy_(torch.randn(cout, generator=gen))
    conv = conv.to(device)
    x_feat = feats.clone().to(device).requires_grad_(True)  # a new leaf, also on the CPU
    sp_in = spconv.SparseConvTensor(x_feat, indices.to(device), list(shape), batch)
    sp_out = conv(sp_in)
    out_feat = sp_out.features
    out_idx = sp_out.indices.long().cpu()
    grad_out = torch.randn(tuple(out_feat.shape), generator=gen)
    (out_feat * grad_out.to(device)).sum().backward()
    if device != "cpu":
        torch.cuda.synchronize()

    errors = []
    # Submanifold: the output sites are exactly the input sites.
    def keys(idx):
        idx = idx.long()
        return sorted(((idx[:, 0] * depth + idx[:, 1]) * height + idx[:, 2]) * width
                      + idx[:, 3]).__iter__()
    if list(keys(out_idx)) != list(keys(indices)):
        errors.append("output sites differ from input sites")

    # Dense reference (float64, CPU): zeros at inactive sites contribute nothing, so a padded
    # conv3d gathered at the active sites equals the submanifold convolution.
    li = indices.long()
    dense = torch.zeros(batch, depth, height, width, cin, dtype=torch.float64)
    dense[li[:, 0], li[:, 1], li[:, 2], li[:, 3]] = feats.double()
    dense = dense.permute(0, 4, 1, 2, 3).contiguous().requires_grad_(True)
    w_ref = _spconv_weight_to_oidhw(conv.weight.detach().cpu().double(), cin, cout, k)
    w_ref = w_ref.contiguous().requires_grad_(True)
    b_ref = conv.bias.detach().cpu().double().requires_grad_(True)
    ref = F.conv3d(dense, w_ref, b_ref, padding=k // 2).permute(0, 2, 3, 4, 1)
    ref_at = ref[out_idx[:, 0], out_idx[:, 1], out_idx[:, 2], out_idx[:, 3]]
    if float(ref_at.abs().max()) == 0.0:
        errors.append("reference output is all zeros (bad test input)")
    (ref_at * grad_out.double()).sum().backward()

    e_fwd = _close("forward", out_feat.detach().cpu(), ref_at.detach(), 1e-3, errors)
    grad_in_ref = dense.grad.permute(0, 2, 3, 4, 1)[li[:, 0], li[:, 1], li[:, 2], li[:, 3]]
    e_gin = _close("grad input", x_feat.grad.cpu(), grad_in_ref, 1e-3, errors)
    g_w = _spconv_weight_to_oidhw(conv.weight.grad.cpu(), cin, cout, k)
    e_gw = _close("grad weight", g_w, w_ref.grad, 1e-3, errors)
    e_gb = _close("grad bias", conv.bias.grad.cpu(), b_ref.grad, 1e-3, errors)
    if errors:
        raise CheckFailed("SubMConv3d vs dense conv3d: " + "; ".join(errors))
    return (f"SubMConv3d {cin}->{cout} k{k} on {indices.shape[0]} sites, {batch} scenes: max err "
            f"fwd {e_fwd:.1e}, grad in {e_gin:.1e}, grad w {e_gw:.1e}, grad b {e_gb:.1e}")


def check_spconv_gpu(ctx):
    return spconv_subm_conv_vs_dense(ctx.device)


def check_torch_geometric(ctx):
    import torch_cluster
    import torch_geometric
    import torch_scatter
    import torch_sparse

    for key, mod in (("torch_geometric", torch_geometric), ("torch_scatter", torch_scatter),
                     ("torch_cluster", torch_cluster), ("torch_sparse", torch_sparse)):
        ctx.versions[key] = getattr(mod, "__version__", None) or ctx.versions.get(key)
    return ", ".join(f"{k} {ctx.versions[k]}" for k in
                     ("torch_geometric", "torch_scatter", "torch_cluster", "torch_sparse"))


def _brute_knn(x, y, k, batch_x, batch_y):
    """For each row of y: the k nearest rows of x in the same batch (float64)."""
    import torch

    d = torch.cdist(y.double(), x.double())
    d[batch_y[:, None] != batch_x[None, :]] = float("inf")
    return d.topk(k, dim=1, largest=False)


def check_torch_geometric_gpu(ctx):
    import torch
    import torch_cluster
    import torch_scatter
    from torch_geometric.nn import GCNConv
    from torch_sparse import SparseTensor

    dev = ctx.device
    gen = torch.Generator().manual_seed(7)
    errors = []
    # torch_scatter: sum and max against PyTorch's own scatter ops.
    src = torch.randn(1000, 16, generator=gen)
    index = torch.randint(0, 50, (1000,), generator=gen)
    got = torch_scatter.scatter(src.to(dev), index.to(dev), dim=0, dim_size=50, reduce="sum")
    ref = torch.zeros(50, 16, dtype=torch.float64).index_add_(0, index, src.double())
    _close("scatter sum", got.cpu(), ref, 1e-5, errors)
    got = torch_scatter.scatter(src.to(dev), index.to(dev), dim=0, dim_size=50, reduce="max")
    ref = torch.full((50, 16), float("-inf")).scatter_reduce(
        0, index[:, None].expand(-1, 16), src, reduce="amax")
    ref[torch.isinf(ref)] = 0.0  # torch_scatter fills empty groups with 0
    _close("scatter max", got.cpu(), ref, 0.0, errors)
    # torch_cluster: kNN between two batched point sets against brute force.
    x = torch.rand(300, 3, generator=gen)
    y = torch.rand(120, 3, generator=gen)
    bx = torch.cat([torch.zeros(180, dtype=torch.long), torch.ones(120, dtype=torch.long)])
    by = torch.cat([torch.zeros(50, dtype=torch.long), torch.ones(70, dtype=torch.long)])
    k = 6
    edge = torch_cluster.knn(x.to(dev), y.to(dev), k, bx.to(dev), by.to(dev)).cpu()
    ref_d, _ = _brute_knn(x, y, k, bx, by)
    if edge.shape != (2, y.shape[0] * k):
        errors.append(f"knn: edge_index shape {tuple(edge.shape)}, expected (2, {y.shape[0] * k})")
    else:
        d_got = (x[edge[1]].double() - y[edge[0]].double()).norm(dim=1)
        order = torch.argsort(edge[0], stable=True)  # group the edges by query point
        d_got = d_got[order].view(-1, k).sort(dim=1).values
        if not bool((bx[edge[1]] == by[edge[0]]).all()):
            errors.append("knn: an edge crosses batches")
        _close("knn distances", d_got, ref_d, 1e-5, errors)
    # torch_sparse: SparseTensor @ dense against a dense matmul.
    row = torch.randint(0, 40, (200,), generator=gen)
    col = torch.randint(0, 30, (200,), generator=gen)
    val = torch.randn(200, generator=gen)
    dense_rhs = torch.randn(30, 8, generator=gen)
    adj = SparseTensor(row=row.to(dev), col=col.to(dev), value=val.to(dev), sparse_sizes=(40, 30))
    got = adj.matmul(dense_rhs.to(dev)).cpu()
    dense_adj = torch.zeros(40, 30, dtype=torch.float64).index_put_(
        (row, col), val.double(), accumulate=True)
    _close("sparse matmul", got, dense_adj @ dense_rhs.double(), 1e-5, errors)
    # torch_geometric: a GCN layer on the device against the same layer on the CPU in float64.
    conv = GCNConv(8, 6)
    feats = torch.randn(60, 8, generator=gen)
    ei = torch.randint(0, 60, (2, 240), generator=gen)
    got = conv.to(dev)(feats.to(dev), ei.to(dev)).detach().cpu()
    ref = conv.cpu().double()(feats.double(), ei).detach()
    _close("GCNConv", got, ref, 1e-4, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return "scatter sum/max, knn (k=6, 2 batches), SparseTensor matmul, GCNConv match references"


def check_flash_attn(ctx):
    import flash_attn
    import flash_attn_2_cuda  # noqa: F401  (the compiled kernels)

    ctx.versions["flash_attn"] = getattr(flash_attn, "__version__", None)
    return f"flash_attn {ctx.versions['flash_attn']}"


def check_flash_attn_gpu(ctx):
    import torch
    from flash_attn import flash_attn_func

    major, minor = _capability_of(torch, torch.cuda.current_device())
    if major < 8:
        raise CheckFailed(f"FlashAttention-2 needs compute capability >= 8.0; this GPU is "
                          f"{major}.{minor}")
    gen = torch.Generator().manual_seed(3)
    batch, seq, heads, dim = 2, 77, 4, 64
    q, k, v = (torch.randn(batch, seq, heads, dim, generator=gen) for _ in range(3))
    errors = []
    for causal in (False, True):
        out = flash_attn_func(q.to("cuda", torch.float16), k.to("cuda", torch.float16),
                              v.to("cuda", torch.float16), dropout_p=0.0, causal=causal)
        qd, kd, vd = (t.double().transpose(1, 2) for t in (q.half(), k.half(), v.half()))
        scores = qd @ kd.transpose(-1, -2) / math.sqrt(dim)
        if causal:
            mask = torch.ones(seq, seq, dtype=torch.bool).triu(1)
            scores = scores.masked_fill(mask, float("-inf"))
        ref = (scores.softmax(-1) @ vd).transpose(1, 2)
        _close(f"attention causal={causal}", out.float().cpu(), ref, 5e-3, errors)
    if errors:
        raise CheckFailed("; ".join(errors))
    return f"flash_attn_func fp16 (B={batch}, S={seq}, H={heads}, D={dim}) matches float64 softmax"


def check_pointops(ctx):
    import pointops

    ctx.versions["pointops"] = getattr(pointops, "__version__", None) or ctx.versions.get(
        "pointops")
    missing = [f for f in ("knn_query", "farthest_point_sampling") if not hasattr(pointops, f)]
    if missing:
        raise CheckFailed("pointops lacks " + ", ".join(missing))
    return f"pointops {ctx.versions['pointops']} from {os.path.dirname(pointops.__file__)}"


def _brute_fps(xyz, offset, new_offset):
    """Farthest point sampling on the CPU in float64: each scene starts at its first point; the
    lowest index wins among equal maxima. Returns the global indices."""
    import torch

    picks = []
    start, nstart = 0, 0
    for end, nend in zip(offset.tolist(), new_offset.tolist()):
        pts = xyz[start:end].double()
        count = nend - nstart
        if count > 0:
            mind = torch.full((end - start,), float("inf"), dtype=torch.float64)
            cur = 0
            for _ in range(count):
                picks.append(start + cur)
                mind = torch.minimum(mind, ((pts - pts[cur]) ** 2).sum(1))
                cur = int(torch.argmax(mind))
        start, nstart = end, nend
    return torch.tensor(picks, dtype=torch.long)


def check_pointops_gpu(ctx):
    import torch
    import pointops

    dev = ctx.device
    gen = torch.Generator().manual_seed(11)
    sizes = [700, 450]
    xyz = torch.rand(sum(sizes), 3, generator=gen) * torch.tensor([4.0, 3.0, 2.0])
    offset = torch.tensor([700, 1150], dtype=torch.int32)
    errors = []
    # kNN self-query.
    k = 16
    idx, dist = pointops.knn_query(k, xyz.to(dev), offset.to(dev))
    idx, dist = idx.long().cpu(), dist.double().cpu()
    scene = torch.cat([torch.zeros(700, dtype=torch.long), torch.ones(450, dtype=torch.long)])
    ref_d, ref_i = _brute_knn(xyz, xyz, k, scene, scene)
    if tuple(idx.shape) != (xyz.shape[0], k):
        errors.append(f"knn_query idx shape {tuple(idx.shape)}, expected ({xyz.shape[0]}, {k})")
    else:
        if bool((idx < 0).any()) or bool((scene[idx.clamp(min=0)] != scene[:, None]).any()):
            errors.append("knn_query returned a neighbour outside the query's scene")
        # The chosen neighbours must be as near as the true k nearest (exact up to float ties).
        d_of_idx = (xyz[idx.clamp(min=0)].double() - xyz[:, None].double()).norm(dim=2)
        _close("knn_query neighbour distances", d_of_idx, ref_d, 1e-5, errors)
        _close("knn_query dist output", dist, ref_d, 1e-4, errors)
        exact = float((idx == ref_i).double().mean())
        if exact < 0.999:
            errors.append(f"knn_query indices agree with brute force for only {exact:.1%}")
    # Farthest point sampling, 2 scenes.
    new_offset = torch.tensor([90, 150], dtype=torch.int32)
    got = pointops.farthest_point_sampling(xyz.to(dev), offset.to(dev), new_offset.to(dev))
    got = got.long().cpu()
    ref = _brute_fps(xyz, offset, new_offset)
    note = ""
    if tuple(got.shape) != tuple(ref.shape):
        errors.append(f"farthest_point_sampling gave {tuple(got.shape)} indices, expected "
                      f"{tuple(ref.shape)}")
    elif not bool((got == ref).all()):
        first = int((got != ref).nonzero()[0])
        # Accept only a float near-tie at the first difference: both candidates equally far
        # from the samples already chosen in their scene.
        scene_no = int((new_offset.long() <= first).sum())
        lo = 0 if scene_no == 0 else int(offset[scene_no - 1])
        hi = int(offset[scene_no])
        prev = got[:first]
        prev = prev[(prev >= lo) & (prev < hi)]
        pts = xyz.double()

        def gap(i):
            return float(((pts[prev] - pts[i]) ** 2).sum(1).min())

        if prev.numel() == 0:  # a scene's first sample is its first point: no tie possible
            errors.append(f"farthest_point_sampling differs from brute force at sample {first}: "
                          f"{int(got[first])}, expected the scene's first point {int(ref[first])}")
        else:
            g_got, g_ref = gap(int(got[first])), gap(int(ref[first]))
            if abs(g_got - g_ref) > 1e-6 * max(1.0, g_ref):
                errors.append(f"farthest_point_sampling differs from brute force at sample "
                              f"{first}: {int(got[first])} (gap {g_got:.6g}) vs "
                              f"{int(ref[first])} (gap {g_ref:.6g})")
            else:
                note = f" (float near-tie at sample {first})"
    if errors:
        raise CheckFailed("; ".join(errors))
    return (f"knn_query k={k} on 2 scenes (700+450 points) and farthest_point_sampling 90+60 "
            f"samples match CPU brute force{note}")


def check_pointgroup_ops(ctx):
    import pointgroup_ops

    ctx.versions["pointgroup_ops"] = getattr(pointgroup_ops, "__version__", None) or \
        ctx.versions.get("pointgroup_ops")
    if not hasattr(pointgroup_ops, "ballquery_batch_p"):
        raise CheckFailed("pointgroup_ops lacks ballquery_batch_p")
    return f"pointgroup_ops {ctx.versions['pointgroup_ops']}"


def check_pointgroup_ops_gpu(ctx):
    import torch
    from pointgroup_ops import ballquery_batch_p

    dev = ctx.device
    gen = torch.Generator().manual_seed(5)
    # Integer grid points and a radius of 1.5: squared distances are integers and r^2 = 2.25,
    # so no pair sits on the boundary and the neighbour lists are exact.
    scenes = []
    for count in (300, 200):
        flat = torch.randperm(12 * 12 * 6, generator=gen)[:count]
        scenes.append(torch.stack([flat // 72, (flat // 6) % 12, flat % 6], 1).float())
    coords = torch.cat(scenes)
    batch_idxs = torch.cat([torch.zeros(300), torch.ones(200)]).to(torch.int32)
    batch_offsets = torch.tensor([0, 300, 500], dtype=torch.int32)
    radius, mean_active = 1.5, 50
    idx, start_len = ballquery_batch_p(coords.to(dev), batch_idxs.to(dev), batch_offsets.to(dev),
                                       radius, mean_active)
    idx, start_len = idx.long().cpu(), start_len.long().cpu()
    d2 = ((coords[:, None, :] - coords[None, :, :]) ** 2).sum(2)
    same = batch_idxs[:, None] == batch_idxs[None, :]
    near = (d2 < radius * radius) & same
    if tuple(start_len.shape) != (coords.shape[0], 2):
        raise CheckFailed(f"start_len shape {tuple(start_len.shape)}, expected "
                          f"({coords.shape[0]}, 2)")
    bad = []
    for i in range(coords.shape[0]):
        start, length = int(start_len[i, 0]), int(start_len[i, 1])
        got = idx[start:start + length].tolist()
        want = near[i].nonzero().flatten().tolist()
        if got != want:
            bad.append((i, got, want))
    if bad:
        i, got, want = bad[0]
        raise CheckFailed(f"ballquery_batch_p: {len(bad)} of {coords.shape[0]} neighbour lists "
                          f"differ from brute force; point {i}: got {got[:8]}, expected "
                          f"{want[:8]} (ascending indices, itself included)")
    total = int(near.sum())
    return f"ballquery_batch_p r={radius} on 2 scenes: {total} neighbours, all lists exact"


def check_open3d(ctx):
    import numpy as np
    import open3d as o3d

    ctx.versions["open3d"] = getattr(o3d, "__version__", None)
    pts = np.random.default_rng(0).random((500, 3))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    box = pcd.get_axis_aligned_bounding_box()
    if not (np.allclose(box.min_bound, pts.min(0)) and np.allclose(box.max_bound, pts.max(0))):
        raise CheckFailed("open3d bounding box disagrees with numpy")
    return f"open3d {ctx.versions['open3d']}: PointCloud of 500 points, bounding box matches"


CHECKS = [
    Check("python", check_python, description="Python version (PCB_EXPECT_PYTHON)"),
    Check("env_name", check_env_name, required=False,
          description="conda env name (PCB_ENV_NAME); informative"),
    Check("torch", check_torch, needs=("torch",),
          description="torch version and torch.version.cuda (PCB_EXPECT_TORCH[_CUDA])"),
    Check("cuda", check_cuda, gpu=True, needs=("torch",),
          description="CUDA available; device, capability vs torch's kernels, driver"),
    Check("cudnn", check_cudnn, needs=("torch",), description="cuDNN loads; its version"),
    Check("gpu_matmul", check_gpu_matmul, gpu=True, needs=("torch",),
          description="fp32 and fp16 matmul on the GPU vs CPU float64"),
    Check("cudnn_conv_gpu", check_cudnn_conv, gpu=True, needs=("torch",),
          description="cuDNN conv2d on the GPU vs CPU float64"),
    Check("jit_flags", check_jit_flags,
          description="SPCONV_DISABLE_JIT=1 and CUMM_DISABLE_JIT=1"),
    Check("spconv", check_spconv, isolate=True, needs=("spconv", "cumm"),
          description="spconv and cumm import; versions"),
    Check("spconv_gpu", check_spconv_gpu, gpu=True, isolate=True, needs=("spconv", "cumm"),
          description="SubMConv3d forward+backward vs dense conv3d at the active sites"),
    Check("torch_geometric", check_torch_geometric, isolate=True,
          needs=("torch_geometric", "torch_scatter", "torch_cluster", "torch_sparse"),
          description="torch_geometric, torch_scatter/cluster/sparse import; versions"),
    Check("torch_geometric_gpu", check_torch_geometric_gpu, gpu=True, isolate=True,
          needs=("torch_geometric", "torch_scatter", "torch_cluster", "torch_sparse"),
          description="scatter, knn, SparseTensor matmul, GCNConv on the GPU vs references"),
    Check("flash_attn", check_flash_attn, required=False, isolate=True, needs=("flash_attn",),
          description="flash-attn imports (optional: see docker/README.md)"),
    Check("flash_attn_gpu", check_flash_attn_gpu, required=False, gpu=True, isolate=True,
          needs=("flash_attn",), description="flash_attn_func vs float64 attention (sm80+)"),
    Check("pointops", check_pointops, isolate=True, needs=("pointops",),
          description="pointops imports"),
    Check("pointops_gpu", check_pointops_gpu, gpu=True, isolate=True, needs=("pointops",),
          description="knn_query and farthest_point_sampling vs CPU brute force"),
    Check("pointgroup_ops", check_pointgroup_ops, isolate=True, needs=("pointgroup_ops",),
          description="pointgroup_ops imports"),
    Check("pointgroup_ops_gpu", check_pointgroup_ops_gpu, gpu=True, isolate=True,
          needs=("pointgroup_ops",), description="ballquery_batch_p vs brute force"),
    Check("open3d", check_open3d, isolate=True, needs=("open3d",),
          description="open3d imports; a PointCloud works"),
]


def usage_error(message):
    """Bad input: say what was wrong on stderr and exit with status 2."""
    print(f"error: {message}", file=sys.stderr)
    raise SystemExit(2)


def load_extra_checks(checks):
    path = os.environ.get("PCB_SMOKE_EXTRA_CHECKS")
    if not path:
        return checks
    spec = importlib.util.spec_from_file_location("pcb_smoke_extra", path)
    if spec is None or spec.loader is None or not os.path.isfile(path):
        usage_error(f"PCB_SMOKE_EXTRA_CHECKS={path!r} is not a readable Python file")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    extra = []
    for item in getattr(module, "SMOKE_CHECKS", []):
        extra.append(Check(item["name"], item["func"], item.get("required", True),
                           item.get("gpu", False), item.get("isolate", False),
                           item.get("needs", ()), item.get("description", "")))
    names = {c.name for c in checks}
    clash = [c.name for c in extra if c.name in names]
    if clash:
        usage_error(f"PCB_SMOKE_EXTRA_CHECKS redefines checks {clash}")
    return checks + extra


# --------------------------------------------------------------------------------------------
# running


def run_inline(check, ctx):
    """Run a check in this process. Returns (ok, detail)."""
    try:
        detail = check.func(ctx)
        return True, str(detail or "ok")
    except CheckFailed as exc:
        return False, _with_hint(str(exc))
    except Exception as exc:  # any failure of the stack under test is a failed check
        tb = traceback.extract_tb(exc.__traceback__)
        where = f" at {os.path.basename(tb[-1].filename)}:{tb[-1].lineno}" if tb else ""
        msg = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        return False, _with_hint(f"{type(exc).__name__}: {msg}{where}")


def _signal_name(code):
    try:
        return signal.Signals(code).name
    except ValueError:
        return f"signal {code}"


def run_isolated(check, ctx, timeout):
    """Run a check in a child interpreter. Returns (ok, detail); the child's versions are
    merged into ctx.versions."""
    fd, result_path = tempfile.mkstemp(prefix="pcb-smoke-", suffix=".json")
    os.close(fd)
    os.unlink(result_path)
    cmd = [sys.executable, os.path.abspath(__file__), "--_child", check.name,
           "--_result", result_path, "--_device", ctx.device]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout,
                              errors="replace")
    except subprocess.TimeoutExpired:
        if os.path.exists(result_path):
            os.unlink(result_path)
        return False, f"timed out after {timeout:g} s (child process killed)"
    try:
        with open(result_path, encoding="utf-8") as fh:
            result = json.load(fh)
    except (OSError, ValueError):
        result = None
    finally:
        try:
            os.unlink(result_path)
        except OSError:
            pass
    if result is None:
        tail = " | ".join(line.strip() for line in proc.stderr.strip().splitlines()[-3:])
        if proc.returncode < 0:
            how = f"crashed: killed by {_signal_name(-proc.returncode)}"
        else:
            how = f"child exited with status {proc.returncode} without a result"
        return False, _with_hint(how + (f"; stderr: {tail}" if tail else ""))
    for key, value in (result.get("versions") or {}).items():
        if value is not None:
            ctx.versions[key] = value
    return bool(result.get("ok")), str(result.get("detail", ""))


def child_main(name, result_path, device):
    checks = {c.name: c for c in load_extra_checks(list(CHECKS))}
    ctx = Context(device)
    ctx.versions.update(distribution_versions())
    before = dict(ctx.versions)
    ok, detail = run_inline(checks[name], ctx)
    found = {k: v for k, v in ctx.versions.items() if before.get(k, object()) != v}
    with open(result_path, "w", encoding="utf-8") as fh:
        json.dump({"ok": ok, "detail": detail, "versions": found}, fh)
    return 0


def _split_names(value, known, flag):
    if value is None:
        return None
    names = [n.strip() for n in value.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown:
        usage_error(f"{flag}: unknown check(s) {', '.join(unknown)}; known checks: "
                         f"{', '.join(known)}")
    return names


def gpu_facts(torch):
    idx = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(idx)
    return {
        "name": props.name,
        "capability": f"{props.major}.{props.minor}",
        "driver": driver_version(),
        "cuda_driver_api": cuda_driver_api_version(),
        "memory_gib": round(props.total_memory / 2 ** 30, 1),
        "count": torch.cuda.device_count(),
    }


def build_report(results, versions, gpu, mode, complete, started):
    ok = all(r["ok"] for r in results if r["required"]) and complete
    return {
        "schema": SCHEMA,
        "ok": ok,
        "complete": complete,
        "mode": mode,
        "created": _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "seconds": round(time.monotonic() - started, 3),
        "versions": versions,
        "gpu": gpu,
        "checks": results,
    }


def write_json(path, report):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(report, fh, indent=2)
        fh.write("\n")
    os.replace(tmp, path)


def print_table(report, out=sys.stdout):
    rows = [("check", "required", "result", "seconds", "detail")]
    for r in report["checks"]:
        result = "SKIP" if r.get("skipped") else ("PASS" if r["ok"] else "FAIL")
        rows.append((r["name"], "yes" if r["required"] else "no", result, f"{r['seconds']:.2f}",
                     r["detail"]))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    for row in rows:
        print("  ".join(row[i].ljust(widths[i]) for i in range(4)) + "  " + row[4], file=out)
    v = report["versions"]
    shown = ", ".join(f"{k} {v[k]}" for k in ("python", "torch", "torch_cuda", "cudnn", "nvcc",
                                              "spconv", "torch_geometric", "flash_attn",
                                              "pointops", "pointgroup_ops", "open3d")
                      if k in v)
    print(f"versions: {shown}", file=out)
    gpu = report["gpu"]
    print("gpu: " + (f"{gpu['name']} (capability {gpu['capability']}, driver {gpu['driver']}, "
                     f"{gpu['memory_gib']} GiB)" if gpu else "none"), file=out)
    failed = [r["name"] for r in report["checks"] if r["required"] and not r["ok"]]
    print(f"{'OK' if report['ok'] else 'FAILED'}: {len(report['checks'])} checks in "
          f"{report['seconds']:.1f} s" + (f"; required checks failed: {', '.join(failed)}"
                                          if failed else ""), file=out)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", metavar="PATH", help="write the JSON report to PATH")
    parser.add_argument("--no-gpu", action="store_true",
                        help="skip the GPU checks (build time: no GPU is visible)")
    parser.add_argument("--only", metavar="A,B", help="run only these checks")
    parser.add_argument("--skip", metavar="A,B", help="do not run these checks")
    parser.add_argument("--optional", metavar="A,B",
                        help="treat these checks as not required for this run")
    parser.add_argument("--require", metavar="A,B",
                        help="treat these checks as required for this run (e.g. flash_attn at "
                             "build time, where a package that does not import is a build error)")
    parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                        help=f"limit for each isolated check (default {DEFAULT_TIMEOUT:g})")
    parser.add_argument("--list", action="store_true", help="list the checks and exit")
    parser.add_argument("--_child", help=argparse.SUPPRESS)
    parser.add_argument("--_result", help=argparse.SUPPRESS)
    parser.add_argument("--_device", default="cuda", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.timeout > 0:
        parser.error(f"--timeout must be a positive number of seconds, got {args.timeout:g}")
    if args.json:
        parent = os.path.dirname(os.path.abspath(args.json))
        if not os.path.isdir(parent):
            parser.error(f"--json {args.json}: directory {parent} does not exist")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args._child:
        return child_main(args._child, args._result, args._device)
    checks = load_extra_checks(list(CHECKS))
    known = [c.name for c in checks]
    if args.list:
        for c in checks:
            kind = ("gpu" if c.gpu else "cpu") + (", child process" if c.isolate else "")
            print(f"{c.name:22s} {'required' if c.required else 'optional':9s} {kind:20s} "
                  f"{c.description}")
        return 0
    only = _split_names(args.only, known, "--only")
    skip = _split_names(args.skip, known, "--skip") or []
    optional = set(_split_names(args.optional, known, "--optional") or [])
    require = set(_split_names(args.require, known, "--require") or [])
    if optional & require:
        usage_error(f"--optional and --require both name {', '.join(sorted(optional & require))}")
    selected = [c for c in checks if (only is None or c.name in only) and c.name not in skip]

    started = time.monotonic()
    versions = {"python": platform.python_version(), "torch": None, "torch_cuda": None,
                "cudnn": None, "nvcc": nvcc_version(), "env_name": env_name()}
    versions.update(distribution_versions())
    try:
        import torch  # the parent needs torch for the GPU facts; its import is rarely the crash
    except Exception:
        torch = None
    if torch is not None:
        versions["torch"] = torch.__version__
        versions["torch_cuda"] = torch.version.cuda
        try:
            versions["cudnn"] = cudnn_version_string(torch.backends.cudnn.version())
        except Exception:
            pass
    mode = "no-gpu" if args.no_gpu else "gpu"
    gpu, no_cuda = None, None
    if not args.no_gpu and any(c.gpu for c in selected):
        no_cuda = cuda_unavailable_reason(torch)
        if no_cuda is None:
            try:
                gpu = gpu_facts(torch)
            except Exception as exc:
                no_cuda = _with_hint(f"reading the GPU's properties failed: {exc}")

    ctx = Context("cuda")
    ctx.versions = versions
    results = []
    for check in selected:
        t0 = time.monotonic()
        required = (check.required or check.name in require) and check.name not in optional
        skipped = False
        missing = _missing_modules(check.needs)
        if check.gpu and args.no_gpu:
            ok, skipped, required = False, True, False
            detail = "skipped: --no-gpu"
        elif missing:
            ok = False
            detail = "not installed" + (f": {', '.join(missing)}" if len(check.needs) > 1 else "")
        elif check.gpu and no_cuda:
            ok, detail = False, f"needs a CUDA GPU: {no_cuda}"
        elif check.isolate:
            ok, detail = run_isolated(check, ctx, args.timeout)
        else:
            ok, detail = run_inline(check, ctx)
        result = {"name": check.name, "ok": ok, "required": required,
                  "seconds": round(time.monotonic() - t0, 3), "detail": detail}
        if skipped:
            result["skipped"] = True
        results.append(result)
        if args.json:
            write_json(args.json, build_report(results, versions, gpu, mode, False, started))
    report = build_report(results, versions, gpu, mode, True, started)
    if args.json:
        write_json(args.json, report)
    print_table(report)
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
