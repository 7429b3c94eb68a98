// The dense CUDA farthest_point_sampling kernel: every point's distance is updated in every
// iteration. It is the default while the largest scene fits in the registers of one cluster
// (fps_cuda.cpp picks the kernel); larger scenes go to the pruned kernel
// (fps_pruned_kernels.cu) unless POINTOPS_FPS_KERNEL=dense forces this one.
//
// Design
// ------
// FPS is sequential in the samples, so the time is (samples) x (latency of one
// iteration). One iteration = update every point's distance to the chosen set with
// the newest sample, then an argmax over the scene. We make that iteration short:
//
//  * One thread-block cluster per scene (Hopper, sm_90: up to 16 blocks of 1024
//    threads, one block per SM), all scenes at once. Each thread keeps P points
//    (coordinates and current distance) in registers, so the update reads no memory.
//    The block also keeps its points' coordinates in shared memory, only to look up
//    the coordinates of its winner.
//  * Argmax with a total order (distance descending, index ascending): per thread
//    over its P points (ascending index, strict '>'), per warp with two redux.sync
//    instructions (max of the distance bits, then min of the index among the lanes
//    holding that maximum), per block through shared memory (one __syncthreads), and
//    across the cluster by writing each block's winner (distance, index, x, y, z)
//    into a slot of every block's shared memory (distributed shared memory) followed
//    by one cluster barrier. Every warp then reduces the <= 16 slots itself, so an
//    iteration costs one __syncthreads and one cluster barrier. The slots are double
//    buffered, which makes that single barrier enough.
//  * Distances are non-negative, so their float bit patterns compare like the floats;
//    they are computed with __fsub_rn/__fmul_rn/__fadd_rn so no FMA contraction can
//    change a rounding, exactly like the CPU code.
//
// Measured on one H200 (torch 2.11, CUDA 13, median of 10, B = 4 uniform scenes):
// 4 x 100k -> 4 x 25k in 44 ms (clusters of 16, 8 points per thread), 4 x 25k -> 4 x 6.25k
// in 8.8 ms (clusters of 16, 2 points per thread); the old one-block-per-scene code takes
// 495 / 37 ms. That is 1.4 to 1.8 us per iteration, nearly independent of the cluster
// size (4, 8 or 16 blocks) and of the points per thread, so the time is the latency of
// the per-iteration exchange chain (warp reduction, block barrier, remote store, cluster
// barrier, final reduction), not the distance updates. Replacing the cluster barrier by
// per-buffer mbarriers with remote arrivals (release/acquire at cluster scope) was tried
// and was 10-20% slower.
//
// Fallbacks (same results): without clusters (older GPUs, or code built for an
// older architecture) one block per scene (cluster size 1); when forced onto scenes larger
// than what fits in registers (16 x 1024 x 8 = 131072 points with clusters, 8192 without)
// it keeps the distances in a global-memory workspace and streams the points each iteration.
#include <cuda_runtime.h>

#include <cstdint>
#include <cstdlib>

#include "cuda/fps/fps_common.cuh"

namespace pointops {
namespace fps {
namespace {

constexpr int kThreads = kDenseThreads;
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

// A warp's candidate: distance bits, scene-local index, position in the block's
// shared coordinate arrays (register path) where its coordinates can be read.
struct WarpCand {
  uint32_t d;
  uint32_t i;
  uint32_t q;
};

// P > 0: each thread keeps P points in registers. P == 0: distances in `work`.
// Grid: (number of scenes) x csize blocks, clusters of csize blocks along x.
template <int P>
__global__ void __launch_bounds__(kThreads, 1)
    fps_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ point_start,
               const int64_t* __restrict__ out_start, float* __restrict__ work,
               int32_t* __restrict__ out, int csize) {
  extern __shared__ float shared_xyz[];  // P > 0: x[P*T], y[P*T], z[P*T] of this block
  __shared__ WarpCand warp_c[kWarps];
  __shared__ Cand slots[2][kMaxCluster];

  const ClusterScene sc = cluster_scene(point_start, out_start, csize);
  const int rank = sc.rank;
  const int64_t s0 = sc.s0, n = sc.n, o0 = sc.o0, m = sc.m;
  if (m == 0) return;  // uniform over the cluster
  const float* pts = xyz + 3 * s0;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const int64_t stride = static_cast<int64_t>(csize) * kThreads;
  const uint32_t stride32 = static_cast<uint32_t>(csize) * kThreads;  // <= 16384

  constexpr int PR = P > 0 ? P : 1;
  float px[PR], py[PR], pz[PR], pd[PR];
  float* sx = shared_xyz;
  float* sy = shared_xyz + PR * kThreads;
  float* sz = shared_xyz + 2 * PR * kThreads;
  if (P > 0) {
#pragma unroll
    for (int k = 0; k < PR; ++k) {
      const int64_t i = k * stride + static_cast<int64_t>(rank) * kThreads + tid;
      if (i < n) {
        px[k] = pts[3 * i];
        py[k] = pts[3 * i + 1];
        pz[k] = pts[3 * i + 2];
        pd[k] = __int_as_float(0x7f800000);  // +inf
      } else {  // padding: distance 0 and an index >= n, so it never wins
        px[k] = py[k] = pz[k] = 0.f;
        pd[k] = 0.f;
      }
      sx[k * kThreads + tid] = px[k];
      sy[k * kThreads + tid] = py[k];
      sz[k * kThreads + tid] = pz[k];
    }
  }
  // Every block of the cluster must be running before anyone writes into its
  // shared memory; this also publishes shared_xyz.
  cluster_barrier(csize);

  float qx = pts[0], qy = pts[1], qz = pts[2];
  const bool writer = rank == 0 && tid == 0;
  if (writer) out[o0] = static_cast<int32_t>(s0);
  int buf = 0;
  for (int64_t j = 1; j < m; ++j) {
    uint32_t bd = 0, bi = kNone, bq = 0;
    if (P > 0) {
      int bk = 0;
#pragma unroll
      for (int k = 0; k < PR; ++k) {
        pd[k] = fminf(sq_dist(px[k], py[k], pz[k], qx, qy, qz), pd[k]);
        const uint32_t bits = __float_as_uint(pd[k]);
        if (k == 0 || bits > bd) {
          bd = bits;
          bk = k;
        }
      }
      bi = static_cast<uint32_t>(bk) * stride32 + static_cast<uint32_t>(rank * kThreads + tid);
      bq = static_cast<uint32_t>(bk * kThreads + tid);
    } else {
      for (int64_t i = static_cast<int64_t>(rank) * kThreads + tid; i < n; i += stride) {
        const float d = sq_dist(pts[3 * i], pts[3 * i + 1], pts[3 * i + 2], qx, qy, qz);
        const float cur = fminf(d, work[s0 + i]);
        work[s0 + i] = cur;
        const uint32_t bits = __float_as_uint(cur);
        if (bi == kNone || bits > bd) {
          bd = bits;
          bi = static_cast<uint32_t>(i);
        }
      }
    }
    uint32_t wd, wi;
    warp_best(bd, bi, wd, wi);
    const unsigned lead = __ballot_sync(kFull, bd == wd && bi == wi);
    if (lane == __ffs(lead) - 1) warp_c[warp] = WarpCand{wd, wi, bq};
    __syncthreads();
    if (warp == 0) {
      const uint32_t cd = warp_c[lane].d;
      const uint32_t ci = warp_c[lane].i;
      uint32_t gd, gi;
      warp_best(cd, ci, gd, gi);
      const int wl = __ffs(__ballot_sync(kFull, cd == gd && ci == gi)) - 1;
      if (lane < csize) {
        Cand w;
        w.d = gd;
        w.i = gi;
        w.x = w.y = w.z = 0.f;
        if (gi != kNone) {
          if (P > 0) {
            const uint32_t q = warp_c[wl].q;
            w.x = sx[q];
            w.y = sy[q];
            w.z = sz[q];
          } else {
            w.x = pts[3 * static_cast<int64_t>(gi)];
            w.y = pts[3 * static_cast<int64_t>(gi) + 1];
            w.z = pts[3 * static_cast<int64_t>(gi) + 2];
          }
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

using KernelFn = void (*)(const float*, const int64_t*, const int64_t*, float*, int32_t*, int);

KernelFn kernel_for(int P) {
  switch (P) {
    case 1: return fps_kernel<1>;
    case 2: return fps_kernel<2>;
    case 4: return fps_kernel<4>;
    case 8: return fps_kernel<8>;
    default: return fps_kernel<0>;
  }
}

size_t smem_bytes(int P) { return static_cast<size_t>(3) * P * kThreads * sizeof(float); }

// Optional override of the cluster size (1, 2, 4, 8 or 16), for tuning.
int cluster_override() {
  const char* v = std::getenv("POINTOPS_FPS_CLUSTER");
  if (v == nullptr || v[0] == '\0') return 0;
  const int c = std::atoi(v);
  return (c == 1 || c == 2 || c == 4 || c == 8 || c == 16) ? c : 0;
}

// Clusters of c blocks for scenes of up to n points: the smallest register tier holding a
// thread's share, or the global-memory workspace (P = 0) when no tier up to max_p does.
DenseConfig config_for(int64_t n, int c, int max_p) {
  const int64_t per_block_pass = static_cast<int64_t>(c) * kThreads;
  const int64_t per_thread = (n + per_block_pass - 1) / per_block_pass;
  for (int p : {1, 2, 4, 8})
    if (p <= max_p && per_thread <= p) return DenseConfig{p, c};
  return DenseConfig{0, c};
}

DenseConfig choose(int64_t n, const DenseLimits& lim) {
  int c = cluster_override();
  if (c > lim.max_cluster) c = lim.max_cluster;
  if (c == 0) {
    // Aim at <= 2 points per thread (measured on an H200: the iteration time hardly
    // depends on the cluster size, while fewer points per thread shorten the update).
    c = 1;
    while (c < lim.max_cluster && static_cast<int64_t>(c) * kThreads * 2 < n) c *= 2;
  }
  return config_for(n, c, lim.max_p);
}

}  // namespace

cudaError_t dense_limits(const cudaDeviceProp& prop, DenseLimits* limits) {
  int max_cluster = 1;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  if (prop.major >= 9) {
    cudaFuncAttributes attr;
    const cudaError_t err = cudaFuncGetAttributes(&attr, fps_kernel<1>);
    if (err != cudaSuccess) return err;
    if (attr.ptxVersion >= 90) max_cluster = kMaxCluster;  // code built with cluster support
  }
#endif
  int max_p = 8;
  const size_t static_smem = sizeof(Cand) * (kWarps + 2 * kMaxCluster);
  while (max_p > 0 && smem_bytes(max_p) + static_smem > prop.sharedMemPerBlockOptin) max_p /= 2;
  *limits = DenseLimits{max_cluster, max_p};
  return cudaSuccess;
}

cudaError_t plan_dense(int64_t max_points, int64_t B, const DenseLimits& lim, DenseConfig* config) {
  DenseConfig cfg = choose(max_points, lim);
  for (;;) {
    KernelFn kernel = kernel_for(cfg.P);
    const size_t smem = cfg.P > 0 ? smem_bytes(cfg.P) : 0;
    if (smem > 48 * 1024) {
      const cudaError_t err = cudaFuncSetAttribute(
          kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
      if (err != cudaSuccess) return err;
    }
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
    if (cfg.csize > 1) {
      if (cfg.csize > 8) {
        const cudaError_t err =
            cudaFuncSetAttribute(kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1);
        if (err != cudaSuccess) return err;
      }
      cudaLaunchConfig_t lc = {};
      cudaLaunchAttribute la[1];
      cluster_launch_config(B * cfg.csize, kThreads, smem, nullptr, cfg.csize, &lc, la);
      int clusters = 0;
      const cudaError_t occ = cudaOccupancyMaxActiveClusters(&clusters, kernel, &lc);
      if (occ != cudaSuccess || clusters < 1) {
        (void)cudaGetLastError();  // clear the error; try a smaller cluster
        cfg = config_for(max_points, cfg.csize / 2, lim.max_p);
        continue;
      }
    }
#endif
    *config = cfg;
    return cudaSuccess;
  }
}

cudaError_t launch_dense(const DenseConfig& cfg, int64_t B, const float* xyz,
                         const int64_t* point_start, const int64_t* out_start, float* work,
                         int32_t* out, cudaStream_t stream) {
  KernelFn kernel = kernel_for(cfg.P);
  const size_t smem = cfg.P > 0 ? smem_bytes(cfg.P) : 0;
  const int64_t grid = B * cfg.csize;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  if (cfg.csize > 1) {
    cudaLaunchConfig_t lc = {};
    cudaLaunchAttribute la[1];
    cluster_launch_config(grid, kThreads, smem, stream, cfg.csize, &lc, la);
    return cudaLaunchKernelEx(&lc, kernel, xyz, point_start, out_start, work, out, cfg.csize);
  }
#endif
  kernel<<<static_cast<unsigned>(grid), kThreads, smem, stream>>>(xyz, point_start, out_start, work,
                                                                    out, 1);
  return cudaGetLastError();
}

}  // namespace fps
}  // namespace pointops
