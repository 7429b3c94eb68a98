// Device helpers shared by the two grid search kernels (search_thread.cuh: one thread per query,
// search_warp.cuh: one warp per query): scene lookup, cell assignment, the clipping box of the
// cell walk and the distance written for a kept neighbour. Both kernels use exactly these, so
// they visit cells by the same rule and write the same values.
#pragma once

#include <cstdint>

#include "common/spatial.h"
#include "cuda/scene_of.cuh"
#include "cuda/spatial/grid.h"

namespace pointops {
namespace grid {

// Cell coordinate of a position relative to the grid minimum, clamped to [0, dim - 1]
// (NaN -> 0). Used both to bin the points and to place queries, so the two always agree.
__device__ __forceinline__ int cell_coord(float rel, float inv_s, int dim) {
  const float f = __fmul_rn(rel, inv_s);
  if (!(f >= 0.0f)) return 0;
  if (f >= static_cast<float>(dim - 1)) return dim - 1;
  return static_cast<int>(f);
}

// The query's position relative to the grid minimum and its cell.
__device__ __forceinline__ void query_cell(const float4& q, const SceneGrid& g, float* rel,
                                           int* c) {
  rel[0] = __fsub_rn(q.x, g.lo[0]);
  rel[1] = __fsub_rn(q.y, g.lo[1]);
  rel[2] = __fsub_rn(q.z, g.lo[2]);
#pragma unroll
  for (int a = 0; a < 3; ++a) c[a] = cell_coord(rel[a], g.inv_s, g.dims[a]);
}

// Radius within which a kept neighbour can still lie: max_radius (ball, random) and/or the
// current k-th distance once k keys are held (`worst` = k-th key, kEmptyKey before).
template <int MODE>
__device__ __forceinline__ float search_radius(uint64_t worst, const SearchParams& P) {
  if (MODE == kModeRandom) return P.max_r;
  float r = MODE == kModeBall ? P.max_r : __int_as_float(0x7f800000);
  if (worst != kEmptyKey) {
    const float kth = sqrt_rn(bits_float(key_primary(worst)));
    r = fminf(r, kth);
  }
  return r;
}

// Box of cells [blo, bhi] (per axis) that can hold a point within R of the query (rel = query
// minus grid minimum), widened by a margin that covers float rounding of the cell assignment.
// Returns the largest Chebyshev ring distance from the query's cell c inside the box.
__device__ __forceinline__ int clip_box(const float* rel, const int* c, float R,
                                        const SceneGrid& g, int* blo, int* bhi) {
  int reach = 0;
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    const float ext = R + 1e-5f * (fabsf(rel[a]) + R + g.scale);
    blo[a] = cell_coord(rel[a] - ext, g.inv_s, g.dims[a]);
    bhi[a] = cell_coord(rel[a] + ext, g.inv_s, g.dims[a]);
    reach = max(reach, max(c[a] - blo[a], bhi[a] - c[a]));
  }
  return reach;
}

// The distance written for a kept key: sqrt of its d2 (random mode keeps ranks, so the d2 of
// the kept point is recomputed from the original coordinates).
template <int MODE>
__device__ __forceinline__ float kept_distance(uint64_t key, const SearchParams& P, const float4& q) {
  const int idx = key_index(key);
  float d2;
  if (MODE == kModeRandom) {
    const float* p = P.xyz + 3 * static_cast<int64_t>(idx);
    d2 = sqdist3(q.x, q.y, q.z, p[0], p[1], p[2]);
  } else {
    d2 = bits_float(key_primary(key));
  }
  return sqrt_rn(d2);
}

// Output slot o of query q: the neighbour of `key`, or -1 / +inf for an empty key.
template <int MODE>
__device__ __forceinline__ void store_neighbour(const SearchParams& P, int64_t o, uint64_t key,
                                                const float4& q) {
  if (key == kEmptyKey) {
    P.out_idx[o] = -1;
    P.out_dist[o] = __int_as_float(0x7f800000);
  } else {
    P.out_idx[o] = key_index(key);
    P.out_dist[o] = kept_distance<MODE>(key, P, q);
  }
}

// Key of candidate point p (float4: x, y, z, original row bits) for query q (original row qi),
// or kEmptyKey when the mode rejects it: knn keeps every point, ball and random only
// min2 <= d2 < max2; the primary is d2 (knn, ball) or the seeded random rank (random).
template <int MODE>
__device__ __forceinline__ uint64_t candidate_key(const SearchParams& P, const float4& q, int qi,
                                                  const float4& p) {
  const float d2 = sqdist3(q.x, q.y, q.z, p.x, p.y, p.z);
  const int pi = __float_as_int(p.w);
  if (MODE == kModeKnn) return make_key(float_bits(d2), pi);
  if (d2 < P.max2 && d2 >= P.min2) {
    const uint32_t primary = MODE == kModeBall ? float_bits(d2) : random_rank(P.seed, qi, pi);
    return make_key(primary, pi);
  }
  return kEmptyKey;
}

}  // namespace grid
}  // namespace pointops
