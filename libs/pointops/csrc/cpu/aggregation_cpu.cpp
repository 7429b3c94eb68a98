// CPU reference implementation of aggregation and its backward.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/zeros.h>
#include <ATen/ops/zeros_like.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "../feature_ops.h"
#include "csr_sum_cpu.h"

namespace pointops {
namespace {

at::Tensor aggregation_cpu(const at::Tensor& input_in, const at::Tensor& position_in,
                           const at::Tensor& weight_in, const at::Tensor& idx_in) {
  feature::check_aggregation(input_in, position_in, weight_in, idx_in);
  const at::Tensor input = input_in.contiguous();
  const at::Tensor pos = position_in.contiguous();
  const at::Tensor wt = weight_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n2 = input.size(0), c = input.size(1);
  const int64_t n = idx.size(0), ns = idx.size(1), wc = wt.size(2);
  at::Tensor out = at::zeros({n, c}, input.options());
  if (out.numel() == 0 || ns == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "aggregation_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "aggregation_cpu_idx", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* pin = input.data_ptr<scalar_t>();
      const scalar_t* pp = pos.data_ptr<scalar_t>();
      const scalar_t* pw = wt.data_ptr<scalar_t>();
      const index_t* id = idx.data_ptr<index_t>();
      scalar_t* o = out.data_ptr<scalar_t>();
      at::parallel_for(0, n, 64, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> acc(static_cast<size_t>(c));
        for (int64_t i = begin; i < end; ++i) {
          std::fill(acc.begin(), acc.end(), acc_t(0));
          for (int64_t j = 0; j < ns; ++j) {
            const int64_t e = i * ns + j;
            const int64_t s = static_cast<int64_t>(id[e]);
            if (s < 0 || s >= n2) continue;
            for (int64_t k = 0; k < c; ++k) {
              acc[k] += (static_cast<acc_t>(pin[s * c + k]) + static_cast<acc_t>(pp[e * c + k])) *
                        static_cast<acc_t>(pw[e * wc + k % wc]);
            }
          }
          for (int64_t k = 0; k < c; ++k) o[i * c + k] = static_cast<scalar_t>(acc[k]);
        }
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> aggregation_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& input_in, const at::Tensor& position_in,
    const at::Tensor& weight_in, const at::Tensor& idx_in) {
  feature::check_aggregation_backward(grad_in, input_in, position_in, weight_in, idx_in);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor input = input_in.contiguous();
  const at::Tensor pos = position_in.contiguous();
  const at::Tensor wt = weight_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n2 = input.size(0), c = input.size(1);
  const int64_t n = idx.size(0), ns = idx.size(1), wc = wt.size(2);
  at::Tensor g_in = at::zeros_like(input);
  at::Tensor g_pos = at::zeros_like(pos);
  at::Tensor g_w = at::zeros_like(wt);
  if (idx.numel() == 0 || c == 0) return std::make_tuple(g_in, g_pos, g_w);
  const feature::Csr csr = feature::build_csr(idx, n2);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, input.scalar_type(), "aggregation_backward_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "aggregation_backward_cpu_idx", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* g = grad.data_ptr<scalar_t>();
      const scalar_t* pin = input.data_ptr<scalar_t>();
      const scalar_t* pp = pos.data_ptr<scalar_t>();
      const scalar_t* pw = wt.data_ptr<scalar_t>();
      const index_t* id = idx.data_ptr<index_t>();
      scalar_t* ogin = g_in.data_ptr<scalar_t>();
      scalar_t* ogp = g_pos.data_ptr<scalar_t>();
      scalar_t* ogw = g_w.data_ptr<scalar_t>();
      // grad_position and grad_weight: one (i, j) pair at a time.
      at::parallel_for(0, n * ns, 256, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> accw(static_cast<size_t>(wc));
        for (int64_t e = begin; e < end; ++e) {
          const int64_t s = static_cast<int64_t>(id[e]);
          if (s < 0 || s >= n2) continue;  // stays zero
          const int64_t i = e / ns;
          std::fill(accw.begin(), accw.end(), acc_t(0));
          for (int64_t k = 0; k < c; ++k) {
            const acc_t gk = static_cast<acc_t>(g[i * c + k]);
            ogp[e * c + k] = static_cast<scalar_t>(gk * static_cast<acc_t>(pw[e * wc + k % wc]));
            accw[k % wc] += gk * (static_cast<acc_t>(pin[s * c + k]) + static_cast<acc_t>(pp[e * c + k]));
          }
          for (int64_t w = 0; w < wc; ++w) ogw[e * wc + w] = static_cast<scalar_t>(accw[w]);
        }
      });
      // grad_input[r, k] = sum over (i, j) with idx[i, j] == r of grad[i, k] * weight[i, j, k % wc]
      feature::csr_row_sums<scalar_t, acc_t>(csr, n2, c, ogin, [&](acc_t* acc, int64_t e) {
        const int64_t i = e / ns;
        for (int64_t k = 0; k < c; ++k) {
          acc[k] += static_cast<acc_t>(g[i * c + k]) * static_cast<acc_t>(pw[e * wc + k % wc]);
        }
      });
    });
  });
  return std::make_tuple(g_in, g_pos, g_w);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("aggregation", &aggregation_cpu);
  m.impl("aggregation_backward", &aggregation_backward_cpu);
}

}  // namespace pointops
