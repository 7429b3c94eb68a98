// grouping with with_xyz: relative coordinates and features gathered in one pass (without
// with_xyz, grouping is gather_rows of gather_kernels.cu).
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

// out[r] = cat(xyz[s] - new_xyz[r / ns], feat[s]) with s = idx[r]; zeros for a missing s.
template <typename T, typename index_t, typename off_t>
__global__ void group_with_xyz_kernel(const T* __restrict__ feat, const T* __restrict__ xyz,
                                      const T* __restrict__ new_xyz, const index_t* __restrict__ idx,
                                      T* __restrict__ out, off_t rows, off_t ns, off_t c, int64_t n) {
  const off_t w = c + 3;
  const off_t total = rows * w;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t base = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < total;
       base += kUnroll * stride) {
    T v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      v[u] = zero<T>();
      if (e < total) {
        const off_t r = e / w;
        const off_t col = e - r * w;
        const index_t s = idx[r];
        if (valid_index(s, n)) {
          if (col < 3) {
            v[u] = sub(xyz[static_cast<off_t>(s) * 3 + col], new_xyz[(r / ns) * 3 + col]);
          } else {
            v[u] = feat[static_cast<off_t>(s) * c + (col - 3)];
          }
        }
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      if (e < total) out[e] = v[u];
    }
  }
}

}  // namespace

cudaError_t group_with_xyz(const Launch& l, FloatType ft, IndexType it, const void* feat,
                           const void* xyz, const void* new_xyz, const void* idx, void* out,
                           int64_t m, int64_t ns, int64_t c, int64_t n) {
  const int64_t total = m * ns * (c + 3);
  const bool use32 = fits32({total, n * c, n * 3});
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        group_with_xyz_kernel<scalar_t, index_t, off_t><<<blocks_for(total, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(feat), static_cast<const scalar_t*>(xyz),
            static_cast<const scalar_t*>(new_xyz), static_cast<const index_t*>(idx),
            static_cast<scalar_t*>(out), static_cast<off_t>(m * ns), static_cast<off_t>(ns),
            static_cast<off_t>(c), n);
        return cudaGetLastError();
      });
    });
  });
}

}  // namespace cuda
}  // namespace pointops
