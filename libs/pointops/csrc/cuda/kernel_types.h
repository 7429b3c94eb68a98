// The interface between the host code of the CUDA operators (*_cuda.cpp: validation, allocation,
// torch calls) and their kernels (*_kernels.cu). It uses no torch header, so that nvcc, which
// parses every .cu file once per target architecture plus once for the host, never parses one:
// tensors cross it as raw pointers, dtypes as the enums below, the stream and the device's SM
// count in a Launch. Each launcher returns the cudaError_t of its launches; the host code turns
// an error into an exception (cuda_host.h).
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pointops {
namespace cuda {

// The floating-point dtypes of the feature operators (torch float32, float64, float16,
// bfloat16); the kernels compute in float for the 16-bit ones, as torch's opmath does.
enum class FloatType : int { kFloat32, kFloat64, kFloat16, kBFloat16 };

// The dtypes of index tensors.
enum class IndexType : int { kInt32, kInt64 };

// Blocks of `threads` threads for one thread per item.
inline unsigned int blocks_for_items(int64_t items, int threads) {
  return static_cast<unsigned int>((items + threads - 1) / threads);
}

struct Launch {
  cudaStream_t stream;  // the current stream of the operator's device
  int sms;              // its number of SMs (grid sizes of the grid-stride loops)
};

}  // namespace cuda
}  // namespace pointops
