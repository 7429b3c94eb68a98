// Host-side glue of the CUDA operators (*_cuda.cpp): the Launch of the current device and torch
// dtypes as the kernels' enums; a launcher's error becomes an exception through C10_CUDA_CHECK.
// Not for .cu files (kernel_types.h says why).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "cuda/kernel_types.h"
#include "cuda/ops_cuda.h"

namespace pointops {
namespace cuda {

// The current stream and the SM count of the current device (set it first with a CUDAGuard).
inline Launch current_launch() {
  return Launch{c10::cuda::getCurrentCUDAStream(), current_device_properties()->multiProcessorCount};
}

// A dtype the operator's checks accepted as floating point.
inline FloatType float_type(const at::Tensor& t) {
  switch (t.scalar_type()) {
    case at::kDouble: return FloatType::kFloat64;
    case at::kHalf: return FloatType::kFloat16;
    case at::kBFloat16: return FloatType::kBFloat16;
    default: return FloatType::kFloat32;
  }
}

// A dtype the operator's checks accepted as an index (int32 or int64).
inline IndexType index_type(const at::Tensor& t) {
  return t.scalar_type() == at::kLong ? IndexType::kInt64 : IndexType::kInt32;
}

}  // namespace cuda
}  // namespace pointops
