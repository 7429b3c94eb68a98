// Uniform spatial grid of the CUDA spatial operators.
//
// Per scene: a bounding box (scene_boxes.cuh: one pass, block-aggregated atomics), a cell size
// chosen so that a scene of n points gets at most ceil(n / points_per_cell) cells,
// a counting sort of the points by cell (atomics + one scan + one scatter) into float4 records
// (x, y, z, original row). Queries are sorted by cell the same way, so a warp's queries are
// neighbours in space and read the same cells.
//
// Search of one query (search_impl.cuh; one warp per query for 4 < k <= 32: search_warp.cuh):
// rings of cells at Chebyshev distance r = 0, 1, 2, ... around the query's cell, each ring
// clipped to the box of cells that can still hold a kept neighbour (radius = current k-th
// distance and/or max_radius, plus a safety margin that covers float rounding of the cell
// assignment); the search stops when a ring lies entirely outside that box. The answer is
// exact: the same (distance, index) keys as the CPU reference.
#pragma once

#include <ATen/core/Tensor.h>
#include <cuda_runtime.h>

#include <cstdint>

#include "spatial_ops.h"

namespace pointops {
namespace grid {

struct SceneGrid {
  float lo[3];     // bounding box minimum
  float inv_s;     // 1 / cell size (0 for a single-cell grid)
  float scale;     // extent + cell size: the magnitude the safety margin is relative to
  int dims[3];     // cells per axis
  int cell_base;   // first global cell of the scene
};

struct Grid {
  int64_t B = 0;
  int64_t total_cells = 0;
  at::Tensor meta;    // int64 (3 * (B + 1)) on the device: point offsets, query offsets, cell bases (each with a leading 0)
  at::Tensor grids;   // uint8 bytes of B SceneGrid
  at::Tensor counts;  // int32 (total_cells): points per cell
  at::Tensor ends;    // int32 (total_cells): inclusive prefix sum of counts
  at::Tensor sorted;  // float32 (n, 4): points sorted by cell, w = original row (int bits)

  const int64_t* point_offsets() const { return meta.data_ptr<int64_t>(); }
  const int64_t* query_offsets() const { return meta.data_ptr<int64_t>() + (B + 1); }
  const SceneGrid* scene_grids() const {
    return reinterpret_cast<const SceneGrid*>(grids.data_ptr<uint8_t>());
  }
};

// Builds the grid of xyz (validated by check_query_args); points_per_cell >= 1.
Grid build_grid(const at::Tensor& xyz, const QueryArgs& a, int64_t points_per_cell);

// new_xyz sorted by the cell of `g` it falls in (clamped to the grid): float32 (m, 4),
// w = original row.
at::Tensor sort_queries(const Grid& g, const at::Tensor& new_xyz, const QueryArgs& a);

struct SearchParams {
  const float4* pts;
  const int* counts;
  const int* ends;
  const SceneGrid* grids;
  const int64_t* q_off;  // B + 1 entries, leading 0: scene b owns sorted queries [q_off[b], q_off[b+1])
  int B;
  const float4* queries;  // m sorted queries
  int64_t m;
  int k;
  float max2, min2, max_r;
  uint64_t seed;
  const float* xyz;  // original points (random mode recomputes distances of kept neighbours)
  int* out_idx;      // (m, k), row = original query row
  float* out_dist;   // (m, k)
};

// Launches the search of every query (defined in search_impl.cuh, instantiated per mode in
// knn_cuda.cu and ball_query_cuda.cu).
template <int MODE>
void launch_search(const SearchParams& p, cudaStream_t stream);

// Points per cell used for a search keeping k neighbours. Smaller cells mean fewer candidates
// per query but more cells to visit; k / 3 was the best of k, 2k/3, k/2, k/3 and k/4 for knn
// k = 16 and 32 on an H200 (4 x 100k, k = 16: 0.88 ms at k / 2, 0.76 ms at k / 3); k = 3
// keeps the floor of 2.
inline int64_t points_per_cell(int64_t k) {
  int64_t ppc = k / 3;
  if (ppc < 2) ppc = 2;
  if (ppc > 32) ppc = 32;
  return ppc;
}

}  // namespace grid
}  // namespace pointops
