"""Build script of the pointops extension (package `pointops`, compiled module `pointops._C`).

Sources: csrc/*.cpp (schemas and the module init), csrc/cpu/*.cpp (CPU kernels) and, when a
CUDA build is wanted, csrc/cuda/*.cu and csrc/cuda/*.cpp (CUDA kernels and registrations). A
CUDA build happens when FORCE_CUDA=1 or when torch sees a GPU and a CUDA toolkit (CUDA_HOME)
is present. TORCH_CUDA_ARCH_LIST and MAX_JOBS are read by
torch.utils.cpp_extension. Install with:

    pip install --no-build-isolation ./libs/pointops
"""
import glob
import os
import sys

from setuptools import find_packages, setup

VERSION = "1.0.0"
HERE = os.path.dirname(os.path.abspath(__file__))


def _rel(pattern):
    return sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))


# pip runs this file three times per build: twice for metadata (egg_info, dist_info) and once
# to build. Only a build needs torch's extension machinery, whose import takes seconds.
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "bdist_egg", "install", "develop", "editable_wheel"}


def _builds():
    return bool(BUILD_COMMANDS.intersection(sys.argv[1:]))


def _want_cuda():
    import torch
    from torch.utils.cpp_extension import CUDA_HOME

    force = os.environ.get("FORCE_CUDA", "0")
    if force not in ("", "0"):
        return True
    return torch.cuda.is_available() and CUDA_HOME is not None


def _extension():
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    sources = _rel("csrc/*.cpp") + _rel("csrc/cpu/*.cpp")
    include_dirs = [os.path.join(HERE, "csrc")]
    # Exactness: no FMA contraction and no fast-math anywhere, so that the CPU and the CUDA
    # kernels evaluate every distance with the same roundings (identical neighbour orders).
    # No -std flag: torch.utils.cpp_extension adds the standard its headers need.
    cxx = ["-O3", "-ffp-contract=off", "-fno-fast-math"]
    if _want_cuda():
        sources += _rel("csrc/cuda/*.cu") + _rel("csrc/cuda/*.cpp")
        nvcc = ["-O3", "-lineinfo"]
        return CUDAExtension(
            name="pointops._C",
            sources=sources,
            include_dirs=include_dirs,
            define_macros=[("POINTOPS_WITH_CUDA", "1")],
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        )
    return CppExtension(
        name="pointops._C",
        sources=sources,
        include_dirs=include_dirs,
        extra_compile_args={"cxx": cxx},
    )


def _build_commands():
    from torch.utils.cpp_extension import BuildExtension

    return {"build_ext": BuildExtension.with_options(use_ninja=True)}


setup(
    name="pointops",
    version=VERSION,
    description="Point-cloud operators for Pointcept models (kNN, ball query, FPS, grouping, "
    "interpolation, attention steps) with CPU and CUDA kernels",
    packages=find_packages(include=["pointops", "pointops.*"]),
    ext_modules=[_extension()] if _builds() else [],
    cmdclass=_build_commands() if _builds() else {},
    python_requires=">=3.8",
    install_requires=[],  # torch is required but deliberately not declared (see pyproject.toml)
    zip_safe=False,
)
