// Schemas of aggregation and its backward.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // out[i, c] = sum_j (input[idx[i, j], c] + position[i, j, c]) * weight[i, j, c % w_c],
  // terms with idx == -1 skipped.
  m.def("aggregation(Tensor input, Tensor position, Tensor weight, Tensor idx) -> Tensor");
  // -> (grad_input, grad_position, grad_weight); deterministic.
  m.def(
      "aggregation_backward(Tensor grad_output, Tensor input, Tensor position, Tensor weight, "
      "Tensor idx) -> (Tensor, Tensor, Tensor)");
}
