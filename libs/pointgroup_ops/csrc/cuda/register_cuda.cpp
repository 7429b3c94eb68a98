// CUDA kernels of the operators (compiled in CUDA builds only): validation, then the
// implementations of this folder. A tensor argument on the GPU selects these kernels, so
// after validation every tensor is on coords' (or semantic_label's) CUDA device.
#include <torch/library.h>

#include "../pointgroup_ops.h"

namespace pointgroup_ops {

bool built_with_cuda() { return true; }

namespace {

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cuda_op(const at::Tensor& coords, const at::Tensor& batch_idxs,
                                                             const at::Tensor& batch_offsets, double radius,
                                                             int64_t mean_active) {
  const BallQueryInputs in = ballquery_inputs(coords, batch_idxs, batch_offsets, radius, mean_active);
  return ballquery_batch_p_cuda(in.coords, in.batch_idxs, in.batch_offsets, radius);
}

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cuda_op(const at::Tensor& semantic_label,
                                                       const at::Tensor& ball_query_idxs, const at::Tensor& start_len,
                                                       int64_t threshold) {
  const BfsInputs in = bfs_inputs(semantic_label, ball_query_idxs, start_len, threshold);
  auto out = bfs_cluster_cuda(in.semantic_label, in.ball_query_idxs, in.start_len, threshold);
  if (std::get<0>(out).defined()) return out;
  // Non-symmetric neighbour lists: the breadth-first search follows directed edges, which
  // the component-based GPU path does not model. Use the CPU path.
  const auto device = in.semantic_label.device();
  auto cpu = bfs_cluster_cpu(in.semantic_label.cpu(), in.ball_query_idxs.cpu(), in.start_len.cpu(), threshold);
  return {std::get<0>(cpu).to(device), std::get<1>(cpu).to(device)};
}

}  // namespace
}  // namespace pointgroup_ops

TORCH_LIBRARY_IMPL(pointgroup_ops, CUDA, m) {
  m.impl("ballquery_batch_p", &pointgroup_ops::ballquery_batch_p_cuda_op);
  m.impl("bfs_cluster", &pointgroup_ops::bfs_cluster_cuda_op);
}
