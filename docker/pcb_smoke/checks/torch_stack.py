"""The PyTorch stack: Python, the conda env, torch and its CUDA build, the GPU, cuDNN, and the
JIT flags spconv needs. These run in the parent process (torch is imported there anyway)."""
import os
import platform
import sys

from ..core import CheckFailed, close, env_expect
from ..facts import cuda_driver_api_version, cudnn_version_string, driver_version, env_name


def check_python(ctx):
    version = platform.python_version()
    ctx.versions["python"] = version
    expect = env_expect("PCB_EXPECT_PYTHON")
    if expect and not (version == expect or version.startswith(expect + ".")):
        raise CheckFailed(f"Python {version} at {sys.executable}; expected {expect}")
    return f"{version} ({sys.executable})"


def check_env_name(ctx):
    name = env_name()
    ctx.versions["env_name"] = name
    expect = env_expect("PCB_ENV_NAME")
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
    expect = env_expect("PCB_EXPECT_TORCH")
    if expect and torch.__version__.split("+")[0] != expect:
        problems.append(f"torch {torch.__version__}, expected {expect}")
    expect_cuda = env_expect("PCB_EXPECT_TORCH_CUDA")
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
    major, minor = torch.cuda.get_device_capability(idx)
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
    e32 = close("fp32", out, ref, 1e-4, errors)
    # Half precision exercises the tensor cores; its tolerance reflects fp16 rounding.
    out16 = (a.to(ctx.device, torch.float16) @ b.to(ctx.device, torch.float16)).cpu()
    e16 = close("fp16", out16, ref, 2e-2, errors)
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
    err = close("conv2d", out, ref, 1e-4, errors)
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
