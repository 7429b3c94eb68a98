// CUDA implementation of subtraction and its deterministic backward.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <tuple>

#include "cuda/ops_cuda.h"
#include "feature_ops_cuda.cuh"

namespace pointops {
namespace {

using namespace feature::cuda;

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
    T v = T(0);
    if (valid_index(s, n2)) v = a[(r / ns) * c + k] - b[static_cast<off_t>(s) * c + k];
    out[e] = v;
  }
}

// g1[i, k] = sum over valid j of grad[i, j, k]
template <typename T, typename index_t, typename off_t>
__global__ void subtraction_grad1_kernel(const T* __restrict__ grad, const index_t* __restrict__ idx,
                                         T* __restrict__ g1, off_t n, off_t ns, off_t c, int64_t n2) {
  using acc_t = at::opmath_type<T>;
  const off_t total = n * c;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t i = e / c;
    const off_t k = e - i * c;
    acc_t acc = 0;
    for (off_t j = 0; j < ns; ++j) {
      if (valid_index(idx[i * ns + j], n2)) acc += static_cast<acc_t>(grad[(i * ns + j) * c + k]);
    }
    g1[e] = static_cast<T>(acc);
  }
}

}  // namespace

at::Tensor subtraction_cuda(const at::Tensor& input1_in, const at::Tensor& input2_in,
                            const at::Tensor& idx_in) {
  feature::check_subtraction(input1_in, input2_in, idx_in);
  const c10::cuda::CUDAGuard guard(input1_in.device());
  const at::Tensor a = input1_in.contiguous();
  const at::Tensor b = input2_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = a.size(0), c = a.size(1), n2 = b.size(0), ns = idx.size(1);
  at::Tensor out = at::empty({n, ns, c}, a.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({out.numel(), a.numel(), b.numel()});
  POINTOPS_DISPATCH_FLOAT(a.scalar_type(), "subtraction_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "subtraction_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        subtraction_kernel<scalar_t, index_t, off_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            a.data_ptr<scalar_t>(), b.data_ptr<scalar_t>(), idx.data_ptr<index_t>(),
            out.data_ptr<scalar_t>(), static_cast<off_t>(n * ns), static_cast<off_t>(ns),
            static_cast<off_t>(c), n2);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> subtraction_backward_cuda(const at::Tensor& grad_in,
                                                             const at::Tensor& idx_in, int64_t n2) {
  feature::check_subtraction_backward(grad_in, idx_in, n2);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = grad.size(0), ns = grad.size(1), c = grad.size(2);
  at::Tensor g1 = at::empty({n, c}, grad.options());
  at::Tensor g2 = at::empty({n2, c}, grad.options());
  if (grad.numel() == 0) return std::make_tuple(g1.zero_(), g2.zero_());
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({grad.numel()});
  POINTOPS_DISPATCH_FLOAT(grad.scalar_type(), "subtraction_backward_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "subtraction_backward_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        if (g1.numel() > 0) {
          subtraction_grad1_kernel<scalar_t, index_t, off_t><<<blocks_for(g1.numel()), kThreads, 0, stream>>>(
              grad.data_ptr<scalar_t>(), idx.data_ptr<index_t>(), g1.data_ptr<scalar_t>(),
              static_cast<off_t>(n), static_cast<off_t>(ns), static_cast<off_t>(c), n2);
          C10_CUDA_KERNEL_LAUNCH_CHECK();
        }
      });
    });
  });
  if (g2.numel() > 0) {
    const feature::Csr csr = feature::build_csr(idx, n2);
    launch_segment_sum(grad, csr, g2, /*offset=*/0, /*negate=*/true);
  }
  return std::make_tuple(g1, g2);
}

}  // namespace pointops
