// Registration of the compiled module `pointgroup_ops_cuda` and per-device dispatch.
// The module keeps its historical name also in CPU-only builds.
// Only the pybind11 glue for at::Tensor (much lighter to compile than torch/extension.h).
#include <torch/csrc/utils/pybind.h>

#include "pointgroup_ops.h"

namespace pointgroup_ops {
namespace {

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p(const at::Tensor& coords,
                                                     const at::Tensor& batch_idxs,
                                                     const at::Tensor& batch_offsets,
                                                     double radius, int64_t mean_active) {
  check_ballquery_args(coords, batch_idxs, batch_offsets, radius, mean_active);
  const at::Tensor c = coords.contiguous();
  const at::Tensor bi = batch_idxs.to(at::kInt).contiguous();
  if (c.is_cuda()) {
#ifdef WITH_CUDA
    return ballquery_batch_p_cuda(c, bi, batch_offsets.to(c.device(), at::kInt).contiguous(), radius);
#else
    TORCH_CHECK_VALUE(false, "ballquery_batch_p: coords is a CUDA tensor but pointgroup_ops_cuda "
                             "was built without CUDA support");
#endif
  }
  TORCH_CHECK_VALUE(c.device().is_cpu(), "ballquery_batch_p: coords must be a CPU or CUDA tensor, got ",
                    fmt(c.device()));
  return ballquery_batch_p_cpu(c, bi, batch_offsets.to(at::kCPU, at::kInt).contiguous(), radius);
}

std::tuple<at::Tensor, at::Tensor> bfs_cluster(const at::Tensor& semantic_label,
                                               const at::Tensor& ball_query_idxs,
                                               const at::Tensor& start_len, int64_t threshold) {
  check_bfs_args(semantic_label, ball_query_idxs, start_len, threshold);
  const at::Tensor lab = semantic_label.contiguous();
  const at::Tensor idx = ball_query_idxs.contiguous();
  const at::Tensor sl = start_len.contiguous();
  if (lab.is_cuda()) {
#ifdef WITH_CUDA
    auto out = bfs_cluster_cuda(lab, idx, sl, threshold);
    if (std::get<0>(out).defined()) return out;
    // Non-symmetric neighbour lists: the breadth-first search follows directed
    // edges, which the component-based GPU path does not model. Use the CPU path.
    auto cpu = bfs_cluster_cpu(lab.cpu(), idx.cpu(), sl.cpu(), threshold);
    return {std::get<0>(cpu).to(lab.device()), std::get<1>(cpu).to(lab.device())};
#else
    TORCH_CHECK_VALUE(false, "bfs_cluster: inputs are CUDA tensors but pointgroup_ops_cuda "
                             "was built without CUDA support");
#endif
  }
  TORCH_CHECK_VALUE(lab.device().is_cpu(), "bfs_cluster: inputs must be CPU or CUDA tensors, got ",
                    fmt(lab.device()));
  return bfs_cluster_cpu(lab, idx, sl, threshold);
}

bool with_cuda() {
#ifdef WITH_CUDA
  return true;
#else
  return false;
#endif
}

}  // namespace
}  // namespace pointgroup_ops

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "pointgroup_ops compiled kernels: ball query with batch offsets and BFS clustering";
  m.def("ballquery_batch_p", &pointgroup_ops::ballquery_batch_p,
        "ballquery_batch_p(coords, batch_idxs, batch_offsets, radius, meanActive) -> (idx, start_len)",
        py::arg("coords"), py::arg("batch_idxs"), py::arg("batch_offsets"), py::arg("radius"),
        py::arg("meanActive") = 0);
  m.def("bfs_cluster", &pointgroup_ops::bfs_cluster,
        "bfs_cluster(semantic_label, ball_query_idxs, start_len, threshold) -> (cluster_idxs, cluster_offsets)",
        py::arg("semantic_label"), py::arg("ball_query_idxs"), py::arg("start_len"),
        py::arg("threshold"));
  m.def("with_cuda", &pointgroup_ops::with_cuda, "whether this build contains the CUDA kernels");
}
