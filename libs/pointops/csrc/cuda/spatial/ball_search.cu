// The grid search kernels of ball_query (mode kModeBall: the nearest points with
// min_radius^2 <= d2 < max_radius^2). The operator is in spatial_cuda.cpp.
#include "cuda/spatial/search_thread.cuh"

namespace pointops {
namespace grid {
template cudaError_t launch_search<kModeBall>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
