// CPU reference implementation of subtraction and its backward.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "../feature_ops.h"
#include "csr_sum_cpu.h"

namespace pointops {
namespace {

at::Tensor subtraction_cpu(const at::Tensor& input1_in, const at::Tensor& input2_in,
                           const at::Tensor& idx_in) {
  feature::check_subtraction(input1_in, input2_in, idx_in);
  const at::Tensor a = input1_in.contiguous();
  const at::Tensor b = input2_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = a.size(0), c = a.size(1), n2 = b.size(0), ns = idx.size(1);
  at::Tensor out = at::empty({n, ns, c}, a.options());
  if (out.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "subtraction_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "subtraction_cpu_idx", [&] {
      const scalar_t* pa = a.data_ptr<scalar_t>();
      const scalar_t* pb = b.data_ptr<scalar_t>();
      const index_t* id = idx.data_ptr<index_t>();
      scalar_t* o = out.data_ptr<scalar_t>();
      at::parallel_for(0, n * ns, 1024, [&](int64_t begin, int64_t end) {
        for (int64_t r = begin; r < end; ++r) {
          const int64_t s = static_cast<int64_t>(id[r]);
          scalar_t* orow = o + r * c;
          if (s < 0 || s >= n2) {
            for (int64_t k = 0; k < c; ++k) orow[k] = scalar_t(0);
            continue;
          }
          const scalar_t* arow = pa + (r / ns) * c;
          const scalar_t* brow = pb + s * c;
          for (int64_t k = 0; k < c; ++k) orow[k] = arow[k] - brow[k];
        }
      });
    });
  });
  return out;
}

std::tuple<at::Tensor, at::Tensor> subtraction_backward_cpu(const at::Tensor& grad_in,
                                                            const at::Tensor& idx_in, int64_t n2) {
  feature::check_subtraction_backward(grad_in, idx_in, n2);
  const at::Tensor grad = grad_in.contiguous();
  const at::Tensor idx = idx_in.contiguous();
  const int64_t n = grad.size(0), ns = grad.size(1), c = grad.size(2);
  at::Tensor g1 = at::zeros({n, c}, grad.options());
  at::Tensor g2 = at::zeros({n2, c}, grad.options());
  if (grad.numel() == 0) return std::make_tuple(g1, g2);
  const feature::Csr csr = feature::build_csr(idx, n2);
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, grad.scalar_type(), "subtraction_backward_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(idx.scalar_type(), "subtraction_backward_cpu_idx", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* g = grad.data_ptr<scalar_t>();
      const index_t* id = idx.data_ptr<index_t>();
      scalar_t* o1 = g1.data_ptr<scalar_t>();
      scalar_t* o2 = g2.data_ptr<scalar_t>();
      // grad_input1[i] = sum over valid j of grad[i, j]
      at::parallel_for(0, n, 256, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> acc(static_cast<size_t>(c));
        for (int64_t i = begin; i < end; ++i) {
          std::fill(acc.begin(), acc.end(), acc_t(0));
          for (int64_t j = 0; j < ns; ++j) {
            const int64_t s = static_cast<int64_t>(id[i * ns + j]);
            if (s < 0 || s >= n2) continue;
            const scalar_t* grow = g + (i * ns + j) * c;
            for (int64_t k = 0; k < c; ++k) acc[k] += static_cast<acc_t>(grow[k]);
          }
          for (int64_t k = 0; k < c; ++k) o1[i * c + k] = static_cast<scalar_t>(acc[k]);
        }
      });
      // grad_input2[r] = -sum over (i, j) with idx[i, j] == r of grad[i, j]
      feature::csr_row_sums<scalar_t, acc_t>(csr, n2, c, o2, [&](acc_t* acc, int64_t e) {
        const scalar_t* grow = g + e * c;
        for (int64_t k = 0; k < c; ++k) acc[k] -= static_cast<acc_t>(grow[k]);
      });
    });
  });
  return std::make_tuple(g1, g2);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("subtraction", &subtraction_cpu);
  m.impl("subtraction_backward", &subtraction_backward_cpu);
}

}  // namespace pointops
