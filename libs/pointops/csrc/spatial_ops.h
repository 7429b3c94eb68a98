// Host-side pieces shared by the spatial operators (knn_query, ball_query, random_ball_query,
// interpolation): argument validation and the search entry points of each device.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/equal.h>

#include <cmath>
#include <cstdint>
#include <tuple>

#include "common/checks.h"
#include "common/spatial.h"

namespace pointops {

struct QueryArgs {
  at::Tensor offset_host;      // int64 (B,) on the CPU
  at::Tensor new_offset_host;  // int64 (B,) on the CPU
  int64_t n = 0;               // source points
  int64_t m = 0;               // query points
  bool self = false;           // the queries are the source points themselves
};

// Validates (xyz, offset, new_xyz, new_offset); one device->host copy for both offsets.
inline QueryArgs check_query_args(const at::Tensor& xyz, const at::Tensor& offset,
                                  const at::Tensor& new_xyz, const at::Tensor& new_offset) {
  QueryArgs a;
  a.n = check_points(xyz, "xyz");
  a.m = check_points(new_xyz, "new_xyz");
  check_same_device(new_xyz, "new_xyz", xyz, "xyz");
  auto h = check_offset_pair(xyz, a.n, offset, new_offset, a.m, "new_xyz");
  a.offset_host = h[0];
  a.new_offset_host = h[1];
  a.self = new_xyz.is_same(xyz) ||
           (new_xyz.data_ptr() == xyz.data_ptr() && a.n == a.m && xyz.numel() > 0);
  a.self = a.self && at::equal(a.offset_host, a.new_offset_host);
  return a;
}

// Squared radius bounds in float32, as every kernel compares them: min2 <= d2 < max2.
inline float radius_sq(double r) {
  const float f = static_cast<float>(r);
  return f * f;
}

// The neighbour search of every spatial op. Returns idx int32 (m, k) of global row indices into
// xyz, -1 where a query has fewer than k neighbours, and dist float32 (m, k) = sqrt(d2), +inf
// where idx is -1.
std::tuple<at::Tensor, at::Tensor> spatial_search_cpu(int mode, int64_t k, double max_radius,
                                                      double min_radius, int64_t seed,
                                                      const at::Tensor& xyz,
                                                      const at::Tensor& new_xyz,
                                                      const QueryArgs& a);
#ifdef POINTOPS_WITH_CUDA
std::tuple<at::Tensor, at::Tensor> spatial_search_cuda(int mode, int64_t k, double max_radius,
                                                       double min_radius, int64_t seed,
                                                       const at::Tensor& xyz,
                                                       const at::Tensor& new_xyz,
                                                       const QueryArgs& a);
#endif

// The validated operator bodies, shared by the CPU and CUDA registrations (`search` is
// spatial_search_cpu or spatial_search_cuda).
using SearchFn = std::tuple<at::Tensor, at::Tensor> (*)(int, int64_t, double, double, int64_t,
                                                        const at::Tensor&, const at::Tensor&,
                                                        const QueryArgs&);

inline std::tuple<at::Tensor, at::Tensor> run_spatial_query(
    SearchFn search, int mode, int64_t k, double max_radius, double min_radius, int64_t seed,
    const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_xyz,
    const at::Tensor& new_offset) {
  check_k(k, "nsample");
  if (mode != kModeKnn) check_radii(max_radius, min_radius);
  QueryArgs a = check_query_args(xyz, offset, new_xyz, new_offset);
  return search(mode, k, max_radius, min_radius, seed, xyz, new_xyz, a);
}

// The operators as registered for one device (`search` = that device's spatial search).
template <SearchFn search>
std::tuple<at::Tensor, at::Tensor> knn_query_op(int64_t k, const at::Tensor& xyz,
                                                const at::Tensor& offset, const at::Tensor& new_xyz,
                                                const at::Tensor& new_offset) {
  return run_spatial_query(search, kModeKnn, k, 0.0, 0.0, 0, xyz, offset, new_xyz, new_offset);
}

template <SearchFn search>
std::tuple<at::Tensor, at::Tensor> ball_query_op(int64_t k, double max_radius, double min_radius,
                                                 const at::Tensor& xyz, const at::Tensor& offset,
                                                 const at::Tensor& new_xyz,
                                                 const at::Tensor& new_offset) {
  return run_spatial_query(search, kModeBall, k, max_radius, min_radius, 0, xyz, offset, new_xyz,
                           new_offset);
}

template <SearchFn search>
std::tuple<at::Tensor, at::Tensor> random_ball_query_op(int64_t k, double max_radius,
                                                        double min_radius, const at::Tensor& xyz,
                                                        const at::Tensor& offset,
                                                        const at::Tensor& new_xyz,
                                                        const at::Tensor& new_offset,
                                                        int64_t seed) {
  return run_spatial_query(search, kModeRandom, k, max_radius, min_radius, seed, xyz, offset,
                           new_xyz, new_offset);
}

// feat of interpolation: float32 (n, c), contiguous, on xyz's device.
inline void check_interp_feat(const at::Tensor& feat, const at::Tensor& xyz, int64_t n) {
  check_float32(feat, "feat");
  check_dim(feat, 2, "feat", "(n, c)");
  check_size(feat, 0, n, "feat", "xyz.shape[0]");
  check_contiguous(feat, "feat");
  check_same_device(feat, "feat", xyz, "xyz");
}

// Arguments of interpolation_backward; out-of-range indices are skipped by the kernels.
inline void check_interp_backward(const at::Tensor& grad_out, const at::Tensor& idx,
                                  const at::Tensor& weight, int64_t n) {
  check_float32(grad_out, "grad_out");
  check_dim(grad_out, 2, "grad_out", "(m, c)");
  check_defined(idx, "idx");
  TORCH_CHECK_TYPE(idx.scalar_type() == at::kInt, "idx must be an int32 tensor, got ",
                   idx.scalar_type());
  check_dim(idx, 2, "idx", "(m, k)");
  check_size(idx, 0, grad_out.size(0), "idx", "grad_out.shape[0]");
  check_float32(weight, "weight");
  TORCH_CHECK_VALUE(weight.sizes() == idx.sizes(), "weight must have the shape of idx ",
                    shape_of(idx), ", got ", shape_of(weight));
  check_contiguous(grad_out, "grad_out");
  check_contiguous(idx, "idx");
  check_contiguous(weight, "weight");
  TORCH_CHECK_VALUE(n >= 0, "n must be >= 0, got ", num(n));
  check_same_device(idx, "idx", grad_out, "grad_out");
  check_same_device(weight, "weight", grad_out, "grad_out");
}

}  // namespace pointops
