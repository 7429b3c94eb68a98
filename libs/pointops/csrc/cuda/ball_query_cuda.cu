// CUDA ball_query and random_ball_query: the grid search (spatial_grid.cuh) restricted to
// min_radius^2 <= d2 < max_radius^2; ball_query keeps the nearest, random_ball_query the
// smallest seeded random ranks. The operators are spatial_search_cuda (spatial_grid_cuda.cu),
// registered in register_cuda.cpp; this file compiles the search kernels of the two modes.
#include "cuda/search_impl.cuh"

namespace pointops {
namespace grid {
template void launch_search<kModeBall>(const SearchParams&, cudaStream_t);
template void launch_search<kModeRandom>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
