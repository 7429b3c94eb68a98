// Device helpers shared by the two CUDA farthest_point_sampling kernels (fps_kernels.h).
// Semantics (bit-identical to the CPU reference) in csrc/farthest_point_sampling.h.
#pragma once

#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/fps/fps_kernels.h"

// Device code of sm_90 and later built with CUDA 12 can use thread-block clusters.
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 900) && defined(CUDART_VERSION) && \
    (CUDART_VERSION >= 12000)
#define POINTOPS_FPS_DEVICE_CLUSTERS 1
#endif

namespace pointops {
namespace fps {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr uint32_t kNoIndex = 0xffffffffu;

// The reference's squared distance: every operation rounded on its own (no FMA), so the
// GPU and CPU results agree to the bit.
__device__ __forceinline__ float sq_dist(float px, float py, float pz, float qx, float qy,
                                         float qz) {
  const float dx = __fsub_rn(px, qx);
  const float dy = __fsub_rn(py, qy);
  const float dz = __fsub_rn(pz, qz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

// The largest and the smallest value of the warp (all lanes get them).
__device__ __forceinline__ uint32_t warp_max(uint32_t v) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  return __reduce_max_sync(kFullMask, v);
#else
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = max(v, __shfl_xor_sync(kFullMask, v, s));
  return v;
#endif
}
__device__ __forceinline__ uint32_t warp_min(uint32_t v) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  return __reduce_min_sync(kFullMask, v);
#else
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) v = min(v, __shfl_xor_sync(kFullMask, v, s));
  return v;
#endif
}

// Warp-wide best of (d, i) in the sampling order (largest distance bits, then smallest
// index); every lane gets it. Distances are never negative, so their bits order like them.
__device__ __forceinline__ void warp_best(uint32_t d, uint32_t i, uint32_t& bd, uint32_t& bi) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  bd = warp_max(d);
  bi = warp_min(d == bd ? i : kNoIndex);
#else
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) {
    const uint32_t od = __shfl_xor_sync(kFullMask, d, s);
    const uint32_t oi = __shfl_xor_sync(kFullMask, i, s);
    if (od > d || (od == d && oi < i)) {
      d = od;
      i = oi;
    }
  }
  bd = d;
  bi = i;
#endif
}

// The scene of a block when every scene runs on a cluster of csize blocks along x: its points
// [s0, s0 + n) and samples [o0, o0 + m), and the block's rank in the cluster.
struct ClusterScene {
  int rank;
  int64_t s0, n, o0, m;
};

__device__ __forceinline__ ClusterScene cluster_scene(const int64_t* point_start,
                                                      const int64_t* out_start, int csize) {
  ClusterScene c;
  c.rank = 0;
#ifdef POINTOPS_FPS_DEVICE_CLUSTERS
  if (csize > 1) c.rank = static_cast<int>(cooperative_groups::this_cluster().block_rank());
#endif
  const int64_t scene = blockIdx.x / csize;
  c.s0 = point_start[scene];
  c.n = point_start[scene + 1] - c.s0;
  c.o0 = out_start[scene];
  c.m = out_start[scene + 1] - c.o0;
  return c;
}

// A barrier over the cluster (over the block when csize == 1).
__device__ __forceinline__ void cluster_barrier(int csize) {
#ifdef POINTOPS_FPS_DEVICE_CLUSTERS
  if (csize > 1) {
    cooperative_groups::this_cluster().sync();
    return;
  }
#endif
  __syncthreads();
}

// p in the shared memory of block `rank` of the cluster (p itself when csize == 1).
template <typename T>
__device__ __forceinline__ T* in_block(T* p, int rank, int csize) {
#ifdef POINTOPS_FPS_DEVICE_CLUSTERS
  if (csize > 1) return cooperative_groups::this_cluster().map_shared_rank(p, rank);
#endif
  return p;
}

#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
// The launch configuration of `grid` blocks of `threads` in clusters of csize (la: room for its
// one attribute).
inline void cluster_launch_config(int64_t grid, int threads, size_t smem, cudaStream_t stream,
                                  int csize, cudaLaunchConfig_t* lc, cudaLaunchAttribute* la) {
  *lc = cudaLaunchConfig_t{};
  lc->gridDim = dim3(static_cast<unsigned>(grid));
  lc->blockDim = dim3(threads);
  lc->dynamicSmemBytes = smem;
  lc->stream = stream;
  la[0].id = cudaLaunchAttributeClusterDimension;
  la[0].val.clusterDim.x = csize;
  la[0].val.clusterDim.y = 1;
  la[0].val.clusterDim.z = 1;
  lc->attrs = la;
  lc->numAttrs = 1;
}
#endif

}  // namespace fps
}  // namespace pointops
