// Scene lookup shared by the CUDA kernels that work on the concatenated rows of a batch.
#pragma once

#include <cstdint>

namespace pointops {

// Scene of row r: the last b with start[b] <= r, where start holds B + 1 cumulative starts with
// a leading 0. Empty scenes share their start with the next one, so r lands in a non-empty one.
__device__ __forceinline__ int scene_of(int64_t r, const int64_t* start, int B) {
  int lo = 0, hi = B - 1;
  while (lo < hi) {
    const int mid = (lo + hi + 1) >> 1;
    if (start[mid] <= r) lo = mid; else hi = mid - 1;
  }
  return lo;
}

}  // namespace pointops
