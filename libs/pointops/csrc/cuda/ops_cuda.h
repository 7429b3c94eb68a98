// Host entry points of the CUDA operators, defined in feature/feature_ops_cuda.cpp,
// spatial/spatial_cuda.cpp and fps/fps_cuda.cpp and registered for the CUDA dispatch key in register_cuda.cpp, the one file that
// parses <torch/library.h> and <ATen/cuda/CUDAContext.h>.
#pragma once

#include <ATen/core/Tensor.h>

#include <cuda_runtime_api.h>

#include <cstdint>
#include <optional>
#include <tuple>

namespace pointops {

// at::cuda::getCurrentDeviceProperties() (cached by torch).
const cudaDeviceProp* current_device_properties();

at::Tensor aggregation_cuda(const at::Tensor& input, const at::Tensor& position,
                            const at::Tensor& weight, const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor, at::Tensor> aggregation_backward_cuda(
    const at::Tensor& grad, const at::Tensor& input, const at::Tensor& position,
    const at::Tensor& weight, const at::Tensor& idx);

at::Tensor attention_relation_step_cuda(const at::Tensor& query, const at::Tensor& key,
                                        const at::Tensor& weight, const at::Tensor& index_target,
                                        const at::Tensor& index_refer);
std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_relation_step_backward_cuda(
    const at::Tensor& grad, const at::Tensor& query, const at::Tensor& key,
    const at::Tensor& weight, const at::Tensor& index_target, const at::Tensor& index_refer);
at::Tensor attention_fusion_step_cuda(const at::Tensor& weight, const at::Tensor& value,
                                      const at::Tensor& index_target, const at::Tensor& index_refer);
std::tuple<at::Tensor, at::Tensor> attention_fusion_step_backward_cuda(
    const at::Tensor& grad, const at::Tensor& weight, const at::Tensor& value,
    const at::Tensor& index_target, const at::Tensor& index_refer);

at::Tensor offset2batch_cuda(const at::Tensor& offset);
at::Tensor batch2offset_cuda(const at::Tensor& batch);

namespace fps {
at::Tensor farthest_point_sampling_cuda(const at::Tensor& xyz, const at::Tensor& offset,
                                        const at::Tensor& new_offset);
}  // namespace fps

at::Tensor grouping_cuda(const at::Tensor& feat, const at::Tensor& idx,
                         const std::optional<at::Tensor>& xyz,
                         const std::optional<at::Tensor>& new_xyz);
at::Tensor grouping_backward_cuda(const at::Tensor& grad, const at::Tensor& idx, int64_t n,
                                  int64_t offset, int64_t c);

std::tuple<at::Tensor, at::Tensor, at::Tensor> interpolation_forward_cuda(
    const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_xyz,
    const at::Tensor& new_offset, const at::Tensor& feat, int64_t k);
at::Tensor interpolation_backward_cuda(const at::Tensor& grad_out, const at::Tensor& idx,
                                       const at::Tensor& weight, int64_t n);

at::Tensor subtraction_cuda(const at::Tensor& input1, const at::Tensor& input2,
                            const at::Tensor& idx);
std::tuple<at::Tensor, at::Tensor> subtraction_backward_cuda(const at::Tensor& grad,
                                                             const at::Tensor& idx, int64_t n2);

}  // namespace pointops
