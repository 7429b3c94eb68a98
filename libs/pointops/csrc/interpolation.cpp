// Schemas of interpolation (used by interpolation and interpolation2) and its backward.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // out (m, c) = sum_j weight[i, j] * feat[idx[i, j]] over the k nearest sources of each target
  // (knn_query(k, xyz, offset, new_xyz, new_offset)), weight = w / sum(w), w = 1 / (dist + 1e-8);
  // missing neighbours (-1) weigh 0; a target whose scene has no source gets zeros.
  // Returns (out, idx, weight) so the backward does not search again.
  m.def("interpolation_forward(Tensor xyz, Tensor offset, Tensor new_xyz, Tensor new_offset, Tensor feat, int k) -> (Tensor, Tensor, Tensor)");
  // grad_feat (n, c)[r] = sum over (i, j) with idx[i, j] == r, in increasing (i, j) order, of
  // weight[i, j] * grad_out[i] (deterministic).
  m.def("interpolation_backward(Tensor grad_out, Tensor idx, Tensor weight, int n) -> Tensor");
}
