"""Build script of the pointops extension (package `pointops`, compiled module `pointops._C`).

Install from the repository (the build rules and a shared header live in libs/common):

    pip install --no-build-isolation ./libs/pointops

Sources: csrc/*.cpp (schemas and the module init), csrc/cpu/*.cpp (CPU kernels) and, in a
CUDA build, csrc/cuda/**/*.cu and csrc/cuda/**/*.cpp (CUDA kernels and registrations). A CUDA
build happens when FORCE_CUDA is set, or when torch sees a GPU and a CUDA toolkit is found;
FORCE_CPU=1 leaves the CUDA kernels out. TORCH_CUDA_ARCH_LIST and MAX_JOBS are read by
torch.utils.cpp_extension. The rules are those of libs/common/ext_build.py, shared with
pointgroup_ops.
"""
import os
import sys

from setuptools import find_packages, setup

VERSION = "1.0.0"
HERE = os.path.dirname(os.path.abspath(__file__))

# The build rules shared with the other library (libs/common/ext_build.py).
sys.path.insert(0, os.path.join(HERE, "..", "common"))
try:
    import ext_build as rules
except ImportError:
    raise SystemExit("libs/common/ext_build.py not found next to libs/pointops: "
                     "build from the repository's libs/ folder") from None


setup(
    name="pointops",
    version=VERSION,
    description="Point-cloud operators for Pointcept models (kNN, ball query, FPS, grouping, "
    "interpolation, attention steps) with CPU and CUDA kernels",
    packages=find_packages(include=["pointops", "pointops.*"]),
    python_requires=">=3.8",
    install_requires=[],  # torch is required but deliberately not declared (see pyproject.toml)
    zip_safe=False,
    **rules.setup_args(
        sys.argv,
        lambda: rules.extension(
            "pointops._C",
            HERE,
            common=["csrc/*.cpp", "csrc/cpu/*.cpp"],
            cuda=["csrc/cuda/**/*.cu", "csrc/cuda/**/*.cpp"],
            # message.h lives in libs/common (always on the include path, found as "message.h"
            # and "../common/message.h"); ".." (libs/) finds it as "common/message.h".
            include_dirs=["csrc", ".."],
            cuda_macros=[("POINTOPS_WITH_CUDA", "1")],
        ),
    ),
)
