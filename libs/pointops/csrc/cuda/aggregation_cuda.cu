// CUDA implementation of aggregation and its deterministic backward.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>

#include <tuple>

#include "cuda/ops_cuda.h"
#include "feature_ops_cuda.cuh"

namespace pointops {
namespace {

using namespace feature::cuda;

// out[i, k] = sum over valid j of (input[idx[i, j], k] + pos[i, j, k]) * w[i, j, k % wc]
template <typename T, typename index_t, typename off_t>
__global__ void aggregation_kernel(const T* __restrict__ input, const T* __restrict__ pos,
                                   const T* __restrict__ wt, const index_t* __restrict__ idx,
                                   T* __restrict__ out, off_t n, off_t ns, off_t c, off_t wc, int64_t n2) {
  using acc_t = at::opmath_type<T>;
  const off_t total = n * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t i = e / c;
    const off_t k = e - i * c;
    const off_t kw = k % wc;
    acc_t acc = 0;
    for (off_t j = 0; j < ns; ++j) {
      const off_t ij = i * ns + j;
      const index_t s = idx[ij];
      if (!valid_index(s, n2)) continue;
      acc += (static_cast<acc_t>(input[static_cast<off_t>(s) * c + k]) + static_cast<acc_t>(pos[ij * c + k])) *
             static_cast<acc_t>(wt[ij * wc + kw]);
    }
    out[e] = static_cast<T>(acc);
  }
}

// grad_position[i, j, k] = valid ? g[i, k] * w[i, j, k % wc] : 0
template <typename T, typename index_t, typename off_t>
__global__ void aggregation_grad_pos_kernel(const T* __restrict__ g, const T* __restrict__ wt,
                                            const index_t* __restrict__ idx, T* __restrict__ gp,
                                            off_t rows, off_t ns, off_t c, off_t wc, int64_t n2) {
  using acc_t = at::opmath_type<T>;
  const off_t total = rows * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t ij = e / c;
    const off_t k = e - ij * c;
    T v = T(0);
    if (valid_index(idx[ij], n2)) {
      v = static_cast<T>(static_cast<acc_t>(g[(ij / ns) * c + k]) * static_cast<acc_t>(wt[ij * wc + k % wc]));
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
  using acc_t = at::opmath_type<T>;
  const off_t total = rows * wc;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t ij = e / wc;
    const off_t q = e - ij * wc;
    const index_t s = idx[ij];
    acc_t acc = 0;
    if (valid_index(s, n2)) {
      const off_t i = ij / ns;
      for (off_t k = q; k < c; k += wc) {
        acc += static_cast<acc_t>(g[i * c + k]) *
               (static_cast<acc_t>(input[static_cast<off_t>(s) * c + k]) + static_cast<acc_t>(pos[ij * c + k]));
      }
    }
    gw[e] = static_cast<T>(acc);
  }
}

// grad_input[r, k] = sum over p in run r of g[i, k] * w[e, k % wc], e = perm[p], i = e / ns
template <typename T, typename off_t>
__global__ void aggregation_grad_input_kernel(const T* __restrict__ g, const T* __restrict__ wt,
                                              const int64_t* __restrict__ perm,
                                              const int64_t* __restrict__ rowptr, T* __restrict__ gi,
                                              off_t n2, off_t ns, off_t c, off_t wc) {
  using acc_t = at::opmath_type<T>;
  const off_t total = n2 * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / c;
    const off_t k = e - r * c;
    const off_t kw = k % wc;
    acc_t acc = 0;
    for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {
      const off_t ij = static_cast<off_t>(perm[p]);
      acc += static_cast<acc_t>(g[(ij / ns) * c + k]) * static_cast<acc_t>(wt[ij * wc + kw]);
    }
    gi[e] = static_cast<T>(acc);
  }
}

}  // namespace

at::Tensor aggregation_cuda(const at::Tensor& input_in, const at::Tensor& position_in,
                            const at::Tensor& weight_in, const at::Tensor& idx_in) {
  feature::check_aggregation(input_in, position_in, weight_in, idx_in);
  const c10::cuda::CUDAGuard guard(input_in.device());
  const at::Tensor input = input_in.contiguous();
  const at::Tensor pos = position_in.contiguous();
  const at::Tensor wt = weight_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n2 = input.size(0), c = input.size(1);
  const int64_t n = idx.size(0), ns = idx.size(1), wc = wt.size(2);
  at::Tensor out = at::empty({n, c}, input.options());
  if (out.numel() == 0) return out;
  if (ns == 0) return out.zero_();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({pos.numel(), wt.numel(), input.numel()});
  POINTOPS_DISPATCH_FLOAT(input.scalar_type(), "aggregation_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "aggregation_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        aggregation_kernel<scalar_t, index_t, off_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            input.data_ptr<scalar_t>(), pos.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(),
            idx.data_ptr<index_t>(), out.data_ptr<scalar_t>(), static_cast<off_t>(n),
            static_cast<off_t>(ns), static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> aggregation_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& input_in, const at::Tensor& position_in,
    const at::Tensor& weight_in, const at::Tensor& idx_in) {
  feature::check_aggregation_backward(grad_in, input_in, position_in, weight_in, idx_in);
  const c10::cuda::CUDAGuard guard(input_in.device());
  const at::Tensor g = grad_in.contiguous();
  const at::Tensor input = input_in.contiguous();
  const at::Tensor pos = position_in.contiguous();
  const at::Tensor wt = weight_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n2 = input.size(0), c = input.size(1);
  const int64_t n = idx.size(0), ns = idx.size(1), wc = wt.size(2);
  at::Tensor g_in = at::empty_like(input);
  at::Tensor g_pos = at::empty_like(pos);
  at::Tensor g_w = at::empty_like(wt);
  if (idx.numel() == 0 || c == 0) return std::make_tuple(g_in.zero_(), g_pos.zero_(), g_w.zero_());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({pos.numel(), wt.numel(), input.numel()});
  const int64_t rows = n * ns;
  POINTOPS_DISPATCH_FLOAT(input.scalar_type(), "aggregation_backward_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "aggregation_backward_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        aggregation_grad_pos_kernel<scalar_t, index_t, off_t><<<blocks_for(pos.numel()), kThreads, 0, stream>>>(
            g.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), idx.data_ptr<index_t>(),
            g_pos.data_ptr<scalar_t>(), static_cast<off_t>(rows), static_cast<off_t>(ns),
            static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
        aggregation_grad_weight_kernel<scalar_t, index_t, off_t><<<blocks_for(wt.numel()), kThreads, 0, stream>>>(
            g.data_ptr<scalar_t>(), input.data_ptr<scalar_t>(), pos.data_ptr<scalar_t>(),
            idx.data_ptr<index_t>(), g_w.data_ptr<scalar_t>(), static_cast<off_t>(rows),
            static_cast<off_t>(ns), static_cast<off_t>(c), static_cast<off_t>(wc), n2);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  if (g_in.numel() > 0) {
    const feature::Csr csr = feature::build_csr(idx, n2);
    POINTOPS_DISPATCH_FLOAT(input.scalar_type(), "aggregation_backward_cuda_input", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        aggregation_grad_input_kernel<scalar_t, off_t><<<blocks_for(g_in.numel()), kThreads, 0, stream>>>(
            g.data_ptr<scalar_t>(), wt.data_ptr<scalar_t>(), csr.perm.data_ptr<int64_t>(),
            csr.rowptr.data_ptr<int64_t>(), g_in.data_ptr<scalar_t>(), static_cast<off_t>(n2),
            static_cast<off_t>(ns), static_cast<off_t>(c), static_cast<off_t>(wc));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  }
  return std::make_tuple(g_in, g_pos, g_w);
}

}  // namespace pointops
