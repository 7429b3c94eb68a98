// The kernels of the grid build (grid.h): cell sizes per scene and the counting sort of
// points or queries by cell. spatial_cuda.cpp drives them.
#include "cuda/kernel_types.h"
#include "cuda/scene_boxes.cuh"
#include "cuda/spatial/grid.h"
#include "cuda/spatial/search_common.cuh"

namespace pointops {
namespace grid {
namespace {

constexpr int kThreads = 256;

inline unsigned blocks_for(int64_t n) { return cuda::blocks_for_items(n, kThreads); }

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

}  // namespace

cudaError_t launch_grid_params(const int* box, const int64_t* meta, int B, SceneGrid* grids,
                               cudaStream_t stream) {
  params_kernel<<<static_cast<unsigned>((B + 127) / 128), 128, 0, stream>>>(box, meta, B, grids);
  return cudaGetLastError();
}

cudaError_t launch_assign_cells(const float* pts, int64_t n, const int64_t* off, int B,
                                const SceneGrid* grids, int* cell_of, int* slot, int* counts,
                                cudaStream_t stream) {
  assign_kernel<<<blocks_for(n), kThreads, 0, stream>>>(pts, n, off, B, grids, cell_of, slot, counts);
  return cudaGetLastError();
}

cudaError_t launch_scatter_cells(const float* pts, int64_t n, const int* cell_of, const int* slot,
                                 const int* counts, const int* ends, float4* sorted,
                                 cudaStream_t stream) {
  scatter_kernel<<<blocks_for(n), kThreads, 0, stream>>>(pts, n, cell_of, slot, counts, ends, sorted);
  return cudaGetLastError();
}

}  // namespace grid
}  // namespace pointops
