// CPU interpolation: kNN (reference search) + inverse-distance weights + weighted gather, and
// its deterministic backward (sums in increasing (target, neighbour) order, like the CUDA one).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "spatial_ops.h"

namespace pointops {
namespace {

std::tuple<at::Tensor, at::Tensor, at::Tensor> interpolation_forward_cpu(
    const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_xyz,
    const at::Tensor& new_offset, const at::Tensor& feat, int64_t k) {
  check_k(k, "k");
  QueryArgs a = check_query_args(xyz, offset, new_xyz, new_offset);
  check_interp_feat(feat, xyz, a.n);
  at::Tensor idx, dist;
  std::tie(idx, dist) = spatial_search_cpu(kModeKnn, k, 0.0, 0.0, 0, xyz, new_xyz, a);
  const int64_t m = a.m, c = feat.size(1);
  at::Tensor weight = at::empty({m, k}, dist.options());
  at::Tensor out = at::zeros({m, c}, feat.options());
  const float* d = dist.data_ptr<float>();
  const int32_t* ix = idx.data_ptr<int32_t>();
  const float* f = feat.data_ptr<float>();
  float* w = weight.data_ptr<float>();
  float* o = out.data_ptr<float>();
  at::parallel_for(0, m, 256, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float norm = 0.0f;
      for (int64_t j = 0; j < k; ++j) norm = add_rn(norm, inv_dist_weight(d[i * k + j]));
      for (int64_t j = 0; j < k; ++j) {
        w[i * k + j] = norm > 0.0f ? div_rn(inv_dist_weight(d[i * k + j]), norm) : 0.0f;
      }
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = ix[i * k + j];
        if (r < 0) continue;
        const float wj = w[i * k + j];
        for (int64_t ch = 0; ch < c; ++ch) {
          o[i * c + ch] = add_rn(o[i * c + ch], mul_rn(f[r * c + ch], wj));
        }
      }
    }
  });
  return {out, idx, weight};
}

at::Tensor interpolation_backward_cpu(const at::Tensor& grad_out, const at::Tensor& idx,
                                      const at::Tensor& weight, int64_t n) {
  check_interp_backward(grad_out, idx, weight, n);
  const int64_t m = grad_out.size(0), c = grad_out.size(1), k = idx.size(1);
  at::Tensor grad = at::zeros({n, c}, grad_out.options());
  const float* g = grad_out.data_ptr<float>();
  const int32_t* ix = idx.data_ptr<int32_t>();
  const float* w = weight.data_ptr<float>();
  float* o = grad.data_ptr<float>();
  // Parallel over channel blocks; within a channel the sum runs in increasing (i, j) order.
  at::parallel_for(0, c, 16, [&](int64_t cb, int64_t ce) {
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < k; ++j) {
        const int64_t r = ix[i * k + j];
        if (r < 0 || r >= n) continue;
        const float wj = w[i * k + j];
        for (int64_t ch = cb; ch < ce; ++ch) {
          o[r * c + ch] = add_rn(o[r * c + ch], mul_rn(g[i * c + ch], wj));
        }
      }
    }
  });
  return grad;
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("interpolation_forward", &interpolation_forward_cpu);
  m.impl("interpolation_backward", &interpolation_backward_cpu);
}

}  // namespace pointops
