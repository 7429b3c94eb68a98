// CUDA interpolation: grid kNN (k nearest sources per target), inverse-distance weights, and a
// weighted gather; the backward is deterministic: the flat neighbour list is stably sorted by
// source row and each (source row, channel) sums its contributions in increasing (target,
// neighbour) order, the same order and roundings as the CPU kernel.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include "common/spatial.h"
#include "cuda/ops_cuda.h"
#include "spatial_ops.h"

namespace pointops {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>((n + kThreads - 1) / kThreads);
}

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

std::tuple<at::Tensor, at::Tensor, at::Tensor> interpolation_forward_cuda(
    const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_xyz,
    const at::Tensor& new_offset, const at::Tensor& feat, int64_t k) {
  check_k(k, "k");
  QueryArgs a = check_query_args(xyz, offset, new_xyz, new_offset);
  check_interp_feat(feat, xyz, a.n);
  const c10::cuda::CUDAGuard guard(xyz.device());
  at::Tensor idx, dist;
  std::tie(idx, dist) = spatial_search_cuda(kModeKnn, k, 0.0, 0.0, 0, xyz, new_xyz, a);
  const int64_t m = a.m, c = feat.size(1), n = a.n;
  at::Tensor weight = at::empty({m, k}, dist.options());
  at::Tensor out = at::empty({m, c}, feat.options());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (m > 0) {
    weight_kernel<<<blocks_for(m), kThreads, 0, stream>>>(dist.data_ptr<float>(), m,
                                                          static_cast<int>(k),
                                                          weight.data_ptr<float>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  if (m > 0 && c > 0) {
    const bool vec = c % 4 == 0 && reinterpret_cast<uintptr_t>(feat.data_ptr<float>()) % 16 == 0;
    if (vec) {
      gather_kernel<4><<<blocks_for(m * (c / 4)), kThreads, 0, stream>>>(
          feat.data_ptr<float>(), idx.data_ptr<int>(), weight.data_ptr<float>(), m, c,
          static_cast<int>(k), n, out.data_ptr<float>());
    } else {
      gather_kernel<1><<<blocks_for(m * c), kThreads, 0, stream>>>(
          feat.data_ptr<float>(), idx.data_ptr<int>(), weight.data_ptr<float>(), m, c,
          static_cast<int>(k), n, out.data_ptr<float>());
    }
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  }
  return {out, idx, weight};
}

at::Tensor interpolation_backward_cuda(const at::Tensor& grad_out, const at::Tensor& idx,
                                       const at::Tensor& weight, int64_t n) {
  check_interp_backward(grad_out, idx, weight, n);
  const c10::cuda::CUDAGuard guard(grad_out.device());
  const int64_t c = grad_out.size(1), k = idx.size(1);
  const int64_t total = idx.numel();
  at::Tensor grad = at::zeros({n, c}, grad_out.options());
  if (total == 0 || n == 0 || c == 0) return grad;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor sorted, perm;
  std::tie(sorted, perm) = at::sort(idx.reshape({-1}), /*stable=*/true, /*dim=*/0, /*descending=*/false);
  auto lopt = grad_out.options().dtype(at::kLong);
  at::Tensor seg_start = at::zeros({n}, lopt);
  at::Tensor seg_end = at::zeros({n}, lopt);
  segment_kernel<<<blocks_for(total), kThreads, 0, stream>>>(
      sorted.data_ptr<int>(), total, n, seg_start.data_ptr<int64_t>(), seg_end.data_ptr<int64_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const bool vec = c % 4 == 0 && reinterpret_cast<uintptr_t>(grad_out.data_ptr<float>()) % 16 == 0;
  if (vec) {
    backward_kernel<4><<<blocks_for(n * (c / 4)), kThreads, 0, stream>>>(
        grad_out.data_ptr<float>(), weight.data_ptr<float>(), perm.data_ptr<int64_t>(),
        seg_start.data_ptr<int64_t>(), seg_end.data_ptr<int64_t>(), n, c, static_cast<int>(k),
        grad.data_ptr<float>());
  } else {
    backward_kernel<1><<<blocks_for(n * c), kThreads, 0, stream>>>(
        grad_out.data_ptr<float>(), weight.data_ptr<float>(), perm.data_ptr<int64_t>(),
        seg_start.data_ptr<int64_t>(), seg_end.data_ptr<int64_t>(), n, c, static_cast<int>(k),
        grad.data_ptr<float>());
  }
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad;
}

}  // namespace pointops
