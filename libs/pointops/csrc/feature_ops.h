// Shared host-side helpers of the feature ops (grouping, grouping2, subtraction,
// aggregation, attention_relation_step, attention_fusion_step, offset2batch,
// batch2offset): each operator's argument rules, written with the checks of
// common/checks.h, and the inverse index of the backward passes. Included by the CPU and
// the CUDA implementations.
//
// Conventions used by every feature op:
//  * Index tensors are int32 or int64. The value -1 means "no neighbour".
//  * A -1 entry contributes nothing: gathered rows are zero, sums skip it, and no
//    gradient flows through it.
//  * Any other value outside [-1, n-1] is an error. The forward ops check the range
//    (on CUDA: one min/max reduction and one small device->host copy per index
//    tensor; set POINTOPS_SKIP_INDEX_CHECK=1 to skip it). The kernels
//    themselves never read out of bounds: an out-of-range index that reaches a kernel
//    (only possible with the check disabled, or in a direct call of a *_backward op)
//    is treated like -1.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/searchsorted.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>

#include <cstdint>
#include <optional>
#include <tuple>

#include "common/checks.h"

namespace pointops {
namespace feature {

// Inverse of a gather index: the positions p (flat, into idx) grouped by value.
// perm lists the positions sorted by (idx[p], p) (a stable sort), rowptr[r] ..
// rowptr[r+1] is the run of positions holding value r (r in [0, n)). Entries outside
// [0, n) (-1 in particular) fall outside every run and are never visited. Summing a
// run in perm order gives a result that does not depend on thread scheduling: the
// backward passes built on it are deterministic.
struct Csr {
  at::Tensor perm;    // int64 (K,)
  at::Tensor rowptr;  // int64 (n + 1,)
};

inline Csr build_csr(const at::Tensor& idx, int64_t n) {
  at::Tensor keys = idx.reshape({-1});
  if (keys.scalar_type() == at::kLong && n < (int64_t(1) << 31) - 1) {
    // Sorting 32-bit keys is about twice as fast; clamp so the narrowing is exact
    // for every value that matters (anything outside [0, n) is ignored anyway).
    keys = keys.clamp(-1, n).to(at::kInt);
  }
  keys = keys.contiguous();
  at::Tensor sorted, perm;
  std::tie(sorted, perm) = at::sort(keys, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const at::Tensor bounds = at::arange(n + 1, keys.options());
  at::Tensor rowptr = at::searchsorted(sorted, bounds);  // int64, leftmost insertion point
  return {perm.contiguous(), rowptr.contiguous()};
}

// ---------------------------------------------------------------------------
// Argument validation shared by the CPU and CUDA implementations. Each returns
// nothing and raises ValueError / TypeError (through TORCH_CHECK_VALUE / _TYPE)
// naming the argument.

inline void check_grouping(const at::Tensor& feat, const at::Tensor& idx,
                           const std::optional<at::Tensor>& xyz,
                           const std::optional<at::Tensor>& new_xyz) {
  check_floating(feat, "feat");
  check_dim(feat, 2, "feat", "(n, c)");
  check_index_dtype(idx, "idx");
  check_dim(idx, 2, "idx", "(m, nsample)");
  check_same_device(idx, "idx", feat, "feat");
  if (xyz.has_value() && xyz->defined()) {
    check_floating(*xyz, "xyz");
    check_dim(*xyz, 2, "xyz", "(n, 3)");
    check_size(*xyz, 1, 3, "xyz", "3");
    check_size(*xyz, 0, feat.size(0), "xyz", "feat.shape[0]");
    check_same_device(*xyz, "xyz", feat, "feat");
    check_same_dtype(*xyz, "xyz", feat, "feat");
    TORCH_CHECK_VALUE(new_xyz.has_value() && new_xyz->defined(),
                      "new_xyz must be given together with xyz");
    check_floating(*new_xyz, "new_xyz");
    check_dim(*new_xyz, 2, "new_xyz", "(m, 3)");
    check_size(*new_xyz, 1, 3, "new_xyz", "3");
    check_size(*new_xyz, 0, idx.size(0), "new_xyz", "idx.shape[0]");
    check_same_device(*new_xyz, "new_xyz", feat, "feat");
    check_same_dtype(*new_xyz, "new_xyz", feat, "feat");
  }
  check_index_range(idx, feat.size(0), "idx");
}

inline void check_grouping_backward(const at::Tensor& grad, const at::Tensor& idx, int64_t n,
                                    int64_t offset, int64_t c) {
  check_floating(grad, "grad_output");
  check_dim(grad, 3, "grad_output", "(m, nsample, width)");
  check_index_dtype(idx, "idx");
  check_dim(idx, 2, "idx", "(m, nsample)");
  check_same_device(idx, "idx", grad, "grad_output");
  check_size(grad, 0, idx.size(0), "grad_output", "idx.shape[0]");
  check_size(grad, 1, idx.size(1), "grad_output", "idx.shape[1]");
  TORCH_CHECK_VALUE(n >= 0, "n must be >= 0, got ", num(n));
  TORCH_CHECK_VALUE(offset >= 0 && c >= 0 && offset + c <= grad.size(2),
                    "the column range [offset, offset + c) must lie inside grad_output.shape[2] (",
                    num(grad.size(2)), "), got offset=", num(offset), ", c=", num(c));
}

inline void check_subtraction(const at::Tensor& input1, const at::Tensor& input2,
                              const at::Tensor& idx) {
  check_floating(input1, "input1");
  check_dim(input1, 2, "input1", "(n, c)");
  check_floating(input2, "input2");
  check_dim(input2, 2, "input2", "(n2, c)");
  check_same_dtype(input2, "input2", input1, "input1");
  check_same_device(input2, "input2", input1, "input1");
  check_size(input2, 1, input1.size(1), "input2", "input1.shape[1]");
  check_index_dtype(idx, "idx");
  check_dim(idx, 2, "idx", "(n, nsample)");
  check_same_device(idx, "idx", input1, "input1");
  check_size(idx, 0, input1.size(0), "idx", "input1.shape[0]");
  check_index_range(idx, input2.size(0), "idx");
}

inline void check_subtraction_backward(const at::Tensor& grad, const at::Tensor& idx, int64_t n2) {
  check_floating(grad, "grad_output");
  check_dim(grad, 3, "grad_output", "(n, nsample, c)");
  check_index_dtype(idx, "idx");
  check_dim(idx, 2, "idx", "(n, nsample)");
  check_same_device(idx, "idx", grad, "grad_output");
  check_size(grad, 0, idx.size(0), "grad_output", "idx.shape[0]");
  check_size(grad, 1, idx.size(1), "grad_output", "idx.shape[1]");
  TORCH_CHECK_VALUE(n2 >= 0, "n2 must be >= 0, got ", num(n2));
}

inline void check_aggregation(const at::Tensor& input, const at::Tensor& position,
                              const at::Tensor& weight, const at::Tensor& idx,
                              bool check_range = true) {
  check_floating(input, "input");
  check_dim(input, 2, "input", "(n, c)");
  check_floating(position, "position");
  check_dim(position, 3, "position", "(n, nsample, c)");
  check_floating(weight, "weight");
  check_dim(weight, 3, "weight", "(n, nsample, w_c)");
  check_index_dtype(idx, "idx");
  check_dim(idx, 2, "idx", "(n, nsample)");
  check_same_device(position, "position", input, "input");
  check_same_device(weight, "weight", input, "input");
  check_same_device(idx, "idx", input, "input");
  check_same_dtype(position, "position", input, "input");
  check_same_dtype(weight, "weight", input, "input");
  check_size(position, 0, idx.size(0), "position", "idx.shape[0]");
  check_size(position, 1, idx.size(1), "position", "idx.shape[1]");
  check_size(position, 2, input.size(1), "position", "input.shape[1]");
  check_size(weight, 0, idx.size(0), "weight", "idx.shape[0]");
  check_size(weight, 1, idx.size(1), "weight", "idx.shape[1]");
  TORCH_CHECK_VALUE(weight.size(2) >= 1 || input.size(1) == 0,
                    "weight.shape[2] (w_c) must be >= 1, got shape ", shape_of(weight));
  if (check_range) check_index_range(idx, input.size(0), "idx");
}

inline void check_relation(const at::Tensor& query, const at::Tensor& key,
                           const at::Tensor& weight, const at::Tensor& it,
                           const at::Tensor& ir) {
  check_floating(query, "query");
  check_dim(query, 3, "query", "(n, g, c)");
  check_floating(key, "key");
  check_dim(key, 3, "key", "(n, g, c)");
  check_floating(weight, "weight");
  check_dim(weight, 1, "weight", "(c,)");
  check_same_dtype(key, "key", query, "query");
  check_same_dtype(weight, "weight", query, "query");
  check_same_device(key, "key", query, "query");
  check_same_device(weight, "weight", query, "query");
  check_size(key, 1, query.size(1), "key", "query.shape[1]");
  check_size(key, 2, query.size(2), "key", "query.shape[2]");
  check_size(weight, 0, query.size(2), "weight", "query.shape[2]");
  check_index_dtype(it, "index_target");
  check_dim(it, 1, "index_target", "(M,)");
  check_index_dtype(ir, "index_refer");
  check_dim(ir, 1, "index_refer", "(M,)");
  check_same_device(it, "index_target", query, "query");
  check_same_device(ir, "index_refer", query, "query");
  check_size(ir, 0, it.size(0), "index_refer", "index_target.shape[0]");
}

inline void check_fusion(const at::Tensor& weight, const at::Tensor& value, const at::Tensor& it,
                         const at::Tensor& ir) {
  check_floating(weight, "weight");
  check_dim(weight, 2, "weight", "(M, g)");
  check_floating(value, "value");
  check_dim(value, 3, "value", "(n, g, c)");
  check_same_dtype(weight, "weight", value, "value");
  check_same_device(weight, "weight", value, "value");
  check_size(weight, 1, value.size(1), "weight", "value.shape[1]");
  check_index_dtype(it, "index_target");
  check_dim(it, 1, "index_target", "(M,)");
  check_index_dtype(ir, "index_refer");
  check_dim(ir, 1, "index_refer", "(M,)");
  check_same_device(it, "index_target", value, "value");
  check_same_device(ir, "index_refer", value, "value");
  check_size(it, 0, weight.size(0), "index_target", "weight.shape[0]");
  check_size(ir, 0, weight.size(0), "index_refer", "weight.shape[0]");
}

inline void check_aggregation_backward(const at::Tensor& grad, const at::Tensor& input,
                                       const at::Tensor& position, const at::Tensor& weight,
                                       const at::Tensor& idx) {
  check_floating(grad, "grad_output");
  check_aggregation(input, position, weight, idx, /*check_range=*/false);
  check_dim(grad, 2, "grad_output", "(n, c)");
  check_size(grad, 0, idx.size(0), "grad_output", "idx.shape[0]");
  check_size(grad, 1, input.size(1), "grad_output", "input.shape[1]");
  check_same_dtype(grad, "grad_output", input, "input");
  check_same_device(grad, "grad_output", input, "input");
}

inline void check_relation_backward(const at::Tensor& grad, const at::Tensor& query,
                                    const at::Tensor& key, const at::Tensor& weight,
                                    const at::Tensor& it, const at::Tensor& ir) {
  check_relation(query, key, weight, it, ir);
  check_floating(grad, "grad_output");
  check_dim(grad, 2, "grad_output", "(M, g)");
  check_size(grad, 0, it.size(0), "grad_output", "index_target.shape[0]");
  check_size(grad, 1, query.size(1), "grad_output", "query.shape[1]");
  check_same_dtype(grad, "grad_output", query, "query");
  check_same_device(grad, "grad_output", query, "query");
}

inline void check_fusion_backward(const at::Tensor& grad, const at::Tensor& weight,
                                  const at::Tensor& value, const at::Tensor& it,
                                  const at::Tensor& ir) {
  check_fusion(weight, value, it, ir);
  check_floating(grad, "grad_output");
  TORCH_CHECK_VALUE(grad.sizes() == value.sizes(), "grad_output must have the shape of value ",
                    shape_of(value), ", got ", shape_of(grad));
  check_same_dtype(grad, "grad_output", value, "value");
  check_same_device(grad, "grad_output", value, "value");
}

// offset2batch / batch2offset validation. Both need one small device->host copy on
// CUDA: the output length depends on the values.

// Validates offset (int32/int64 (B,), possibly empty, non-negative, non-decreasing) and returns
// offset[-1] (the number of points); 0 for an empty offset.
inline int64_t check_offset2batch(const at::Tensor& offset) {
  check_offset_meta(offset, "offset", /*allow_empty=*/true);
  if (offset.numel() == 0) return 0;
  const at::Tensor h = offsets_to_host({offset})[0];
  check_offset_values(h.data_ptr<int64_t>(), h.numel(), "offset");
  return h.data_ptr<int64_t>()[h.numel() - 1];
}

// Validates batch (1-D int32/int64, values >= 0, non-decreasing) and returns the
// number of scenes batch[-1] + 1 (0 for an empty batch).
inline int64_t check_batch2offset(const at::Tensor& batch) {
  const char* name = "batch";
  check_index_dtype(batch, name);
  check_dim(batch, 1, name, "(N,)");
  const int64_t n = batch.numel();
  if (n == 0) return 0;
  const at::Tensor b = batch.to(at::kLong);
  // .lt(), not operator<: that one is in <ATen/TensorOperators.h>, which includes all of ATen.
  const at::Tensor drops = n > 1 ? b.slice(0, 1).lt(b.slice(0, 0, n - 1)).sum()
                                 : at::zeros({}, b.options());
  const at::Tensor h = at::stack({b[0], b[n - 1], drops.to(at::kLong)}).cpu();
  const int64_t first = h[0].item<int64_t>(), last = h[1].item<int64_t>();
  TORCH_CHECK_VALUE(first >= 0, name, " values must be >= 0 (scene ids), got ", num(first));
  TORCH_CHECK_VALUE(h[2].item<int64_t>() == 0, name,
                    " must be non-decreasing (points of a scene are contiguous), but it decreases ",
                    num(h[2].item<int64_t>()), " time(s)");
  return last + 1;
}

}  // namespace feature
}  // namespace pointops
