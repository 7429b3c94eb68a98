// Schema and argument validation of farthest_point_sampling (see farthest_point_sampling.h).
#include "farthest_point_sampling.h"

#include <torch/library.h>

#include <limits>

#include "common/checks.h"

TORCH_LIBRARY_FRAGMENT(pointops, m) {
  // xyz (n, 3) float32, offset (B,) and new_offset (B,) int32/int64 cumulative counts
  // -> int32 (new_offset[-1],) global row indices.
  m.def("farthest_point_sampling(Tensor xyz, Tensor offset, Tensor new_offset) -> Tensor");
}

namespace pointops {
namespace fps {

Plan validate(const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_offset) {
  const int64_t n = check_points(xyz, "xyz");
  const auto host = check_offset_pair(xyz, n, offset, new_offset);
  const int64_t B = offset.numel();
  const int64_t* points = host[0].data_ptr<int64_t>();
  const int64_t* samples = host[1].data_ptr<int64_t>();

  Plan plan;
  plan.n = n;
  plan.point_start.assign(1, 0);
  plan.out_start.assign(1, 0);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t scene_points = points[b] - plan.point_start[b];
    const int64_t scene_samples = samples[b] - plan.out_start[b];
    TORCH_CHECK_VALUE(scene_samples <= scene_points, "new_offset asks scene ", num(b), " for ",
                      num(scene_samples), " samples, but offset gives it only ", num(scene_points),
                      " points (each scene can give at most as many samples as it has points)");
    plan.point_start.push_back(points[b]);
    plan.out_start.push_back(samples[b]);
    if (scene_samples > 0 && scene_points > plan.max_points) plan.max_points = scene_points;
    if (scene_samples > plan.max_samples) plan.max_samples = scene_samples;
  }
  plan.total_samples = plan.out_start[B];
  TORCH_CHECK_VALUE(plan.total_samples <= std::numeric_limits<int32_t>::max(),
                    "new_offset[-1] = ", num(plan.total_samples), " is too large (at most 2^31-1)");
  return plan;
}

}  // namespace fps
}  // namespace pointops
