// The grid search kernels of knn_query and interpolation (mode kModeKnn: the k nearest points).
// The operators (validation, grid build, launch) are in spatial_cuda.cpp.
#include "cuda/spatial/search_thread.cuh"

namespace pointops {
namespace grid {
template cudaError_t launch_search<kModeKnn>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
