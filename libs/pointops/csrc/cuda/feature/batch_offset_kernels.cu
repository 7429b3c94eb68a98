// offset2batch / batch2offset (no atomics: every output entry is written by one thread).
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

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

cudaError_t offset2batch(const Launch& l, const int64_t* offset, int64_t nb, int64_t* batch,
                         int64_t n) {
  offset2batch_kernel<<<blocks_for(n, l), kThreads, 0, l.stream>>>(offset, nb, batch, n);
  return cudaGetLastError();
}

cudaError_t batch2offset(const Launch& l, const int64_t* batch, int64_t n, int64_t nb,
                         int32_t* offset) {
  batch2offset_kernel<<<blocks_for(n, l), kThreads, 0, l.stream>>>(batch, n, nb, offset);
  return cudaGetLastError();
}

}  // namespace cuda
}  // namespace pointops
