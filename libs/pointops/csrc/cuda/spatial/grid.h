// Uniform spatial grid of the CUDA spatial operators (knn_query, ball_query, random_ball_query,
// interpolation): the structures shared by its build (grid_kernels.cu, driven by
// spatial_cuda.cpp) and the search kernels (search_thread.cuh, search_warp.cuh). No torch
// header (see cuda/kernel_types.h).
//
// Per scene: a bounding box (scene_boxes.cuh: one pass, block-aggregated atomics), a cell size
// chosen so that a scene of n points gets at most ceil(n / points_per_cell) cells,
// a counting sort of the points by cell (atomics + one scan + one scatter) into float4 records
// (x, y, z, original row). Queries are sorted by cell the same way, so a warp's queries are
// neighbours in space and read the same cells.
//
// Search of one query (search_thread.cuh; one warp per query for 4 < k <= 32: search_warp.cuh):
// rings of cells at Chebyshev distance r = 0, 1, 2, ... around the query's cell, each ring
// clipped to the box of cells that can still hold a kept neighbour (radius = current k-th
// distance and/or max_radius, plus a safety margin that covers float rounding of the cell
// assignment); the search stops when a ring lies entirely outside that box. The answer is
// exact: the same (distance, index) keys as the CPU reference.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace pointops {
namespace grid {

struct SceneGrid {
  float lo[3];     // bounding box minimum
  float inv_s;     // 1 / cell size (0 for a single-cell grid)
  float scale;     // extent + cell size: the magnitude the safety margin is relative to
  int dims[3];     // cells per axis
  int cell_base;   // first global cell of the scene
};

// ------------------------------------------------------------------ build (grid_kernels.cu)

// grids[b] of every scene from its bounding box (box: 6 * B ints, see scene_boxes.cuh) and its
// cell budget; meta (device, 3 * (B + 1) int64): point offsets, query offsets and cell bases,
// each with a leading 0.
cudaError_t launch_grid_params(const int* box, const int64_t* meta, int B, SceneGrid* grids,
                               cudaStream_t stream);

// First half of the counting sort of pts (n, 3) (scene starts `off`, B + 1 entries): the cell
// of every point and its slot in the cell; counts (total cells) must start at zero.
cudaError_t launch_assign_cells(const float* pts, int64_t n, const int64_t* off, int B,
                                const SceneGrid* grids, int* cell_of, int* slot, int* counts,
                                cudaStream_t stream);

// Second half, given ends = inclusive prefix sum of counts: sorted (n) float4 records (x, y, z,
// original row as int bits) in cell order.
cudaError_t launch_scatter_cells(const float* pts, int64_t n, const int* cell_of, const int* slot,
                                 const int* counts, const int* ends, float4* sorted,
                                 cudaStream_t stream);

// Points per cell used for a search keeping k neighbours. Smaller cells mean fewer candidates
// per query but more cells to visit; k / 3 was the best of k, 2k/3, k/2, k/3 and k/4 for knn
// k = 16 and 32 on an H200 (4 x 100k, k = 16: 0.88 ms at k / 2, 0.76 ms at k / 3); the floor of
// 2 was the best for k = 3 on surface data (4 x 25k -> 4 x 100k: 0.52 ms; 0.64 ms at 1 and 0.63 ms
// at 3).
inline int64_t points_per_cell(int64_t k) {
  int64_t ppc = k / 3;
  if (ppc < 2) ppc = 2;
  if (ppc > 32) ppc = 32;
  return ppc;
}

// ------------------------------------------------------------------ search

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

// Launches the search of every query in mode MODE (spatial.h's SearchMode; defined in
// search_thread.cuh, instantiated per mode in knn_search.cu, ball_search.cu and
// random_ball_search.cu; the 32 < k <= 64 kernel of each in its *_search_k64.cu).
template <int MODE>
cudaError_t launch_search(const SearchParams& p, cudaStream_t stream);

}  // namespace grid
}  // namespace pointops
