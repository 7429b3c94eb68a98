// The argument checks of every pointops operator (spatial ops, FPS, feature ops, offset2batch /
// batch2offset), on both devices. Each failure raises a Python exception (TORCH_CHECK_TYPE ->
// TypeError for a wrong dtype, TORCH_CHECK_VALUE -> ValueError for anything else) whose message
// names the argument and says what is accepted. The operators' own rules (which argument must
// match which) are written in spatial_ops.h, feature_ops.h and farthest_point_sampling.cpp with
// these words only; the Python layer checks just what an operator cannot see (pointops/_checks.py).
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/cat.h>
#include <ATen/ops/stack.h>

#include <cstdint>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

#include "message.h"

namespace pointops {

// ------------------------------------------------------------------ tensor metadata

inline void check_defined(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.defined(), name, " must be a tensor, got None");
}

inline void check_float32(const at::Tensor& t, const char* name) {
  check_defined(t, name);
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, name, " must be a float32 tensor, got ",
                   t.scalar_type());
}

inline void check_floating(const at::Tensor& t, const char* name) {
  check_defined(t, name);
  TORCH_CHECK_TYPE(at::isFloatingType(t.scalar_type()), name,
                   " must be a floating-point tensor (float32, float64, float16 or bfloat16), got ",
                   t.scalar_type());
}

inline void check_index_dtype(const at::Tensor& t, const char* name) {
  check_defined(t, name);
  TORCH_CHECK_TYPE(t.scalar_type() == at::kInt || t.scalar_type() == at::kLong, name,
                   " must be an int32 or int64 tensor, got ", t.scalar_type());
}

// `shape` describes the expected dimensions, e.g. "(m, nsample)".
inline void check_dim(const at::Tensor& t, int64_t dim, const char* name, const char* shape) {
  TORCH_CHECK_VALUE(t.dim() == dim, name, " must have shape ", shape, " (", num(dim),
                    " dimensions), got shape ", shape_of(t));
}

// t.shape[dim] == expected, where `what` says where expected comes from ("idx.shape[0]").
inline void check_size(const at::Tensor& t, int64_t dim, int64_t expected, const char* name,
                       const char* what) {
  TORCH_CHECK_VALUE(t.size(dim) == expected, name, ".shape[", num(dim), "] must equal ", what, " (",
                    num(expected), "), got shape ", shape_of(t));
}

inline void check_contiguous(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous (call .contiguous() first)");
}

inline void check_same_device(const at::Tensor& t, const char* name, const at::Tensor& ref,
                              const char* ref_name) {
  TORCH_CHECK_VALUE(t.device() == ref.device(), name, " must be on the same device as ", ref_name,
                    " (", ref.device(), "), got ", t.device());
}

inline void check_same_dtype(const at::Tensor& t, const char* name, const at::Tensor& ref,
                             const char* ref_name) {
  TORCH_CHECK_TYPE(t.scalar_type() == ref.scalar_type(), name, " must have the dtype of ", ref_name,
                   " (", ref.scalar_type(), "), got ", t.scalar_type());
}

// The rows of a point tensor must fit int32 indices (-1 and the row count itself stay free).
constexpr int64_t kMaxPoints = (int64_t(1) << 31) - 2;

// A (n, 3) contiguous float32 point tensor. Returns n.
inline int64_t check_points(const at::Tensor& t, const char* name) {
  check_float32(t, name);
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) == 3, name, " must have shape (n, 3), got ",
                    shape_of(t));
  check_contiguous(t, name);
  TORCH_CHECK_VALUE(t.size(0) <= kMaxPoints, name,
                    " may hold at most 2^31 - 2 points (int32 indices), got ", num(t.size(0)));
  return t.size(0);
}

// ------------------------------------------------------------------ scalars

inline void check_k(int64_t k, const char* name) {
  TORCH_CHECK_VALUE(k >= 1, name, " must be >= 1, got ", num(k));
  TORCH_CHECK_VALUE(k <= (int64_t(1) << 20), name, " must be <= 2^20, got ", num(k));
}

inline void check_radii(double max_radius, double min_radius) {
  TORCH_CHECK_VALUE(max_radius > 0, "max_radius must be > 0, got ", num(max_radius));
  TORCH_CHECK_VALUE(min_radius >= 0, "min_radius must be >= 0, got ", num(min_radius));
  TORCH_CHECK_VALUE(min_radius <= max_radius, "min_radius (", num(min_radius),
                    ") must not exceed max_radius (", num(max_radius), ")");
}

// ------------------------------------------------------------------ offsets
// An offset tensor holds the cumulative point (or sample) counts of the B scenes of a batch,
// without a leading 0: scene b owns rows offset[b-1] .. offset[b]-1.

// Metadata only: int32/int64, 1-D, and (unless allow_empty) at least one scene.
inline void check_offset_meta(const at::Tensor& offset, const char* name, bool allow_empty = false) {
  check_index_dtype(offset, name);
  TORCH_CHECK_VALUE(offset.dim() == 1, name,
                    " must have shape (B,) (1-D, one cumulative count per scene), got shape ",
                    shape_of(offset));
  TORCH_CHECK_VALUE(allow_empty || offset.numel() >= 1, name,
                    " must hold at least one scene (its last entry is the number of points)");
}

// The point offsets and the query (or sample) offsets of one call describe the same scenes.
inline void check_same_scene_count(const at::Tensor& offset, const at::Tensor& new_offset) {
  TORCH_CHECK_VALUE(offset.numel() == new_offset.numel(),
                    "offset and new_offset must describe the same number of scenes (the same "
                    "length), got ", num(offset.numel()), " and ", num(new_offset.numel()));
}

// The values of a host copy o[0 .. B): non-negative and non-decreasing, and, when end >= 0,
// o[B-1] == end, the number of rows of `points`.
inline void check_offset_values(const int64_t* o, int64_t B, const char* name, int64_t end = -1,
                                const char* points = "") {
  int64_t prev = 0;
  for (int64_t i = 0; i < B; ++i) {
    TORCH_CHECK_VALUE(o[i] >= prev, name,
                      " must be non-negative and non-decreasing (cumulative counts per scene, "
                      "without a leading 0), but ", name, "[", num(i), "] = ", num(o[i]),
                      " is less than ",
                      i == 0 ? std::string("0") : name + std::string("[") + num(i - 1) + "] = " + num(prev));
    prev = o[i];
  }
  TORCH_CHECK_VALUE(end < 0 || (B > 0 && o[B - 1] == end), name,
                    "[-1] must equal the number of points in ", points, " (", num(end), "), got ",
                    B > 0 ? num(o[B - 1]) : std::string("no entry"));
}

// The meta-checked offset tensors as host int64 tensors, with a single device->host copy for
// all of them (on CUDA the one synchronisation the offset-based operators need).
inline std::vector<at::Tensor> offsets_to_host(std::initializer_list<at::Tensor> offsets) {
  std::vector<at::Tensor> parts;
  for (const at::Tensor& o : offsets) parts.push_back(o.to(at::kLong).reshape({-1}));
  const at::Tensor all =
      (parts.size() == 1 ? parts[0] : at::cat(parts)).to(at::kCPU).contiguous();
  std::vector<at::Tensor> out;
  int64_t start = 0;
  for (const at::Tensor& p : parts) {
    out.push_back(all.narrow(0, start, p.numel()).contiguous());
    start += p.numel();
  }
  return out;
}

// The offsets of one call: `offset` over the n points of xyz, `new_offset` over the queries or
// samples (whose total must be new_n, unless new_n < 0; `new_points` names them). Metadata,
// devices, scene count and values, with one device->host copy; returns both as host int64
// tensors.
inline std::vector<at::Tensor> check_offset_pair(const at::Tensor& xyz, int64_t n,
                                                 const at::Tensor& offset,
                                                 const at::Tensor& new_offset, int64_t new_n = -1,
                                                 const char* new_points = "") {
  check_offset_meta(offset, "offset");
  check_offset_meta(new_offset, "new_offset");
  check_same_device(offset, "offset", xyz, "xyz");
  check_same_device(new_offset, "new_offset", xyz, "xyz");
  check_same_scene_count(offset, new_offset);
  std::vector<at::Tensor> host = offsets_to_host({offset, new_offset});
  check_offset_values(host[0].data_ptr<int64_t>(), host[0].numel(), "offset", n, "xyz");
  check_offset_values(host[1].data_ptr<int64_t>(), host[1].numel(), "new_offset", new_n, new_points);
  return host;
}

// ------------------------------------------------------------------ index ranges
// Index tensors hold rows of a source or -1 (no neighbour); any other value is an error. The
// kernels never read out of bounds whatever the values: they treat an out-of-range index like -1.

// POINTOPS_SKIP_INDEX_CHECK=1 skips the range checks (they cost a reduction and, on CUDA, a
// device->host copy per index tensor).
inline bool index_check_enabled() {
  static const bool enabled = [] {
    const char* v = std::getenv("POINTOPS_SKIP_INDEX_CHECK");
    return !(v != nullptr && v[0] != '\0' && std::string(v) != "0");
  }();
  return enabled;
}

// The error of an index tensor with an entry outside [-1, n - 1]: value is its smallest entry
// when one lies below -1, else its largest.
inline void index_range_error(const char* name, int64_t n, int64_t value) {
  TORCH_CHECK_VALUE(false, name, " entries must lie in [-1, ", num(n - 1),
                    "] (-1 = no neighbour, otherwise a row of the ", num(n), "-row source), got ",
                    num(value));
}

// Every entry of idx in [-1, n - 1].
inline void check_index_range(const at::Tensor& idx, int64_t n, const char* name) {
  if (idx.numel() == 0 || !index_check_enabled()) return;
  at::Tensor mn, mx;
  std::tie(mn, mx) = at::aminmax(idx);
  const at::Tensor both = at::stack({mn.to(at::kLong), mx.to(at::kLong)}).cpu();
  const int64_t lo = both[0].item<int64_t>();
  const int64_t hi = both[1].item<int64_t>();
  if (lo < -1) index_range_error(name, n, lo);
  if (hi > n - 1) index_range_error(name, n, hi);
}

}  // namespace pointops
