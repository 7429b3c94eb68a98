// Farthest point sampling with exact pruning: the CUDA path for scenes larger than the multi
// kernel keeps in registers (see fps_cuda.cpp for the choice).
//
// Why: FPS is sequential in the samples, so its time is (samples) x (time of one iteration).
// The dense kernel updates every point in every iteration; once a scene no longer fits in the
// registers of 16 SMs it streams all points from memory each time, and its iteration grows
// with the scene (H200: 1 x 300k -> 30k in 172 ms, 1 x 1M -> 20k in 299 ms, 2 x 2M -> 5k in
// 271 ms; here 103, 109 and 74 ms). But late in a run a new sample can only lower the
// distances of points close to it, so most of that work changes nothing. Here one block per
// scene skips it without changing any result:
//
//  * The scene's points are sorted along a Morton curve (10 bits per axis of the scene's box)
//    and cut into buckets of 32 * L consecutive points (L points per lane of a warp). Every
//    bucket keeps in shared memory its bounding box, the largest current distance of its
//    points and that point (lowest index among equal distances, and its coordinates).
//  * A new sample q can only lower a point's distance if dist(q, point) < the point's current
//    distance. A lower bound of dist(q, point) over a box is computed with the same rounded
//    operations as the distance itself (rounding is monotone, so the bound never exceeds the
//    rounded distance of any point inside the box); a bucket whose bound is >= its largest
//    distance cannot change and is skipped.
//  * Bucket t belongs to warp t % W (W warps per block), so the few neighbouring buckets a
//    sample dirties are updated by different warps in parallel. A warp's own buckets form
//    32 groups of consecutive ones, one per lane; the lane keeps the group's box and argmax
//    in registers and tests the whole group first. No two warps touch the same data: one
//    iteration is a group test per lane, a queue of the dirty buckets, their update a few at
//    a time (one point per lane, loads issued together), warp argmax reductions only where
//    an argmax point moved (bucket -> group -> warp) and a single __syncthreads to combine
//    the warps' winners, which every warp then reduces itself.
//
// Results are bit-identical to the CPU reference: same rounded distances, the same
// (largest distance, lowest index) order, and only updates that provably change nothing are
// skipped.
//
// Cost: an iteration is a chain of dependent steps on one SM (tests, loads, warp reductions,
// one barrier, the final reduction): about 2.5-3 us on an H200 whatever the scene size (keeping
// points and distances in shared memory, where they fitted, made no measurable difference, so
// they stay in global memory), against 1.4-1.8 us per exchange of a cluster holding the scene in
// registers.
#include <algorithm>
#include <cstdint>

#include "cuda/fps/fps_common.cuh"
#include "cuda/kernel_types.h"
#include "cuda/scene_boxes.cuh"
#include "cuda/scene_of.cuh"

namespace pointops {
namespace fps {
namespace {

constexpr int kThreads = 512;  // 8 and 16 warps measured the same on an H200
constexpr int kWarps = kThreads / 32;
constexpr int kBucketWords = 11;      // shared-memory words per bucket (see BucketTable)
constexpr int kQueueWords = 1;        // and per bucket in the warps' queues
constexpr int kMaxLanePoints = 64;    // buckets of at most 32 * 64 points
constexpr int kMortonBits = 10;       // per axis
constexpr uint32_t kInfBits = 0x7f800000u;  // +inf: the distance of a point not yet reached
constexpr int kBatch = 4;             // dirty buckets of a warp updated together

// A candidate of the argmax: distance bits, scene-local row index, coordinates.
struct Best {
  uint32_t d;
  uint32_t i;
  float x, y, z;
};

__device__ __forceinline__ Best warp_argmax(const Best& c) {
  uint32_t bd, bi;
  warp_best(c.d, c.i, bd, bi);
  const int src = __ffs(__ballot_sync(kFullMask, c.d == bd && c.i == bi)) - 1;
  return Best{bd, bi, __shfl_sync(kFullMask, c.x, src), __shfl_sync(kFullMask, c.y, src),
              __shfl_sync(kFullMask, c.z, src)};
}

struct Box {
  float lo[3];
  float hi[3];
};

// Lower bound of sq_dist(q, p) over every p inside the box, in the same rounded operations
// (a NaN q gives 0: never a skip, and the update then changes nothing, as in the reference).
__device__ __forceinline__ float axis_gap(float q, float lo, float hi) {
  return q < lo ? __fsub_rn(lo, q) : (q > hi ? __fsub_rn(q, hi) : 0.0f);
}

__device__ __forceinline__ float box_lower_bound(float qx, float qy, float qz, const Box& b) {
  const float gx = axis_gap(qx, b.lo[0], b.hi[0]);
  const float gy = axis_gap(qy, b.lo[1], b.hi[1]);
  const float gz = axis_gap(qz, b.lo[2], b.hi[2]);
  return __fadd_rn(__fadd_rn(__fmul_rn(gx, gx), __fmul_rn(gy, gy)), __fmul_rn(gz, gz));
}

// Struct-of-arrays view of the bucket table in dynamic shared memory (`cap` buckets):
// words 0-2 box minimum, 3-5 box maximum, 6 largest distance (bits), 7 its index, 8-10 its
// coordinates.
struct BucketTable {
  uint32_t* base;
  int cap;
  __device__ __forceinline__ float& f(int word, int t) const {
    return reinterpret_cast<float*>(base)[word * cap + t];
  }
  __device__ __forceinline__ uint32_t& u(int word, int t) const { return base[word * cap + t]; }
  __device__ __forceinline__ Box box(int t) const {
    return Box{{f(0, t), f(1, t), f(2, t)}, {f(3, t), f(4, t), f(5, t)}};
  }
  __device__ __forceinline__ void set_box(int t, const Box& b) const {
    f(0, t) = b.lo[0];
    f(1, t) = b.lo[1];
    f(2, t) = b.lo[2];
    f(3, t) = b.hi[0];
    f(4, t) = b.hi[1];
    f(5, t) = b.hi[2];
  }
  __device__ __forceinline__ Best best(int t) const {
    return Best{u(6, t), u(7, t), f(8, t), f(9, t), f(10, t)};
  }
  __device__ __forceinline__ void set_best(int t, const Best& b) const {
    u(6, t) = b.d;
    u(7, t) = b.i;
    f(8, t) = b.x;
    f(9, t) = b.y;
    f(10, t) = b.z;
  }
};


// ------------------------------------------------------------------ preparation

__device__ __forceinline__ uint64_t spread_bits(uint32_t v) {  // 10 bits -> every third bit
  uint64_t x = v & 0x3ffu;
  x = (x | (x << 16)) & 0x030000ffull;
  x = (x | (x << 8)) & 0x0300f00full;
  x = (x | (x << 4)) & 0x030c30c3ull;
  x = (x | (x << 2)) & 0x09249249ull;
  return x;
}

// Sort key of every row: scene index above a 30-bit Morton code of its cell in the scene box.
__global__ void morton_key_kernel(const float* __restrict__ xyz, int64_t n,
                                  const int64_t* __restrict__ start, int B,
                                  const int* __restrict__ box, int64_t* __restrict__ keys) {
  const int64_t r = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (r >= n) return;
  const int b = scene_of(r, start, B);
  float lo[3], ext = 0.0f;
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    lo[a] = box_float(box[6 * b + a]);
    ext = fmaxf(ext, box_float(box[6 * b + 3 + a]) - lo[a]);
  }
  const float cells = static_cast<float>((1 << kMortonBits) - 1);
  const float inv = (ext > 0.0f && isfinite(ext)) ? cells / ext : 0.0f;
  uint64_t code = 0;
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    float f = (xyz[3 * r + a] - lo[a]) * inv;  // only orders the points; any rounding is fine
    if (!(f >= 0.0f)) f = 0.0f;                // NaN too
    if (f > cells) f = cells;
    code |= spread_bits(static_cast<uint32_t>(f)) << a;
  }
  keys[r] = (static_cast<int64_t>(b) << (3 * kMortonBits)) | static_cast<int64_t>(code);
}

// Points in sorted order as (x, y, z, scene-local row as int bits); distances start at +inf.
__global__ void gather_kernel(const float* __restrict__ xyz, int64_t n,
                              const int64_t* __restrict__ order,
                              const int64_t* __restrict__ sorted_keys,
                              const int64_t* __restrict__ start, float4* __restrict__ points,
                              float* __restrict__ dist) {
  const int64_t p = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (p >= n) return;
  const int64_t r = order[p];
  const int64_t b = sorted_keys[p] >> (3 * kMortonBits);
  const int local = static_cast<int>(r - start[b]);
  points[p] = make_float4(xyz[3 * r], xyz[3 * r + 1], xyz[3 * r + 2], __int_as_float(local));
  dist[p] = __int_as_float(0x7f800000);
}

// ------------------------------------------------------------------ sampling

// Bucket t of a scene belongs to warp t % kWarps, as its own bucket number t / kWarps:
// neighbouring buckets (the ones a sample usually dirties together) thus belong to different
// warps and are updated in parallel. Lane l of a warp keeps the group of its own buckets
// [l * G, (l + 1) * G) (G = group_size, the same for all warps).
struct Ownership {
  int warp;
  int count;  // own buckets of this warp
  int G;      // own buckets per lane group
  __device__ int bucket(int k) const { return warp + k * kWarps; }
  __device__ bool valid(int k) const { return k < count; }
};

// One block per scene. lane_points = L (bucket = 32 * L points); cap = buckets per table. The
// scene's sorted points and their distances stay in global memory: the kernel runs on scenes
// larger than the multi kernel holds (over 131072 points on an H200), which do not fit in shared
// memory next to the tables.
__global__ void __launch_bounds__(kThreads, 1)
    fps_pruned_kernel(const float4* __restrict__ points, float* __restrict__ dist,
                      const int64_t* __restrict__ point_start, const int64_t* __restrict__ out_start,
                      int32_t* __restrict__ out, int lane_points, int cap) {
  extern __shared__ __align__(16) uint32_t shared_words[];
  __shared__ Best slots[2][kWarps];
  const int scene = blockIdx.x;
  const int64_t s0 = point_start[scene];
  const int64_t n = point_start[scene + 1] - s0;
  const int64_t o0 = out_start[scene];
  const int64_t m = out_start[scene + 1] - o0;
  if (m == 0) return;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const float inf = __int_as_float(0x7f800000);

  // Shared memory: [bucket table] [one queue of own bucket numbers per warp].
  uint32_t* words = shared_words;
  const float4* pts = points + s0;
  float* dst = dist + s0;

  const int L = lane_points;
  const int64_t bucket_size = 32 * static_cast<int64_t>(L);
  const int nb = static_cast<int>((n + bucket_size - 1) / bucket_size);
  const int max_own = (nb + kWarps - 1) / kWarps;
  const Ownership own{warp, warp < nb ? (nb - warp + kWarps - 1) / kWarps : 0, (max_own + 31) / 32};
  const BucketTable table{words, cap};
  int* queues = reinterpret_cast<int*>(words + kBucketWords * cap);
  const int queue_cap = (cap + kWarps - 1) / kWarps;
  const Best none{0, kNoIndex, 0.f, 0.f, 0.f};

  // Bucket tables: bounding box; every distance is +inf, so the argmax is the lowest index.
  for (int k = 0; k < own.count; ++k) {  // warp-uniform
    const int t = own.bucket(k);
    Box bb{{inf, inf, inf}, {-inf, -inf, -inf}};
    Best low{kInfBits, kNoIndex, 0.f, 0.f, 0.f};
    for (int l = 0; l < L; ++l) {
      const int64_t p = t * bucket_size + 32 * l + lane;
      if (p < n) {
        const float4 v = pts[p];
        bb.lo[0] = fminf(bb.lo[0], v.x);
        bb.lo[1] = fminf(bb.lo[1], v.y);
        bb.lo[2] = fminf(bb.lo[2], v.z);
        bb.hi[0] = fmaxf(bb.hi[0], v.x);
        bb.hi[1] = fmaxf(bb.hi[1], v.y);
        bb.hi[2] = fmaxf(bb.hi[2], v.z);
        const uint32_t idx = __float_as_uint(v.w);
        if (idx < low.i) low = Best{kInfBits, idx, v.x, v.y, v.z};
      }
    }
    warp_minmax(bb.lo, bb.hi);
    low = warp_argmax(low);
    if (lane == 0) {
      table.set_box(t, bb);
      table.set_best(t, low);
    }
  }
  __syncwarp();
  // Group summaries (registers of the owning lane): union of the boxes and argmax.
  Box gbox{{inf, inf, inf}, {-inf, -inf, -inf}};
  Best gbest = none;
  for (int k = lane * own.G; k < (lane + 1) * own.G && own.valid(k); ++k) {
    const int t = own.bucket(k);
    const Box bb = table.box(t);
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      gbox.lo[a] = fminf(gbox.lo[a], bb.lo[a]);
      gbox.hi[a] = fmaxf(gbox.hi[a], bb.hi[a]);
    }
    const Best b = table.best(t);
    if (b.d > gbest.d || (b.d == gbest.d && b.i < gbest.i)) gbest = b;
  }
  const bool has_group = own.valid(lane * own.G);
  Best wbest = warp_argmax(has_group ? gbest : none);  // the warp's argmax, kept up to date

  // The first sample is the scene's first row. Every distance is still +inf, so the
  // block-wide argmax is exactly that row (lowest index).
  float qx, qy, qz;
  {
    if (lane == 0) slots[1][warp] = wbest;
    __syncthreads();
    const Best s = warp_argmax(lane < kWarps ? slots[1][lane] : none);
    qx = s.x;
    qy = s.y;
    qz = s.z;
    if (threadIdx.x == 0) out[o0] = static_cast<int32_t>(s0 + s.i);
  }

  int* queue = queues + warp * queue_cap;  // this warp's dirty buckets of the iteration
  int buf = 0;
  for (int64_t j = 1; j < m; ++j) {
    // 1. Dirty buckets of the dirty groups, into the warp's queue (own bucket numbers).
    const bool group_dirty = has_group && box_lower_bound(qx, qy, qz, gbox) < __uint_as_float(gbest.d);
    int queued = 0;
    for (unsigned groups = __ballot_sync(kFullMask, group_dirty); groups != 0u; groups &= groups - 1u) {
      const int k = (__ffs(groups) - 1) * own.G + lane;  // lane i: own bucket i of the group
      const bool valid = lane < own.G && own.valid(k);
      const int t = own.bucket(k);
      const bool dirty = valid && box_lower_bound(qx, qy, qz, table.box(t)) < table.f(6, t);
      const unsigned mask = __ballot_sync(kFullMask, dirty);
      if (dirty) queue[queued + __popc(mask & ((1u << lane) - 1u))] = k;
      queued += __popc(mask);
    }
    __syncwarp();
    // 2. Update them, kBatch at a time (their loads are issued together).
    unsigned regroup = 0;  // groups whose argmax bucket changed its argmax
    for (int head = 0; head < queued; head += kBatch) {
      int bk[kBatch];
      Best old[kBatch];
      Best cand[kBatch];
      bool hit[kBatch];  // this lane lowered the distance of the bucket's argmax point
#pragma unroll
      for (int c = 0; c < kBatch; ++c) {
        bk[c] = head + c < queued ? queue[head + c] : -1;
        old[c] = bk[c] >= 0 ? table.best(own.bucket(bk[c])) : none;
        cand[c] = none;
        hit[c] = false;
      }
      for (int l = 0; l < L; ++l) {
        int64_t p[kBatch];
        float4 v[kBatch];
        float cur[kBatch];
#pragma unroll
        for (int c = 0; c < kBatch; ++c) {
          p[c] = bk[c] < 0 ? n : static_cast<int64_t>(own.bucket(bk[c])) * bucket_size + 32 * l + lane;
          if (p[c] < n) {
            v[c] = pts[p[c]];
            cur[c] = dst[p[c]];
          }
        }
#pragma unroll
        for (int c = 0; c < kBatch; ++c) {
          if (p[c] < n) {
            const float d = sq_dist(v[c].x, v[c].y, v[c].z, qx, qy, qz);
            const uint32_t idx = __float_as_uint(v[c].w);
            if (d < cur[c]) {  // the reference's update; a NaN distance changes nothing
              cur[c] = d;
              dst[p[c]] = d;
              hit[c] = hit[c] || idx == old[c].i;
            }
            const uint32_t bits = __float_as_uint(cur[c]);
            if (bits > cand[c].d || (bits == cand[c].d && idx < cand[c].i))
              cand[c] = Best{bits, idx, v[c].x, v[c].y, v[c].z};
          }
        }
      }
      // Every lane has read old[] before lane 0 overwrites those table entries: the shuffles
      // below synchronise the lanes but do not order their shared-memory accesses
      // (compute-sanitizer racecheck reported this write-after-read without the barrier).
      __syncwarp();
      // A bucket's argmax only changes when its argmax point got closer (the others can only
      // get smaller); only then is the reduction needed.
#pragma unroll
      for (int c = 0; c < kBatch; ++c) {
        if (bk[c] >= 0 && __any_sync(kFullMask, hit[c])) {
          const Best w = warp_argmax(cand[c]);
          if (lane == 0) table.set_best(own.bucket(bk[c]), w);
          const int r = bk[c] / own.G;
          if (__shfl_sync(kFullMask, gbest.i, r) == old[c].i) regroup |= 1u << r;
        }
      }
    }
    __syncwarp();
    // 3. Groups whose argmax changed, then the warp's argmax if one of them held it.
    bool warp_changed = false;
    for (; regroup != 0u; regroup &= regroup - 1u) {
      const int r = __ffs(regroup) - 1;
      const int k = r * own.G + lane;
      const bool valid = lane < own.G && own.valid(k);
      const Best g = warp_argmax(valid ? table.best(own.bucket(k)) : none);
      warp_changed = warp_changed || __shfl_sync(kFullMask, gbest.i, r) == wbest.i;
      if (lane == r) gbest = g;
    }
    if (warp_changed) wbest = warp_argmax(has_group ? gbest : none);
    if (lane == 0) slots[buf][warp] = wbest;
    __syncthreads();  // the only block-wide barrier of an iteration; slots are double buffered
    const Best s = warp_argmax(lane < kWarps ? slots[buf][lane] : none);
    qx = s.x;
    qy = s.y;
    qz = s.z;
    if (threadIdx.x == 0) out[o0 + j] = static_cast<int32_t>(s0 + s.i);
    buf ^= 1;
  }
}

}  // namespace

bool plan_pruned(int64_t max_points, const cudaDeviceProp& prop, PrunedPlan* plan) {
  const int64_t budget = static_cast<int64_t>(prop.sharedMemPerBlockOptin) -
                         static_cast<int64_t>(sizeof(Best)) * 2 * kWarps;
  const int64_t table_word = (kBucketWords + kQueueWords) * static_cast<int64_t>(sizeof(uint32_t));
  int lane_points = 1;
  int64_t cap = 0;
  for (;; lane_points *= 2) {
    if (lane_points > kMaxLanePoints) return false;
    cap = std::max<int64_t>(1, (max_points + 32 * lane_points - 1) / (32 * lane_points));
    cap = (cap + kWarps - 1) / kWarps * kWarps;  // whole queues
    if (cap * table_word <= budget) break;
  }
  *plan = PrunedPlan{lane_points, static_cast<int>(cap), cap * table_word};
  return true;
}

cudaError_t launch_morton_keys(const float* xyz, int64_t n, const int64_t* point_start, int B,
                               const int* box, int64_t* keys, cudaStream_t stream) {
  morton_key_kernel<<<cuda::blocks_for_items(n, 256), 256, 0, stream>>>(xyz, n, point_start, B, box, keys);
  return cudaGetLastError();
}

cudaError_t launch_pruned_gather(const float* xyz, int64_t n, const int64_t* order,
                                 const int64_t* sorted_keys, const int64_t* point_start,
                                 float4* points, float* dist, cudaStream_t stream) {
  gather_kernel<<<cuda::blocks_for_items(n, 256), 256, 0, stream>>>(xyz, n, order, sorted_keys, point_start,
                                                        points, dist);
  return cudaGetLastError();
}

cudaError_t launch_pruned(const PrunedPlan& plan, int64_t B, const float4* points, float* dist,
                          const int64_t* point_start, const int64_t* out_start, int32_t* out,
                          cudaStream_t stream) {
  const size_t smem = static_cast<size_t>(plan.smem_bytes);
  if (smem > 48 * 1024) {
    const cudaError_t err = cudaFuncSetAttribute(
        fps_pruned_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, static_cast<int>(smem));
    if (err != cudaSuccess) return err;
  }
  fps_pruned_kernel<<<static_cast<unsigned>(B), kThreads, smem, stream>>>(
      points, dist, point_start, out_start, out, plan.lane_points, plan.cap);
  return cudaGetLastError();
}

}  // namespace fps
}  // namespace pointops
