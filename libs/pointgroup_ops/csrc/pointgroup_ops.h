// Declarations shared by the registration file and the per-device implementations.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>

#include <algorithm>

#include <string>
#include <tuple>

namespace pointgroup_ops {

// Pieces of error messages. Numbers are turned into text with std::to_string
// rather than std::ostream: on one tested image (torch 2.11, GCC 13) streaming an
// integer inside an extension's error message crashed the process.
inline std::string fmt(int v) { return std::to_string(v); }
inline std::string fmt(long v) { return std::to_string(v); }
inline std::string fmt(long long v) { return std::to_string(v); }
inline std::string fmt(double v) { return std::to_string(v); }
inline std::string fmt(float v) { return std::to_string(v); }
inline std::string fmt(at::IntArrayRef v) {
  std::string out = "(";
  for (size_t i = 0; i < v.size(); ++i) out += (i ? ", " : "") + std::to_string(v[i]);
  return out + ")";
}
inline std::string fmt(const c10::Device& d) { return d.str(); }
// A small CPU integer tensor, e.g. batch_offsets in an error message.
inline std::string fmt(const at::Tensor& t) {
  const at::Tensor v = t.to(at::kCPU, at::kLong).contiguous().reshape({-1});
  std::string out = "[";
  const int64_t shown = std::min<int64_t>(v.numel(), 16);
  for (int64_t i = 0; i < shown; ++i) out += (i ? ", " : "") + std::to_string(v.data_ptr<int64_t>()[i]);
  return out + (v.numel() > shown ? ", ...]" : "]");
}

// Validation helpers (defined in csrc/checks.cpp). They raise c10 errors that
// surface in Python as ValueError / TypeError and name the offending argument.
void check_ballquery_args(const at::Tensor& coords, const at::Tensor& batch_idxs,
                          const at::Tensor& batch_offsets, double radius, int64_t mean_active);
void check_bfs_args(const at::Tensor& semantic_label, const at::Tensor& ball_query_idxs,
                    const at::Tensor& start_len, int64_t threshold);

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

#ifdef WITH_CUDA
// CUDA implementations (csrc/cuda/*.cu).
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
#endif

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
