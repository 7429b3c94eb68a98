// Text pieces for the error messages of TORCH_CHECK / TORCH_CHECK_VALUE / TORCH_CHECK_TYPE.
//
// Numbers and shapes enter messages only as std::string, never as int / int64_t / size_t /
// double / IntArrayRef arguments. c10 builds a message by streaming its arguments into a
// std::ostream; when the extension and torch were built with different C++ toolchains
// (seen with a torch 2.11 build and an extension compiled by GCC 13) streaming a number from
// extension code crashed inside std::ostream's number formatting when a check failed.
// Strings, c10::Device and c10::ScalarType were unaffected, so the conversion to text is done
// here with std::to_string / snprintf, which works with any toolchain mix.
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <cstdio>
#include <string>
#include <type_traits>

namespace pointops {

// Any integer (int, int64_t, size_t, ...) as decimal text.
template <typename T, typename std::enable_if<std::is_integral<T>::value, int>::type = 0>
inline std::string num(T v) {
  return std::to_string(v);
}

// A floating-point value formatted as std::ostream does by default (%g, 6 significant
// digits): 0.5 -> "0.5", -1 -> "-1", 1e-07 -> "1e-07".
inline std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

// A shape as c10 prints IntArrayRef: "[4, 2]", "[7]", "[]".
inline std::string shape_of(at::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t d = 0; d < sizes.size(); ++d) {
    if (d) s += ", ";
    s += std::to_string(sizes[d]);
  }
  return s + "]";
}

inline std::string shape_of(const at::Tensor& t) { return shape_of(t.sizes()); }

}  // namespace pointops
