// Per-scene bounding boxes of concatenated point clouds, shared by the spatial grid
// (spatial/spatial_cuda.cpp) and the pruned FPS kernel (fps/fps_cuda.cpp); defined in
// scene_boxes_kernels.cu, read on the device with scene_boxes.cuh.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pointops {

// Bounding box of every scene of xyz (n, 3) float32 (NaN coordinates ignored), on `stream`:
// box[6b .. 6b+2] = minimum x, y, z and box[6b+3 .. 6b+5] = maximum, each stored as an int that
// orders like the float (read it with box_float); an empty scene keeps +inf / -inf. `starts`:
// B + 1 cumulative scene starts with a leading 0, on the device; `box`: 6 * B ints.
cudaError_t launch_scene_boxes(const float* xyz, int64_t n, const int64_t* starts, int B, int* box,
                               cudaStream_t stream);

}  // namespace pointops
