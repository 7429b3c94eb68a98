"""Build rules shared by libs/pointops/setup.py and libs/pointgroup_ops/setup.py.

Each setup.py loads this file by its path (libs/common is not a package), so both libraries
build from the repository's libs/ folder with the same rules:

* A CUDA build happens when FORCE_CUDA is set, or, unless FORCE_CPU is set, when torch sees a
  GPU and a CUDA toolkit is found (torch's CUDA_HOME). FORCE_CUDA / FORCE_CPU count as set
  for any value but "" and "0"; setting both is an error.
* The same compiler flags: no FMA contraction and no fast-math in C++ (the CPU and CUDA
  kernels must round every distance alike), -O3 and line info for the CUDA sources.
* Build time (the numbers: libs/pointops/README.md, "Build time"): the C++ sources compile
  without debug information (-g0; Python's own CFLAGS often hold -g, and the debug information
  of torch's headers took a third to a half of each C++ compile), and nvcc runs the
  per-architecture steps of one .cu file on up to 4 threads (--threads: with the image's five
  architectures the longest files otherwise compile them one after the other and end the
  build alone). A threaded nvcc job of pointgroup_ops' largest file peaked at 3.1 GiB, within
  the 4 GiB a job that the MAX_JOBS rules count.
* libs/common is on the include path (message.h).
* torch is imported only when something is compiled: pip runs setup.py twice for metadata
  (egg_info, dist_info) before the build, and importing torch takes seconds.

TORCH_CUDA_ARCH_LIST and MAX_JOBS are read by torch.utils.cpp_extension.
"""
import glob
import os

COMMON_DIR = os.path.dirname(os.path.abspath(__file__))
BUILD_COMMANDS = {"build", "build_ext", "bdist_wheel", "bdist_egg", "install", "develop", "editable_wheel"}
CXX_FLAGS = ["-O3", "-ffp-contract=off", "-fno-fast-math", "-g0"]
NVCC_FLAGS = ["-O3", "-lineinfo", "--threads=4"]


def compiles(argv):
    """Whether this setup.py run compiles (as opposed to a metadata run)."""
    return bool(BUILD_COMMANDS.intersection(argv[1:]))


def env_flag(name):
    return os.environ.get(name, "") not in ("", "0")


def want_cuda():
    force_cuda, force_cpu = env_flag("FORCE_CUDA"), env_flag("FORCE_CPU")
    if force_cuda and force_cpu:
        raise SystemExit(
            f"FORCE_CUDA={os.environ['FORCE_CUDA']!r} and FORCE_CPU={os.environ['FORCE_CPU']!r} are both set; "
            "set at most one of them"
        )
    import torch
    from torch.utils.cpp_extension import CUDA_HOME

    if force_cuda:
        if torch.version.cuda is None:
            raise SystemExit(f"FORCE_CUDA is set but torch {torch.__version__} was built without CUDA")
        if CUDA_HOME is None:
            raise SystemExit("FORCE_CUDA is set but no CUDA toolkit was found (set CUDA_HOME or put nvcc on PATH)")
        return True
    return not force_cpu and torch.cuda.is_available() and CUDA_HOME is not None


def sources(lib_dir, *patterns):
    """Files matching the glob patterns ("**" spans folders), relative to lib_dir (setuptools
    wants relative paths)."""
    found = []
    for pattern in patterns:
        found += sorted(os.path.relpath(p, lib_dir) for p in glob.glob(os.path.join(lib_dir, pattern), recursive=True))
    return found


def extension(name, lib_dir, common, cuda, cpu_only=(), include_dirs=(), cuda_macros=()):
    """The extension `name`: sources matching `common` always, plus those matching `cuda` (and
    the macros cuda_macros) in a CUDA build or `cpu_only` in a CPU-only build. Patterns and
    include_dirs are relative to lib_dir."""
    from torch.utils.cpp_extension import CppExtension, CUDAExtension

    includes = [os.path.join(lib_dir, d) for d in include_dirs] + [COMMON_DIR]
    if want_cuda():
        return CUDAExtension(
            name=name,
            sources=sources(lib_dir, *common, *cuda),
            include_dirs=includes,
            define_macros=list(cuda_macros),
            extra_compile_args={"cxx": CXX_FLAGS, "nvcc": NVCC_FLAGS},
        )
    return CppExtension(
        name=name,
        sources=sources(lib_dir, *common, *cpu_only),
        include_dirs=includes,
        extra_compile_args={"cxx": CXX_FLAGS},
    )


def setup_args(argv, make_extension):
    """ext_modules and cmdclass for setup(): empty in a metadata run."""
    if not compiles(argv):
        return {"ext_modules": [], "cmdclass": {}}
    from torch.utils.cpp_extension import BuildExtension

    return {"ext_modules": [make_extension()], "cmdclass": {"build_ext": BuildExtension.with_options(use_ninja=True)}}
