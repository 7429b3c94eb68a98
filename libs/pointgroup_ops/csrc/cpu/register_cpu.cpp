// CPU kernels of the operators: validation, then the implementations of this folder.
#include <torch/library.h>

#include "../pointgroup_ops.h"

namespace pointgroup_ops {
namespace {

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cpu_op(const at::Tensor& coords, const at::Tensor& batch_idxs,
                                                            const at::Tensor& batch_offsets, double radius,
                                                            int64_t mean_active) {
  const BallQueryInputs in = ballquery_inputs(coords, batch_idxs, batch_offsets, radius, mean_active);
  return ballquery_batch_p_cpu(in.coords, in.batch_idxs, in.batch_offsets, radius);
}

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cpu_op(const at::Tensor& semantic_label,
                                                      const at::Tensor& ball_query_idxs, const at::Tensor& start_len,
                                                      int64_t threshold) {
  const BfsInputs in = bfs_inputs(semantic_label, ball_query_idxs, start_len, threshold);
  return bfs_cluster_cpu(in.semantic_label, in.ball_query_idxs, in.start_len, threshold);
}

}  // namespace
}  // namespace pointgroup_ops

TORCH_LIBRARY_IMPL(pointgroup_ops, CPU, m) {
  m.impl("ballquery_batch_p", &pointgroup_ops::ballquery_batch_p_cpu_op);
  m.impl("bfs_cluster", &pointgroup_ops::bfs_cluster_cpu_op);
}
