// CUDA knn_query: the grid search (spatial_grid.cuh) keeping the k nearest points. The operator
// itself (validation, grid build, launch) is spatial_search_cuda in spatial_grid_cuda.cu,
// registered in register_cuda.cpp; this file compiles the search kernels of its mode.
#include "cuda/search_impl.cuh"

namespace pointops {
namespace grid {
template void launch_search<kModeKnn>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
