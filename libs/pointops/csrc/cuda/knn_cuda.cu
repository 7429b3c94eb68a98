// CUDA knn_query: grid search (spatial_grid.cuh) keeping the k nearest points.
#include <ATen/ATen.h>
#include <torch/library.h>

#include "cuda/search_impl.cuh"
#include "spatial_ops.h"

namespace pointops {
namespace grid {
template void launch_search<kModeKnn>(const SearchParams&, cudaStream_t);
}  // namespace grid

namespace {

std::tuple<at::Tensor, at::Tensor> knn_query_cuda(int64_t k, const at::Tensor& xyz,
                                                  const at::Tensor& offset,
                                                  const at::Tensor& new_xyz,
                                                  const at::Tensor& new_offset) {
  return run_spatial_query(&spatial_search_cuda, kModeKnn, k, 0.0, 0.0, 0, xyz, offset, new_xyz,
                           new_offset);
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CUDA, m) { m.impl("knn_query", &knn_query_cuda); }

}  // namespace pointops
