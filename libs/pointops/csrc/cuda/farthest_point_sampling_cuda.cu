// farthest_point_sampling on CUDA: validates the call, copies the scene starts to the device
// once and runs one of two kernels, both bit-identical to the CPU reference:
//  * dense (fps_dense_cuda.cu) while the largest scene fits in its registers (131072 points
//    on an H200);
//  * pruned (fps_pruned_cuda.cu) for larger scenes, where the dense kernel would stream every
//    point from global memory in every iteration. Measured on an H200 (surface data):
//    4 x 100k -> 25k: dense 44 ms, pruned 72 ms; 1 x 300k -> 30k: dense 172 ms, pruned 103 ms;
//    1 x 1M -> 20k: dense 299 ms, pruned 109 ms; 2 x 2M -> 5k: dense 271 ms, pruned 74 ms.
// POINTOPS_FPS_KERNEL=dense|pruned forces one (for tests and comparisons).
#include <ATen/ops/empty.h>
#include <c10/cuda/CUDAGuard.h>

#include <cstdlib>
#include <cstring>

#include "cuda/ops_cuda.h"
#include "fps_cuda.cuh"

namespace pointops {
namespace fps {
namespace {

enum class Kernel { kAuto, kDense, kPruned };

Kernel kernel_override() {
  const char* v = std::getenv("POINTOPS_FPS_KERNEL");
  if (v == nullptr) return Kernel::kAuto;
  if (std::strcmp(v, "dense") == 0) return Kernel::kDense;
  if (std::strcmp(v, "pruned") == 0) return Kernel::kPruned;
  return Kernel::kAuto;
}

DeviceStarts copy_starts(const Plan& plan, const at::Tensor& xyz) {
  const int64_t entries = static_cast<int64_t>(plan.point_start.size());
  at::Tensor host = at::empty({2 * entries}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* h = host.data_ptr<int64_t>();
  for (int64_t b = 0; b < entries; ++b) {
    h[b] = plan.point_start[b];
    h[entries + b] = plan.out_start[b];
  }
  return DeviceStarts{host.to(xyz.device(), /*non_blocking=*/true)};
}

}  // namespace

at::Tensor farthest_point_sampling_cuda(const at::Tensor& xyz, const at::Tensor& offset,
                                        const at::Tensor& new_offset) {
  const Plan plan = validate(xyz, offset, new_offset);
  const c10::cuda::CUDAGuard guard(xyz.device());
  at::Tensor out = at::empty({plan.total_samples}, xyz.options().dtype(at::kInt));
  if (plan.total_samples == 0) return out;
  const DeviceStarts starts = copy_starts(plan, xyz);
  const DenseLimits dense = dense_limits();
  Kernel choice = kernel_override();
  if (choice == Kernel::kAuto && plan.max_points <= dense_register_capacity(dense)) {
    choice = Kernel::kDense;
  }
  if (choice != Kernel::kDense && run_pruned(plan, xyz, starts, out)) return out;
  TORCH_CHECK(choice != Kernel::kPruned,
              "farthest_point_sampling: POINTOPS_FPS_KERNEL=pruned, but a scene is too large for "
              "the pruned kernel on this device (unset it to let the dense kernel run)");
  run_dense(plan, dense, xyz, starts, out);
  return out;
}

}  // namespace fps
}  // namespace pointops
