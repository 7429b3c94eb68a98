// Shared pieces of the two CUDA farthest_point_sampling kernels:
//  * fps_dense_cuda.cu: every point updated every iteration, points in registers of up to 16
//    SMs per scene (thread-block clusters); the faster one while a scene fits in registers;
//  * fps_pruned_cuda.cu: one SM per scene skipping the updates that provably change nothing
//    (spatial buckets); the faster one for larger scenes.
// farthest_point_sampling_cuda.cu validates the call and picks one. Semantics (bit-identical
// to the CPU reference) in ../farthest_point_sampling.h.
#pragma once

#include <ATen/core/Tensor.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "../farthest_point_sampling.h"

namespace pointops {
namespace fps {

constexpr unsigned kFullMask = 0xffffffffu;
constexpr uint32_t kNoIndex = 0xffffffffu;

// The reference's squared distance: every operation rounded on its own (no FMA), so the
// GPU and CPU results agree to the bit.
__device__ __forceinline__ float sq_dist(float px, float py, float pz, float qx, float qy,
                                         float qz) {
  const float dx = __fsub_rn(px, qx);
  const float dy = __fsub_rn(py, qy);
  const float dz = __fsub_rn(pz, qz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
}

// Warp-wide best of (d, i) in the sampling order (largest distance bits, then smallest
// index); every lane gets it. Distances are never negative, so their bits order like them.
__device__ __forceinline__ void warp_best(uint32_t d, uint32_t i, uint32_t& bd, uint32_t& bi) {
#if defined(__CUDA_ARCH__) && (__CUDA_ARCH__ >= 800)
  bd = __reduce_max_sync(kFullMask, d);
  bi = __reduce_min_sync(kFullMask, d == bd ? i : kNoIndex);
#else
#pragma unroll
  for (int s = 16; s > 0; s >>= 1) {
    const uint32_t od = __shfl_xor_sync(kFullMask, d, s);
    const uint32_t oi = __shfl_xor_sync(kFullMask, i, s);
    if (od > d || (od == d && oi < i)) {
      d = od;
      i = oi;
    }
  }
  bd = d;
  bi = i;
#endif
}

// Scene starts on the device: point_start (B + 1 entries, leading 0) then out_start.
struct DeviceStarts {
  at::Tensor tensor;  // int64 (2 * (B + 1))
  const int64_t* points() const { return tensor.data_ptr<int64_t>(); }
  const int64_t* outputs() const { return tensor.data_ptr<int64_t>() + tensor.numel() / 2; }
};

// What the dense kernel can do on the current device and build.
struct DenseLimits {
  int max_cluster;  // blocks per scene (1 without thread-block clusters)
  int max_p;        // points per thread in registers
};
DenseLimits dense_limits();

// The largest scene the dense kernel keeps in registers; larger ones make it stream the points
// from global memory in every iteration.
int64_t dense_register_capacity(const DenseLimits& limits);

// Fills out (int32, plan.total_samples) on the current stream.
void run_dense(const Plan& plan, const DenseLimits& limits, const at::Tensor& xyz,
               const DeviceStarts& starts, at::Tensor& out);

// Same contract; returns false (and does nothing) when a scene is too large for the
// pruned kernel's shared-memory tables on this device.
bool run_pruned(const Plan& plan, const at::Tensor& xyz, const DeviceStarts& starts,
                at::Tensor& out);

}  // namespace fps
}  // namespace pointops
