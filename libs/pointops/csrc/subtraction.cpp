// Schemas of subtraction and its backward.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // out[i, j] = input1[i] - input2[idx[i, j]], zeros where idx is -1.
  m.def("subtraction(Tensor input1, Tensor input2, Tensor idx) -> Tensor");
  // -> (grad_input1 (n, c), grad_input2 (n2, c)); deterministic.
  m.def("subtraction_backward(Tensor grad_output, Tensor idx, int n2) -> (Tensor, Tensor)");
}
