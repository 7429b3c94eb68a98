"""Build script for pointgroup_ops (package) and pointgroup_ops_cuda (compiled module).

CUDA kernels are built when torch has CUDA and a CUDA toolkit is found (or when
FORCE_CUDA=1); otherwise a CPU-only module with the same name is built.
TORCH_CUDA_ARCH_LIST and MAX_JOBS are read by torch's BuildExtension.
Install with:  pip install --no-build-isolation ./libs/pointgroup_ops
"""
import glob
import os
import sys

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(HERE, "pointgroup_ops", "_version.py")) as f:
        scope = {}
        exec(f.read(), scope)
        return scope["__version__"]


# pip runs this file three times per build: twice for metadata (egg_info, dist_info) and once
# to build. Only a build needs torch's extension machinery, whose import takes seconds.
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "bdist_egg", "install", "develop", "editable_wheel"}


def _builds():
    return bool(BUILD_COMMANDS.intersection(sys.argv[1:]))


def _want_cuda():
    import torch
    from torch.utils.cpp_extension import CUDA_HOME

    if os.environ.get("FORCE_CUDA", "0") == "1":
        return True
    if os.environ.get("FORCE_CPU", "0") == "1":
        return False
    return torch.version.cuda is not None and CUDA_HOME is not None


def _extension():
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    rel = lambda pattern: sorted(os.path.relpath(p, HERE) for p in glob.glob(os.path.join(HERE, pattern)))
    sources = rel("csrc/*.cpp") + rel("csrc/cpu/*.cpp")
    cxx = ["-O3", "-ffp-contract=off"]
    if _want_cuda():
        sources += rel("csrc/cuda/*.cu")
        nvcc = ["-O3", "--fmad=false", "-DWITH_CUDA"]
        return CUDAExtension(
            name="pointgroup_ops_cuda",
            sources=sources,
            define_macros=[("WITH_CUDA", None)],
            extra_compile_args={"cxx": cxx, "nvcc": nvcc},
        )
    return CppExtension(name="pointgroup_ops_cuda", sources=sources, extra_compile_args={"cxx": cxx})


def _build_commands():
    from torch.utils.cpp_extension import BuildExtension

    return {"build_ext": BuildExtension.with_options(use_ninja=True)}


setup(
    name="pointgroup_ops",
    version=_version(),
    description="Ball query with batch offsets and BFS clustering for PointGroup-style instance segmentation",
    packages=find_packages(exclude=["tests", "tests.*", "benchmarks"]),
    ext_modules=[_extension()] if _builds() else [],
    cmdclass=_build_commands() if _builds() else {},
    python_requires=">=3.8",
    zip_safe=False,
)
