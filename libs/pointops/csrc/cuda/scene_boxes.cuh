// Per-scene bounding boxes of concatenated point clouds, shared by the spatial grid
// (spatial_grid_cuda.cu) and the pruned FPS kernel (fps_pruned_cuda.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace pointops {

// Bounding box of every scene of xyz (n, 3) float32 (NaN coordinates ignored), on `stream`:
// box[6b .. 6b+2] = minimum x, y, z and box[6b+3 .. 6b+5] = maximum, each stored as an int that
// orders like the float (read it with box_float); an empty scene keeps +inf / -inf. `starts`:
// B + 1 cumulative scene starts with a leading 0, on the device; `box`: 6 * B ints.
void launch_scene_boxes(const float* xyz, int64_t n, const int64_t* starts, int B, int* box,
                        cudaStream_t stream);

// The float of a box entry.
__device__ __forceinline__ float box_float(int i) {
  return __int_as_float(i >= 0 ? i : i ^ 0x7fffffff);
}

// Min / max of three axes over the lanes of a warp (fminf / fmaxf skip NaN).
__device__ __forceinline__ void warp_minmax(float* lo, float* hi) {
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) {
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      lo[a] = fminf(lo[a], __shfl_xor_sync(0xffffffffu, lo[a], s));
      hi[a] = fmaxf(hi[a], __shfl_xor_sync(0xffffffffu, hi[a], s));
    }
  }
}

}  // namespace pointops
