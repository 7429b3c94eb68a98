// Argument validation shared by both devices: dtype, shape, device and scalar arguments.
// Content checks (offset values, index ranges) live with each implementation because on
// the GPU they are folded into the kernels.
#include "pointgroup_ops.h"

#include <c10/util/Exception.h>

#include <cmath>

namespace pointgroup_ops {

BallQueryInputs ballquery_inputs(const at::Tensor& coords, const at::Tensor& batch_idxs,
                                 const at::Tensor& batch_offsets, double radius, int64_t mean_active) {
  TORCH_CHECK_TYPE(coords.scalar_type() == at::kFloat,
                   "ballquery_batch_p: coords must be float32, got ", coords.scalar_type());
  TORCH_CHECK_VALUE(coords.dim() == 2 && coords.size(1) == 3,
                    "ballquery_batch_p: coords must have shape (n, 3), got ", shape_of(coords));
  TORCH_CHECK_TYPE(batch_idxs.scalar_type() == at::kInt || batch_idxs.scalar_type() == at::kLong,
                   "ballquery_batch_p: batch_idxs must be int32 (or int64), got ",
                   batch_idxs.scalar_type());
  TORCH_CHECK_VALUE(batch_idxs.dim() == 1 && batch_idxs.size(0) == coords.size(0),
                    "ballquery_batch_p: batch_idxs must have shape (n,) with n = coords.size(0) = ",
                    num(coords.size(0)), ", got ", shape_of(batch_idxs));
  TORCH_CHECK_TYPE(batch_offsets.scalar_type() == at::kInt || batch_offsets.scalar_type() == at::kLong,
                   "ballquery_batch_p: batch_offsets must be int32 (or int64), got ",
                   batch_offsets.scalar_type());
  TORCH_CHECK_VALUE(batch_offsets.dim() == 1 && batch_offsets.size(0) >= 2,
                    "ballquery_batch_p: batch_offsets must have shape (B+1,) with a leading 0 and B >= 1, got ",
                    shape_of(batch_offsets));
  TORCH_CHECK_VALUE(coords.device() == batch_idxs.device(),
                    "ballquery_batch_p: batch_idxs must be on the same device as coords (",
                    coords.device(), "), got ", batch_idxs.device());
  TORCH_CHECK_VALUE(batch_offsets.device().is_cpu() || batch_offsets.device() == coords.device(),
                    "ballquery_batch_p: batch_offsets must be on the CPU or on coords' device (",
                    coords.device(), "), got ", batch_offsets.device());
  TORCH_CHECK_VALUE(std::isfinite(radius) && radius > 0.0,
                    "ballquery_batch_p: radius must be a finite number > 0, got ", num(radius));
  TORCH_CHECK_VALUE(std::isfinite(static_cast<float>(radius) * static_cast<float>(radius)),
                    "ballquery_batch_p: radius is too large for float32, got ", num(radius));
  TORCH_CHECK_VALUE(mean_active >= 0,
                    "ballquery_batch_p: meanActive must be >= 0 (it is only a sizing hint), got ",
                    num(mean_active));
  TORCH_CHECK_VALUE(coords.size(0) < (int64_t(1) << 31) - 1,
                    "ballquery_batch_p: coords has too many points for int32 indices: ", num(coords.size(0)));
  return {coords.contiguous(), batch_idxs.to(at::kInt).contiguous(),
          batch_offsets.to(coords.device(), at::kInt).contiguous()};
}

BfsInputs bfs_inputs(const at::Tensor& semantic_label, const at::Tensor& ball_query_idxs,
                     const at::Tensor& start_len, int64_t threshold) {
  TORCH_CHECK_TYPE(semantic_label.scalar_type() == at::kInt,
                   "bfs_cluster: semantic_label must be int32, got ", semantic_label.scalar_type());
  TORCH_CHECK_VALUE(semantic_label.dim() == 1,
                    "bfs_cluster: semantic_label must have shape (n,), got ", shape_of(semantic_label));
  TORCH_CHECK_TYPE(ball_query_idxs.scalar_type() == at::kInt,
                   "bfs_cluster: ball_query_idxs must be int32, got ", ball_query_idxs.scalar_type());
  TORCH_CHECK_VALUE(ball_query_idxs.dim() == 1,
                    "bfs_cluster: ball_query_idxs must have shape (nActive,), got ",
                    shape_of(ball_query_idxs));
  TORCH_CHECK_TYPE(start_len.scalar_type() == at::kInt,
                   "bfs_cluster: start_len must be int32, got ", start_len.scalar_type());
  const int64_t n = semantic_label.size(0);
  TORCH_CHECK_VALUE(start_len.dim() == 2 && start_len.size(0) == n && start_len.size(1) == 2,
                    "bfs_cluster: start_len must have shape (n, 2) with n = semantic_label.size(0) = ",
                    num(n), ", got ", shape_of(start_len));
  TORCH_CHECK_VALUE(semantic_label.device() == ball_query_idxs.device() &&
                        semantic_label.device() == start_len.device(),
                    "bfs_cluster: semantic_label, ball_query_idxs and start_len must be on one device, got ",
                    semantic_label.device(), ", ", ball_query_idxs.device(), ", ", start_len.device());
  TORCH_CHECK_VALUE(n < (int64_t(1) << 31) - 1,
                    "bfs_cluster: too many points for int32 indices: ", num(n));
  TORCH_CHECK_VALUE(threshold >= 0 && threshold <= (int64_t(1) << 31) - 1,
                    "bfs_cluster: threshold must be in [0, 2^31), got ", num(threshold));
  return {semantic_label.contiguous(), ball_query_idxs.contiguous(), start_len.contiguous()};
}

}  // namespace pointgroup_ops
