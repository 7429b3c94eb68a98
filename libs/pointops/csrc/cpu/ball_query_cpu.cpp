// CPU ball_query and random_ball_query (on the shared reference search of knn_cpu.cpp).
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "spatial_ops.h"

namespace pointops {
namespace {

std::tuple<at::Tensor, at::Tensor> ball_query_cpu(int64_t k, double max_radius,
                                                  double min_radius, const at::Tensor& xyz,
                                                  const at::Tensor& offset,
                                                  const at::Tensor& new_xyz,
                                                  const at::Tensor& new_offset) {
  return run_spatial_query(&spatial_search_cpu, kModeBall, k, max_radius, min_radius, 0, xyz,
                           offset, new_xyz, new_offset);
}

std::tuple<at::Tensor, at::Tensor> random_ball_query_cpu(
    int64_t k, double max_radius, double min_radius, const at::Tensor& xyz,
    const at::Tensor& offset, const at::Tensor& new_xyz, const at::Tensor& new_offset,
    int64_t seed) {
  return run_spatial_query(&spatial_search_cpu, kModeRandom, k, max_radius, min_radius, seed,
                           xyz, offset, new_xyz, new_offset);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("ball_query", &ball_query_cpu);
  m.impl("random_ball_query", &random_ball_query_cpu);
}

}  // namespace pointops
