#include <torch/extension.h>

torch::Tensor add_one_cuda(torch::Tensor x);

torch::Tensor add_one(torch::Tensor x) {
  TORCH_CHECK(x.is_cuda(), "add_one: x must be a CUDA tensor, got ", x.device());
  TORCH_CHECK(x.scalar_type() == torch::kFloat, "add_one: x must be float32, got ", x.scalar_type());
  return add_one_cuda(x.contiguous());
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) { m.def("add_one", &add_one, "x + 1 (CUDA)"); }
