// Schema and argument validation of farthest_point_sampling (see farthest_point_sampling.h).
#include "farthest_point_sampling.h"

#include "common/message.h"

#include <ATen/ops/cat.h>
#include <torch/library.h>

#include <limits>
#include <string>

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // xyz (n, 3) float32, offset (B,) and new_offset (B,) int32/int64 cumulative counts
  // -> int32 (new_offset[-1],) global row indices.
  m.def("farthest_point_sampling(Tensor xyz, Tensor offset, Tensor new_offset) -> Tensor");
}

namespace pointops {
namespace fps {

namespace {

void check_offset_tensor(const at::Tensor& t, const char* name, const at::Tensor& xyz) {
  TORCH_CHECK_VALUE(t.defined(), name, " must be a tensor, got None");
  TORCH_CHECK_TYPE(t.scalar_type() == at::kInt || t.scalar_type() == at::kLong, name,
                   " must be an int32 or int64 tensor, got ", t.scalar_type());
  TORCH_CHECK_VALUE(t.dim() == 1, name, " must be 1-D (one cumulative count per scene), got shape ",
                    shape_of(t));
  TORCH_CHECK_VALUE(t.numel() >= 1, name, " must hold at least one scene, got an empty tensor");
  TORCH_CHECK_VALUE(t.device() == xyz.device(), name, " must be on the same device as xyz (",
                    xyz.device(), "), got ", t.device());
}

}  // namespace

Plan validate(const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_offset) {
  TORCH_CHECK_VALUE(xyz.defined(), "xyz must be a tensor, got None");
  TORCH_CHECK_TYPE(xyz.scalar_type() == at::kFloat, "xyz must be a float32 tensor, got ",
                   xyz.scalar_type());
  TORCH_CHECK_VALUE(xyz.dim() == 2 && xyz.size(1) == 3, "xyz must have shape (n, 3), got shape ",
                    shape_of(xyz));
  TORCH_CHECK_VALUE(xyz.is_contiguous(), "xyz must be contiguous (call .contiguous() first)");
  check_offset_tensor(offset, "offset", xyz);
  check_offset_tensor(new_offset, "new_offset", xyz);
  TORCH_CHECK_VALUE(offset.numel() == new_offset.numel(),
                    "offset and new_offset must have the same length (one entry per scene), got ",
                    num(offset.numel()), " and ", num(new_offset.numel()));
  const int64_t n = xyz.size(0);
  TORCH_CHECK_VALUE(n <= std::numeric_limits<int32_t>::max(),
                    "xyz has ", num(n), " rows; the int32 output indices allow at most 2^31-1");

  const int64_t B = offset.numel();
  // One device->host copy for both offset tensors.
  at::Tensor host = at::cat({offset.to(at::kLong), new_offset.to(at::kLong)}).to(at::kCPU);
  const int64_t* h = host.data_ptr<int64_t>();

  Plan plan;
  plan.n = n;
  plan.point_start.resize(B + 1);
  plan.out_start.resize(B + 1);
  plan.point_start[0] = 0;
  plan.out_start[0] = 0;
  for (int64_t b = 0; b < B; ++b) {
    const int64_t o = h[b];
    const int64_t prev = plan.point_start[b];
    TORCH_CHECK_VALUE(o >= prev, "offset must be non-decreasing and non-negative, but offset[", num(b),
                      "] = ", num(o), (b == 0 ? std::string(" < 0") : " < offset[" + num(b - 1) +
                                                                      "] = " + num(prev)));
    plan.point_start[b + 1] = o;
    const int64_t no = h[B + b];
    const int64_t nprev = plan.out_start[b];
    TORCH_CHECK_VALUE(no >= nprev, "new_offset must be non-decreasing and non-negative, but new_offset[",
                      num(b), "] = ", num(no), (b == 0 ? std::string(" < 0") : " < new_offset[" +
                                                                          num(b - 1) + "] = " +
                                                                          num(nprev)));
    plan.out_start[b + 1] = no;
    const int64_t points = o - prev;
    const int64_t samples = no - nprev;
    TORCH_CHECK_VALUE(samples <= points, "new_offset asks scene ", num(b), " for ", num(samples),
                      " samples, but offset gives it only ", num(points),
                      " points (each scene can give at most as many samples as it has points)");
    if (samples > 0 && points > plan.max_points) plan.max_points = points;
    if (samples > plan.max_samples) plan.max_samples = samples;
  }
  TORCH_CHECK_VALUE(plan.point_start[B] == n, "offset[-1] must equal the number of rows of xyz (", num(n),
                    "), got ", num(plan.point_start[B]));
  plan.total_samples = plan.out_start[B];
  TORCH_CHECK_VALUE(plan.total_samples <= std::numeric_limits<int32_t>::max(),
                    "new_offset[-1] = ", num(plan.total_samples), " is too large (at most 2^31-1)");
  return plan;
}

}  // namespace fps
}  // namespace pointops
