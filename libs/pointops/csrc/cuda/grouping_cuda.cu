// CUDA implementation of grouping / grouping2 (one fused kernel, with_xyz included) and
// the deterministic grouping backward.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "cuda/ops_cuda.h"
#include "feature_ops_cuda.cuh"

namespace pointops {
namespace {

using namespace feature::cuda;

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
      v[u] = T(0);
      if (e < total) {
        const off_t r = e / w;
        const off_t col = e - r * w;
        const index_t s = idx[r];
        if (valid_index(s, n)) {
          if (col < 3) {
            v[u] = xyz[static_cast<off_t>(s) * 3 + col] - new_xyz[(r / ns) * 3 + col];
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

at::Tensor grouping_cuda(const at::Tensor& feat_in, const at::Tensor& idx_in,
                         const std::optional<at::Tensor>& xyz_in,
                         const std::optional<at::Tensor>& new_xyz_in) {
  feature::check_grouping(feat_in, idx_in, xyz_in, new_xyz_in);
  const c10::cuda::CUDAGuard guard(feat_in.device());
  const bool with_xyz = xyz_in.has_value() && xyz_in->defined();
  const at::Tensor feat = feat_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = feat.size(0), c = feat.size(1);
  const int64_t m = idx.size(0), ns = idx.size(1);
  at::Tensor out = at::empty({m, ns, c + (with_xyz ? 3 : 0)}, feat.options());
  if (out.numel() == 0) return out;
  if (!with_xyz) {
    if (c > 0) launch_gather(feat, idx, out);
    return out;
  }
  const at::Tensor xyz = xyz_in->contiguous();
  const at::Tensor new_xyz = new_xyz_in->contiguous();
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({out.numel(), feat.numel(), xyz.numel()});
  POINTOPS_DISPATCH_FLOAT(feat.scalar_type(), "grouping_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "grouping_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        group_with_xyz_kernel<scalar_t, index_t, off_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            feat.data_ptr<scalar_t>(), xyz.data_ptr<scalar_t>(), new_xyz.data_ptr<scalar_t>(),
            idx.data_ptr<index_t>(), out.data_ptr<scalar_t>(), static_cast<off_t>(m * ns),
            static_cast<off_t>(ns), static_cast<off_t>(c), n);
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return out;
}

at::Tensor grouping_backward_cuda(const at::Tensor& grad_in, const at::Tensor& idx_in, int64_t n,
                                  int64_t offset, int64_t c) {
  feature::check_grouping_backward(grad_in, idx_in, n, offset, c);
  const c10::cuda::CUDAGuard guard(grad_in.device());
  const at::Tensor grad = grad_in.contiguous();
  at::Tensor out = at::empty({n, c}, grad.options());
  if (out.numel() == 0) return out;
  if (idx_in.numel() == 0) return out.zero_();
  const feature::Csr csr = feature::build_csr(idx_in, n);
  launch_segment_sum(grad, csr, out, offset, /*negate=*/false);
  return out;
}

}  // namespace pointops
