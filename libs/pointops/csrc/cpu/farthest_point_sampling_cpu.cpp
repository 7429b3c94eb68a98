// farthest_point_sampling on the CPU: the reference the CUDA kernel is tested against.
// O(n_b * m_b) per scene; scenes run in parallel (at::parallel_for).
#include "../farthest_point_sampling.h"

#include <ATen/Parallel.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

// The distance must be rounded exactly like the CUDA kernel's (__fmul_rn/__fadd_rn):
// forbid the compiler to contract a*b+c into a fused multiply-add here.
#if defined(__clang__)
#pragma clang fp contract(off)
#define POINTOPS_NO_CONTRACT
#elif defined(__GNUC__)
#define POINTOPS_NO_CONTRACT __attribute__((optimize("fp-contract=off")))
#else
#define POINTOPS_NO_CONTRACT
#endif

namespace pointops {
namespace fps {
namespace {

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

// One scene: points p[0..n), writes m >= 1 local indices (plus `base`) to out.
POINTOPS_NO_CONTRACT void sample_scene(const float* p, int64_t n, int64_t m, int32_t base,
                                       int32_t* out, float* dist) {
  for (int64_t i = 0; i < n; ++i) dist[i] = std::numeric_limits<float>::infinity();
  int64_t last = 0;
  out[0] = base;
  for (int64_t j = 1; j < m; ++j) {
    const float qx = p[3 * last], qy = p[3 * last + 1], qz = p[3 * last + 2];
    // Distances are never negative, so comparing their bit patterns as unsigned
    // integers orders them like floats; the CUDA kernel compares the same way.
    uint32_t best_bits = 0;
    int64_t best = -1;
    for (int64_t i = 0; i < n; ++i) {
      const float dx = p[3 * i] - qx;
      const float dy = p[3 * i + 1] - qy;
      const float dz = p[3 * i + 2] - qz;
      const float xx = dx * dx;
      const float yy = dy * dy;
      const float zz = dz * dz;
      const float d = (xx + yy) + zz;
      float cur = dist[i];
      cur = d < cur ? d : cur;  // == fminf(d, cur): cur is never NaN
      dist[i] = cur;
      const uint32_t bits = float_bits(cur);
      if (best < 0 || bits > best_bits) {  // strict: the lowest index wins ties
        best_bits = bits;
        best = i;
      }
    }
    last = best;
    out[j] = base + static_cast<int32_t>(best);
  }
}

at::Tensor farthest_point_sampling_cpu(const at::Tensor& xyz_in, const at::Tensor& offset,
                                       const at::Tensor& new_offset) {
  const Plan plan = validate(xyz_in, offset, new_offset);
  at::Tensor out = at::empty({plan.total_samples}, xyz_in.options().dtype(at::kInt));
  if (plan.total_samples == 0) return out;
  const float* xyz = xyz_in.data_ptr<float>();
  int32_t* o = out.data_ptr<int32_t>();
  const int64_t B = static_cast<int64_t>(plan.point_start.size()) - 1;
  at::parallel_for(0, B, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> dist;
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t start = plan.point_start[b];
      const int64_t n = plan.point_start[b + 1] - start;
      const int64_t m = plan.out_start[b + 1] - plan.out_start[b];
      if (m == 0) continue;
      dist.resize(n);
      sample_scene(xyz + 3 * start, n, m, static_cast<int32_t>(start), o + plan.out_start[b],
                   dist.data());
    }
  });
  return out;
}

}  // namespace
}  // namespace fps
}  // namespace pointops

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("farthest_point_sampling", &pointops::fps::farthest_point_sampling_cpu);
}
