// Definitions shared by the CPU and CUDA spatial kernels (kNN, ball query, random ball query,
// interpolation). Both devices evaluate distances with exactly the same float32 operations, so
// they produce bit-identical distances and therefore identical neighbour lists.
#pragma once

#include <cstdint>
#include <cstring>
#include <cmath>

#if defined(__CUDACC__)
#define POINTOPS_HD __host__ __device__ __forceinline__
#else
#define POINTOPS_HD inline
#endif

namespace pointops {

// Which neighbours a query keeps and in which order.
enum SearchMode : int {
  kModeKnn = 0,     // the k nearest points, ascending (d2, index)
  kModeBall = 1,    // points with min_r^2 <= d2 < max_r^2, the k nearest, ascending (d2, index)
  kModeRandom = 2,  // points with min_r^2 <= d2 < max_r^2, k of them in a seeded random order
};

// The squared distance, defined once: ((dx*dx + dy*dy) + dz*dz) with every operation rounded to
// float32. On CUDA the _rn intrinsics forbid FMA contraction; the C++ build uses
// -ffp-contract=off for the same reason.
POINTOPS_HD float sqdist3(float ax, float ay, float az, float bx, float by, float bz) {
#if defined(__CUDA_ARCH__)
  const float dx = __fsub_rn(ax, bx), dy = __fsub_rn(ay, by), dz = __fsub_rn(az, bz);
  return __fadd_rn(__fadd_rn(__fmul_rn(dx, dx), __fmul_rn(dy, dy)), __fmul_rn(dz, dz));
#else
  const float dx = ax - bx, dy = ay - by, dz = az - bz;
  const float xx = dx * dx, yy = dy * dy, zz = dz * dz;
  return (xx + yy) + zz;
#endif
}

POINTOPS_HD float sqrt_rn(float v) {
#if defined(__CUDA_ARCH__)
  return __fsqrt_rn(v);
#else
  return std::sqrt(v);
#endif
}

POINTOPS_HD uint32_t float_bits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
#endif
}

POINTOPS_HD float bits_float(uint32_t u) {
#if defined(__CUDA_ARCH__)
  return __uint_as_float(u);
#else
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
#endif
}

// Sort key of a candidate: the primary value's bits (a non-negative float's bits order like the
// float) above the global point index, so that comparing keys compares (value, index) and the
// lower index wins ties. Index < 2^31, so a real key never equals kEmptyKey.
constexpr uint64_t kEmptyKey = ~uint64_t(0);

POINTOPS_HD uint64_t make_key(uint32_t primary, int32_t index) {
  return (uint64_t(primary) << 32) | uint64_t(uint32_t(index));
}
POINTOPS_HD int32_t key_index(uint64_t key) { return int32_t(uint32_t(key & 0xffffffffu)); }
POINTOPS_HD uint32_t key_primary(uint64_t key) { return uint32_t(key >> 32); }

// Random rank of point p for query q under a seed (counter-based: splitmix64 finaliser), used by
// random_ball_query: the kept neighbours are those with the smallest (rank, index).
POINTOPS_HD uint32_t random_rank(uint64_t seed, int64_t q, int64_t p) {
  uint64_t z = seed + 0x9E3779B97F4A7C15ull * uint64_t(q + 1);
  z ^= 0xD1B54A32D192ED03ull * uint64_t(p + 1);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return uint32_t(z >> 32);
}

// Inverse-distance weight of interpolation: 1 / (d + 1e-8), rounded like the CPU does.
POINTOPS_HD float inv_dist_weight(float d) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(1.0f, __fadd_rn(d, 1e-8f));
#else
  return 1.0f / (d + 1e-8f);
#endif
}

POINTOPS_HD float add_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fadd_rn(a, b);
#else
  return a + b;
#endif
}
POINTOPS_HD float mul_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fmul_rn(a, b);
#else
  return a * b;
#endif
}
POINTOPS_HD float div_rn(float a, float b) {
#if defined(__CUDA_ARCH__)
  return __fdiv_rn(a, b);
#else
  return a / b;
#endif
}

}  // namespace pointops
