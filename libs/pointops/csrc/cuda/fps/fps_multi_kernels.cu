// The multi CUDA farthest_point_sampling kernel, the default while a scene fits in its registers
// (fps_cuda.cpp picks the kernel): several samples per exchange round, exactly the samples of the
// sequential algorithm. One sample per cluster-wide exchange (the dense kernel's scheme, which
// held the points in registers too) costs about 1.4-1.8 us per sample on an H200 whatever the
// work, and that latency bounded it: 44 ms for 4 x 100k -> 25k and 8.8 ms for 4 x 25k -> 6.25k,
// against 26.5 ms and 5.9 ms here.
//
// Why several samples per round are exact. Order the points by the key (current distance
// descending, index ascending); the sequential algorithm takes the first. Let c_1 < c_2 < ...
// be the best keys of a round and B a key that no other point beats. After taking c_1, every
// distance can only drop, so a point that is not a candidate still ranks at or after B; the next
// sample is therefore the best candidate under the updated distances, provided it still ranks
// before B. The round keeps taking samples that way (updating only the candidates' distances,
// with the same rounded operations as the reference) and stops at the first best candidate that
// does not rank before B. A NumPy model of this (equal to sequential FPS on uniform, lattice and
// duplicate data) takes 27 samples per round with 31 candidates on 4 x 25k -> 6.25k uniform data
// and 15 with 15 candidates on 100k -> 25k: far spread candidates rarely disturb each other.
//
// One round, one cluster of up to 16 blocks per scene, the points in registers:
//  1. every thread lowers its points' distances with the samples of the previous round;
//  2. every warp extracts its kPerWarp best keys (a warp's other points rank after its last one);
//  3. warp 0 keeps the block's 32 best of them and sends its 31 best and a bound (the 32nd, or
//     an earlier warp's last key) to every block of the cluster; after the cluster barrier the
//     warps merge the cluster's lists in pairs, log2(csize) levels, into the 31 best candidates
//     and the bound B;
//  4. warp 0 of every block runs the same acceptance loop on the candidates (so the blocks agree
//     without another exchange) and leaves the new samples in shared memory.
// Per round: one cluster barrier and 2 + log2(csize) block barriers, for ~25 samples instead
// of one.
#include <cooperative_groups.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "cuda/fps/fps_common.cuh"
#include "cuda/spatial/warp_topk.cuh"

namespace pointops {
namespace fps {
namespace {

using grid::WarpTopK;

constexpr int kThreads = kClusterThreads;  // 1024
constexpr int kWarps = kThreads / 32;
constexpr int kMaxCluster = 16;
constexpr int kMaxP = 8;        // points per thread
constexpr int kPerWarp = 3;     // keys a warp contributes per round
constexpr int kCandidates = 31; // per round; the 32nd slot carries the bound
constexpr uint64_t kEmpty = ~uint64_t(0);

// (distance descending, index ascending) as one ascending key; distances are never negative.
__device__ __forceinline__ uint64_t rank_key(float d, uint32_t i) {
  return (static_cast<uint64_t>(~__float_as_uint(d)) << 32) | i;
}
__device__ __forceinline__ float key_dist(uint64_t k) {
  return __uint_as_float(~static_cast<uint32_t>(k >> 32));
}
__device__ __forceinline__ uint32_t key_index(uint64_t k) { return static_cast<uint32_t>(k); }

// The smallest key of the warp (all lanes get it).
__device__ __forceinline__ uint64_t warp_min_key(uint64_t k) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  const uint32_t hi = __reduce_min_sync(kFullMask, static_cast<uint32_t>(k >> 32));
  const uint32_t lo = __reduce_min_sync(kFullMask, static_cast<uint32_t>(k >> 32) == hi
                                                       ? static_cast<uint32_t>(k) : 0xffffffffu);
  return (static_cast<uint64_t>(hi) << 32) | lo;
#else
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) {
    const uint64_t o = __shfl_xor_sync(kFullMask, static_cast<unsigned long long>(k), s);
    k = o < k ? o : k;
  }
  return k;
#endif
}

// Grid: (number of scenes) x csize blocks, clusters of csize blocks along x; p points per thread.
__global__ void __launch_bounds__(kThreads, 1)
    fps_multi_kernel(const float* __restrict__ xyz, const int64_t* __restrict__ point_start,
                     const int64_t* __restrict__ out_start, int32_t* __restrict__ out, int csize,
                     int p) {
  __shared__ uint64_t warp_keys[kWarps][kPerWarp];
  __shared__ uint64_t lists[2][kMaxCluster][32];  // per round parity: each block's 31 keys + bound
  __shared__ uint64_t merged[2][kMaxCluster / 2][32];  // 3b's merges, per level parity
  __shared__ float taken[kCandidates][3];         // the samples of the last round
  __shared__ int taken_count;
  __shared__ int64_t sampled;

  const ClusterScene sc = cluster_scene(point_start, out_start, csize);
  const int rank = sc.rank;
  const int64_t s0 = sc.s0, n = sc.n, o0 = sc.o0, m = sc.m;
  if (m == 0) return;  // uniform over the cluster
  const float* pts = xyz + 3 * s0;
  const int tid = threadIdx.x;
  const int lane = tid & 31;
  const int warp = tid >> 5;
  const uint32_t stride = static_cast<uint32_t>(csize) * kThreads;  // <= 16384

  float px[kMaxP], py[kMaxP], pz[kMaxP], pd[kMaxP];
#pragma unroll
  for (int k = 0; k < kMaxP; ++k) {
    const int64_t i = static_cast<int64_t>(k) * stride + static_cast<int64_t>(rank) * kThreads + tid;
    const bool real = k < p && i < n;
    px[k] = real ? pts[3 * i] : 0.f;
    py[k] = real ? pts[3 * i + 1] : 0.f;
    pz[k] = real ? pts[3 * i + 2] : 0.f;
    pd[k] = __int_as_float(0x7f800000);  // +inf; padding never yields a key (see below)
  }
  if (tid == 0) {
    taken[0][0] = pts[0];
    taken[0][1] = pts[1];
    taken[0][2] = pts[2];
    taken_count = 1;
    sampled = 1;
    if (rank == 0) out[o0] = static_cast<int32_t>(s0);
  }
  // Every block of the cluster must be running before anyone writes into its shared memory.
  cluster_barrier(csize);

  for (int round = 0; sampled < m; ++round) {
    // 1. The samples of the last round.
    const int count = taken_count;
    for (int t = 0; t < count; ++t) {
      const float qx = taken[t][0], qy = taken[t][1], qz = taken[t][2];
#pragma unroll
      for (int k = 0; k < kMaxP; ++k) {
        if (k < p) pd[k] = fminf(sq_dist(px[k], py[k], pz[k], qx, qy, qz), pd[k]);
      }
    }
    // 2. The warp's kPerWarp best keys, in order.
    uint32_t used = 0;  // this lane's points already extracted
    for (int e = 0; e < kPerWarp; ++e) {
      uint64_t mine = kEmpty;
#pragma unroll
      for (int k = 0; k < kMaxP; ++k) {
        const uint32_t i = static_cast<uint32_t>(k) * stride + static_cast<uint32_t>(rank * kThreads + tid);
        if (k < p && i < n && !(used & (1u << k))) {
          const uint64_t key = rank_key(pd[k], i);
          mine = key < mine ? key : mine;
        }
      }
      const uint64_t best = warp_min_key(mine);
      if (best != kEmpty && best == mine) {
#pragma unroll
        for (int k = 0; k < kMaxP; ++k) {
          const uint32_t i = static_cast<uint32_t>(k) * stride + static_cast<uint32_t>(rank * kThreads + tid);
          if (k < p && i == key_index(best)) used |= 1u << k;
        }
      }
      if (lane == 0) warp_keys[warp][e] = best;
    }
    __syncthreads();
    const int buf = round & 1;
    if (warp == 0) {
      // 3a. The block's 32 best contributed keys; every point of the block that is not among its
      // 31 candidates ranks at or after the bound: the 32nd key, or a warp's last contribution.
      WarpTopK top(32, lane);
      for (int e = 0; e < kPerWarp; ++e) top.offer(warp_keys[lane][e]);
      uint64_t bound = warp_min_key(warp_keys[lane][kPerWarp - 1]);
      const uint64_t kth = __shfl_sync(kFullMask, static_cast<unsigned long long>(top.key), 31);
      bound = kth < bound ? kth : bound;
      const uint64_t mine = lane < kCandidates ? (top.key < bound ? top.key : kEmpty) : bound;
      for (int r = 0; r < csize; ++r) *in_block(&lists[buf][rank][lane], r, csize) = mine;
    }
    cluster_barrier(csize);
    // 3b. The cluster's 31 best candidates: the blocks' lists (31 keys each, ascending) merged in
    // pairs, a level at a time, warp w merging lists 2w and 2w + 1 (csize is a power of two), so
    // that a round waits for log2(csize) merges instead of csize in one warp. Each merge keeps
    // the 32 smallest keys of its two lists, so the last holds the 32 smallest of them all.
    // List r of a level, this lane's key: the blocks' lists at level 0, then the merges.
    const auto list_of = [&](int level, int r) {
      if (level > 0) return merged[(level - 1) & 1][r][lane];
      return lane < kCandidates ? lists[buf][r][lane] : kEmpty;
    };
    WarpTopK top(32, lane);
    if (csize == 1 && warp == 0) top.hold_ascending(list_of(0, 0));
    for (int level = 0, held = csize; held > 1; ++level, held >>= 1) {
      if (warp < held / 2) {
        top.hold_ascending(list_of(level, 2 * warp));
        top.offer_ascending(list_of(level, 2 * warp + 1));
        merged[level & 1][warp][lane] = top.key;  // warp 0 keeps the last merge in `top`
      }
      __syncthreads();
    }
    if (warp == 0) {
      // The bound B: the 32nd smallest key, or a block's bound if lower.
      const uint64_t blocks_bound = warp_min_key(lane < csize ? lists[buf][lane][31] : kEmpty);
      const uint64_t bound = top.kth < blocks_bound ? top.kth : blocks_bound;
      // 4. Acceptance, the same in every block. Lane l holds candidate l. A step's chain is kept
      // short: the best distance is one warp maximum; its lane is the only one holding it but
      // on a tie (then the lowest index wins); whether it still ranks before B is read from a
      // ballot taken beside the maximum; the samples are stored after the loop.
      const bool valid = lane < kCandidates && top.key < bound;
      const uint32_t ci = valid ? key_index(top.key) : kNoIndex;
      float cd = valid ? key_dist(top.key) : 0.f;
      const float cx = valid ? pts[3 * static_cast<int64_t>(ci)] : 0.f;
      const float cy = valid ? pts[3 * static_cast<int64_t>(ci) + 1] : 0.f;
      const float cz = valid ? pts[3 * static_cast<int64_t>(ci) + 2] : 0.f;
      const int64_t done = sampled;
      const int most = static_cast<int>(min(m - done, static_cast<int64_t>(kCandidates)));
      int got = 0;
      int won = 0;  // lane t: the lane of the round's t-th sample
      while (got < most) {
        const unsigned before_bound = __ballot_sync(kFullMask, valid && rank_key(cd, ci) < bound);
        const uint32_t d = valid ? __float_as_uint(cd) : 0u;
        const uint32_t bd = warp_max(d);
        unsigned best = __ballot_sync(kFullMask, valid && d == bd);
        if (best == 0) break;  // no candidate at all
        if (best & (best - 1)) {
          const uint32_t lowest = warp_min(best >> lane & 1u ? ci : kNoIndex);
          best = __ballot_sync(kFullMask, ci == lowest);
        }
        const int wl = __ffs(best) - 1;
        if (got > 0 && !(before_bound >> wl & 1u)) break;
        const float qx = __shfl_sync(kFullMask, cx, wl);
        const float qy = __shfl_sync(kFullMask, cy, wl);
        const float qz = __shfl_sync(kFullMask, cz, wl);
        if (lane == got) won = wl;
        ++got;
        cd = fminf(sq_dist(cx, cy, cz, qx, qy, qz), cd);
      }
      // The round's samples, in the order they were taken.
      const float tx = __shfl_sync(kFullMask, cx, won);
      const float ty = __shfl_sync(kFullMask, cy, won);
      const float tz = __shfl_sync(kFullMask, cz, won);
      const uint32_t ti = __shfl_sync(kFullMask, ci, won);
      if (lane < got) {
        taken[lane][0] = tx;
        taken[lane][1] = ty;
        taken[lane][2] = tz;
        if (rank == 0) out[o0 + done + lane] = static_cast<int32_t>(s0 + ti);
      }
      __syncwarp();  // every lane has read `sampled`
      if (lane == 0) {
        taken_count = got;
        sampled = done + got;
      }
    }
    __syncthreads();
  }
}

// The cluster size for scenes of up to n points: the smallest that holds them with at most 2
// points per thread (at most 8); more points per thread lengthen the update step.
int cluster_for(int64_t n, int max_cluster) {
  int c = 1;
  while (c < max_cluster && static_cast<int64_t>(c) * kThreads * 2 < n) c *= 2;
  return c;
}

}  // namespace

cudaError_t max_cluster_size(const cudaDeviceProp& prop, int* size) {
  *size = 1;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  if (prop.major >= 9) {
    cudaFuncAttributes attr;
    const cudaError_t err = cudaFuncGetAttributes(&attr, fps_multi_kernel);
    if (err != cudaSuccess) return err;
    if (attr.ptxVersion >= 90) *size = kMaxCluster;  // code built with cluster support
  }
#endif
  return cudaSuccess;
}

bool plan_multi(int64_t max_points, int64_t B, int max_cluster, MultiConfig* config) {
  int c = cluster_for(max_points, max_cluster);
  for (;;) {
    const int64_t per_thread = (max_points + static_cast<int64_t>(c) * kThreads - 1) /
                               (static_cast<int64_t>(c) * kThreads);
    if (per_thread > kMaxP) return false;
    const int p = per_thread < 1 ? 1 : static_cast<int>(per_thread);
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
    if (c > 1) {
      if (c > 8 &&
          cudaFuncSetAttribute(fps_multi_kernel, cudaFuncAttributeNonPortableClusterSizeAllowed, 1) !=
              cudaSuccess) {
        (void)cudaGetLastError();
        c /= 2;
        continue;
      }
      cudaLaunchConfig_t lc;
      cudaLaunchAttribute la[1];
      cluster_launch_config(B * c, kThreads, 0, nullptr, c, &lc, la);
      int clusters = 0;
      if (cudaOccupancyMaxActiveClusters(&clusters, fps_multi_kernel, &lc) != cudaSuccess ||
          clusters < 1) {
        (void)cudaGetLastError();
        c /= 2;
        continue;
      }
    }
#endif
    *config = MultiConfig{p, c};
    return true;
  }
}

cudaError_t launch_multi(const MultiConfig& cfg, int64_t B, const float* xyz,
                         const int64_t* point_start, const int64_t* out_start, int32_t* out,
                         cudaStream_t stream) {
  const int64_t grid = B * cfg.csize;
#if defined(CUDART_VERSION) && (CUDART_VERSION >= 12000)
  if (cfg.csize > 1) {
    cudaLaunchConfig_t lc;
    cudaLaunchAttribute la[1];
    cluster_launch_config(grid, kThreads, 0, stream, cfg.csize, &lc, la);
    return cudaLaunchKernelEx(&lc, fps_multi_kernel, xyz, point_start, out_start, out, cfg.csize,
                              cfg.P);
  }
#endif
  fps_multi_kernel<<<static_cast<unsigned>(grid), kThreads, 0, stream>>>(xyz, point_start, out_start,
                                                                          out, 1, cfg.P);
  return cudaGetLastError();
}

}  // namespace fps
}  // namespace pointops
