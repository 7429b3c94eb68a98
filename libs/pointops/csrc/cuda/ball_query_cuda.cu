// CUDA ball_query and random_ball_query: grid search (spatial_grid.cuh) restricted to
// min_radius^2 <= d2 < max_radius^2; ball_query keeps the nearest, random_ball_query the
// smallest seeded random ranks.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cuda/search_impl.cuh"
#include "spatial_ops.h"

namespace pointops {
namespace grid {
template void launch_search<kModeBall>(const SearchParams&, cudaStream_t);
template void launch_search<kModeRandom>(const SearchParams&, cudaStream_t);
}  // namespace grid

namespace {

std::tuple<at::Tensor, at::Tensor> ball_query_cuda(int64_t k, double max_radius,
                                                   double min_radius, const at::Tensor& xyz,
                                                   const at::Tensor& offset,
                                                   const at::Tensor& new_xyz,
                                                   const at::Tensor& new_offset) {
  return run_spatial_query(&spatial_search_cuda, kModeBall, k, max_radius, min_radius, 0, xyz,
                           offset, new_xyz, new_offset);
}

std::tuple<at::Tensor, at::Tensor> random_ball_query_cuda(
    int64_t k, double max_radius, double min_radius, const at::Tensor& xyz,
    const at::Tensor& offset, const at::Tensor& new_xyz, const at::Tensor& new_offset,
    int64_t seed) {
  return run_spatial_query(&spatial_search_cuda, kModeRandom, k, max_radius, min_radius, seed,
                           xyz, offset, new_xyz, new_offset);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CUDA, m) {
  m.impl("ball_query", &ball_query_cuda);
  m.impl("random_ball_query", &random_ball_query_cuda);
}

}  // namespace pointops
