// CPU reference implementation of grouping / grouping2 and the grouping backward.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include "../feature_ops.h"
#include "csr_sum_cpu.h"

namespace pointops {
namespace {

using feature::Csr;

at::Tensor grouping_cpu(const at::Tensor& feat_in, const at::Tensor& idx_in,
                        const std::optional<at::Tensor>& xyz_in,
                        const std::optional<at::Tensor>& new_xyz_in) {
  feature::check_grouping(feat_in, idx_in, xyz_in, new_xyz_in);
  const bool with_xyz = xyz_in.has_value() && xyz_in->defined();
  const at::Tensor feat = feat_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = feat.size(0), c = feat.size(1);
  const int64_t m = idx.size(0), ns = idx.size(1);
  const int64_t w = c + (with_xyz ? 3 : 0);
  at::Tensor out = at::empty({m, ns, w}, feat.options());
  if (out.numel() == 0) return out;
  const at::Tensor xyz = with_xyz ? xyz_in->contiguous() : at::Tensor();
  const at::Tensor new_xyz = with_xyz ? new_xyz_in->contiguous() : at::Tensor();
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, feat.scalar_type(), "grouping_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "grouping_cpu_idx", [&] {
      const scalar_t* f = feat.data_ptr<scalar_t>();
      const index_t* id = idx.data_ptr<index_t>();
      scalar_t* o = out.data_ptr<scalar_t>();
      const scalar_t* p = with_xyz ? xyz.data_ptr<scalar_t>() : nullptr;
      const scalar_t* q = with_xyz ? new_xyz.data_ptr<scalar_t>() : nullptr;
      at::parallel_for(0, m * ns, 1024, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t s = static_cast<int64_t>(id[r]);
          scalar_t* orow = o + r * w;
          if (s < 0 || s >= n) {
            for (int64_t k = 0; k < w; ++k) orow[k] = scalar_t(0);
            continue;
          }
          if (with_xyz) {
            const int64_t i = r / ns;
            for (int64_t k = 0; k < 3; ++k) orow[k] = p[s * 3 + k] - q[i * 3 + k];
            orow += 3;
          }
          const scalar_t* frow = f + s * c;
          for (int64_t k = 0; k < c; ++k) orow[k] = frow[k];
        }
      });
    });
  });
  return out;
}

at::Tensor grouping_backward_cpu(const at::Tensor& grad_in, const at::Tensor& idx_in, int64_t n,
                                 int64_t offset, int64_t c) {
  feature::check_grouping_backward(grad_in, idx_in, n, offset, c);
  const at::Tensor grad = grad_in.contiguous();
  const int64_t w = grad.size(2);
  at::Tensor out = at::zeros({n, c}, grad.options());
  if (out.numel() == 0 || idx_in.numel() == 0) return out;
  const Csr csr = feature::build_csr(idx_in, n);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "grouping_backward_cpu", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* g = grad.data_ptr<scalar_t>();
    feature::csr_row_sums<scalar_t, acc_t>(csr, n, c, out.data_ptr<scalar_t>(), [&](acc_t* acc, int64_t e) {
      const scalar_t* grow = g + e * w + offset;
      for (int64_t k = 0; k < c; ++k) acc[k] += static_cast<acc_t>(grow[k]);
    });
  });
  return out;
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("grouping", &grouping_cpu);
  m.impl("grouping_backward", &grouping_backward_cpu);
}

}  // namespace pointops
