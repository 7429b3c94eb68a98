// Small device helpers shared by the CUDA sources (ATen / c10 headers only).
#pragma once

#include <ATen/core/Tensor.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <cstdint>

namespace pointgroup_ops {

constexpr unsigned kFullMask = 0xffffffffu;

// Same evaluation order as squared_distance_host, without FMA contraction.
__device__ __forceinline__ float squared_distance_dev(float ax, float ay, float az, float bx, float by,
                                                      float bz) {
  const float dx = __fsub_rn(ax, bx), dy = __fsub_rn(ay, by), dz = __fsub_rn(az, bz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

__device__ __forceinline__ unsigned lanemask_lt(int lane) { return (1u << lane) - 1u; }

// Inclusive prefix sum of v over the lanes of a full warp.
__device__ __forceinline__ int warp_inclusive_sum(int v, int lane) {
  for (int s = 1; s < 32; s <<= 1) {
    const int below = __shfl_up_sync(kFullMask, v, s);
    if (lane >= s) v += below;
  }
  return v;
}

// Bitwise or of v over the lanes of a full warp (one instruction from sm_80 on).
__device__ __forceinline__ unsigned warp_or(unsigned v) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  return __reduce_or_sync(kFullMask, v);
#else
  for (int s = 16; s > 0; s >>= 1) v |= __shfl_xor_sync(kFullMask, v, s);
  return v;
#endif
}

inline int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace pointgroup_ops
