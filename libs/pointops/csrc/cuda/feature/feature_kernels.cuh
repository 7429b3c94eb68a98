// Device helpers shared by the kernels of the feature operators (grouping, grouping2,
// subtraction, aggregation, attention steps, offset2batch / batch2offset): the device types of
// the four float dtypes and their conversions, the dtype switches, grid sizes and the
// index rule. No torch header (see kernel_types.h).
//
// Index arithmetic: every kernel that walks a flat output is instantiated twice, with
// 32-bit (fast division) and 64-bit offsets; the 64-bit one is picked whenever an
// element count of any tensor involved can reach 2^30, so m * ns * c >= 2^31 works.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <initializer_list>

#include "cuda/feature/feature_kernels.h"
#include "cuda/kernel_types.h"

namespace pointops {
namespace cuda {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // independent elements per thread and loop trip (memory-level parallelism)

// Grid for a grid-stride loop over `work` items: enough blocks to fill the GPU a few
// times over, never more than needed.
inline unsigned int blocks_for(int64_t work, const Launch& l, int threads = kThreads) {
  const int64_t want = (work + threads - 1) / threads;
  const int64_t cap = int64_t(l.sms) * 16;
  return static_cast<unsigned int>(std::max<int64_t>(1, std::min(want, cap)));
}

// True when 32-bit offsets are safe for every given element count (with head room for
// the grid-stride increments: at most kUnroll * 16 * SMs * kThreads, far below 2^30).
inline bool fits32(std::initializer_list<int64_t> counts) {
  for (int64_t v : counts) {
    if (v >= (int64_t(1) << 30)) return false;
  }
  return true;
}

inline bool aligned(const void* p, size_t a) {
  return reinterpret_cast<uintptr_t>(p) % a == 0;
}

template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

template <typename I>
__device__ __forceinline__ bool valid_index(I s, int64_t n) {
  return static_cast<int64_t>(s) >= 0 && static_cast<int64_t>(s) < n;
}

// ------------------------------------------------------------------ float types
// T is float, double, __half or __nv_bfloat16 (torch's float16 / bfloat16 storage); sums and
// products run in acc_t<T> (float for the 16-bit types, as torch's opmath_type). The
// conversions are the ones c10::Half / c10::BFloat16 use in device code, so results are the
// bits torch's own types would give.

template <typename T>
struct AccType {
  using type = T;
};
template <>
struct AccType<__half> {
  using type = float;
};
template <>
struct AccType<__nv_bfloat16> {
  using type = float;
};
template <typename T>
using acc_t = typename AccType<T>::type;

__device__ __forceinline__ float to_acc(float v) { return v; }
__device__ __forceinline__ double to_acc(double v) { return v; }
__device__ __forceinline__ float to_acc(__half v) { return __half2float(v); }
__device__ __forceinline__ float to_acc(__nv_bfloat16 v) { return __bfloat162float(v); }

template <typename T>
__device__ __forceinline__ T from_acc(acc_t<T> v) {
  return v;
}
template <>
__device__ __forceinline__ __half from_acc<__half>(float v) {
  return __float2half(v);
}
template <>
__device__ __forceinline__ __nv_bfloat16 from_acc<__nv_bfloat16>(float v) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  return __float2bfloat16(v);
#else
  // c10's software rounding below sm_80: to nearest even, any NaN -> 0x7fc0.
  if (v != v) return __ushort_as_bfloat16(0x7fc0);
  const uint32_t u = __float_as_uint(v);
  return __ushort_as_bfloat16(static_cast<unsigned short>((u + ((u >> 16) & 1u) + 0x7fffu) >> 16));
#endif
}

template <typename T>
__device__ __forceinline__ T zero() {
  return from_acc<T>(acc_t<T>(0));
}

// a - b rounded to T (for the 16-bit types: in float, then rounded, as c10's operator-).
template <typename T>
__device__ __forceinline__ T sub(T a, T b) {
  return from_acc<T>(to_acc(a) - to_acc(b));
}

// ------------------------------------------------------------------ dtype switches
// Each body is a lambda returning cudaError_t; `scalar_t`, `index_t` or `off_t` names the type.

#define POINTOPS_DISPATCH_FLOAT(TYPE, ...)                    \
  [&]() -> cudaError_t {                                      \
    switch (TYPE) {                                           \
      case ::pointops::cuda::FloatType::kFloat64: {           \
        using scalar_t = double;                              \
        return __VA_ARGS__();                                 \
      }                                                       \
      case ::pointops::cuda::FloatType::kFloat16: {           \
        using scalar_t = __half;                              \
        return __VA_ARGS__();                                 \
      }                                                       \
      case ::pointops::cuda::FloatType::kBFloat16: {          \
        using scalar_t = __nv_bfloat16;                       \
        return __VA_ARGS__();                                 \
      }                                                       \
      default: {                                              \
        using scalar_t = float;                               \
        return __VA_ARGS__();                                 \
      }                                                       \
    }                                                         \
  }()

#define POINTOPS_DISPATCH_INDEX(TYPE, ...)               \
  [&]() -> cudaError_t {                                 \
    if ((TYPE) == ::pointops::cuda::IndexType::kInt64) { \
      using index_t = int64_t;                           \
      return __VA_ARGS__();                              \
    }                                                    \
    using index_t = int32_t;                             \
    return __VA_ARGS__();                                \
  }()

#define POINTOPS_DISPATCH_OFFSET(use32, ...) \
  [&]() -> cudaError_t {                     \
    if (use32) {                             \
      using off_t = int32_t;                 \
      return __VA_ARGS__();                  \
    }                                        \
    using off_t = int64_t;                   \
    return __VA_ARGS__();                    \
  }()

}  // namespace cuda
}  // namespace pointops
