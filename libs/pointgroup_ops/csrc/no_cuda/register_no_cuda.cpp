// CPU-only builds: CUDA tensors get one clear error instead of the dispatcher's list of
// backends (setup.py compiles this file instead of cuda/*).
#include <torch/library.h>

#include "../pointgroup_ops.h"

namespace pointgroup_ops {

bool built_with_cuda() { return false; }

namespace {

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_no_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                             double, int64_t) {
  TORCH_CHECK_VALUE(false, "ballquery_batch_p: a tensor argument is on a CUDA device but pointgroup_ops_cuda was "
                           "built without CUDA support (rebuild with a CUDA toolkit, or FORCE_CUDA=1)");
}

std::tuple<at::Tensor, at::Tensor> bfs_cluster_no_cuda(const at::Tensor&, const at::Tensor&, const at::Tensor&,
                                                       int64_t) {
  TORCH_CHECK_VALUE(false, "bfs_cluster: a tensor argument is on a CUDA device but pointgroup_ops_cuda was built "
                           "without CUDA support (rebuild with a CUDA toolkit, or FORCE_CUDA=1)");
}

}  // namespace
}  // namespace pointgroup_ops

TORCH_LIBRARY_IMPL(pointgroup_ops, CUDA, m) {
  m.impl("ballquery_batch_p", &pointgroup_ops::ballquery_batch_p_no_cuda);
  m.impl("bfs_cluster", &pointgroup_ops::bfs_cluster_no_cuda);
}
