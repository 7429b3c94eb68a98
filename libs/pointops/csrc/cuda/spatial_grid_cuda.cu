// Grid construction (bounding boxes, cell sizes, counting sort by cell) and the CUDA entry of
// the neighbour search shared by knn_query, ball_query, random_ball_query and interpolation.
#include <ATen/core/Tensor.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "cuda/scene_boxes.cuh"
#include "cuda/search_common.cuh"
#include "cuda/spatial_grid.cuh"

namespace pointops {
namespace grid {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n, int threads = kThreads) {
  return static_cast<unsigned>((n + threads - 1) / threads);
}

// Cells per axis for cell size s (the same float operations as the point assignment).
__device__ __forceinline__ double grid_cells(const float* ext, float s, int* dims) {
  const float inv = __fdiv_rn(1.0f, s);
  double prod = 1.0;
#pragma unroll
  for (int a = 0; a < 3; ++a) {
    float f = floorf(__fmul_rn(ext[a], inv));
    if (!(f < 1073741824.0f)) f = 1073741823.0f;
    dims[a] = static_cast<int>(f) + 1;
    prod *= static_cast<double>(dims[a]);
  }
  return prod;
}

__global__ void params_kernel(const int* __restrict__ bbox, const int64_t* __restrict__ meta,
                              int B, SceneGrid* __restrict__ grids) {
  const int b = blockIdx.x * blockDim.x + threadIdx.x;
  if (b >= B) return;
  const int64_t* pts_off = meta;
  const int64_t* cell_base = meta + 2 * (B + 1);
  const int64_t n_b = pts_off[b + 1] - pts_off[b];
  const int64_t cap = cell_base[b + 1] - cell_base[b];
  SceneGrid g;
  g.cell_base = static_cast<int>(cell_base[b]);
  g.dims[0] = g.dims[1] = g.dims[2] = 1;
  g.lo[0] = g.lo[1] = g.lo[2] = 0.0f;
  g.inv_s = 0.0f;  // single cell: every coordinate maps to cell 0
  g.scale = __int_as_float(0x7f800000);
  if (n_b > 0) {
    float lo[3], ext[3];
    bool ok = true;
    float emax = 0.0f;
#pragma unroll
    for (int a = 0; a < 3; ++a) {
      lo[a] = box_float(bbox[6 * b + a]);
      const float hi = box_float(bbox[6 * b + 3 + a]);
      ext[a] = __fsub_rn(hi, lo[a]);
      ok = ok && isfinite(lo[a]) && isfinite(hi) && isfinite(ext[a]) && ext[a] >= 0.0f;
      emax = fmaxf(emax, ext[a]);
    }
    if (ok) {
#pragma unroll
      for (int a = 0; a < 3; ++a) g.lo[a] = lo[a];
    }
    if (ok && emax > 0.0f && cap > 1) {
      // Smallest cell size (geometric bisection) whose grid has at most `cap` cells.
      int dims[3];
      float s_hi = emax * 1.0001f;
      float s_lo = emax / static_cast<float>(cap + 1);
      if (grid_cells(ext, s_hi, dims) > static_cast<double>(cap)) s_hi = emax * 4.0f;
      for (int it = 0; it < 40; ++it) {
        const float mid = s_lo * sqrtf(s_hi / s_lo);  // geometric mean without underflow
        if (!(mid > s_lo && mid < s_hi)) break;
        if (grid_cells(ext, mid, dims) <= static_cast<double>(cap)) s_hi = mid; else s_lo = mid;
      }
      grid_cells(ext, s_hi, dims);
      g.inv_s = __fdiv_rn(1.0f, s_hi);
#pragma unroll
      for (int a = 0; a < 3; ++a) g.dims[a] = dims[a];
      g.scale = emax + s_hi;
    }
  }
  grids[b] = g;
}

__global__ void assign_kernel(const float* __restrict__ xyz, int64_t n,
                              const int64_t* __restrict__ off, int B,
                              const SceneGrid* __restrict__ grids, int* __restrict__ cell_of,
                              int* __restrict__ slot, int* __restrict__ counts) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const SceneGrid g = grids[scene_of(i, off, B)];
  int c[3];
#pragma unroll
  for (int a = 0; a < 3; ++a) c[a] = cell_coord(__fsub_rn(xyz[3 * i + a], g.lo[a]), g.inv_s, g.dims[a]);
  const int cell = g.cell_base + (c[2] * g.dims[1] + c[1]) * g.dims[0] + c[0];
  cell_of[i] = cell;
  slot[i] = atomicAdd(counts + cell, 1);
}

__global__ void scatter_kernel(const float* __restrict__ xyz, int64_t n,
                               const int* __restrict__ cell_of, const int* __restrict__ slot,
                               const int* __restrict__ counts, const int* __restrict__ ends,
                               float4* __restrict__ sorted) {
  const int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (i >= n) return;
  const int cell = cell_of[i];
  const int pos = ends[cell] - counts[cell] + slot[i];
  sorted[pos] = make_float4(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2],
                            __int_as_float(static_cast<int>(i)));
}

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
    assign_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
        pts.data_ptr<float>(), n, off, B, grids, cell_of.data_ptr<int>(), slot.data_ptr<int>(),
        counts.data_ptr<int>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    ends = at::cumsum(counts, 0, at::kInt);
    scatter_kernel<<<blocks_for(n), kThreads, 0, stream>>>(
        pts.data_ptr<float>(), n, cell_of.data_ptr<int>(), slot.data_ptr<int>(),
        counts.data_ptr<int>(), ends.data_ptr<int>(), reinterpret_cast<float4*>(sorted.data_ptr<float>()));
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  } else {
    ends = at::zeros({total_cells}, iopt);
  }
  *counts_out = counts;
  *ends_out = ends;
  *sorted_out = sorted;
}

}  // namespace

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
  launch_scene_boxes(xyz.data_ptr<float>(), n, g.point_offsets(), static_cast<int>(B),
                     bbox.data_ptr<int>(), stream);
  g.grids = at::empty({B * static_cast<int64_t>(sizeof(SceneGrid))}, xyz.options().dtype(at::kByte));
  params_kernel<<<blocks_for(B, 128), 128, 0, stream>>>(
      bbox.data_ptr<int>(), g.meta.data_ptr<int64_t>(), static_cast<int>(B),
      reinterpret_cast<SceneGrid*>(g.grids.data_ptr<uint8_t>()));
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  bin_points(xyz, g.point_offsets(), static_cast<int>(B), g.scene_grids(), g.total_cells,
             &g.counts, &g.ends, &g.sorted);
  return g;
}

at::Tensor sort_queries(const Grid& g, const at::Tensor& new_xyz, const QueryArgs& a) {
  at::Tensor counts, ends, sorted;
  bin_points(new_xyz, g.query_offsets(), static_cast<int>(g.B), g.scene_grids(), g.total_cells,
             &counts, &ends, &sorted);
  (void)a;
  return sorted;
}

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
  at::Tensor queries = a.self ? g.sorted : grid::sort_queries(g, new_xyz, a);
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
    case kModeKnn: grid::launch_search<kModeKnn>(p, stream); break;
    case kModeBall: grid::launch_search<kModeBall>(p, stream); break;
    default: grid::launch_search<kModeRandom>(p, stream); break;
  }
  return {idx, dist};
}

}  // namespace pointops
