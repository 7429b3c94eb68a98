// ballquery_batch_p on the CPU: per scene, points are bucketed into a grid of
// cells of edge >= radius; each point's candidates come from the 27 cells around
// it, are filtered by squared distance and written in ascending index order.
#include "../pointgroup_ops.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <numeric>
#include <vector>

namespace pointgroup_ops {
namespace {

using Cell = std::array<int64_t, 3>;  // (z, y, x): x varies fastest in the sort order

struct SceneGrid {
  std::vector<int32_t> order;  // point indices sorted by (cell, index)
  std::vector<Cell> cells;     // cell of order[k]
};

inline int64_t cell_coord(float x, double lo, double cell) {
  double c = std::floor((static_cast<double>(x) - lo) / cell);
  // Clamping is non-expansive, so points that are neighbours stay within one cell.
  const double lim = 4.0e18;
  if (c > lim) c = lim;
  if (c < 0) c = 0;
  return static_cast<int64_t>(c);
}

SceneGrid build_grid(const float* xyz, int32_t begin, int32_t end, double cell) {
  SceneGrid g;
  const int32_t m = end - begin;
  double lo[3] = {0, 0, 0};
  if (m > 0) {
    for (int d = 0; d < 3; ++d) lo[d] = std::numeric_limits<double>::infinity();
    for (int32_t i = begin; i < end; ++i)
      for (int d = 0; d < 3; ++d) lo[d] = std::min(lo[d], static_cast<double>(xyz[3 * i + d]));
  }
  std::vector<Cell> pc(m);
  for (int32_t k = 0; k < m; ++k) {
    const float* p = xyz + 3 * static_cast<int64_t>(begin + k);
    pc[k] = {cell_coord(p[2], lo[2], cell), cell_coord(p[1], lo[1], cell), cell_coord(p[0], lo[0], cell)};
  }
  std::vector<int32_t> perm(m);
  std::iota(perm.begin(), perm.end(), 0);
  std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return pc[a] < pc[b]; });
  g.order.resize(m);
  g.cells.resize(m);
  for (int32_t k = 0; k < m; ++k) {
    g.order[k] = begin + perm[k];
    g.cells[k] = pc[perm[k]];
  }
  return g;
}

// Calls fn(j) for every point j of the scene within the radius of point i
// (candidates come in cell order, not index order).
template <typename Fn>
void for_each_neighbour(const float* xyz, const SceneGrid& g, int32_t i, const Cell& ci, float r2, Fn&& fn) {
  const float* pi = xyz + 3 * static_cast<int64_t>(i);
  for (int64_t dz = -1; dz <= 1; ++dz) {
    for (int64_t dy = -1; dy <= 1; ++dy) {
      const Cell lo_c = {ci[0] + dz, ci[1] + dy, ci[2] - 1};
      const Cell hi_c = {ci[0] + dz, ci[1] + dy, ci[2] + 1};
      auto lo = std::lower_bound(g.cells.begin(), g.cells.end(), lo_c);
      auto hi = std::upper_bound(lo, g.cells.end(), hi_c);
      for (auto it = lo; it != hi; ++it) {
        const int32_t j = g.order[it - g.cells.begin()];
        const float* pj = xyz + 3 * static_cast<int64_t>(j);
        if (squared_distance_host(pi[0], pi[1], pi[2], pj[0], pj[1], pj[2]) < r2) fn(j);
      }
    }
  }
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cpu(const at::Tensor& coords,
                                                         const at::Tensor& batch_idxs,
                                                         const at::Tensor& batch_offsets,
                                                         double radius) {
  const int64_t n = coords.size(0);
  const int64_t B = batch_offsets.size(0) - 1;
  const int32_t* off = batch_offsets.data_ptr<int32_t>();
  TORCH_CHECK_VALUE(off[0] == 0, "ballquery_batch_p: batch_offsets must start with 0, got ", num(off[0]));
  for (int64_t b = 0; b < B; ++b)
    TORCH_CHECK_VALUE(off[b] <= off[b + 1], "ballquery_batch_p: batch_offsets must be non-decreasing, got ",
                      num(off[b]), " before ", num(off[b + 1]), " at position ", num(b));
  TORCH_CHECK_VALUE(off[B] == n, "ballquery_batch_p: batch_offsets[-1] must equal the number of points (",
                    num(n), "), got ", num(off[B]));
  const int32_t* bidx = batch_idxs.data_ptr<int32_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int32_t i = off[b]; i < off[b + 1]; ++i)
      TORCH_CHECK_VALUE(bidx[i] == b, "ballquery_batch_p: batch_idxs[", num(i), "] = ", num(bidx[i]),
                        " does not match batch_offsets (point ", num(i), " belongs to scene ", num(b), ")");
  const float* xyz = coords.data_ptr<float>();
  for (int64_t k = 0; k < 3 * n; ++k)
    TORCH_CHECK_VALUE(std::isfinite(xyz[k]), "ballquery_batch_p: coords must be finite, found ",
                      num(xyz[k]), " at point ", num(k / 3));

  const float r2 = squared_radius(radius);
  // Cells slightly larger than the radius: a pair that passes the float32 distance
  // test is then always in adjacent cells despite rounding.
  const double cell = static_cast<double>(static_cast<float>(radius)) * (1.0 + 1e-4);

  at::Tensor start_len = at::empty({n, 2}, coords.options().dtype(at::kInt));
  int32_t* sl = start_len.data_ptr<int32_t>();
  std::vector<SceneGrid> grids(B);
  std::vector<std::vector<int32_t>> slot(B);  // position of each point in its scene's grid order
  for (int64_t b = 0; b < B; ++b) {
    grids[b] = build_grid(xyz, off[b], off[b + 1], cell);
    slot[b].resize(off[b + 1] - off[b]);
    for (size_t k = 0; k < grids[b].order.size(); ++k) slot[b][grids[b].order[k] - off[b]] = static_cast<int32_t>(k);
  }
  std::vector<int32_t> scene_of(n);
  for (int64_t b = 0; b < B; ++b)
    for (int32_t i = off[b]; i < off[b + 1]; ++i) scene_of[i] = static_cast<int32_t>(b);

  std::vector<int64_t> count(n);
  at::parallel_for(0, n, 1024, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const SceneGrid& g = grids[scene_of[i]];
      const Cell& ci = g.cells[slot[scene_of[i]][i - off[scene_of[i]]]];
      int64_t c = 0;
      for_each_neighbour(xyz, g, static_cast<int32_t>(i), ci, r2, [&](int32_t) { ++c; });
      count[i] = c;
    }
  });
  int64_t total = 0;
  for (int64_t i = 0; i < n; ++i) {
    TORCH_CHECK_VALUE(total <= std::numeric_limits<int32_t>::max(),
                      "ballquery_batch_p: more than 2^31-1 neighbour entries; start_len cannot index them");
    sl[2 * i] = static_cast<int32_t>(total);
    sl[2 * i + 1] = static_cast<int32_t>(count[i]);
    total += count[i];
  }
  TORCH_CHECK_VALUE(total <= std::numeric_limits<int32_t>::max(),
                    "ballquery_batch_p: more than 2^31-1 neighbour entries; start_len cannot index them");
  at::Tensor idx = at::empty({total}, coords.options().dtype(at::kInt));
  int32_t* out = idx.data_ptr<int32_t>();
  at::parallel_for(0, n, 1024, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) {
      const SceneGrid& g = grids[scene_of[i]];
      const Cell& ci = g.cells[slot[scene_of[i]][i - off[scene_of[i]]]];
      int32_t* dst = out + sl[2 * i];
      int64_t c = 0;
      for_each_neighbour(xyz, g, static_cast<int32_t>(i), ci, r2, [&](int32_t j) { dst[c++] = j; });
      std::sort(dst, dst + c);
    }
  });
  return {idx, start_len};
}

}  // namespace pointgroup_ops
