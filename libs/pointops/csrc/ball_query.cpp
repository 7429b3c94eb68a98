// Schemas of ball_query and random_ball_query.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // Neighbours of a query: points of its scene with min_radius^2 <= d^2 < max_radius^2 (float32
  // squared distances). ball_query keeps the k nearest of them, ascending by distance (lower
  // index first on ties); -1 / +inf pad the rest of the row.
  m.def("ball_query(int k, float max_radius, float min_radius, Tensor xyz, Tensor offset, Tensor new_xyz, Tensor new_offset) -> (Tensor, Tensor)");
  // random_ball_query keeps k of them (all when fewer) in a random order determined by seed
  // (the same on CPU and CUDA); -1 / +inf pad the rest.
  m.def("random_ball_query(int k, float max_radius, float min_radius, Tensor xyz, Tensor offset, Tensor new_xyz, Tensor new_offset, int seed) -> (Tensor, Tensor)");
}
