// The kernels of CUDA interpolation (interpolation_kernels.h): inverse-distance weights and the
// weighted gather of the forward; the backward's segment bounds and its segmented sums, in
// increasing (target, neighbour) order, the same order and roundings as the CPU kernel.
#include <cstdint>

#include "common/spatial.h"
#include "cuda/kernel_types.h"
#include "cuda/spatial/interpolation_kernels.h"

namespace pointops {
namespace interp {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) { return cuda::blocks_for_items(n, kThreads); }

__global__ void weight_kernel(const float* __restrict__ dist, int64_t m, int k,
                              float* __restrict__ weight) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= m) return;
  const float* d = dist + i * k;
  float norm = 0.0f;
  for (int j = 0; j < k; ++j) norm = add_rn(norm, inv_dist_weight(d[j]));
  for (int j = 0; j < k; ++j) {
    weight[i * k + j] = norm > 0.0f ? div_rn(inv_dist_weight(d[j]), norm) : 0.0f;
  }
}

// acc[v] += f[v] * w for the 4 lanes of f (V == 4) or acc[0] += f0 * w (V == 1).
template <int V>
__device__ __forceinline__ void accumulate(float* acc, const float* src, float w) {
  if (V == 4) {
    const float4 f = __ldg(reinterpret_cast<const float4*>(src));
    const float fv[4] = {f.x, f.y, f.z, f.w};
#pragma unroll
    for (int v = 0; v < V; ++v) acc[v] = add_rn(acc[v], mul_rn(fv[v], w));
  } else {
    acc[0] = add_rn(acc[0], mul_rn(__ldg(src), w));
  }
}

template <int V>
__device__ __forceinline__ void store(float* dst, const float* acc) {
  if (V == 4) {
    reinterpret_cast<float4*>(dst)[0] = make_float4(acc[0], acc[V > 1 ? 1 : 0], acc[V > 2 ? 2 : 0], acc[V > 3 ? 3 : 0]);
  } else {
    dst[0] = acc[0];
  }
}

template <int V>
__global__ void gather_kernel(const float* __restrict__ feat, const int* __restrict__ idx,
                              const float* __restrict__ weight, int64_t m, int64_t c, int k,
                              int64_t n, float* __restrict__ out) {
  const int64_t cv = c / V;
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= m * cv) return;
  const int64_t i = t / cv;
  const int64_t ch = (t - i * cv) * V;
  float acc[V];
#pragma unroll
  for (int v = 0; v < V; ++v) acc[v] = 0.0f;
  for (int j = 0; j < k; ++j) {
    const int64_t r = __ldg(idx + i * k + j);
    if (r < 0 || r >= n) continue;
    accumulate<V>(acc, feat + r * c + ch, __ldg(weight + i * k + j));
  }
  store<V>(out + i * c + ch, acc);
}

__global__ void segment_kernel(const int* __restrict__ sorted, int64_t total, int64_t n,
                               int64_t* __restrict__ seg_start, int64_t* __restrict__ seg_end) {
  const int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (e >= total) return;
  const int v = sorted[e];
  if (v < 0 || v >= n) return;
  if (e == 0 || sorted[e - 1] != v) seg_start[v] = e;
  if (e == total - 1 || sorted[e + 1] != v) seg_end[v] = e + 1;
}

template <int V>
__global__ void backward_kernel(const float* __restrict__ grad_out,
                                const float* __restrict__ weight,
                                const int64_t* __restrict__ perm,
                                const int64_t* __restrict__ seg_start,
                                const int64_t* __restrict__ seg_end, int64_t n, int64_t c, int k,
                                float* __restrict__ grad) {
  const int64_t cv = c / V;
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= n * cv) return;
  const int64_t r = t / cv;
  const int64_t ch = (t - r * cv) * V;
  float acc[V];
#pragma unroll
  for (int v = 0; v < V; ++v) acc[v] = 0.0f;
  const int64_t e1 = seg_end[r];
  for (int64_t e = seg_start[r]; e < e1; ++e) {
    const int64_t p = __ldg(perm + e);
    const int64_t i = p / k;
    accumulate<V>(acc, grad_out + i * c + ch, __ldg(weight + p));
  }
  store<V>(grad + r * c + ch, acc);
}

}  // namespace

cudaError_t launch_weights(const float* dist, int64_t m, int k, float* weight, cudaStream_t stream) {
  weight_kernel<<<blocks_for(m), kThreads, 0, stream>>>(dist, m, k, weight);
  return cudaGetLastError();
}

cudaError_t launch_gather(const float* feat, const int* idx, const float* weight, int64_t m,
                          int64_t c, int k, int64_t n, float* out, cudaStream_t stream) {
  const bool vec = c % 4 == 0 && reinterpret_cast<uintptr_t>(feat) % 16 == 0;
  if (vec) {
    gather_kernel<4><<<blocks_for(m * (c / 4)), kThreads, 0, stream>>>(feat, idx, weight, m, c, k, n, out);
  } else {
    gather_kernel<1><<<blocks_for(m * c), kThreads, 0, stream>>>(feat, idx, weight, m, c, k, n, out);
  }
  return cudaGetLastError();
}

cudaError_t launch_segments(const int* sorted, int64_t total, int64_t n, int64_t* seg_start,
                            int64_t* seg_end, cudaStream_t stream) {
  segment_kernel<<<blocks_for(total), kThreads, 0, stream>>>(sorted, total, n, seg_start, seg_end);
  return cudaGetLastError();
}

cudaError_t launch_backward(const float* grad_out, const float* weight, const int64_t* perm,
                            const int64_t* seg_start, const int64_t* seg_end, int64_t n, int64_t c,
                            int k, float* grad, cudaStream_t stream) {
  const bool vec = c % 4 == 0 && reinterpret_cast<uintptr_t>(grad_out) % 16 == 0;
  if (vec) {
    backward_kernel<4><<<blocks_for(n * (c / 4)), kThreads, 0, stream>>>(
        grad_out, weight, perm, seg_start, seg_end, n, c, k, grad);
  } else {
    backward_kernel<1><<<blocks_for(n * c), kThreads, 0, stream>>>(
        grad_out, weight, perm, seg_start, seg_end, n, c, k, grad);
  }
  return cudaGetLastError();
}

}  // namespace interp
}  // namespace pointops
