// CPU registrations of ball_query and random_ball_query: the shared reference search of
// knn_cpu.cpp behind the validated operator bodies of spatial_ops.h.
#include <ATen/core/Tensor.h>
#include <torch/library.h>

#include "spatial_ops.h"

namespace pointops {

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("ball_query", &ball_query_op<&spatial_search_cpu>);
  m.impl("random_ball_query", &random_ball_query_op<&spatial_search_cpu>);
}

}  // namespace pointops
