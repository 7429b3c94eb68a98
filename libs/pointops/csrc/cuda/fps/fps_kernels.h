// The CUDA farthest_point_sampling kernels, as fps_cuda.cpp drives them (it validates the
// call, allocates, and picks one by the size of the largest scene; semantics in
// csrc/farthest_point_sampling.h). All three give the CPU reference's bits:
//  * multi (fps_multi_kernels.cu): points in the registers of one thread-block cluster per
//    scene, several exact samples per exchange round; while a scene fits in them (131072 points
//    with clusters of 16 blocks, 8192 without clusters);
//  * pruned (fps_pruned_kernels.cu): one SM per scene skipping the updates that provably change
//    nothing (spatial buckets); larger scenes, up to what its shared-memory tables hold;
//  * dense (fps_dense_kernels.cu): every distance in a global-memory workspace, updated in every
//    iteration by one cluster per scene; any size, the fallback beyond the pruned kernel.
// point_start / out_start: B + 1 cumulative scene starts of the points and of the samples, with
// a leading 0, on the device. out: int32 global row indices.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pointops {
namespace fps {

// Threads per block of the multi and dense kernels.
constexpr int kClusterThreads = 1024;

// The largest thread-block cluster (blocks per scene) that the multi and dense kernels can use on
// the device: 16 when it is sm_90 or later and runs code built with cluster support, else 1.
cudaError_t max_cluster_size(const cudaDeviceProp& prop, int* size);

// ------------------------------------------------------------------ multi

struct MultiConfig {
  int P;      // points per thread in registers (<= 8)
  int csize;  // blocks per scene (cluster size)
};

// The configuration of the multi kernel for B scenes of up to max_points points, or false when
// they do not fit its registers on this device.
bool plan_multi(int64_t max_points, int64_t B, int max_cluster, MultiConfig* config);

// Fills out for B scenes.
cudaError_t launch_multi(const MultiConfig& config, int64_t B, const float* xyz,
                         const int64_t* point_start, const int64_t* out_start, int32_t* out,
                         cudaStream_t stream);

// ------------------------------------------------------------------ dense

// The cluster size of the dense kernel for B scenes: the largest up to max_cluster that the
// device can run (it prepares the kernel's attributes for it).
cudaError_t plan_dense(int64_t B, int max_cluster, int* csize);

// Fills out for B scenes. work: one float of +inf per row of xyz.
cudaError_t launch_dense(int csize, int64_t B, const float* xyz, const int64_t* point_start,
                         const int64_t* out_start, float* work, int32_t* out,
                         cudaStream_t stream);

// ------------------------------------------------------------------ pruned

// The shared-memory layout of the pruned kernel for scenes of up to max_points points.
struct PrunedPlan {
  int lane_points;     // a bucket holds 32 * lane_points points
  int cap;             // buckets per table
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
