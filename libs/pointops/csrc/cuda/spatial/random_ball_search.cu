// The grid search kernels of random_ball_query (mode kModeRandom: the points with
// min_radius^2 <= d2 < max_radius^2 of smallest seeded random rank), in a file of their own so
// that the three modes compile in parallel. The operator is in spatial_cuda.cpp.
#include "cuda/spatial/search_thread.cuh"

namespace pointops {
namespace grid {
template cudaError_t launch_search<kModeRandom>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
