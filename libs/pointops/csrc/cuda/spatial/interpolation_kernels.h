// Launchers of the CUDA interpolation kernels (interpolation_kernels.cu), driven by
// spatial_cuda.cpp. Every pointer is the data of a contiguous tensor on the launch's device.
#pragma once

#include <cuda_runtime_api.h>

#include <cstdint>

namespace pointops {
namespace interp {

// weight (m, k) = (1 / (dist + 1e-8)) / sum over the row (0 for missing neighbours, dist +inf).
cudaError_t launch_weights(const float* dist, int64_t m, int k, float* weight, cudaStream_t stream);

// out (m, c)[i] = sum_j weight[i, j] * feat[idx[i, j]] over the valid idx of row i; feat (n, c).
cudaError_t launch_gather(const float* feat, const int* idx, const float* weight, int64_t m,
                          int64_t c, int k, int64_t n, float* out, cudaStream_t stream);

// For the `total` stably sorted neighbour rows `sorted`: seg_start[r] / seg_end[r] bound the run
// of value r (r < n); rows without a run keep the zeros they hold.
cudaError_t launch_segments(const int* sorted, int64_t total, int64_t n, int64_t* seg_start,
                            int64_t* seg_end, cudaStream_t stream);

// grad (n, c)[r] = sum over the run of r (positions p = perm[e]) of weight[p] * grad_out[p / k].
cudaError_t launch_backward(const float* grad_out, const float* weight, const int64_t* perm,
                            const int64_t* seg_start, const int64_t* seg_end, int64_t n, int64_t c,
                            int k, float* grad, cudaStream_t stream);

}  // namespace interp
}  // namespace pointops
