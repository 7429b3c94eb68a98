// CUDA implementation of offset2batch / batch2offset. Each needs one small
// device->host copy (the output length depends on the values); no atomics.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include "cuda/ops_cuda.h"
#include "feature_ops_cuda.cuh"

namespace pointops {
namespace {

using namespace feature::cuda;

// batch[p] = the smallest b with offset[b] > p (binary search over the B offsets).
__global__ void offset2batch_kernel(const int64_t* __restrict__ offset, int64_t nb, int64_t* __restrict__ batch,
                                    int64_t n) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += stride) {
    int64_t lo = 0, hi = nb - 1;  // offset[nb - 1] == n > p, so the answer exists
    while (lo < hi) {
      const int64_t mid = (lo + hi) / 2;
      if (offset[mid] > p) hi = mid; else lo = mid + 1;
    }
    batch[p] = lo;
  }
}

// For every p: offset[b] = p + 1 for b in [batch[p], batch[p + 1]) (batch[n] := B), and
// offset[b] = 0 for b < batch[0]. batch is non-decreasing, so every b is written once.
__global__ void batch2offset_kernel(const int64_t* __restrict__ batch, int64_t n, int64_t nb,
                                    int32_t* __restrict__ offset) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; p < n; p += stride) {
    if (p == 0) {
      for (int64_t b = 0; b < batch[0]; ++b) offset[b] = 0;
    }
    const int64_t next = p + 1 < n ? batch[p + 1] : nb;
    for (int64_t b = batch[p]; b < next; ++b) offset[b] = static_cast<int32_t>(p + 1);
  }
}

}  // namespace

at::Tensor offset2batch_cuda(const at::Tensor& offset_in) {
  const int64_t n = feature::check_offset_values(offset_in, "offset");
  const c10::cuda::CUDAGuard guard(offset_in.device());
  const at::Tensor offset = offset_in.to(at::kLong).contiguous();
  at::Tensor batch = at::empty({n}, offset.options());
  if (n == 0) return batch;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  offset2batch_kernel<<<blocks_for(n), kThreads, 0, stream>>>(offset.data_ptr<int64_t>(), offset.numel(),
                                                              batch.data_ptr<int64_t>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return batch;
}

at::Tensor batch2offset_cuda(const at::Tensor& batch_in) {
  const int64_t nb = feature::check_batch_values(batch_in, "batch");
  const c10::cuda::CUDAGuard guard(batch_in.device());
  const at::Tensor batch = batch_in.to(at::kLong).contiguous();
  const int64_t n = batch.numel();
  TORCH_CHECK_VALUE(n <= INT32_MAX, "batch has ", num(n), " points; int32 offsets hold at most ", num(INT32_MAX));
  at::Tensor offset = at::empty({nb}, batch.options().dtype(at::kInt));
  if (nb == 0) return offset;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  batch2offset_kernel<<<blocks_for(n), kThreads, 0, stream>>>(batch.data_ptr<int64_t>(), n, nb,
                                                              offset.data_ptr<int32_t>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return offset;
}

}  // namespace pointops
