// Per-scene bounding boxes (scene_boxes.cuh), reduced with block-aggregated atomics.
#include "cuda/scene_boxes.cuh"
#include "cuda/scene_of.cuh"

namespace pointops {
namespace {

// Order-preserving int encoding of floats for atomicMin/atomicMax.
__device__ __forceinline__ int enc_float(float f) {
  const int i = __float_as_int(f);
  return i >= 0 ? i : i ^ 0x7fffffff;
}

__global__ void init_bbox_kernel(int* bbox, int B) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= 6 * B) return;
  const float inf = __int_as_float(0x7f800000);
  bbox[i] = (i % 6) < 3 ? enc_float(inf) : enc_float(-inf);
}

// A block covers kBboxPoints consecutive points. Points of one scene are contiguous, so most
// blocks lie in one scene: they read their floats coalesced, reduce in registers and shared
// memory, and one thread issues the 6 atomics. A block that straddles scenes reduces per warp
// where the warp lies in one scene and per point otherwise.
constexpr int kBboxThreads = 256;
constexpr int kBboxPointsPerThread = 8;
constexpr int kBboxPoints = kBboxThreads * kBboxPointsPerThread;
static_assert(kBboxThreads % 3 == 1, "the axis of a thread's float advances by 1 per pass");

__device__ __forceinline__ void bbox_atomics(int* bbox, int b, const float* lo, const float* hi) {
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    if (lo[a] == lo[a]) atomicMin(bbox + 6 * b + a, enc_float(lo[a]));
    if (hi[a] == hi[a]) atomicMax(bbox + 6 * b + 3 + a, enc_float(hi[a]));
  }
}

// Block in one scene b: the block's 3 * (end - start) floats, read coalesced; float f of the
// block is axis f % 3 (start is a point index, so 3 * start is a multiple of 3).
__device__ __forceinline__ void bbox_one_scene(const float* __restrict__ xyz, int64_t start,
                                               int64_t end, int b, int* __restrict__ bbox) {
  const float inf = __int_as_float(0x7f800000);
  float lo[3] = {inf, inf, inf}, hi[3] = {-inf, -inf, -inf};
  const float* base = xyz + 3 * start;
  const int nf = static_cast<int>(3 * (end - start));
  int axis = static_cast<int>(threadIdx.x % 3);
#pragma unroll
  for (int it = 0; it < 3 * kBboxPointsPerThread; ++it) {
    const int f = it * kBboxThreads + static_cast<int>(threadIdx.x);
    if (f < nf) {
      const float v = base[f];
#pragma unroll
      for (int a = 0; a < 3; ++a) {
        lo[a] = fminf(lo[a], axis == a ? v : inf);
        hi[a] = fmaxf(hi[a], axis == a ? v : -inf);
      }
    }
    axis = axis == 2 ? 0 : axis + 1;  // f advances by kBboxThreads = 1 (mod 3)
  }
  warp_minmax(lo, hi);
  constexpr int kWarps = kBboxThreads / 32;
  __shared__ float s_lo[3][kWarps], s_hi[3][kWarps];
  const int lane = static_cast<int>(threadIdx.x & 31), warp = static_cast<int>(threadIdx.x >> 5);
  if (lane == 0) {
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      s_lo[a][warp] = lo[a];
      s_hi[a][warp] = hi[a];
    }
  }
  __syncthreads();
  if (warp == 0) {
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      lo[a] = lane < kWarps ? s_lo[a][lane] : inf;
      hi[a] = lane < kWarps ? s_hi[a][lane] : -inf;
    }
    warp_minmax(lo, hi);
    if (lane == 0) bbox_atomics(bbox, b, lo, hi);
  }
}

// Block across scenes: point by point, one warp-wide reduction where the warp's points share
// a scene.
__device__ __forceinline__ void bbox_mixed(const float* __restrict__ xyz, int64_t start,
                                           int64_t end, const int64_t* __restrict__ off, int B,
                                           int* __restrict__ bbox) {
  const float nan = __int_as_float(0x7fc00000);
  for (int it = 0; it < kBboxPointsPerThread; ++it) {
    const int64_t i = start + it * kBboxThreads + static_cast<int64_t>(threadIdx.x);
    const bool valid = i < end;
    const int b = valid ? scene_of(i, off, B) : -1;
    float lo[3], hi[3];
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      lo[a] = valid ? xyz[3 * i + a] : nan;
      hi[a] = lo[a];
    }
    const int b0 = __shfl_sync(0xffffffffu, b, 0);
    if (__all_sync(0xffffffffu, !valid || b == b0)) {
      warp_minmax(lo, hi);
      if ((threadIdx.x & 31) == 0 && b0 >= 0) bbox_atomics(bbox, b0, lo, hi);
    } else if (valid) {
      bbox_atomics(bbox, b, lo, hi);
    }
  }
}

__global__ void __launch_bounds__(kBboxThreads) bbox_kernel(const float* __restrict__ xyz, int64_t n,
                                                           const int64_t* __restrict__ off, int B,
                                                           int* __restrict__ bbox) {
  const int64_t start = static_cast<int64_t>(blockIdx.x) * kBboxPoints;
  const int64_t end = n - start < kBboxPoints ? n : start + kBboxPoints;
  const int b_first = scene_of(start, off, B);
  const int b_last = scene_of(end - 1, off, B);
  if (b_first == b_last) {  // block-uniform
    bbox_one_scene(xyz, start, end, b_first, bbox);
  } else {
    bbox_mixed(xyz, start, end, off, B, bbox);
  }
}

}  // namespace

cudaError_t launch_scene_boxes(const float* xyz, int64_t n, const int64_t* starts, int B, int* box,
                               cudaStream_t stream) {
  if (B == 0) return cudaSuccess;
  init_bbox_kernel<<<static_cast<unsigned>((6 * B + 255) / 256), 256, 0, stream>>>(box, B);
  const cudaError_t err = cudaGetLastError();
  if (err != cudaSuccess || n == 0) return err;
  bbox_kernel<<<static_cast<unsigned>((n + kBboxPoints - 1) / kBboxPoints), kBboxThreads, 0, stream>>>(
      xyz, n, starts, B, box);
  return cudaGetLastError();
}

}  // namespace pointops
