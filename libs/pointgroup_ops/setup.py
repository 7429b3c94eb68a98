"""Build script for pointgroup_ops (package) and pointgroup_ops_cuda (compiled module).

Install from the repository (the build rules and a shared header live in libs/common):

    pip install --no-build-isolation ./libs/pointgroup_ops

CUDA kernels are built when FORCE_CUDA is set, or when torch sees a GPU and a CUDA toolkit is
found; FORCE_CPU=1 leaves them out. A CPU-only build keeps the module name pointgroup_ops_cuda.
TORCH_CUDA_ARCH_LIST and MAX_JOBS are read by torch's BuildExtension. The rules are those of
libs/common/ext_build.py, shared with pointops.
"""
import os
import sys

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))

# The build rules shared with the other library (libs/common/ext_build.py).
sys.path.insert(0, os.path.join(HERE, "..", "common"))
try:
    import ext_build as rules
except ImportError:
    raise SystemExit("libs/common/ext_build.py not found next to libs/pointgroup_ops: "
                     "build from the repository's libs/ folder") from None


def _version():
    scope = {}
    with open(os.path.join(HERE, "pointgroup_ops", "_version.py")) as f:
        exec(f.read(), scope)
    return scope["__version__"]


setup(
    name="pointgroup_ops",
    version=_version(),
    description="Ball query with batch offsets and BFS clustering for PointGroup-style instance segmentation",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    python_requires=">=3.8",
    zip_safe=False,
    **rules.setup_args(
        sys.argv,
        lambda: rules.extension(
            "pointgroup_ops_cuda",
            HERE,
            common=["csrc/*.cpp", "csrc/cpu/*.cpp"],
            cuda=["csrc/cuda/*.cu", "csrc/cuda/*.cpp"],
            cpu_only=["csrc/no_cuda/*.cpp"],
        ),
    ),
)
