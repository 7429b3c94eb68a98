// CUDA registrations of every operator (the host entry points of ops_cuda.h). Compiled only in
// CUDA builds (setup.py).
#include <ATen/cuda/CUDAContext.h>
#include <torch/library.h>

#include "cuda/ops_cuda.h"
#include "spatial_ops.h"

namespace pointops {

const cudaDeviceProp* current_device_properties() {
  return at::cuda::getCurrentDeviceProperties();
}

}  // namespace pointops

TORCH_LIBRARY_IMPL(pointops, CUDA, m) {
  m.impl("aggregation", &pointops::aggregation_cuda);
  m.impl("aggregation_backward", &pointops::aggregation_backward_cuda);
  m.impl("attention_relation_step", &pointops::attention_relation_step_cuda);
  m.impl("attention_relation_step_backward", &pointops::attention_relation_step_backward_cuda);
  m.impl("attention_fusion_step", &pointops::attention_fusion_step_cuda);
  m.impl("attention_fusion_step_backward", &pointops::attention_fusion_step_backward_cuda);
  m.impl("ball_query", &pointops::ball_query_op<&pointops::spatial_search_cuda>);
  m.impl("offset2batch", &pointops::offset2batch_cuda);
  m.impl("batch2offset", &pointops::batch2offset_cuda);
  m.impl("farthest_point_sampling", &pointops::fps::farthest_point_sampling_cuda);
  m.impl("grouping", &pointops::grouping_cuda);
  m.impl("grouping_backward", &pointops::grouping_backward_cuda);
  m.impl("interpolation_forward", &pointops::interpolation_forward_cuda);
  m.impl("interpolation_backward", &pointops::interpolation_backward_cuda);
  m.impl("knn_query", &pointops::knn_query_op<&pointops::spatial_search_cuda>);
  m.impl("random_ball_query",
         &pointops::random_ball_query_op<&pointops::spatial_search_cuda>);
  m.impl("subtraction", &pointops::subtraction_cuda);
  m.impl("subtraction_backward", &pointops::subtraction_backward_cuda);
}
