// subtraction and the gradient of its first input (the second one is segment_sum of
// gather_kernels.cu).
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

// out[r, k] = a[r / ns, k] - b[idx[r], k]; zeros for a missing idx[r].
template <typename T, typename index_t, typename off_t>
__global__ void subtraction_kernel(const T* __restrict__ a, const T* __restrict__ b,
                                   const index_t* __restrict__ idx, T* __restrict__ out, off_t rows,
                                   off_t ns, off_t c, int64_t n2) {
  const off_t total = rows * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / c;
    const off_t k = e - r * c;
    const index_t s = idx[r];
    T v = zero<T>();
    if (valid_index(s, n2)) v = sub(a[(r / ns) * c + k], b[static_cast<off_t>(s) * c + k]);
    out[e] = v;
  }
}

// g1[i, k] = sum over valid j of grad[i, j, k]
template <typename T, typename index_t, typename off_t>
__global__ void subtraction_grad1_kernel(const T* __restrict__ grad, const index_t* __restrict__ idx,
                                         T* __restrict__ g1, off_t n, off_t ns, off_t c, int64_t n2) {
  using acc = acc_t<T>;
  const off_t total = n * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t i = e / c;
    const off_t k = e - i * c;
    acc sum = 0;
    for (off_t j = 0; j < ns; ++j) {
      if (valid_index(idx[i * ns + j], n2)) sum += to_acc(grad[(i * ns + j) * c + k]);
    }
    g1[e] = from_acc<T>(sum);
  }
}

}  // namespace

cudaError_t subtraction_forward(const Launch& l, FloatType ft, IndexType it, const void* a,
                                const void* b, const void* idx, void* out, int64_t n, int64_t ns,
                                int64_t c, int64_t n2) {
  const int64_t total = n * ns * c;
  const bool use32 = fits32({total, n * c, n2 * c});
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        subtraction_kernel<scalar_t, index_t, off_t><<<blocks_for(total, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(a), static_cast<const scalar_t*>(b),
            static_cast<const index_t*>(idx), static_cast<scalar_t*>(out),
            static_cast<off_t>(n * ns), static_cast<off_t>(ns), static_cast<off_t>(c), n2);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t subtraction_grad_input1(const Launch& l, FloatType ft, IndexType it, const void* grad,
                                    const void* idx, void* g1, int64_t n, int64_t ns, int64_t c,
                                    int64_t n2) {
  const bool use32 = fits32({n * ns * c});
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        subtraction_grad1_kernel<scalar_t, index_t, off_t><<<blocks_for(n * c, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(grad), static_cast<const index_t*>(idx),
            static_cast<scalar_t*>(g1), static_cast<off_t>(n), static_cast<off_t>(ns),
            static_cast<off_t>(c), n2);
        return cudaGetLastError();
      });
    });
  });
}

}  // namespace cuda
}  // namespace pointops
