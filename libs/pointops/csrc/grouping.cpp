// Schemas of grouping (also used by grouping2) and its backward.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // out[i, j] = feat[idx[i, j]] (zeros where idx is -1); with xyz and new_xyz given,
  // out[i, j] = cat(xyz[idx[i, j]] - new_xyz[i], feat[idx[i, j]]) (zeros for -1).
  m.def("grouping(Tensor feat, Tensor idx, Tensor? xyz=None, Tensor? new_xyz=None) -> Tensor");
  // grad_src[r] = sum over (i, j) with idx[i, j] == r of grad_output[i, j, offset:offset+c].
  // Deterministic (segmented sum over a stable sort of idx).
  m.def("grouping_backward(Tensor grad_output, Tensor idx, int n, int offset, int c) -> Tensor");
}
