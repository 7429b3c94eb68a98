// Schemas of offset2batch / batch2offset.
#include <torch/library.h>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // offset (B,) cumulative counts -> int64 (offset[-1],) scene id of every point.
  m.def("offset2batch(Tensor offset) -> Tensor");
  // batch (N,) non-decreasing scene ids >= 0 -> int32 (batch[-1] + 1,) cumulative counts.
  m.def("batch2offset(Tensor batch) -> Tensor");
}
