// Declarations shared by the registrations and the per-device implementations.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>
#include <string>
#include <tuple>

#include "message.h"

namespace pointgroup_ops {

// Numbers and shapes enter error messages as text (see message.h, shared with pointops).
using pointops::num;
using pointops::shape_of;

// The values of a small integer tensor (e.g. batch_offsets) for an error message: "[0, 40, 90]".
inline std::string values_of(const at::Tensor& t) {
  const at::Tensor v = t.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  std::string out = "[";
  const int64_t shown = std::min<int64_t>(v.numel(), 16);
  for (int64_t i = 0; i < shown; ++i) out += (i ? ", " : "") + std::to_string(v.data_ptr<int64_t>()[i]);
  return out + (v.numel() > shown ? ", ...]" : "]");
}

// Argument validation shared by both devices (csrc/checks.cpp): dtype, shape, device and
// scalar arguments. It raises c10 errors that surface in Python as ValueError / TypeError and
// name the offending argument, then returns the tensors as the kernels take them: contiguous,
// int32 indices, batch_offsets on coords' device.
struct BallQueryInputs {
  at::Tensor coords, batch_idxs, batch_offsets;
};
BallQueryInputs ballquery_inputs(const at::Tensor& coords, const at::Tensor& batch_idxs,
                                 const at::Tensor& batch_offsets, double radius, int64_t mean_active);
struct BfsInputs {
  at::Tensor semantic_label, ball_query_idxs, start_len;
};
BfsInputs bfs_inputs(const at::Tensor& semantic_label, const at::Tensor& ball_query_idxs,
                     const at::Tensor& start_len, int64_t threshold);

// Whether this build holds the CUDA kernels: defined by cuda/register_cuda.cpp in a CUDA build
// and by no_cuda/register_no_cuda.cpp in a CPU-only one (setup.py compiles one of the two).
bool built_with_cuda();

// CPU implementations (csrc/cpu/*.cpp). Inputs are already validated for
// dtype / shape / device; the content of batch_offsets, batch_idxs, start_len
// and ball_query_idxs is validated inside.
std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cpu(const at::Tensor& coords,
                                                         const at::Tensor& batch_idxs,
                                                         const at::Tensor& batch_offsets,
                                                         double radius);
std::tuple<at::Tensor, at::Tensor> bfs_cluster_cpu(const at::Tensor& semantic_label,
                                                   const at::Tensor& ball_query_idxs,
                                                   const at::Tensor& start_len,
                                                   int64_t threshold);

// CUDA implementations (csrc/cuda/*.cu, compiled in CUDA builds only).
std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cuda(const at::Tensor& coords,
                                                          const at::Tensor& batch_idxs,
                                                          const at::Tensor& batch_offsets,
                                                          double radius);
// Returns an undefined first tensor when the neighbour lists are not symmetric
// (the caller then falls back to the CPU path, which follows directed edges).
std::tuple<at::Tensor, at::Tensor> bfs_cluster_cuda(const at::Tensor& semantic_label,
                                                    const at::Tensor& ball_query_idxs,
                                                    const at::Tensor& start_len,
                                                    int64_t threshold);

// Squared radius exactly as both devices compare it: float(radius) * float(radius)
// in single precision.
inline float squared_radius(double radius) {
  const float r = static_cast<float>(radius);
  return r * r;
}

// Squared distance with a fixed evaluation order, identical on CPU and GPU
// (the GPU side uses __fmul_rn/__fadd_rn so no FMA contraction changes it).
inline float squared_distance_host(float ax, float ay, float az, float bx, float by, float bz) {
  const float dx = ax - bx, dy = ay - by, dz = az - bz;
  // setup.py compiles the C++ sources with -ffp-contract=off, so no FMA is formed here.
  return (dx * dx + dy * dy) + dz * dz;
}

}  // namespace pointgroup_ops
