// The CUDA farthest_point_sampling kernels, as fps_cuda.cpp drives them (it validates the
// call, allocates, and picks one; semantics in csrc/farthest_point_sampling.h):
//  * dense (fps_dense_kernels.cu): every point updated every iteration, points in registers of
//    up to 16 SMs per scene (thread-block clusters); the faster one while a scene fits in them;
//  * pruned (fps_pruned_kernels.cu): one SM per scene skipping the updates that provably change
//    nothing (spatial buckets); the faster one for larger scenes;
//  * multi (fps_multi_kernels.cu), a variant under measurement: the dense layout, but several
//    exact samples per exchange round.
// point_start / out_start: B + 1 cumulative scene starts of the points and of the samples, with
// a leading 0, on the device. out: int32 global row indices.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pointops {
namespace fps {

// ------------------------------------------------------------------ dense

constexpr int kDenseThreads = 1024;

// What the dense kernel can do on the current device and build.
struct DenseLimits {
  int max_cluster;  // blocks per scene (1 without thread-block clusters)
  int max_p;        // points per thread in registers
};
cudaError_t dense_limits(const cudaDeviceProp& prop, DenseLimits* limits);

// The largest scene the dense kernel keeps in registers; larger ones make it stream the points
// from global memory in every iteration.
inline int64_t dense_register_capacity(const DenseLimits& limits) {
  return static_cast<int64_t>(limits.max_cluster) * kDenseThreads * limits.max_p;
}

struct DenseConfig {
  int P;      // points per thread in registers; 0 = a global-memory workspace of distances
  int csize;  // blocks per scene (cluster size)
};

// The configuration for B scenes of up to max_points points: the largest cluster the device can
// run (it prepares the kernel's attributes for it).
cudaError_t plan_dense(int64_t max_points, int64_t B, const DenseLimits& limits,
                       DenseConfig* config);

// Fills out for B scenes. work: n floats of +inf when config.P == 0, else unused.
cudaError_t launch_dense(const DenseConfig& config, int64_t B, const float* xyz,
                         const int64_t* point_start, const int64_t* out_start, float* work,
                         int32_t* out, cudaStream_t stream);

// ------------------------------------------------------------------ multi

struct MultiConfig {
  int P;      // points per thread in registers (<= 8)
  int csize;  // blocks per scene (cluster size)
};

// The configuration of the multi kernel for B scenes of up to max_points points, or false when
// they do not fit its registers on this device.
bool plan_multi(int64_t max_points, int64_t B, const DenseLimits& limits, MultiConfig* config);

// Fills out for B scenes (a variant under measurement: several exact samples per exchange round).
cudaError_t launch_multi(const MultiConfig& config, int64_t B, const float* xyz,
                         const int64_t* point_start, const int64_t* out_start, int32_t* out,
                         cudaStream_t stream);

// ------------------------------------------------------------------ pruned

// The shared-memory layout of the pruned kernel for scenes of up to max_points points.
struct PrunedPlan {
  int lane_points;     // a bucket holds 32 * lane_points points
  int cap;             // buckets per table
  int point_cap;       // points per scene held in shared memory (placement != all global)
  int placement;       // where points and distances live (fps_pruned_kernels.cu)
  int64_t smem_bytes;  // dynamic shared memory per block
};
// False when a scene of max_points points does not fit the pruned kernel on this device.
bool plan_pruned(int64_t max_points, const cudaDeviceProp& prop, PrunedPlan* plan);

// Sort key of every row of xyz (n, 3): its scene above a Morton code of its cell in the scene's
// bounding box (box: scene_boxes.h).
cudaError_t launch_morton_keys(const float* xyz, int64_t n, const int64_t* point_start, int B,
                               const int* box, int64_t* keys, cudaStream_t stream);

// points (n) float4 = (x, y, z, scene-local row as int bits) in the order of the sorted keys
// (order = the rows, sorted_keys = their keys); dist (n) = +inf.
cudaError_t launch_pruned_gather(const float* xyz, int64_t n, const int64_t* order,
                                 const int64_t* sorted_keys, const int64_t* point_start,
                                 float4* points, float* dist, cudaStream_t stream);

// Fills out for B scenes from the prepared points and distances.
cudaError_t launch_pruned(const PrunedPlan& plan, int64_t B, const float4* points, float* dist,
                          const int64_t* point_start, const int64_t* out_start, int32_t* out,
                          cudaStream_t stream);

}  // namespace fps
}  // namespace pointops
