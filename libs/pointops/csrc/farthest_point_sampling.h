// farthest_point_sampling: shared declarations of the CPU and CUDA implementations.
//
// Semantics (both devices give bit-identical results):
//  * Scene b holds rows offset[b-1] .. offset[b]-1 of xyz (offset[-1] == 0) and asks
//    for m_b = new_offset[b] - new_offset[b-1] samples.
//  * The first sample of a scene is its first point. Every next sample is the point
//    whose distance to the already chosen set is largest, where that distance is the
//    minimum over the chosen points of the squared Euclidean distance, computed as
//        dx = px - qx; dy = py - qy; dz = pz - qz;
//        d  = (dx*dx + dy*dy) + dz*dz
//    with every operation rounded separately in float32 (no fused multiply-add).
//  * Ties (equal distances) go to the lowest row index.
//  * A scene asked for 0 samples writes nothing. Asking for more samples than a
//    scene has points is an error (naming new_offset).
//  * Output: int32 global row indices, new_offset[-1] of them.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

namespace pointops {
namespace fps {

// What the validation found out about one call; everything on the host.
struct Plan {
  int64_t n = 0;                    // rows of xyz
  int64_t total_samples = 0;        // new_offset[-1]
  int64_t max_points = 0;           // largest scene that has at least one sample
  int64_t max_samples = 0;          // largest m_b
  std::vector<int64_t> point_start; // B+1 entries: 0, offset[0], ..., offset[B-1]
  std::vector<int64_t> out_start;   // B+1 entries: 0, new_offset[0], ..., new_offset[B-1]
};

// Checks every argument (device, dtype, shape, offsets) and raises a ValueError /
// TypeError naming the argument. Needs one device->host copy of the offsets on CUDA.
// Defined in farthest_point_sampling.cpp.
Plan validate(const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_offset);

}  // namespace fps
}  // namespace pointops
