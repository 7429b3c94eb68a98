// The per-query grid search kernels (see grid.h) and their launch: one thread per query
// with a register top-k for k <= 4, one warp per query for 4 < k <= 32 (search_warp.cuh), a thread
// with a register top-k again for k <= 64 (compiled apart: search_k64.cuh) and a heap in the
// output row beyond. Included by the .cu files that instantiate launch_search<MODE>.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "common/spatial.h"
#include "cuda/spatial/search_common.cuh"
#include "cuda/spatial/search_warp.cuh"
#include "cuda/spatial/grid.h"

namespace pointops {
namespace grid {

// Sorted top-K of keys in registers; keeps the k (<= K) smallest keys.
template <int K>
struct RegTopK {
  uint64_t key[K];
  uint64_t worst_;
  int k;
  __device__ __forceinline__ explicit RegTopK(int k_) : worst_(kEmptyKey), k(k_) {
#pragma unroll
    for (int j = 0; j < K; ++j) key[j] = kEmptyKey;
  }
  __device__ __forceinline__ uint64_t worst() const { return worst_; }
  __device__ __forceinline__ bool full() const { return worst_ != kEmptyKey; }
  __device__ __forceinline__ void push(uint64_t nk) {
    if (nk >= worst_) return;
#pragma unroll
    for (int j = K - 1; j > 0; --j) {
      const uint64_t prev = key[j - 1];
      if (nk < prev) key[j] = prev;
      else if (nk < key[j]) key[j] = nk;
    }
    if (nk < key[0]) key[0] = nk;
    uint64_t w = kEmptyKey;
#pragma unroll
    for (int j = 0; j < K; ++j) if (j == k - 1) w = key[j];
    worst_ = w;
  }
};

// Any k: a max-heap kept in the query's output row (primary bits in the dist row, index in
// the idx row).
struct HeapTopK {
  uint32_t* prim;
  int* id;
  int k;
  int size;
  __device__ __forceinline__ HeapTopK(uint32_t* p, int* i, int k_) : prim(p), id(i), k(k_), size(0) {}
  __device__ __forceinline__ uint64_t at(int i) const { return make_key(prim[i], id[i]); }
  __device__ __forceinline__ void set(int i, uint64_t key) {
    prim[i] = key_primary(key);
    id[i] = key_index(key);
  }
  __device__ __forceinline__ uint64_t worst() const { return size < k ? kEmptyKey : at(0); }
  __device__ __forceinline__ bool full() const { return size >= k; }
  __device__ void sift_down(uint64_t key, int n) {
    int i = 0;
    while (true) {
      const int l = 2 * i + 1;
      if (l >= n) break;
      int c = l;
      uint64_t ck = at(l);
      if (l + 1 < n) {
        const uint64_t rk = at(l + 1);
        if (rk > ck) { c = l + 1; ck = rk; }
      }
      if (ck > key) { set(i, ck); i = c; } else break;
    }
    set(i, key);
  }
  __device__ void push(uint64_t key) {
    if (size < k) {
      int i = size++;
      while (i > 0) {
        const int p = (i - 1) >> 1;
        const uint64_t pk = at(p);
        if (pk < key) { set(i, pk); i = p; } else break;
      }
      set(i, key);
    } else if (key < at(0)) {
      sift_down(key, size);
    }
  }
  __device__ void sort_ascending() {
    for (int end = size - 1; end > 0; --end) {
      const uint64_t top = at(0);
      const uint64_t last = at(end);
      set(end, top);
      sift_down(last, end);
    }
  }
};

template <int MODE, class Col>
__device__ __forceinline__ float current_radius(const Col& col, const SearchParams& P) {
  return search_radius<MODE>(col.full() ? col.worst() : kEmptyKey, P);
}

template <int MODE, class Col>
__device__ __forceinline__ void scan_range(Col& col, const SearchParams& P, const float4& q, int qi,
                                           int begin, int end) {
  for (int j = begin; j < end; ++j) {
    const uint64_t key = candidate_key<MODE>(P, q, qi, __ldg(P.pts + j));
    if (key != kEmptyKey) col.push(key);
  }
}

template <int MODE, class Col>
__device__ __forceinline__ void search_query(Col& col, const SearchParams& P, const float4& q,
                                             int qi, const SceneGrid& g) {
  float rel[3];
  int c[3];
  query_cell(q, g, rel, c);
  const int dx = g.dims[0], dy = g.dims[1];
  for (int r = 0;; ++r) {
    int blo[3], bhi[3];
    const int reach = clip_box(rel, c, current_radius<MODE>(col, P), g, blo, bhi);
    if (r > reach) break;
    const int z0 = max(c[2] - r, blo[2]), z1 = min(c[2] + r, bhi[2]);
    const int y0 = max(c[1] - r, blo[1]), y1 = min(c[1] + r, bhi[1]);
    for (int z = z0; z <= z1; ++z) {
      const bool zedge = (z == c[2] - r) || (z == c[2] + r);
      for (int y = y0; y <= y1; ++y) {
        const bool edge = zedge || (y == c[1] - r) || (y == c[1] + r);
        const int row = g.cell_base + (z * dy + y) * dx;
        if (edge) {
          const int x0 = max(c[0] - r, blo[0]), x1 = min(c[0] + r, bhi[0]);
          if (x0 <= x1) {
            scan_range<MODE>(col, P, q, qi, __ldg(P.ends + row + x0) - __ldg(P.counts + row + x0),
                             __ldg(P.ends + row + x1));
          }
        } else {
          const int xa = c[0] - r, xb = c[0] + r;
          if (xa >= blo[0]) {
            scan_range<MODE>(col, P, q, qi, __ldg(P.ends + row + xa) - __ldg(P.counts + row + xa),
                             __ldg(P.ends + row + xa));
          }
          if (xb <= bhi[0]) {
            scan_range<MODE>(col, P, q, qi, __ldg(P.ends + row + xb) - __ldg(P.counts + row + xb),
                             __ldg(P.ends + row + xb));
          }
        }
      }
    }
  }
}

template <int K, int MODE>
__global__ void __launch_bounds__(128) search_reg_kernel(const SearchParams P) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= P.m) return;
  const float4 q = P.queries[t];
  const int qi = __float_as_int(q.w);
  const SceneGrid g = P.grids[scene_of(t, P.q_off, P.B)];
  RegTopK<K> col(P.k);
  search_query<MODE>(col, P, q, qi, g);
  const int64_t base = static_cast<int64_t>(qi) * P.k;
#pragma unroll
  for (int j = 0; j < K; ++j) {
    if (j < P.k) store_neighbour<MODE>(P, base + j, col.key[j], q);
  }
}

template <int MODE>
__global__ void __launch_bounds__(128) search_heap_kernel(const SearchParams P) {
  const int64_t t = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x;
  if (t >= P.m) return;
  const float4 q = P.queries[t];
  const int qi = __float_as_int(q.w);
  const SceneGrid g = P.grids[scene_of(t, P.q_off, P.B)];
  const int64_t base = static_cast<int64_t>(qi) * P.k;
  HeapTopK col(reinterpret_cast<uint32_t*>(P.out_dist + base), P.out_idx + base, P.k);
  search_query<MODE>(col, P, q, qi, g);
  col.sort_ascending();
  for (int j = 0; j < P.k; ++j) {
    store_neighbour<MODE>(P, base + j, j < col.size ? col.at(j) : kEmptyKey, q);
  }
}

constexpr int kThreadSearchThreads = 128;

// 32 < k <= 64: the keys in registers. This kernel takes most of the search's compile time (a
// fully unrolled 64-slot insertion), so each mode compiles it in a file of its own
// (*_search_k64.cu, with the definition in search_k64.cuh).
template <int MODE>
cudaError_t launch_search_k64(const SearchParams& p, cudaStream_t stream);

template <int MODE>
cudaError_t launch_search(const SearchParams& p, cudaStream_t stream) {
  if (p.m == 0) return cudaSuccess;
  const int threads = kThreadSearchThreads;
  const int64_t blocks = (p.m + threads - 1) / threads;
  const dim3 grid_dim(static_cast<unsigned>(blocks));
  // A few neighbours (interpolation's k = 3) fit in a thread's registers without spilling; a
  // warp per query would spend most of its lanes' work on merging and ballots.
  if (p.k <= 4) {
    search_reg_kernel<4, MODE><<<grid_dim, threads, 0, stream>>>(p);
    return cudaGetLastError();
  }
  if (p.k <= 32) {
    constexpr int per_block = kWarpSearchThreads / 32;
    const int64_t warp_blocks = (p.m + per_block - 1) / per_block;
    search_warp_kernel<MODE><<<dim3(static_cast<unsigned>(warp_blocks)), kWarpSearchThreads, 0, stream>>>(p);
    return cudaGetLastError();
  }
  if (p.k <= 64) return launch_search_k64<MODE>(p, stream);
  search_heap_kernel<MODE><<<grid_dim, threads, 0, stream>>>(p);
  return cudaGetLastError();
}


}  // namespace grid
}  // namespace pointops
