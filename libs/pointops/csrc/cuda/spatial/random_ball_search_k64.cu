// The grid search kernel of random_ball_query for 32 < k <= 64 (see search_k64.cuh).
#include "cuda/spatial/search_k64.cuh"

namespace pointops {
namespace grid {
template cudaError_t launch_search_k64<kModeRandom>(const SearchParams&, cudaStream_t);
}  // namespace grid
}  // namespace pointops
