// The dense CUDA farthest_point_sampling kernel: every point's distance is updated in every
// iteration, the distances in a global-memory workspace and the points read from global memory
// each time. It is the fallback for scenes larger than the pruned kernel's shared-memory tables
// hold (fps_cuda.cpp picks the kernel; about 9.9M points per scene with 227 KB per block), and it
// takes a scene of any size.
//
// One iteration = update every point's distance to the chosen set with the newest sample, then an
// argmax over the scene:
//  * One thread-block cluster per scene (Hopper, sm_90: up to 16 blocks of 1024 threads, one
//    block per SM), all scenes at once; each thread updates the points i = rank * 1024 + tid
//    + k * (cluster threads).
//  * Argmax with a total order (distance descending, index ascending): per thread over its
//    points (ascending index, strict '>'), per warp with two redux.sync instructions (max of the
//    distance bits, then min of the index among the lanes holding that maximum), per block
//    through shared memory (one __syncthreads), and across the cluster by writing each block's
//    winner (distance, index, x, y, z) into a slot of every block's shared memory (distributed
//    shared memory) followed by one cluster barrier. Every warp then reduces the <= 16 slots
//    itself, so an iteration costs one __syncthreads and one cluster barrier. The slots are
//    double buffered, which makes that single barrier enough.
//  * Distances are non-negative, so their float bit patterns compare like the floats; they are
//    computed with __fsub_rn/__fmul_rn/__fadd_rn so no FMA contraction can change a rounding,
//    exactly like the CPU code.
//
// The same kernel with the points in registers was the default for scenes of up to 131072 points
// until the multi kernel (fps_multi_kernels.cu), which takes several samples per exchange,
// replaced it (H200: 4 x 100k -> 25k in 26.5 ms against 44 ms). Measured then: 1.4 to 1.8 us per
// iteration nearly independent of the cluster size and of the points per thread, so the latency
// of the per-iteration exchange chain bounds it, not the updates; per-buffer mbarriers with
// remote arrivals instead of the cluster barrier were 10-20% slower.
//
// Without clusters (older GPUs, or code built for an older architecture) one block per scene.
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/fps/fps_common.cuh"

namespace pointops {
namespace fps {
namespace {

constexpr int kThreads = kClusterThreads;
constexpr int kWarps = kThreads / 32;
constexpr int kMaxCluster = 16;
constexpr unsigned kFull = kFullMask;
constexpr uint32_t kNone = kNoIndex;

// A candidate: distance bits, scene-local index, coordinates.
struct Cand {
  uint32_t d;
  uint32_t i;
  float x, y, z;
};

// A warp's candidate: distance bits, scene-local index.
struct WarpCand {
  uint32_t d;
  uint32_t i;
};

// Grid: (number of scenes) x csize blocks, clusters of csize blocks along x. work: the current
// distances of every row of xyz (+inf at the start).
__global__ void __launch_bounds__(kThreads, 1)
    fps_dense_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ point_start,
                     const int64_t* __restrict__ out_start, float* __restrict__ work,
                     int32_t* __restrict__ out, int csize) {
  __shared__ WarpCand warp_c[kWarps];
  __shared__ Cand slots[2][kMaxCluster];

  const ClusterScene sc = cluster_scene(point_start, out_start, csize);
  const int rank = sc.rank;
  const int64_t s0 = sc.s0, n = sc.n, o0 = sc.o0, m = sc.m;
  if (m == 0) return;  // uniform over the cluster
  const float* pts = xyz + 3 * s0;
  float* dist = work + s0;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int64_t stride = static_cast<int64_t>(csize) * kThreads;
  // Every block of the cluster must be running before anyone writes into its shared memory.
  cluster_barrier(csize);

  float qx = pts[0], qy = pts[1], qz = pts[2];
  const bool writer = rank == 0 && tid == 0;
  if (writer) out[o0] = static_cast<int32_t>(s0);
  int buf = 0;
  for (int64_t j = 1; j < m; ++j) {
    uint32_t bd = 0, bi = kNone;
    for (int64_t i = static_cast<int64_t>(rank) * kThreads + tid; i < n; i += stride) {
      const float d = sq_dist(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], qx, qy, qz);
      const float cur = fminf(d, dist[i]);
      dist[i] = cur;
      const uint32_t bits = __float_as_uint(cur);
      if (bi == kNone || bits > bd) {
        bd = bits;
        bi = static_cast<uint32_t>(i);
      }
    }
    uint32_t wd, wi;
    warp_best(bd, bi, wd, wi);
    if (lane == 0) warp_c[warp] = WarpCand{wd, wi};
    __syncthreads();
    if (warp == 0) {
      uint32_t gd, gi;
      warp_best(warp_c[lane].d, warp_c[lane].i, gd, gi);
      if (lane < csize) {
        Cand w{gd, gi, 0.f, 0.f, 0.f};
        if (gi != kNone) {
          w.x = pts[3 * static_cast<int64_t>(gi)];
          w.y = pts[3 * static_cast<int64_t>(gi) + 1];
          w.z = pts[3 * static_cast<int64_t>(gi) + 2];
        }
        *in_block(&slots[buf][rank], lane, csize) = w;
      }
    }
    cluster_barrier(csize);
    const uint32_t cd = lane < csize ? slots[buf][lane].d : 0u;
    const uint32_t ci = lane < csize ? slots[buf][lane].i : kNone;
    uint32_t gd, gi;
    warp_best(cd, ci, gd, gi);
    const int wl = __ffs(__ballot_sync(kFull, cd == gd && ci == gi)) - 1;
    qx = slots[buf][wl].x;
    qy = slots[buf][wl].y;
    qz = slots[buf][wl].z;
    if (writer) out[o0 + j] = static_cast<int32_t>(s0 + gi);
    buf ^= 1;
  }
}

}  // namespace

cudaError_t plan_dense(int64_t B, int max_cluster, int* csize) {
  int c = max_cluster;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  while (c > 1) {
    if (c > 8) {
      const cudaError_t err =
          cudaFuncSetAttribute(fps_dense_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
      if (err != cudaSuccess) return err;
    }
    cudaLaunchConfig_t lc = {};
    cudaLaunchAttribute la[1];
    cluster_launch_config(B * c, kThreads, 0, nullptr, c, &lc, la);
    int clusters = 0;
    const cudaError_t occ = cudaOccupancyMaxActiveClusters(&clusters, fps_dense_kernel, &lc);
    if (occ == cudaSuccess && clusters >= 1) break;
    (void)cudaGetLastError();  // clear the error; try a smaller cluster
    c /= 2;
  }
#endif
  *csize = c < 1 ? 1 : c;
  return cudaSuccess;
}

cudaError_t launch_dense(int csize, int64_t B, const float* xyz, const int64_t* point_start,
                         const int64_t* out_start, float* work, int32_t* out,
                         cudaStream_t stream) {
  const int64_t grid = B * csize;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  if (csize > 1) {
    cudaLaunchConfig_t lc = {};
    cudaLaunchAttribute la[1];
    cluster_launch_config(grid, kThreads, 0, stream, csize, &lc, la);
    return cudaLaunchKernelEx(&lc, fps_dense_kernel, xyz, point_start, out_start, work, out, csize);
  }
#endif
  fps_dense_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(xyz, point_start,
                                                                          out_start, work, out, 1);
  return cudaGetLastError();
}

}  // namespace fps
}  // namespace pointops
