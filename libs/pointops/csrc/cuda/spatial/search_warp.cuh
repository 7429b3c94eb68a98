// Warp-per-query grid search for 4 < k <= 32 (knn, ball and random modes; k <= 4 runs one
// thread per query, search_thread.cuh).
//
// Why a warp per query: with one thread per query every lane keeps its own register top-k and
// inserts into it at its own times, so the warp serialises on divergent O(k) insertions and
// k 64-bit keys per thread limit occupancy. Here the 32 lanes of a warp share one query: they
// score 32 candidates at once (coalesced float4 loads of neighbouring sorted points), a ballot
// finds those below the current k-th key, and the sorted top-k lives one key per lane
// (warp_topk.cuh), so an insertion is a few shuffles for the whole warp and the per-thread
// state is a handful of registers.
//
// The cells visited are those of the thread-per-query walk (search_thread.cuh) with the same
// clipping rule (clip_box): first the box of rings 0 and 1 (its rows along x are one contiguous
// range of the sorted points each), then rings r = 2, 3, ... while r <= reach. Ring rows on the
// ring's y/z faces are one range, the other rows two single cells. The rows of a ring are
// assigned to lanes (32 rows at a time), each lane looks up its row's range(s), and a warp scan
// over the range lengths concatenates them, so that every batch of 32 candidates is full
// whatever the range sizes. Every candidate key is computed by candidate_key, as the thread
// kernel does, and the k smallest keys are exact; they are therefore the CPU reference's.
#pragma once

#include <cstdint>

#include "common/spatial.h"
#include "cuda/spatial/search_common.cuh"
#include "cuda/spatial/grid.h"
#include "cuda/spatial/warp_topk.cuh"

namespace pointops {
namespace grid {

constexpr int kWarpSearchThreads = 128;  // 4 queries per block

// Offers every candidate of the rows [z0, z1] x [y0, y1] of shell r around cell c, clipped to
// [blo, bhi]. box: the shell is the whole box of Chebyshev distance <= r (every row one range);
// otherwise it is ring r (rows off the ring's y/z faces hold only cells c.x -/+ r).
template <int MODE>
__device__ __forceinline__ void scan_shell(WarpTopK& top, const SearchParams& P, const float4& q,
                                           int qi, const SceneGrid& g, const int* c,
                                           const int* blo, const int* bhi, int r, bool box,
                                           int lane) {
  const int z0 = max(c[2] - r, blo[2]), z1 = min(c[2] + r, bhi[2]);
  const int y0 = max(c[1] - r, blo[1]), y1 = min(c[1] + r, bhi[1]);
  if (z0 > z1 || y0 > y1) return;
  const int ny = y1 - y0 + 1;
  const int rows = (z1 - z0 + 1) * ny;
  // Rows are taken in a rotated order that starts at the query's own row (c.y, c.z): the nearest
  // candidates come first, so the k-th key drops early and fewer later candidates pass it.
  const int own_row = (min(max(c[2], z0), z1) - z0) * ny + (min(max(c[1], y0), y1) - y0);
  for (int first = 0; first < rows; first += 32) {
    // This lane's row: up to two ranges of sorted points, [a_begin, a_begin + a_len) and
    // [b_begin, b_begin + b_len).
    int a_begin = 0, a_len = 0, b_begin = 0, b_len = 0;
    if (first + lane < rows) {
      const int rest = rows - own_row;  // rows from own_row to the end
      const int ri = first + lane < rest ? first + lane + own_row : first + lane - rest;
      const int z = z0 + ri / ny, y = y0 + ri % ny;
      const int row = g.cell_base + (z * g.dims[1] + y) * g.dims[0];
      const bool edge = box || z == c[2] - r || z == c[2] + r || y == c[1] - r || y == c[1] + r;
      if (edge) {
        const int x0 = max(c[0] - r, blo[0]), x1 = min(c[0] + r, bhi[0]);
        if (x0 <= x1) {
          a_begin = __ldg(P.ends + row + x0) - __ldg(P.counts + row + x0);
          a_len = __ldg(P.ends + row + x1) - a_begin;
        }
      } else {
        const int xa = c[0] - r, xb = c[0] + r;
        if (xa >= blo[0]) {
          a_len = __ldg(P.counts + row + xa);
          a_begin = __ldg(P.ends + row + xa) - a_len;
        }
        if (xb <= bhi[0]) {
          b_len = __ldg(P.counts + row + xb);
          b_begin = __ldg(P.ends + row + xb) - b_len;
        }
      }
    }
    // Concatenate the lanes' ranges: inclusive scan of the lengths.
    const int len = a_len + b_len;
    int incl = len;
#pragma unroll
    for (int s = 1; s < 32; s <<= 1) {
      const int o = __shfl_up_sync(kFullWarp, incl, s);
      if (lane >= s) incl += o;
    }
    const int total = __shfl_sync(kFullWarp, incl, 31);
    // Position p of the concatenation owned by this lane's row maps to sorted point
    // p + (p < b_start ? a_shift : b_shift).
    const int excl = incl - len;
    const int b_start = excl + a_len;
    const int a_shift = a_begin - excl;
    const int b_shift = b_begin - b_start;
    for (int base = 0; base < total; base += 32) {
      const int p = base + lane;
      // Owner row: the number of lanes whose inclusive end is <= p (binary lifting over the
      // non-decreasing incl; stays <= 31).
      int own = 0;
#pragma unroll
      for (int s = 16; s > 0; s >>= 1) {
        if (__shfl_sync(kFullWarp, incl, own + s - 1) <= p) own += s;
      }
      const int o_b_start = __shfl_sync(kFullWarp, b_start, own);
      const int o_a_shift = __shfl_sync(kFullWarp, a_shift, own);
      const int o_b_shift = __shfl_sync(kFullWarp, b_shift, own);
      uint64_t cand = kEmptyKey;
      if (p < total) {
        const int j = p + (p < o_b_start ? o_a_shift : o_b_shift);
        cand = candidate_key<MODE>(P, q, qi, __ldg(P.pts + j));
      }
      top.offer(cand);
    }
  }
}

template <int MODE>
__global__ void __launch_bounds__(kWarpSearchThreads) search_warp_kernel(const SearchParams P) {
  const int lane = static_cast<int>(threadIdx.x) & 31;
  const int64_t t = static_cast<int64_t>(blockIdx.x) * (kWarpSearchThreads / 32) +
                    static_cast<int64_t>(threadIdx.x >> 5);
  if (t >= P.m) return;  // the whole warp
  const float4 q = P.queries[t];
  const int qi = __float_as_int(q.w);
  const SceneGrid g = P.grids[scene_of(t, P.q_off, P.B)];
  float rel[3];
  int c[3];
  query_cell(q, g, rel, c);
  WarpTopK top(P.k, lane);
  for (int r = 1;; ++r) {
    int blo[3], bhi[3];
    const int reach = clip_box(rel, c, search_radius<MODE>(top.kth, P), g, blo, bhi);
    if (r > 1 && r > reach) break;
    scan_shell<MODE>(top, P, q, qi, g, c, blo, bhi, r, /*box=*/r == 1, lane);
  }
  if (lane < P.k) store_neighbour<MODE>(P, static_cast<int64_t>(qi) * P.k + lane, top.key, q);
}

}  // namespace grid
}  // namespace pointops
