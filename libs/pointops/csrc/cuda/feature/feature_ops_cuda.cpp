// Host side of the CUDA feature operators (grouping, grouping2, subtraction, aggregation,
// attention steps, offset2batch / batch2offset): validation (feature_ops.h), allocation, the
// inverse indices of the deterministic backward passes (feature::build_csr), and the launchers
// of feature_kernels.h.
#include <ATen/OpMathType.h>
#include <ATen/core/Tensor.h>
#include <ATen/cuda/cub.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/zeros.h>

#include <tuple>

#include "cuda/cuda_host.h"
#include "cuda/feature/feature_kernels.h"
#include "feature_ops.h"

namespace pointops {

using cuda::current_launch;
using cuda::float_type;
using cuda::index_type;

namespace {

// The inverse index of idx for the deterministic backward passes (feature::Csr): int32 keys (n
// for an index outside [0, n)) sorted with int32 positions over only the bits n needs, through
// torch's CUB radix sort. Measured on an H200 (grouping fwd+bwd, 4 x 100k, knn16, C=64): 1.64 ms
// against 1.70 ms for feature::build_csr's at::sort (all 32 key bits, int64 positions), which
// remains for sizes beyond int32. Both are stable sorts of the positions by row, so the runs of
// the rows and their order are the same.
feature::Csr build_csr(const at::Tensor& idx_in, int64_t n) {
  const int64_t total = idx_in.numel();
  const int64_t limit = int64_t(INT32_MAX) - 1;
  if (total == 0 || total > limit || n > limit) return feature::build_csr(idx_in, n);
  const at::Tensor idx = idx_in.contiguous();
  const auto iopt = idx.options().dtype(at::kInt);
  at::Tensor keys = at::empty({total}, iopt), positions = at::empty({total}, iopt);
  C10_CUDA_CHECK(cuda::csr_keys(current_launch(), index_type(idx), idx.data_ptr(), total, n,
                                keys.data_ptr<int32_t>(), positions.data_ptr<int32_t>()));
  at::Tensor sorted = at::empty_like(keys), perm = at::empty_like(positions);
  at::cuda::cub::radix_sort_pairs<int32_t, int32_t>(
      keys.data_ptr<int32_t>(), sorted.data_ptr<int32_t>(), positions.data_ptr<int32_t>(),
      perm.data_ptr<int32_t>(), total, /*descending=*/false, /*begin_bit=*/0,
      /*end_bit=*/at::cuda::cub::get_num_bits(static_cast<uint64_t>(n)));
  at::Tensor rowptr = at::searchsorted(sorted, at::arange(n + 1, iopt));  // int64
  return {perm.to(at::kLong), rowptr.contiguous()};
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
    C10_CUDA_CHECK(cuda::gather_rows(current_launch(), feat.data_ptr(), n,
                                     c * static_cast<int64_t>(feat.element_size()), idx.data_ptr(),
                                     index_type(idx), idx.numel(), out.data_ptr()));
  } else {
    const at::Tensor xyz = xyz_in->contiguous();
    const at::Tensor new_xyz = new_xyz_in->contiguous();
    C10_CUDA_CHECK(cuda::group_with_xyz(current_launch(), float_type(feat), index_type(idx),
                                        feat.data_ptr(), xyz.data_ptr(), new_xyz.data_ptr(),
                                        idx.data_ptr(), out.data_ptr(), m, ns, c, n));
  }
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
  const feature::Csr csr = build_csr(idx_in, n);
  C10_CUDA_CHECK(cuda::segment_sum(current_launch(), float_type(grad), grad.data_ptr(),
                                   grad.size(-1), csr.perm.data_ptr<int64_t>(),
                                   csr.rowptr.data_ptr<int64_t>(), out.data_ptr(), n, c, offset,
                                   /*negate=*/false));
  return out;
}

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
  C10_CUDA_CHECK(cuda::subtraction_forward(current_launch(), float_type(a), index_type(idx),
                                           a.data_ptr(), b.data_ptr(), idx.data_ptr(),
                                           out.data_ptr(), n, ns, c, n2));
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
  if (g1.numel() > 0) {
    C10_CUDA_CHECK(cuda::subtraction_grad_input1(current_launch(), float_type(grad),
                                                 index_type(idx), grad.data_ptr(), idx.data_ptr(),
                                                 g1.data_ptr(), n, ns, c, n2));
  }
  if (g2.numel() > 0) {
    const feature::Csr csr = build_csr(idx, n2);
    C10_CUDA_CHECK(cuda::segment_sum(current_launch(), float_type(grad), grad.data_ptr(), c,
                                     csr.perm.data_ptr<int64_t>(), csr.rowptr.data_ptr<int64_t>(),
                                     g2.data_ptr(), n2, c, /*offset=*/0, /*negate=*/true));
  }
  return std::make_tuple(g1, g2);
}

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
  C10_CUDA_CHECK(cuda::aggregation_forward(current_launch(), float_type(input), index_type(idx),
                                           input.data_ptr(), pos.data_ptr(), wt.data_ptr(),
                                           idx.data_ptr(), out.data_ptr(), n, ns, c, wc, n2));
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
  const cuda::FloatType ft = float_type(input);
  C10_CUDA_CHECK(cuda::aggregation_grad_position_weight(
      current_launch(), ft, index_type(idx), g.data_ptr(), input.data_ptr(), pos.data_ptr(),
      wt.data_ptr(), idx.data_ptr(), g_pos.data_ptr(), g_w.data_ptr(), n, ns, c, wc, n2));
  if (g_in.numel() > 0) {
    const feature::Csr csr = build_csr(idx, n2);
    C10_CUDA_CHECK(cuda::aggregation_grad_input(
        current_launch(), ft, g.data_ptr(), wt.data_ptr(), csr.perm.data_ptr<int64_t>(),
        csr.rowptr.data_ptr<int64_t>(), g_in.data_ptr(), n, ns, c, wc, n2));
  }
  return std::make_tuple(g_in, g_pos, g_w);
}

namespace {

// out (ia.size(0), G)[t, g] = sum_c a[ia[t], g, c] * b[ib[t], g, c] * (scale ? scale[c] : 1).
at::Tensor paired_dot_cuda(const at::Tensor& a, const at::Tensor& ia, const at::Tensor& b,
                           const at::Tensor& ib, const at::Tensor& scale) {
  const int64_t tn = ia.size(0), G = a.size(1), C = a.size(2);
  at::Tensor out = at::empty({tn, G}, a.options());
  C10_CUDA_CHECK(cuda::paired_dot(current_launch(), float_type(a), index_type(ia), index_type(ib),
                                  a.data_ptr(), ia.data_ptr(), b.data_ptr(), ib.data_ptr(),
                                  scale.defined() ? scale.data_ptr() : nullptr, out.data_ptr(), tn,
                                  G, C, a.size(0), b.size(0)));
  return out;
}

// out (rows, G, C): the segmented weighted sums of src rows over the runs of csr.
at::Tensor segment_fusion_cuda(const at::Tensor& w, const at::Tensor& src, const at::Tensor& other,
                               const feature::Csr& csr, int64_t rows, const at::Tensor& scale) {
  const int64_t G = src.size(1), C = src.size(2);
  at::Tensor out = at::empty({rows, G, C}, src.options());
  C10_CUDA_CHECK(cuda::segment_fusion(current_launch(), float_type(src), index_type(other),
                                      w.data_ptr(), src.data_ptr(), other.data_ptr(),
                                      csr.perm.data_ptr<int64_t>(), csr.rowptr.data_ptr<int64_t>(),
                                      scale.defined() ? scale.data_ptr() : nullptr, out.data_ptr(),
                                      rows, G, C, src.size(0)));
  return out;
}

// grad_weight (C,) of attention_relation_step: fixed-size chunk sums, then a fixed-shape
// reduction over the chunks (deterministic).
at::Tensor relation_weight_grad_cuda(const at::Tensor& go, const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& it, const at::Tensor& ir) {
  const int64_t tn = it.size(0), G = q.size(1), C = q.size(2);
  if (tn == 0 || C == 0 || G == 0) return at::zeros({C}, q.options());
  const int64_t chunks = (tn + cuda::kWeightChunk - 1) / cuda::kWeightChunk;
  const auto acc_type = at::toOpMathType(q.scalar_type());
  at::Tensor partial = at::empty({chunks, C}, q.options().dtype(acc_type));
  C10_CUDA_CHECK(cuda::relation_weight_partial(current_launch(), float_type(q), index_type(it),
                                               index_type(ir), go.data_ptr(), q.data_ptr(),
                                               it.data_ptr(), k.data_ptr(), ir.data_ptr(),
                                               partial.data_ptr(), tn, G, C, q.size(0), k.size(0)));
  return partial.sum(0).to(q.scalar_type());
}

}  // namespace

at::Tensor attention_relation_step_cuda(const at::Tensor& query, const at::Tensor& key,
                                        const at::Tensor& weight, const at::Tensor& index_target,
                                        const at::Tensor& index_refer) {
  feature::check_relation(query, key, weight, index_target, index_refer);
  const c10::cuda::CUDAGuard guard(query.device());
  check_index_range(index_target, query.size(0), "index_target");
  check_index_range(index_refer, key.size(0), "index_refer");
  return paired_dot_cuda(query.contiguous(), index_target.contiguous(), key.contiguous(),
                         index_refer.contiguous(), weight.contiguous());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_relation_step_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& query_in, const at::Tensor& key_in,
    const at::Tensor& weight_in, const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_relation_backward(grad_in, query_in, key_in, weight_in, it_in, ir_in);
  const c10::cuda::CUDAGuard guard(query_in.device());
  const at::Tensor go = grad_in.contiguous(), q = query_in.contiguous(), k = key_in.contiguous();
  const at::Tensor w = weight_in.contiguous(), it = it_in.contiguous(), ir = ir_in.contiguous();
  const feature::Csr csr_t = build_csr(it, q.size(0));
  const feature::Csr csr_r = build_csr(ir, k.size(0));
  at::Tensor gq = segment_fusion_cuda(go, k, ir, csr_t, q.size(0), w);
  at::Tensor gk = segment_fusion_cuda(go, q, it, csr_r, k.size(0), w);
  at::Tensor gw = relation_weight_grad_cuda(go, q, k, it, ir);
  return std::make_tuple(gq, gk, gw);
}

at::Tensor attention_fusion_step_cuda(const at::Tensor& weight, const at::Tensor& value,
                                      const at::Tensor& index_target, const at::Tensor& index_refer) {
  feature::check_fusion(weight, value, index_target, index_refer);
  const c10::cuda::CUDAGuard guard(value.device());
  const int64_t n = value.size(0);
  check_index_range(index_target, n, "index_target");
  check_index_range(index_refer, n, "index_refer");
  const feature::Csr csr = build_csr(index_target, n);
  return segment_fusion_cuda(weight.contiguous(), value.contiguous(), index_refer.contiguous(), csr, n,
                             at::Tensor());
}

std::tuple<at::Tensor, at::Tensor> attention_fusion_step_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& weight_in, const at::Tensor& value_in,
    const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_fusion_backward(grad_in, weight_in, value_in, it_in, ir_in);
  const c10::cuda::CUDAGuard guard(value_in.device());
  const at::Tensor go = grad_in.contiguous(), w = weight_in.contiguous(), v = value_in.contiguous();
  const at::Tensor it = it_in.contiguous(), ir = ir_in.contiguous();
  at::Tensor gw = paired_dot_cuda(go, it, v, ir, at::Tensor());
  const feature::Csr csr_r = build_csr(ir, v.size(0));
  at::Tensor gv = segment_fusion_cuda(w, go, it, csr_r, v.size(0), at::Tensor());
  return std::make_tuple(gw, gv);
}

at::Tensor offset2batch_cuda(const at::Tensor& offset_in) {
  const int64_t n = feature::check_offset2batch(offset_in);
  const c10::cuda::CUDAGuard guard(offset_in.device());
  const at::Tensor offset = offset_in.to(at::kLong).contiguous();
  at::Tensor batch = at::empty({n}, offset.options());
  if (n == 0) return batch;
  C10_CUDA_CHECK(cuda::offset2batch(current_launch(), offset.data_ptr<int64_t>(), offset.numel(),
                                    batch.data_ptr<int64_t>(), n));
  return batch;
}

at::Tensor batch2offset_cuda(const at::Tensor& batch_in) {
  const int64_t nb = feature::check_batch2offset(batch_in);
  const c10::cuda::CUDAGuard guard(batch_in.device());
  const at::Tensor batch = batch_in.to(at::kLong).contiguous();
  const int64_t n = batch.numel();
  TORCH_CHECK_VALUE(n <= INT32_MAX, "batch has ", num(n), " points; int32 offsets hold at most ", num(INT32_MAX));
  at::Tensor offset = at::empty({nb}, batch.options().dtype(at::kInt));
  if (nb == 0) return offset;
  C10_CUDA_CHECK(cuda::batch2offset(current_launch(), batch.data_ptr<int64_t>(), n, nb,
                                    offset.data_ptr<int32_t>()));
  return offset;
}

}  // namespace pointops
