// Device helpers of the per-scene bounding boxes (scene_boxes.h), for the kernels that read
// the boxes (spatial/grid_kernels.cu, fps/fps_pruned_kernels.cu) or reduce them (scene_boxes_kernels.cu).
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/scene_boxes.h"

namespace pointops {

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
