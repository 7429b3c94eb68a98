"""Facts the parent process gathers without risky imports: installed package versions (from
metadata), the conda env, nvcc, the NVIDIA driver and the GPU. They fill the report's
`versions` and `gpu` objects."""
from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys

from .core import with_hint

DIST_KEYS = {
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

    found = {key: None for key in DIST_KEYS}
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
        for key, pred in DIST_KEYS.items():
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
        return with_hint(f"CUDA is not usable: {first}{extra}")
    if not torch.cuda.is_available() or torch.cuda.device_count() == 0:
        return "no CUDA device is visible (run the container with --gpus all)"
    return None


def gpu_facts(torch):
    """The report's `gpu` object for the current CUDA device."""
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


def parent_versions():
    """The versions known before any check runs, and the torch module (None when it does not
    import: the parent needs torch for the GPU facts; its import is rarely the crash)."""
    versions = {"python": platform.python_version(), "torch": None, "torch_cuda": None,
                "cudnn": None, "nvcc": nvcc_version(), "env_name": env_name()}
    versions.update(distribution_versions())
    try:
        import torch
    except Exception:
        return versions, None
    versions["torch"] = torch.__version__
    versions["torch_cuda"] = torch.version.cuda
    try:
        versions["cudnn"] = cudnn_version_string(torch.backends.cudnn.version())
    except Exception:
        pass
    return versions, torch


def gpu_or_reason(torch):
    """(the report's gpu object, None) when CUDA works, else (None, why not)."""
    reason = cuda_unavailable_reason(torch)
    if reason is not None:
        return None, reason
    try:
        return gpu_facts(torch), None
    except Exception as exc:
        return None, with_hint(f"reading the GPU's properties failed: {exc}")
