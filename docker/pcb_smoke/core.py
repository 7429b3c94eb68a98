"""What every check is written with: the Check record, the Context it receives, CheckFailed, and
the small comparison helpers the numerical checks share."""
from __future__ import annotations

import importlib.util
import math
import os


class CheckFailed(Exception):
    """A check's result is wrong; the message is the detail shown to the user."""


class UsageError(Exception):
    """Bad command-line or environment input; the message names it (exit status 2)."""


class Context:
    """What a check function gets: the device to use and a dict for versions it finds."""

    def __init__(self, device: str = "cuda"):
        self.device = device
        self.versions: dict = {}


class Check:
    """One named check. `func(ctx)` returns a detail string or raises. `gpu`: needs a CUDA device;
    `isolate`: runs in a child process (it loads compiled extensions that may crash); `needs`:
    modules that must be importable, else the check reports "not installed"."""

    def __init__(self, name, func, required=True, gpu=False, isolate=False, needs=(),
                 description=""):
        self.name = name
        self.func = func
        self.required = bool(required)
        self.gpu = bool(gpu)
        self.isolate = bool(isolate)
        self.needs = tuple(needs)
        self.description = description


def env_expect(var):
    """The expectation set in environment variable `var`, or None when it is unset or empty."""
    value = os.environ.get(var, "").strip()
    return value or None


def missing_modules(names):
    missing = []
    for name in names:
        try:
            if importlib.util.find_spec(name) is None:
                missing.append(name)
        except (ImportError, ValueError):
            missing.append(name)
    return missing


def max_abs(a, b):
    return float((a.double() - b.double()).abs().max().item()) if a.numel() else 0.0


def close(name, got, ref, rel, errors):
    """Append to errors when got and ref differ by more than rel * max(1, |ref|max)."""
    if tuple(got.shape) != tuple(ref.shape):
        errors.append(f"{name}: shape {tuple(got.shape)} != reference {tuple(ref.shape)}")
        return 0.0
    err = max_abs(got, ref)
    scale = max(1.0, float(ref.double().abs().max().item())) if ref.numel() else 1.0
    if not math.isfinite(err) or err > rel * scale:
        errors.append(f"{name}: max abs error {err:.3g} > {rel * scale:.3g}")
    return err


def brute_knn(x, y, k, batch_x, batch_y):
    """For each row of y: the k nearest rows of x in the same batch (float64). The reference of
    the PyG and pointops kNN checks."""
    import torch

    d = torch.cdist(y.double(), x.double())
    d[batch_y[:, None] != batch_x[None, :]] = float("inf")
    return d.topk(k, dim=1, largest=False)


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


def with_hint(message):
    """The message, followed by the hint of the first known failure it mentions."""
    low = message.lower()
    for needle, hint in HINTS:
        if needle.lower() in low:
            return f"{message} (hint: {hint})"
    return message
