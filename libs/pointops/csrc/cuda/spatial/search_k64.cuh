// The search for 32 < k <= 64 (a register top-k of 64 keys per query thread), in a header of its
// own so that each mode compiles it in a separate file (knn_search_k64.cu, ball_search_k64.cu,
// random_ball_search_k64.cu): it takes most of the search's compile time, and apart from the
// other kernels of its mode it no longer lengthens the longest compile job.
#pragma once

#include "cuda/spatial/search_thread.cuh"

namespace pointops {
namespace grid {

template <int MODE>
cudaError_t launch_search_k64(const SearchParams& p, cudaStream_t stream) {
  const int64_t blocks = (p.m + kThreadSearchThreads - 1) / kThreadSearchThreads;
  search_reg_kernel<64, MODE><<<dim3(static_cast<unsigned>(blocks)), kThreadSearchThreads, 0, stream>>>(p);
  return cudaGetLastError();
}

}  // namespace grid
}  // namespace pointops
