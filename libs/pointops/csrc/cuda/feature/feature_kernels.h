// Launchers of the CUDA feature-operator kernels (defined in the *_kernels.cu files named at
// each group), called by feature_ops_cuda.cpp. Pointers are the data of contiguous tensors;
// an index outside [0, rows of its source) is treated like -1 (contributes nothing).
#pragma once

#include <cstdint>

#include "cuda/kernel_types.h"

namespace pointops {
namespace cuda {

// gather_kernels.cu ------------------------------------------------------------------------

// out[r] = src[idx[r]] for r in [0, rows), rows of row_bytes bytes (any dtype); zeros for a
// missing index. src has nsrc rows.
cudaError_t gather_rows(const Launch& l, const void* src, int64_t nsrc, int64_t row_bytes,
                        const void* idx, IndexType it, int64_t rows, void* out);

// The deterministic scatter of a gather's gradient: out[r, k] = (negate ? -1 : 1) * sum over p
// in [rowptr[r], rowptr[r+1]) of grad[perm[p], offset + k], for r < nrows and k < c; grad rows
// are w wide. Sums run in perm order.
cudaError_t segment_sum(const Launch& l, FloatType ft, const void* grad, int64_t w,
                        const int64_t* perm, const int64_t* rowptr, void* out, int64_t nrows,
                        int64_t c, int64_t offset, bool negate);

// The sort keys of an index tensor for feature::Csr: keys[p] = idx[p] when it lies in [0, n),
// else n (after every real row); positions[p] = p. total < 2^31.
cudaError_t csr_keys(const Launch& l, IndexType it, const void* idx, int64_t total, int64_t n,
                     int32_t* keys, int32_t* positions);

// grouping_kernels.cu ----------------------------------------------------------------------

// out (m, ns, c + 3)[i, j] = cat(xyz[s] - new_xyz[i], feat[s]) with s = idx[i, j]; zeros for
// a missing s. feat (n, c), xyz (n, 3), new_xyz (m, 3).
cudaError_t group_with_xyz(const Launch& l, FloatType ft, IndexType it, const void* feat,
                           const void* xyz, const void* new_xyz, const void* idx, void* out,
                           int64_t m, int64_t ns, int64_t c, int64_t n);

// subtraction_kernels.cu -------------------------------------------------------------------

// out (n, ns, c)[i, j] = a[i] - b[idx[i, j]]; b has n2 rows.
cudaError_t subtraction_forward(const Launch& l, FloatType ft, IndexType it, const void* a,
                                const void* b, const void* idx, void* out, int64_t n, int64_t ns,
                                int64_t c, int64_t n2);
// g1 (n, c)[i] = sum over j with a valid idx[i, j] of grad[i, j].
cudaError_t subtraction_grad_input1(const Launch& l, FloatType ft, IndexType it, const void* grad,
                                    const void* idx, void* g1, int64_t n, int64_t ns, int64_t c,
                                    int64_t n2);

// aggregation_kernels.cu -------------------------------------------------------------------
// input (n2, c), position (n, ns, c), weight (n, ns, wc), idx (n, ns).

// out (n, c)[i, k] = sum over valid j of (input[idx[i, j], k] + position[i, j, k]) * weight[i, j, k % wc].
cudaError_t aggregation_forward(const Launch& l, FloatType ft, IndexType it, const void* input,
                                const void* position, const void* weight, const void* idx,
                                void* out, int64_t n, int64_t ns, int64_t c, int64_t wc,
                                int64_t n2);
// The gradients of position and weight (zero where idx is missing).
cudaError_t aggregation_grad_position_weight(const Launch& l, FloatType ft, IndexType it,
                                             const void* grad, const void* input,
                                             const void* position, const void* weight,
                                             const void* idx, void* grad_position,
                                             void* grad_weight, int64_t n, int64_t ns, int64_t c,
                                             int64_t wc, int64_t n2);
// The gradient of input: a segmented sum over the inverse of idx (perm, rowptr), in perm order.
cudaError_t aggregation_grad_input(const Launch& l, FloatType ft, const void* grad,
                                   const void* weight, const int64_t* perm, const int64_t* rowptr,
                                   void* grad_input, int64_t n, int64_t ns, int64_t c, int64_t wc,
                                   int64_t n2);

// attention_kernels.cu ---------------------------------------------------------------------

// out (tn, G)[t, g] = sum_c a[ia[t], g, c] * b[ib[t], g, c] * (scale ? scale[c] : 1); a (na, G, C),
// b (nb, G, C); 0 for a missing index.
cudaError_t paired_dot(const Launch& l, FloatType ft, IndexType ia_type, IndexType ib_type,
                       const void* a, const void* ia, const void* b, const void* ib,
                       const void* scale, void* out, int64_t tn, int64_t G, int64_t C, int64_t na,
                       int64_t nb);
// out (rows, G, C)[r, g, c] = (sum over p in run r of (perm, rowptr) of w[t, g] * src[other[t], g, c])
// * (scale ? scale[c] : 1), t = perm[p]; src (nsrc, G, C); pairs with a missing `other` skipped.
cudaError_t segment_fusion(const Launch& l, FloatType ft, IndexType other_type, const void* w,
                           const void* src, const void* other, const int64_t* perm,
                           const int64_t* rowptr, const void* scale, void* out, int64_t rows,
                           int64_t G, int64_t C, int64_t nsrc);
// Rows t per partial sum of the weight gradient of attention_relation_step (fixed, so that the
// result does not depend on the GPU).
constexpr int64_t kWeightChunk = 64;
// partial (ceil(tn / kWeightChunk), C), in the accumulation type (float for the 16-bit types):
// partial[chunk, c] = sum over t in the chunk, g of go[t, g] * q[it[t], g, c] * k[ir[t], g, c].
cudaError_t relation_weight_partial(const Launch& l, FloatType ft, IndexType it_type,
                                    IndexType ir_type, const void* go, const void* q,
                                    const void* it, const void* k, const void* ir, void* partial,
                                    int64_t tn, int64_t G, int64_t C, int64_t nq, int64_t nk);

// batch_offset_kernels.cu ------------------------------------------------------------------

// batch (n,) int64: the scene of every point of the int64 offsets (nb,), offset[nb-1] == n.
cudaError_t offset2batch(const Launch& l, const int64_t* offset, int64_t nb, int64_t* batch,
                         int64_t n);
// offset (nb,) int32: the cumulative counts of the non-decreasing int64 scene ids batch (n,).
cudaError_t batch2offset(const Launch& l, const int64_t* batch, int64_t n, int64_t nb,
                         int32_t* offset);

}  // namespace cuda
}  // namespace pointops
