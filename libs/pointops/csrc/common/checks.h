// Shared argument checks of the pointops operators (C++ side). Every failure raises a Python
// exception (TORCH_CHECK_TYPE -> TypeError, TORCH_CHECK_VALUE -> ValueError) whose message
// names the argument and says what is accepted.
#pragma once

#include <ATen/core/Tensor.h>
#include <ATen/ops/aminmax.h>
#include <ATen/ops/cat.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "message.h"

namespace pointops {

inline void check_defined(const at::Tensor& t, const char* name) {
  TORCH_CHECK_VALUE(t.defined(), name, " must be a tensor, got None");
}

inline void check_same_device(const at::Tensor& a, const char* an, const at::Tensor& b,
                              const char* bn) {
  TORCH_CHECK_VALUE(a.device() == b.device(), an, " and ", bn,
                    " must be on the same device, got ", a.device(), " and ", b.device());
}

// A (n, 3) contiguous float32 point tensor. Returns n.
inline int64_t check_float_points(const at::Tensor& t, const char* name) {
  check_defined(t, name);
  TORCH_CHECK_TYPE(t.scalar_type() == at::kFloat, name, " must be a float32 tensor, got ",
                   t.scalar_type());
  TORCH_CHECK_VALUE(t.dim() == 2 && t.size(1) == 3, name, " must have shape (n, 3), got ",
                    shape_of(t));
  TORCH_CHECK_VALUE(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK_VALUE(t.size(0) < (int64_t(1) << 31) - 1, name,
                    " may hold at most 2^31 - 2 points (int32 indices), got ", num(t.size(0)));
  return t.size(0);
}

// Metadata only (no device access): 1-D, int32 or int64, at least one entry.
inline void check_offset_meta(const at::Tensor& offset, const char* name) {
  check_defined(offset, name);
  TORCH_CHECK_TYPE(offset.scalar_type() == at::kInt || offset.scalar_type() == at::kLong, name,
                   " must be an int32 or int64 tensor, got ", offset.scalar_type());
  TORCH_CHECK_VALUE(offset.dim() == 1, name,
                    " must be 1-D (cumulative point counts per scene), got shape ",
                    shape_of(offset));
  TORCH_CHECK_VALUE(offset.numel() >= 1, name,
                    " must hold at least one scene (its last entry is the number of points)");
}

// Checks the values of already meta-checked offsets given as a host int64 tensor.
inline void check_offset_values(const at::Tensor& host, int64_t n, const char* name) {
  const int64_t* o = host.data_ptr<int64_t>();
  const int64_t b = host.numel();
  int64_t prev = 0;
  for (int64_t i = 0; i < b; ++i) {
    TORCH_CHECK_VALUE(o[i] >= prev, name,
                      " must be non-decreasing, non-negative cumulative counts (no leading 0), "
                      "but ", name, "[", num(i), "] = ", num(o[i]), " is less than ",
                      i == 0 ? std::string("0") : name + std::string("[") + num(i - 1) + "] = " + num(prev));
    prev = o[i];
  }
  TORCH_CHECK_VALUE(o[b - 1] == n, name, "[-1] must equal the number of points (", num(n), "), got ",
                    num(o[b - 1]));
}

// Validates one or more offset tensors (same device) and returns them as host int64 tensors,
// using a single device->host copy for all of them (the only host synchronisation the spatial
// ops need: scene sizes are needed on the host anyway).
inline std::vector<at::Tensor> check_offsets(std::initializer_list<at::Tensor> offsets,
                                             std::initializer_list<int64_t> ns,
                                             std::initializer_list<const char*> names) {
  std::vector<at::Tensor> offs(offsets);
  std::vector<int64_t> n(ns);
  std::vector<const char*> nm(names);
  std::vector<at::Tensor> parts;
  for (size_t i = 0; i < offs.size(); ++i) {
    check_offset_meta(offs[i], nm[i]);
    parts.push_back(offs[i].to(at::kLong).reshape({-1}));
  }
  at::Tensor all = parts.size() == 1 ? parts[0] : at::cat(parts);
  all = all.to(at::kCPU).contiguous();
  std::vector<at::Tensor> out;
  int64_t start = 0;
  for (size_t i = 0; i < offs.size(); ++i) {
    at::Tensor h = all.narrow(0, start, offs[i].numel()).contiguous();
    start += offs[i].numel();
    check_offset_values(h, n[i], nm[i]);
    out.push_back(h);
  }
  return out;
}

// Single-offset form.
inline at::Tensor check_offsets(const at::Tensor& offset, int64_t n, const char* name) {
  return check_offsets({offset}, {n}, {name})[0];
}

// An index tensor: int32, 2-D with m rows (m < 0: any), contiguous, entries in [-1, n).
// The range check is one reduction (on CUDA one small device->host copy).
inline void check_index(const at::Tensor& idx, const char* name, int64_t m, int64_t n) {
  check_defined(idx, name);
  TORCH_CHECK_TYPE(idx.scalar_type() == at::kInt, name, " must be an int32 tensor, got ",
                   idx.scalar_type());
  TORCH_CHECK_VALUE(idx.dim() == 2, name, " must have shape (m, nsample), got ", shape_of(idx));
  TORCH_CHECK_VALUE(m < 0 || idx.size(0) == m, name, " must have ", num(m), " rows, got shape ",
                    shape_of(idx));
  TORCH_CHECK_VALUE(idx.is_contiguous(), name, " must be contiguous");
  if (idx.numel() == 0) return;
  auto mm = at::aminmax(idx);
  const int64_t lo = std::get<0>(mm).item<int64_t>();
  const int64_t hi = std::get<1>(mm).item<int64_t>();
  TORCH_CHECK_VALUE(lo >= -1 && hi < n, name, " entries must lie in [-1, ", num(n - 1),
                    "] (-1 = no neighbour), got values in [", num(lo), ", ", num(hi), "]");
}

inline void check_k(int64_t k, const char* name) {
  TORCH_CHECK_VALUE(k >= 1, name, " must be >= 1, got ", num(k));
  TORCH_CHECK_VALUE(k <= (int64_t(1) << 20), name, " must be <= 2^20, got ", num(k));
}

}  // namespace pointops
