// farthest_point_sampling on CUDA: validates the call, copies the scene starts to the device
// once and runs one of three kernels (fps_kernels.h), all bit-identical to the CPU reference,
// chosen by the size of the largest scene:
//  * multi while it fits in the registers of a cluster (131072 points on an H200);
//  * pruned for larger scenes, up to what its shared-memory tables hold (about 9.9M points on
//    an H200);
//  * dense beyond that (distances in a global-memory workspace).
// Measured on an H200 (uniform and surface data alike): 4 x 100k -> 25k: multi 26.5 ms, pruned
// 72 ms; 4 x 25k -> 6.25k: multi 5.9 ms. For scenes beyond the registers the pruned kernel beats
// the dense one (fps_pruned_kernels.cu).
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/full.h>

#include <limits>

#include "common/message.h"
#include "cuda/cuda_host.h"
#include "cuda/fps/fps_kernels.h"
#include "cuda/scene_boxes.h"
#include "farthest_point_sampling.h"

namespace pointops {
namespace fps {
namespace {

// point_start (B + 1 entries, leading 0) then out_start, on the device.
at::Tensor copy_starts(const Plan& plan, const at::Tensor& xyz) {
  const int64_t entries = static_cast<int64_t>(plan.point_start.size());
  at::Tensor host = at::empty({2 * entries}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* h = host.data_ptr<int64_t>();
  for (int64_t b = 0; b < entries; ++b) {
    h[b] = plan.point_start[b];
    h[entries + b] = plan.out_start[b];
  }
  return host.to(xyz.device(), /*non_blocking=*/true);
}

// False (and nothing done) when a scene is too large for the multi kernel on this device.
bool run_multi(const Plan& plan, int max_cluster, const at::Tensor& xyz,
               const int64_t* point_start, const int64_t* out_start, at::Tensor& out) {
  const int64_t B = static_cast<int64_t>(plan.point_start.size()) - 1;
  MultiConfig cfg;
  if (!plan_multi(plan.max_points, B, max_cluster, &cfg)) return false;
  TORCH_CHECK(B * cfg.csize <= std::numeric_limits<int32_t>::max(),
              "farthest_point_sampling: too many scenes (", num(B), ")");
  C10_CUDA_CHECK(launch_multi(cfg, B, xyz.data_ptr<float>(), point_start, out_start,
                              out.data_ptr<int32_t>(), c10::cuda::getCurrentCUDAStream()));
  return true;
}

// False (and nothing done) when a scene is too large for the pruned kernel on this device.
bool run_pruned(const Plan& plan, const at::Tensor& xyz, const int64_t* point_start,
                const int64_t* out_start, at::Tensor& out) {
  PrunedPlan layout;
  if (!plan_pruned(plan.max_points, *current_device_properties(), &layout)) return false;
  const int64_t B = static_cast<int64_t>(plan.point_start.size()) - 1;
  const int64_t n = plan.n;
  TORCH_CHECK(B <= std::numeric_limits<int32_t>::max(), "farthest_point_sampling: too many scenes");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const auto fopt = xyz.options();
  const float* xyz_ptr = xyz.data_ptr<float>();

  at::Tensor box = at::empty({6 * B}, fopt.dtype(at::kInt));
  C10_CUDA_CHECK(launch_scene_boxes(xyz_ptr, n, point_start, static_cast<int>(B),
                                    box.data_ptr<int>(), stream));
  at::Tensor keys = at::empty({n}, fopt.dtype(at::kLong));
  C10_CUDA_CHECK(launch_morton_keys(xyz_ptr, n, point_start, static_cast<int>(B),
                                    box.data_ptr<int>(), keys.data_ptr<int64_t>(), stream));
  const auto sorted = keys.sort();
  const at::Tensor& sorted_keys = std::get<0>(sorted);
  const at::Tensor& order = std::get<1>(sorted);
  at::Tensor points = at::empty({n, 4}, fopt);
  at::Tensor dist = at::empty({n}, fopt);
  C10_CUDA_CHECK(launch_pruned_gather(xyz_ptr, n, order.data_ptr<int64_t>(),
                                      sorted_keys.data_ptr<int64_t>(), point_start,
                                      reinterpret_cast<float4*>(points.data_ptr<float>()),
                                      dist.data_ptr<float>(), stream));
  C10_CUDA_CHECK(launch_pruned(layout, B, reinterpret_cast<const float4*>(points.data_ptr<float>()),
                               dist.data_ptr<float>(), point_start, out_start,
                               out.data_ptr<int32_t>(), stream));
  return true;
}

void run_dense(const Plan& plan, int max_cluster, const at::Tensor& xyz,
               const int64_t* point_start, const int64_t* out_start, at::Tensor& out) {
  const int64_t B = static_cast<int64_t>(plan.point_start.size()) - 1;
  int csize = 1;
  C10_CUDA_CHECK(plan_dense(B, max_cluster, &csize));
  TORCH_CHECK(B * csize <= std::numeric_limits<int32_t>::max(),
              "farthest_point_sampling: too many scenes (", num(B), ")");
  at::Tensor work = at::full({plan.n}, std::numeric_limits<float>::infinity(), xyz.options());
  C10_CUDA_CHECK(launch_dense(csize, B, xyz.data_ptr<float>(), point_start, out_start,
                              work.data_ptr<float>(), out.data_ptr<int32_t>(),
                              c10::cuda::getCurrentCUDAStream()));
}

}  // namespace

at::Tensor farthest_point_sampling_cuda(const at::Tensor& xyz, const at::Tensor& offset,
                                        const at::Tensor& new_offset) {
  const Plan plan = validate(xyz, offset, new_offset);
  const c10::cuda::CUDAGuard guard(xyz.device());
  at::Tensor out = at::empty({plan.total_samples}, xyz.options().dtype(at::kInt));
  if (plan.total_samples == 0) return out;
  const at::Tensor starts = copy_starts(plan, xyz);
  const int64_t* point_start = starts.data_ptr<int64_t>();
  const int64_t* out_start = point_start + starts.numel() / 2;
  int max_cluster = 1;
  C10_CUDA_CHECK(max_cluster_size(*current_device_properties(), &max_cluster));
  if (run_multi(plan, max_cluster, xyz, point_start, out_start, out)) return out;
  if (run_pruned(plan, xyz, point_start, out_start, out)) return out;
  run_dense(plan, max_cluster, xyz, point_start, out_start, out);
  return out;
}

}  // namespace fps
}  // namespace pointops
