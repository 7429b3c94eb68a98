"""A tiny CUDA torch extension that proves the compile-check toolchain works
(nvcc, the assembled CUDA_HOME, torch's headers) before the project's libraries are built."""
from setuptools import setup
from torch.utils.cpp_extension import BuildExtension, CUDAExtension

setup(
    name="pcb-cuda-selftest",
    version="0.0.1",
    ext_modules=[CUDAExtension("pcb_cuda_selftest", ["selftest.cpp", "selftest_kernel.cu"])],
    cmdclass={"build_ext": BuildExtension},
)
