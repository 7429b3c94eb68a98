// Host side of the CUDA spatial operators: the grid build (grid.h) and the neighbour
// search shared by knn_query, ball_query, random_ball_query and interpolation
// (spatial_search_cuda), and interpolation's forward and backward. Arguments are validated by
// spatial_ops.h before these run.
#include <ATen/core/Tensor.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>

#include <algorithm>
#include <tuple>

#include "cuda/cuda_host.h"
#include "cuda/spatial/interpolation_kernels.h"
#include "cuda/scene_boxes.h"
#include "cuda/spatial/grid.h"
#include "spatial_ops.h"

namespace pointops {
namespace grid {
namespace {

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

// Counting sort of pts (n, 3) by cell; returns (counts, ends, sorted (n, 4)).
void bin_points(const at::Tensor& pts, const int64_t* off, int B, const SceneGrid* grids,
                int64_t total_cells, at::Tensor* counts_out, at::Tensor* ends_out,
                at::Tensor* sorted_out) {
  const int64_t n = pts.size(0);
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  auto iopt = pts.options().dtype(at::kInt);
  at::Tensor counts = at::zeros({total_cells}, iopt);
  at::Tensor sorted = at::empty({n, 4}, pts.options());
  at::Tensor ends;
  if (n > 0) {
    at::Tensor cell_of = at::empty({n}, iopt);
    at::Tensor slot = at::empty({n}, iopt);
    C10_CUDA_CHECK(launch_assign_cells(pts.data_ptr<float>(), n, off, B, grids,
                                       cell_of.data_ptr<int>(), slot.data_ptr<int>(),
                                       counts.data_ptr<int>(), stream));
    ends = at::cumsum(counts, 0, at::kInt);
    C10_CUDA_CHECK(launch_scatter_cells(pts.data_ptr<float>(), n, cell_of.data_ptr<int>(),
                                        slot.data_ptr<int>(), counts.data_ptr<int>(),
                                        ends.data_ptr<int>(),
                                        reinterpret_cast<float4*>(sorted.data_ptr<float>()), stream));
  } else {
    ends = at::zeros({total_cells}, iopt);
  }
  *counts_out = counts;
  *ends_out = ends;
  *sorted_out = sorted;
}

// The grid of xyz (validated by check_query_args); points_per_cell >= 1.
Grid build_grid(const at::Tensor& xyz, const QueryArgs& a, int64_t ppc) {
  Grid g;
  const int64_t B = a.offset_host.numel();
  g.B = B;
  const int64_t* off = a.offset_host.data_ptr<int64_t>();
  const int64_t* qoff = a.new_offset_host.data_ptr<int64_t>();
  at::Tensor meta_h = at::empty({3 * (B + 1)}, at::TensorOptions().dtype(at::kLong).pinned_memory(true));
  int64_t* mh = meta_h.data_ptr<int64_t>();
  mh[0] = 0;
  mh[B + 1] = 0;
  mh[2 * (B + 1)] = 0;
  for (int64_t b = 0; b < B; ++b) {
    mh[b + 1] = off[b];
    mh[B + 1 + b + 1] = qoff[b];
    const int64_t n_b = off[b] - (b == 0 ? 0 : off[b - 1]);
    const int64_t cap = std::max<int64_t>(1, (n_b + ppc - 1) / ppc);
    mh[2 * (B + 1) + b + 1] = mh[2 * (B + 1) + b] + cap;
  }
  g.total_cells = mh[2 * (B + 1) + B];
  TORCH_CHECK(g.total_cells < (int64_t(1) << 31), "pointops: too many grid cells");
  g.meta = meta_h.to(xyz.device(), /*non_blocking=*/true);

  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int64_t n = a.n;
  at::Tensor bbox = at::empty({6 * B}, xyz.options().dtype(at::kInt));
  C10_CUDA_CHECK(launch_scene_boxes(xyz.data_ptr<float>(), n, g.point_offsets(), static_cast<int>(B),
                                    bbox.data_ptr<int>(), stream));
  g.grids = at::empty({B * static_cast<int64_t>(sizeof(SceneGrid))}, xyz.options().dtype(at::kByte));
  C10_CUDA_CHECK(launch_grid_params(bbox.data_ptr<int>(), g.meta.data_ptr<int64_t>(),
                                    static_cast<int>(B),
                                    reinterpret_cast<SceneGrid*>(g.grids.data_ptr<uint8_t>()), stream));
  bin_points(xyz, g.point_offsets(), static_cast<int>(B), g.scene_grids(), g.total_cells,
             &g.counts, &g.ends, &g.sorted);
  return g;
}

// new_xyz sorted by the cell of `g` it falls in (clamped to the grid): float32 (m, 4),
// w = original row.
at::Tensor sort_queries(const Grid& g, const at::Tensor& new_xyz) {
  at::Tensor counts, ends, sorted;
  bin_points(new_xyz, g.query_offsets(), static_cast<int>(g.B), g.scene_grids(), g.total_cells,
             &counts, &ends, &sorted);
  return sorted;
}

}  // namespace
}  // namespace grid

std::tuple<at::Tensor, at::Tensor> spatial_search_cuda(int mode, int64_t k, double max_radius,
                                                       double min_radius, int64_t seed,
                                                       const at::Tensor& xyz,
                                                       const at::Tensor& new_xyz,
                                                       const QueryArgs& a) {
  const c10::cuda::CUDAGuard guard(xyz.device());
  TORCH_CHECK_VALUE(k < (int64_t(1) << 31) / 2, "nsample is too large: ", num(k));
  const int64_t m = a.m;
  at::Tensor idx = at::empty({m, k}, xyz.options().dtype(at::kInt));
  at::Tensor dist = at::empty({m, k}, xyz.options().dtype(at::kFloat));
  if (m == 0) return {idx, dist};
  grid::Grid g = grid::build_grid(xyz, a, grid::points_per_cell(k));
  at::Tensor queries = a.self ? g.sorted : grid::sort_queries(g, new_xyz);
  grid::SearchParams p;
  p.pts = reinterpret_cast<const float4*>(g.sorted.data_ptr<float>());
  p.counts = g.counts.data_ptr<int>();
  p.ends = g.ends.data_ptr<int>();
  p.grids = g.scene_grids();
  p.q_off = a.self ? g.point_offsets() : g.query_offsets();
  p.B = static_cast<int>(g.B);
  p.queries = reinterpret_cast<const float4*>(queries.data_ptr<float>());
  p.m = m;
  p.k = static_cast<int>(k);
  p.max2 = radius_sq(max_radius);
  p.min2 = radius_sq(min_radius);
  p.max_r = static_cast<float>(max_radius);
  p.seed = static_cast<uint64_t>(seed);
  p.xyz = xyz.data_ptr<float>();
  p.out_idx = idx.data_ptr<int>();
  p.out_dist = dist.data_ptr<float>();
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  switch (mode) {
    case kModeKnn: C10_CUDA_CHECK(grid::launch_search<kModeKnn>(p, stream)); break;
    case kModeBall: C10_CUDA_CHECK(grid::launch_search<kModeBall>(p, stream)); break;
    default: C10_CUDA_CHECK(grid::launch_search<kModeRandom>(p, stream)); break;
  }
  return {idx, dist};
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> interpolation_forward_cuda(
    const at::Tensor& xyz, const at::Tensor& offset, const at::Tensor& new_xyz,
    const at::Tensor& new_offset, const at::Tensor& feat, int64_t k) {
  check_k(k, "k");
  QueryArgs a = check_query_args(xyz, offset, new_xyz, new_offset);
  check_interp_feat(feat, xyz, a.n);
  const c10::cuda::CUDAGuard guard(xyz.device());
  at::Tensor idx, dist;
  std::tie(idx, dist) = spatial_search_cuda(kModeKnn, k, 0.0, 0.0, 0, xyz, new_xyz, a);
  const int64_t m = a.m, c = feat.size(1), n = a.n;
  at::Tensor weight = at::empty({m, k}, dist.options());
  at::Tensor out = at::empty({m, c}, feat.options());
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  if (m > 0) {
    C10_CUDA_CHECK(interp::launch_weights(dist.data_ptr<float>(), m, static_cast<int>(k),
                                          weight.data_ptr<float>(), stream));
  }
  if (m > 0 && c > 0) {
    C10_CUDA_CHECK(interp::launch_gather(feat.data_ptr<float>(), idx.data_ptr<int>(),
                                         weight.data_ptr<float>(), m, c, static_cast<int>(k), n,
                                         out.data_ptr<float>(), stream));
  }
  return {out, idx, weight};
}

at::Tensor interpolation_backward_cuda(const at::Tensor& grad_out, const at::Tensor& idx,
                                       const at::Tensor& weight, int64_t n) {
  check_interp_backward(grad_out, idx, weight, n);
  const c10::cuda::CUDAGuard guard(grad_out.device());
  const int64_t c = grad_out.size(1), k = idx.size(1);
  const int64_t total = idx.numel();
  at::Tensor grad = at::zeros({n, c}, grad_out.options());
  if (total == 0 || n == 0 || c == 0) return grad;
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  at::Tensor sorted, perm;
  std::tie(sorted, perm) = at::sort(idx.reshape({-1}), /*stable=*/true, /*dim=*/0, /*descending=*/false);
  auto lopt = grad_out.options().dtype(at::kLong);
  at::Tensor seg_start = at::zeros({n}, lopt);
  at::Tensor seg_end = at::zeros({n}, lopt);
  C10_CUDA_CHECK(interp::launch_segments(sorted.data_ptr<int>(), total, n,
                                         seg_start.data_ptr<int64_t>(), seg_end.data_ptr<int64_t>(),
                                         stream));
  C10_CUDA_CHECK(interp::launch_backward(grad_out.data_ptr<float>(), weight.data_ptr<float>(),
                                         perm.data_ptr<int64_t>(), seg_start.data_ptr<int64_t>(),
                                         seg_end.data_ptr<int64_t>(), n, c, static_cast<int>(k),
                                         grad.data_ptr<float>(), stream));
  return grad;
}

}  // namespace pointops
