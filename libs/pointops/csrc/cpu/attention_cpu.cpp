// CPU reference implementation of attention_relation_step / attention_fusion_step
// and their backward passes.
#include <ATen/core/Tensor.h>
#include <ATen/Dispatch.h>
#include <ATen/ops/zeros.h>
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <tuple>
#include <vector>

#include "../feature_ops.h"

namespace pointops {
namespace {

// out[t, g] = sum_c a[ia[t], g, c] * b[ib[t], g, c] * (scale ? scale[c] : 1); 0 when an index
// is outside its source.
at::Tensor paired_dot_cpu(const at::Tensor& a, const at::Tensor& ia, const at::Tensor& b,
                          const at::Tensor& ib, const at::Tensor& scale) {
  const int64_t T = ia.size(0), G = a.size(1), C = a.size(2);
  const int64_t na = a.size(0), nb = b.size(0);
  at::Tensor out = at::zeros({T, G}, a.options());
  if (out.numel() == 0 || C == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, a.scalar_type(), "paired_dot_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(ia.scalar_type(), "paired_dot_cpu_ia", [&] {
      using ia_t = index_t;
      AT_DISPATCH_INDEX_TYPES(ib.scalar_type(), "paired_dot_cpu_ib", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* pa = a.data_ptr<scalar_t>();
        const scalar_t* pb = b.data_ptr<scalar_t>();
        const scalar_t* ps = scale.defined() ? scale.data_ptr<scalar_t>() : nullptr;
        const ia_t* pia = ia.data_ptr<ia_t>();
        const index_t* pib = ib.data_ptr<index_t>();
        scalar_t* o = out.data_ptr<scalar_t>();
        at::parallel_for(0, T, 256, [&](int64_t begin, int64_t end) {
          for (int64_t t = begin; t < end; ++t) {
            const int64_t sa = static_cast<int64_t>(pia[t]);
            const int64_t sb = static_cast<int64_t>(pib[t]);
            if (sa < 0 || sa >= na || sb < 0 || sb >= nb) continue;
            for (int64_t g = 0; g < G; ++g) {
              const scalar_t* ra = pa + (sa * G + g) * C;
              const scalar_t* rb = pb + (sb * G + g) * C;
              acc_t acc = 0;
              for (int64_t k = 0; k < C; ++k) {
                acc_t v = static_cast<acc_t>(ra[k]) * static_cast<acc_t>(rb[k]);
                if (ps) v *= static_cast<acc_t>(ps[k]);
                acc += v;
              }
              o[t * G + g] = static_cast<scalar_t>(acc);
            }
          }
        });
      });
    });
  });
  return out;
}

// out[r, g, c] = (sum over t in run r of csr of w[t, g] * src[other[t], g, c]) * (scale ? scale[c] : 1)
at::Tensor segment_fusion_cpu(const at::Tensor& w, const at::Tensor& src, const at::Tensor& other,
                              const feature::Csr& csr, int64_t rows, const at::Tensor& scale) {
  const int64_t G = src.size(1), C = src.size(2), nsrc = src.size(0);
  at::Tensor out = at::zeros({rows, G, C}, src.options());
  if (out.numel() == 0 || other.numel() == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, src.scalar_type(), "segment_fusion_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(other.scalar_type(), "segment_fusion_cpu_idx", [&] {
      using acc_t = at::opmath_type<scalar_t>;
      const scalar_t* pw = w.data_ptr<scalar_t>();
      const scalar_t* ps = src.data_ptr<scalar_t>();
      const scalar_t* psc = scale.defined() ? scale.data_ptr<scalar_t>() : nullptr;
      const index_t* po = other.data_ptr<index_t>();
      const int64_t* perm = csr.perm.data_ptr<int64_t>();
      const int64_t* rowptr = csr.rowptr.data_ptr<int64_t>();
      scalar_t* o = out.data_ptr<scalar_t>();
      at::parallel_for(0, rows, 64, [&](int64_t begin, int64_t end) {
        std::vector<acc_t> acc(static_cast<size_t>(G * C));
        for (int64_t r = begin; r < end; ++r) {
          std::fill(acc.begin(), acc.end(), acc_t(0));
          for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {
            const int64_t t = perm[p];
            const int64_t s = static_cast<int64_t>(po[t]);
            if (s < 0 || s >= nsrc) continue;
            for (int64_t g = 0; g < G; ++g) {
              const acc_t wt = static_cast<acc_t>(pw[t * G + g]);
              const scalar_t* srow = ps + (s * G + g) * C;
              for (int64_t k = 0; k < C; ++k) acc[g * C + k] += wt * static_cast<acc_t>(srow[k]);
            }
          }
          for (int64_t g = 0; g < G; ++g) {
            for (int64_t k = 0; k < C; ++k) {
              acc_t v = acc[g * C + k];
              if (psc) v *= static_cast<acc_t>(psc[k]);
              o[(r * G + g) * C + k] = static_cast<scalar_t>(v);
            }
          }
        }
      });
    });
  });
  return out;
}

// grad_weight[c] = sum_t sum_g go[t, g] * q[it[t], g, c] * k[ir[t], g, c]
at::Tensor relation_weight_grad_cpu(const at::Tensor& go, const at::Tensor& q, const at::Tensor& k,
                                    const at::Tensor& it, const at::Tensor& ir) {
  const int64_t T = it.size(0), G = q.size(1), C = q.size(2), nq = q.size(0), nk = k.size(0);
  at::Tensor out = at::zeros({C}, q.options());
  if (T == 0 || C == 0 || G == 0) return out;
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, q.scalar_type(), "relation_weight_grad_cpu", [&] {
    AT_DISPATCH_INDEX_TYPES(it.scalar_type(), "relation_weight_grad_cpu_it", [&] {
      using it_t = index_t;
      AT_DISPATCH_INDEX_TYPES(ir.scalar_type(), "relation_weight_grad_cpu_ir", [&] {
        using acc_t = at::opmath_type<scalar_t>;
        const scalar_t* pg = go.data_ptr<scalar_t>();
        const scalar_t* pq = q.data_ptr<scalar_t>();
        const scalar_t* pk = k.data_ptr<scalar_t>();
        const it_t* pit = it.data_ptr<it_t>();
        const index_t* pir = ir.data_ptr<index_t>();
        scalar_t* o = out.data_ptr<scalar_t>();
        at::parallel_for(0, C, 1, [&](int64_t cb, int64_t ce) {
          for (int64_t c = cb; c < ce; ++c) {
            acc_t acc = 0;
            for (int64_t t = 0; t < T; ++t) {
              const int64_t a = static_cast<int64_t>(pit[t]);
              const int64_t b = static_cast<int64_t>(pir[t]);
              if (a < 0 || a >= nq || b < 0 || b >= nk) continue;
              for (int64_t g = 0; g < G; ++g) {
                acc += static_cast<acc_t>(pg[t * G + g]) * static_cast<acc_t>(pq[(a * G + g) * C + c]) *
                       static_cast<acc_t>(pk[(b * G + g) * C + c]);
              }
            }
            o[c] = static_cast<scalar_t>(acc);
          }
        });
      });
    });
  });
  return out;
}

at::Tensor attention_relation_step_cpu(const at::Tensor& query, const at::Tensor& key,
                                       const at::Tensor& weight, const at::Tensor& index_target,
                                       const at::Tensor& index_refer) {
  feature::check_relation(query, key, weight, index_target, index_refer);
  check_index_range(index_target, query.size(0), "index_target");
  check_index_range(index_refer, key.size(0), "index_refer");
  return paired_dot_cpu(query.contiguous(), index_target.contiguous(), key.contiguous(),
                        index_refer.contiguous(), weight.contiguous());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_relation_step_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& query_in, const at::Tensor& key_in,
    const at::Tensor& weight_in, const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_relation_backward(grad_in, query_in, key_in, weight_in, it_in, ir_in);
  const at::Tensor go = grad_in.contiguous(), q = query_in.contiguous(), k = key_in.contiguous();
  const at::Tensor w = weight_in.contiguous(), it = it_in.contiguous(), ir = ir_in.contiguous();
  const feature::Csr csr_t = feature::build_csr(it, q.size(0));
  const feature::Csr csr_r = feature::build_csr(ir, k.size(0));
  at::Tensor gq = segment_fusion_cpu(go, k, ir, csr_t, q.size(0), w);
  at::Tensor gk = segment_fusion_cpu(go, q, it, csr_r, k.size(0), w);
  at::Tensor gw = relation_weight_grad_cpu(go, q, k, it, ir);
  return std::make_tuple(gq, gk, gw);
}

at::Tensor attention_fusion_step_cpu(const at::Tensor& weight, const at::Tensor& value,
                                     const at::Tensor& index_target, const at::Tensor& index_refer) {
  feature::check_fusion(weight, value, index_target, index_refer);
  const int64_t n = value.size(0);
  check_index_range(index_target, n, "index_target");
  check_index_range(index_refer, n, "index_refer");
  const at::Tensor ir = index_refer.contiguous();
  const feature::Csr csr = feature::build_csr(index_target, n);
  return segment_fusion_cpu(weight.contiguous(), value.contiguous(), ir, csr, n, at::Tensor());
}

std::tuple<at::Tensor, at::Tensor> attention_fusion_step_backward_cpu(
    const at::Tensor& grad_in, const at::Tensor& weight_in, const at::Tensor& value_in,
    const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_fusion_backward(grad_in, weight_in, value_in, it_in, ir_in);
  const at::Tensor go = grad_in.contiguous(), w = weight_in.contiguous(), v = value_in.contiguous();
  const at::Tensor it = it_in.contiguous(), ir = ir_in.contiguous();
  at::Tensor gw = paired_dot_cpu(go, it, v, ir, at::Tensor());
  const feature::Csr csr_r = feature::build_csr(ir, v.size(0));
  at::Tensor gv = segment_fusion_cpu(w, go, it, csr_r, v.size(0), at::Tensor());
  return std::make_tuple(gw, gv);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("attention_relation_step", &attention_relation_step_cpu);
  m.impl("attention_relation_step_backward", &attention_relation_step_backward_cpu);
  m.impl("attention_fusion_step", &attention_fusion_step_cpu);
  m.impl("attention_fusion_step_backward", &attention_fusion_step_backward_cpu);
}

}  // namespace pointops
