// aggregation and its gradients (the one of input as a deterministic segmented sum).
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

// out[i, k] = sum over valid j of (input[idx[i, j], k] + pos[i, j, k]) * w[i, j, k % wc]
template <typename T, typename index_t, typename off_t>
__global__ void aggregation_kernel(const T* __restrict__ input, const T* __restrict__ pos,
                                   const T* __restrict__ wt, const index_t* __restrict__ idx,
                                   T* __restrict__ out, off_t n, off_t ns, off_t c, off_t wc, int64_t n2) {
  using acc = acc_t<T>;
  const off_t total = n * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t i = e / c;
    const off_t k = e - i * c;
    const off_t kw = k % wc;
    acc sum = 0;
    for (off_t j = 0; j < ns; ++j) {
      const off_t ij = i * ns + j;
      const index_t s = idx[ij];
      if (!valid_index(s, n2)) continue;
      sum += (to_acc(input[static_cast<off_t>(s) * c + k]) + to_acc(pos[ij * c + k])) *
             to_acc(wt[ij * wc + kw]);
    }
    out[e] = from_acc<T>(sum);
  }
}

// grad_position[i, j, k] = valid ? g[i, k] * w[i, j, k % wc] : 0
template <typename T, typename index_t, typename off_t>
__global__ void aggregation_grad_pos_kernel(const T* __restrict__ g, const T* __restrict__ wt,
                                            const index_t* __restrict__ idx, T* __restrict__ gp,
                                            off_t rows, off_t ns, off_t c, off_t wc, int64_t n2) {
  const off_t total = rows * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t ij = e / c;
    const off_t k = e - ij * c;
    T v = zero<T>();
    if (valid_index(idx[ij], n2)) {
      v = from_acc<T>(to_acc(g[(ij / ns) * c + k]) * to_acc(wt[ij * wc + k % wc]));
    }
    gp[e] = v;
  }
}

// grad_weight[i, j, q] = valid ? sum over k = q, q + wc, ... of g[i, k] * (input[s, k] + pos[i, j, k]) : 0
template <typename T, typename index_t, typename off_t>
__global__ void aggregation_grad_weight_kernel(const T* __restrict__ g, const T* __restrict__ input,
                                               const T* __restrict__ pos, const index_t* __restrict__ idx,
                                               T* __restrict__ gw, off_t rows, off_t ns, off_t c,
                                               off_t wc, int64_t n2) {
  using acc = acc_t<T>;
  const off_t total = rows * wc;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t ij = e / wc;
    const off_t q = e - ij * wc;
    const index_t s = idx[ij];
    acc sum = 0;
    if (valid_index(s, n2)) {
      const off_t i = ij / ns;
      for (off_t k = q; k < c; k += wc) {
        sum += to_acc(g[i * c + k]) *
               (to_acc(input[static_cast<off_t>(s) * c + k]) + to_acc(pos[ij * c + k]));
      }
    }
    gw[e] = from_acc<T>(sum);
  }
}

// grad_input[r, k] = sum over p in run r of g[i, k] * w[e, k % wc], e = perm[p], i = e / ns
template <typename T, typename off_t>
__global__ void aggregation_grad_input_kernel(const T* __restrict__ g, const T* __restrict__ wt,
                                              const int64_t* __restrict__ perm,
                                              const int64_t* __restrict__ rowptr, T* __restrict__ gi,
                                              off_t n2, off_t ns, off_t c, off_t wc) {
  using acc = acc_t<T>;
  const off_t total = n2 * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / c;
    const off_t k = e - r * c;
    const off_t kw = k % wc;
    acc sum = 0;
    for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {
      const off_t ij = static_cast<off_t>(perm[p]);
      sum += to_acc(g[(ij / ns) * c + k]) * to_acc(wt[ij * wc + kw]);
    }
    gi[e] = from_acc<T>(sum);
  }
}

// 32-bit offsets when every tensor of the call is small enough (the same choice for all kernels).
bool use32_for(int64_t n, int64_t ns, int64_t c, int64_t wc, int64_t n2) {
  return fits32({n * ns * c, n * ns * wc, n2 * c});
}

}  // namespace

cudaError_t aggregation_forward(const Launch& l, FloatType ft, IndexType it, const void* input,
                                const void* position, const void* weight, const void* idx,
                                void* out, int64_t n, int64_t ns, int64_t c, int64_t wc,
                                int64_t n2) {
  const bool use32 = use32_for(n, ns, c, wc, n2);
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        aggregation_kernel<scalar_t, index_t, off_t><<<blocks_for(n * c, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(input), static_cast<const scalar_t*>(position),
            static_cast<const scalar_t*>(weight), static_cast<const index_t*>(idx),
            static_cast<scalar_t*>(out), static_cast<off_t>(n), static_cast<off_t>(ns),
            static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t aggregation_grad_position_weight(const Launch& l, FloatType ft, IndexType it,
                                             const void* grad, const void* input,
                                             const void* position, const void* weight,
                                             const void* idx, void* grad_position,
                                             void* grad_weight, int64_t n, int64_t ns, int64_t c,
                                             int64_t wc, int64_t n2) {
  const bool use32 = use32_for(n, ns, c, wc, n2);
  const int64_t rows = n * ns;
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        const auto* g = static_cast<const scalar_t*>(grad);
        const auto* wt = static_cast<const scalar_t*>(weight);
        const auto* id = static_cast<const index_t*>(idx);
        aggregation_grad_pos_kernel<scalar_t, index_t, off_t><<<blocks_for(rows * c, l), kThreads, 0, l.stream>>>(
            g, wt, id, static_cast<scalar_t*>(grad_position), static_cast<off_t>(rows),
            static_cast<off_t>(ns), static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        const cudaError_t err = cudaGetLastError();
        if (err != cudaSuccess) return err;
        aggregation_grad_weight_kernel<scalar_t, index_t, off_t><<<blocks_for(rows * wc, l), kThreads, 0, l.stream>>>(
            g, static_cast<const scalar_t*>(input), static_cast<const scalar_t*>(position), id,
            static_cast<scalar_t*>(grad_weight), static_cast<off_t>(rows), static_cast<off_t>(ns),
            static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t aggregation_grad_input(const Launch& l, FloatType ft, const void* grad,
                                   const void* weight, const int64_t* perm, const int64_t* rowptr,
                                   void* grad_input, int64_t n, int64_t ns, int64_t c, int64_t wc,
                                   int64_t n2) {
  const bool use32 = use32_for(n, ns, c, wc, n2);
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_OFFSET(use32, [&] {
      aggregation_grad_input_kernel<scalar_t, off_t><<<blocks_for(n2 * c, l), kThreads, 0, l.stream>>>(
          static_cast<const scalar_t*>(grad), static_cast<const scalar_t*>(weight), perm, rowptr,
          static_cast<scalar_t*>(grad_input), static_cast<off_t>(n2), static_cast<off_t>(ns),
          static_cast<off_t>(c), static_cast<off_t>(wc));
      return cudaGetLastError();
    });
  });
}

}  // namespace cuda
}  // namespace pointops
