// Schema of knn_query.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // idx int32 (m, k): for each query (row of new_xyz) the global rows of xyz of its k nearest
  // points of the same scene, ascending by distance, the lower index first at equal distance;
  // -1 when the scene has fewer than k points. dist float32 (m, k): Euclidean distances,
  // +inf where idx is -1.
  m.def("knn_query(int k, Tensor xyz, Tensor offset, Tensor new_xyz, Tensor new_offset) -> (Tensor, Tensor)");
}
