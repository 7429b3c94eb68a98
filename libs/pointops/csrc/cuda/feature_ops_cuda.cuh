// Device helpers and kernels shared by the CUDA feature ops (grouping, grouping2,
// subtraction, aggregation, attention steps). Host code includes only ATen core and c10
// CUDA headers (see ops_cuda.h).
//
// Index arithmetic: every kernel that walks a flat output is instantiated twice, with
// 32-bit (fast division) and 64-bit offsets; the 64-bit one is picked whenever an
// element count of any tensor involved can reach 2^30, so m * ns * c >= 2^31 works.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/OpMathType.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cstdint>

#include "../feature_ops.h"
#include "ops_cuda.h"

namespace pointops {
namespace feature {
namespace cuda {

constexpr int kThreads = 256;
constexpr int kUnroll = 4;  // independent elements per thread and loop trip (memory-level parallelism)

// Grid for a grid-stride loop over `work` items: enough blocks to fill the GPU a few
// times over, never more than needed.
inline unsigned int blocks_for(int64_t work, int threads = kThreads) {
  const int64_t want = (work + threads - 1) / threads;
  const int sms = pointops::current_device_properties()->multiProcessorCount;
  const int64_t cap = int64_t(sms) * 16;
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

#define POINTOPS_DISPATCH_OFFSET(use32, ...) \
  [&] {                                      \
    if (use32) {                             \
      using off_t = int32_t;                 \
      return __VA_ARGS__();                  \
    } else {                                 \
      using off_t = int64_t;                 \
      return __VA_ARGS__();                  \
    }                                        \
  }()

#define POINTOPS_DISPATCH_FLOAT(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)

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

// ---------------------------------------------------------------------------
// Row gather: out[r] = src[idx[r]] (zeros for an index outside [0, nsrc)). Rows are
// copied as raw words V (16, 8, 4 or 2 bytes), so it serves every dtype.
template <typename V, typename index_t, typename off_t>
__global__ void gather_rows_kernel(const V* __restrict__ src, const index_t* __restrict__ idx,
                                   V* __restrict__ out, off_t rows, off_t vpr, int64_t nsrc) {
  const off_t total = rows * vpr;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  // kUnroll independent words per thread and trip: their loads are in flight together.
  for (off_t base = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < total;
       base += kUnroll * stride) {
    V v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      v[u] = V{};
      if (e < total) {
        const off_t r = e / vpr;
        const index_t s = idx[r];
        if (valid_index(s, nsrc)) v[u] = src[static_cast<off_t>(s) * vpr + (e - r * vpr)];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      if (e < total) out[e] = v[u];
    }
  }
}

template <typename V, typename index_t>
void launch_gather_v(const at::Tensor& src, const at::Tensor& idx, at::Tensor& out, int64_t vpr) {
  const int64_t rows = idx.numel(), nsrc = src.size(0);
  const bool use32 = fits32({rows * vpr, nsrc * vpr});
  const auto stream = c10::cuda::getCurrentCUDAStream();
  POINTOPS_DISPATCH_OFFSET(use32, [&] {
    gather_rows_kernel<V, index_t, off_t><<<blocks_for(rows * vpr), kThreads, 0, stream>>>(
        reinterpret_cast<const V*>(src.data_ptr()), idx.data_ptr<index_t>(),
        reinterpret_cast<V*>(out.data_ptr()), static_cast<off_t>(rows), static_cast<off_t>(vpr), nsrc);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
}

// src (n, c) contiguous, idx contiguous (any shape, rows = numel), out (rows, c) contiguous.
inline void launch_gather(const at::Tensor& src, const at::Tensor& idx, at::Tensor& out) {
  const int64_t row_bytes = src.size(1) * static_cast<int64_t>(src.element_size());
  const void* s = src.data_ptr();
  const void* o = out.data_ptr();
  AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "pointops_gather", [&] {
    if (row_bytes % 16 == 0 && aligned(s, 16) && aligned(o, 16)) {
      launch_gather_v<uint4, index_t>(src, idx, out, row_bytes / 16);
    } else if (row_bytes % 8 == 0 && aligned(s, 8) && aligned(o, 8)) {
      launch_gather_v<uint2, index_t>(src, idx, out, row_bytes / 8);
    } else if (row_bytes % 4 == 0 && aligned(s, 4) && aligned(o, 4)) {
      launch_gather_v<unsigned int, index_t>(src, idx, out, row_bytes / 4);
    } else {
      launch_gather_v<unsigned short, index_t>(src, idx, out, row_bytes / 2);
    }
  });
}

// ---------------------------------------------------------------------------
// Deterministic segmented sum (the backward of a gather):
// out[r, k] = sign * sum over p in [rowptr[r], rowptr[r+1]) of grad[perm[p], offset + k],
// grad rows of length w, out (nrows, c); N consecutive columns per thread.
template <typename T, int N, typename off_t>
__global__ void segment_sum_kernel(const T* __restrict__ grad, const int64_t* __restrict__ perm,
                                   const int64_t* __restrict__ rowptr, T* __restrict__ out,
                                   off_t nrows, off_t c, int64_t w, int64_t offset, bool negate) {
  using acc_t = at::opmath_type<T>;
  using VecT = Vec<T, N>;
  const off_t cv = c / N;
  const off_t total = nrows * cv;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / cv;
    const off_t k = (e - r * cv) * N;
    acc_t acc[N];
#pragma unroll
    for (int q = 0; q < N; ++q) acc[q] = acc_t(0);
    const int64_t p0 = rowptr[r], p1 = rowptr[r + 1];
    int64_t p = p0;
    // Four loads in flight; the additions still happen in run order (deterministic).
    for (; p + 4 <= p1; p += 4) {
      VecT v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        v[u] = *reinterpret_cast<const VecT*>(grad + perm[p + u] * w + offset + k);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
#pragma unroll
        for (int q = 0; q < N; ++q) acc[q] += static_cast<acc_t>(v[u].v[q]);
      }
    }
    for (; p < p1; ++p) {
      const VecT v = *reinterpret_cast<const VecT*>(grad + perm[p] * w + offset + k);
#pragma unroll
      for (int q = 0; q < N; ++q) acc[q] += static_cast<acc_t>(v.v[q]);
    }
    VecT o;
#pragma unroll
    for (int q = 0; q < N; ++q) o.v[q] = static_cast<T>(negate ? -acc[q] : acc[q]);
    *reinterpret_cast<VecT*>(out + r * c + k) = o;
  }
}

// grad (rows_g, w) contiguous; out (nrows, c) contiguous; columns [offset, offset + c).
inline void launch_segment_sum(const at::Tensor& grad, const Csr& csr, at::Tensor& out,
                               int64_t offset, bool negate) {
  const int64_t nrows = out.size(0), c = out.size(1), w = grad.size(-1);
  if (out.numel() == 0) return;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({out.numel()});
  POINTOPS_DISPATCH_FLOAT(grad.scalar_type(), "pointops_segment_sum", [&] {
    constexpr int NV = 16 / sizeof(scalar_t);
    const bool vec = c % NV == 0 && w % NV == 0 && offset % NV == 0 &&
                     aligned(grad.data_ptr(), 16) && aligned(out.data_ptr(), 16);
    POINTOPS_DISPATCH_OFFSET(use32, [&] {
      if (vec) {
        segment_sum_kernel<scalar_t, NV, off_t><<<blocks_for(out.numel() / NV), kThreads, 0, stream>>>(
            grad.data_ptr<scalar_t>(), csr.perm.data_ptr<int64_t>(), csr.rowptr.data_ptr<int64_t>(),
            out.data_ptr<scalar_t>(), static_cast<off_t>(nrows), static_cast<off_t>(c), w, offset, negate);
      } else {
        segment_sum_kernel<scalar_t, 1, off_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            grad.data_ptr<scalar_t>(), csr.perm.data_ptr<int64_t>(), csr.rowptr.data_ptr<int64_t>(),
            out.data_ptr<scalar_t>(), static_cast<off_t>(nrows), static_cast<off_t>(c), w, offset, negate);
      }
      C10_CUDA_KERNEL_LAUNCH_CHECK();
    });
  });
}

}  // namespace cuda
}  // namespace feature
}  // namespace pointops
