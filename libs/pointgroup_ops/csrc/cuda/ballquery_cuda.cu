// ballquery_batch_p on the GPU.
//
// 1. hash:  each point's cell (edge >= radius) goes to a bucket of a table of T >= 2n buckets:
//           bucket = (hash(scene, cell y, cell z) + cell x) mod T, so that the cells x-1, x, x+1
//           of a row are three consecutive buckets. Points are counted per bucket (the
//           atomicAdd also gives each point its slot in its bucket); batch_offsets, batch_idxs
//           and the coordinates are checked on the way (error bits). No bounding box, no
//           sort: a counting sort by bucket.
// 2. place: a prefix sum of the bucket counts, then every point is copied with its index to
//           its bucket's part of `pts`. A bucket may also hold points of other cells (hash
//           collisions); they are tested like any candidate and fail the distance test or
//           the scene test, so they cost time, never a wrong result.
// 3. count: one warp per 8 consecutive points of `pts` (mostly one cell, whose pieces are
//           looked up once: two loads per row); the warp tests 32 candidates at a time.
// 4. scan:  start = exclusive prefix sum of the counts; the total and the error bits are read
//           in the only host synchronisation, to allocate the output.
// 5. fill:  the same walk writes each point's hits, in candidate order, to its part of idx.
// 6. order: one warp per list sorts it (a bitonic network in registers up to 64 entries, a
//           warp merge sort up to kSortCap); the rare longer lists are sorted by a global sort
//           of (list, index) keys.
#include "../pointgroup_ops.h"
#include "common.cuh"

#include <ATen/ops/arange.h>
#include <ATen/ops/bitwise_and.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/repeat_interleave.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>

#include <c10/util/Exception.h>

#include <cub/warp/warp_merge_sort.cuh>

#include <algorithm>
#include <climits>

namespace pointgroup_ops {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kPerWarp = 8;     // consecutive points of `pts` per warp in the walk kernels
constexpr int kSortCap = 1024;  // longest list sorted in registers (32 per lane)
constexpr double kCellLimit = 1 << 30;  // cell coordinates are clamped to +-2^30

enum : int { kBadOffsets = 1, kBadBatchIdx = 2, kNonFinite = 4, kOversize = 8 };

// The hash table of cells: incl[b] = points in buckets 0..b (inclusive prefix sum).
struct Grid {
  const int* incl;
  uint32_t mask;  // T - 1, T a power of two
  double edge;    // cell edge
  int n;
};

// Clamping is non-expansive, so two points within one cell edge stay within one cell.
__device__ __forceinline__ int cell_coord(float x, double edge) {
  double c = floor(static_cast<double>(x) / edge);
  if (!(c >= -kCellLimit)) c = -kCellLimit;  // also catches NaN
  if (c > kCellLimit) c = kCellLimit;
  return static_cast<int>(c);
}

__device__ __forceinline__ uint32_t row_hash(int scene, int cy, int cz) {
  uint32_t h = static_cast<uint32_t>(cy) * 0x9E3779B1u + static_cast<uint32_t>(cz) * 0x85EBCA77u +
               static_cast<uint32_t>(scene) * 0xC2B2AE3Du;
  h ^= h >> 16;
  h *= 0x7FEB352Du;
  h ^= h >> 15;
  h *= 0x846CA68Bu;
  return h ^ (h >> 16);
}

// The scene of point t: the largest b in [0, B-1] with off[b] <= t (in range for any offsets).
__device__ __forceinline__ int scene_of(const int* off, int B, int t) {
  int a = 0, b = B - 1;
  while (a < b) {
    const int mid = (a + b + 1) >> 1;
    if (off[mid] <= t) a = mid; else b = mid - 1;
  }
  return a;
}

__device__ __forceinline__ int bucket_begin(const Grid& g, uint32_t b) { return b ? g.incl[b - 1] : 0; }

__global__ void hash_kernel(const float* __restrict__ xyz, const int* __restrict__ bidx, const int* __restrict__ off,
                            int B, int n, double edge, uint32_t mask, int* __restrict__ bucket_count,
                            int* __restrict__ bucket, int* __restrict__ slot, long long* __restrict__ info) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t <= B) {
    bool bad = false;
    if (t == 0 && off[0] != 0) bad = true;
    if (t < B && off[t] > off[t + 1]) bad = true;
    if (t == B && off[B] != n) bad = true;
    if (bad) atomicOr(reinterpret_cast<unsigned long long*>(info + 1), (unsigned long long)kBadOffsets);
  }
  if (t >= n) return;
  const int a = scene_of(off, B, t);
  const float x = xyz[3 * (int64_t)t], y = xyz[3 * (int64_t)t + 1], z = xyz[3 * (int64_t)t + 2];
  int flags = 0;
  if (bidx[t] != a) flags |= kBadBatchIdx;
  if (!(isfinite(x) && isfinite(y) && isfinite(z))) flags |= kNonFinite;
  if (flags) atomicOr(reinterpret_cast<unsigned long long*>(info + 1), (unsigned long long)flags);
  const uint32_t b =
      (row_hash(a, cell_coord(y, edge), cell_coord(z, edge)) + static_cast<uint32_t>(cell_coord(x, edge))) & mask;
  bucket[t] = static_cast<int>(b);
  slot[t] = atomicAdd(bucket_count + b, 1);
}

__global__ void place_kernel(const float* __restrict__ xyz, const int* __restrict__ bucket,
                             const int* __restrict__ slot, Grid g, float4* __restrict__ pts) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= g.n) return;
  const int p = bucket_begin(g, static_cast<uint32_t>(bucket[i])) + slot[i];
  pts[p] = make_float4(xyz[3 * (int64_t)i], xyz[3 * (int64_t)i + 1], xyz[3 * (int64_t)i + 2],
                       __int_as_float(i));
}

// This lane's piece [lo, hi) of the positions of `pts` to test for a point of `cell` (x, y, z,
// scene). The 27 cells around it are 9 rows of 3 consecutive buckets: lanes 2r and 2r+1 hold
// row r, the second piece being used where the table wraps around. If two rows share a bucket
// (a hash collision), each of lanes 0..26 holds one bucket instead and a bucket held by an
// earlier lane is left out, so that no candidate is ever tested twice.
__device__ void cell_piece(const Grid& g, int4 cell, int lane, int& lo, int& hi) {
  const int row = min(lane >> 1, 8);
  const uint32_t b0 = (row_hash(cell.w, cell.y + row % 3 - 1, cell.z + row / 3 - 1) +
                       static_cast<uint32_t>(cell.x) - 1u) & g.mask;
  bool overlap = false;  // windows [b0, b0 + 2] of two rows meet (circularly)
  for (int s = 0; s < 9; ++s) {
    const uint32_t d = (b0 - __shfl_sync(kFullMask, b0, 2 * s)) & g.mask;
    overlap |= s != row && (d <= 2u || d >= g.mask - 1u);
  }
  if (__any_sync(kFullMask, overlap)) {
    const int r = min(lane / 3, 8);
    const uint32_t b = lane < 27 ? (row_hash(cell.w, cell.y + r % 3 - 1, cell.z + r / 3 - 1) +
                                    static_cast<uint32_t>(cell.x) + static_cast<uint32_t>(lane % 3) - 1u) & g.mask
                                 : g.mask + 1u + static_cast<uint32_t>(lane);  // lanes 27..31: no bucket
    const bool first = (__match_any_sync(kFullMask, b) & lanemask_lt(lane)) == 0;
    lo = lane < 27 && first ? bucket_begin(g, b) : 0;
    hi = lane < 27 && first ? g.incl[b] : 0;
    return;
  }
  const uint32_t end = b0 + 3u;  // one past the window, before wrapping
  const bool wraps = end > g.mask + 1u;
  if (lane >= 18) {
    lo = hi = 0;
  } else if ((lane & 1) == 0) {
    lo = bucket_begin(g, b0);
    hi = wraps ? g.n : g.incl[end - 1u];
  } else {
    lo = 0;
    hi = wraps ? g.incl[end - (g.mask + 1u) - 1u] : 0;
  }
}

// One warp handles kPerWarp consecutive points of `pts` (mostly one cell, whose pieces are
// looked up again only when the cell changes). kFill = false: count each point's hits;
// kFill = true: write them, in candidate order, to idx[start, start + length).
template <bool kFill>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    walk_kernel(const float4* __restrict__ pts, Grid g, const int* __restrict__ off, int B, float r2,
                int* __restrict__ count, const int* __restrict__ start_len, int* __restrict__ out,
                long long* __restrict__ info) {
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int first = (blockIdx.x * kWarpsPerBlock + warp) * kPerWarp;
  if (first >= g.n) return;  // the whole warp leaves together
  const int last = min(first + kPerWarp, g.n);
  int4 prev = make_int4(0, 0, 0, -1);  // no cell yet
  int lo = 0, hi = 0;                   // this lane's piece of the current cell
  for (int pos = first; pos < last; ++pos) {
    const float4 q = pts[pos];
    const int qi = __float_as_int(q.w);
    const int scene = scene_of(off, B, qi);
    const int4 cell = make_int4(cell_coord(q.x, g.edge), cell_coord(q.y, g.edge), cell_coord(q.z, g.edge), scene);
    if (cell.x != prev.x || cell.y != prev.y || cell.z != prev.z || cell.w != prev.w) {
      cell_piece(g, cell, lane, lo, hi);
      prev = cell;
    }
    const int s_begin = off[scene], s_end = off[scene + 1];  // candidates of other scenes are skipped
    int st = 0, len = 0;
    if (kFill) {
      st = start_len[2 * qi];
      len = start_len[2 * qi + 1];
    }
    int found = 0;
    for (unsigned todo = __ballot_sync(kFullMask, lo < hi); todo; todo &= todo - 1) {
      const int t = __ffs(todo) - 1;
      const int plo = __shfl_sync(kFullMask, lo, t), phi = __shfl_sync(kFullMask, hi, t);
      for (int base = plo; base < phi; base += 32) {
        const int p = base + lane;
        bool hit = false;
        int j = 0;
        if (p < phi) {
          const float4 c = pts[p];
          j = __float_as_int(c.w);
          hit = j >= s_begin && j < s_end && squared_distance_dev(q.x, q.y, q.z, c.x, c.y, c.z) < r2;
        }
        const unsigned m = __ballot_sync(kFullMask, hit);
        if (kFill && hit) {
          const int at = found + __popc(m & lanemask_lt(lane));
          if (at < len) out[st + at] = j;
        }
        found += __popc(m);
      }
    }
    if (!kFill && lane == 0) {
      count[qi] = found;
      if (found > kSortCap) atomicOr(reinterpret_cast<unsigned long long*>(info + 1), (unsigned long long)kOversize);
    }
  }
}

__global__ void start_len_kernel(const int* __restrict__ count, const int64_t* __restrict__ incl, int n,
                                 int* __restrict__ start_len, long long* __restrict__ info) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const int64_t s = incl[i] - count[i];
  start_len[2 * i] = s > INT_MAX ? INT_MAX : static_cast<int>(s);
  start_len[2 * i + 1] = count[i];
  if (i == n - 1) info[0] = incl[i];
}

// Sorts v ascending across the warp: element e = 32 k + lane is v[k] of that lane. Bitonic
// network, fully unrolled so that v stays in registers; partners 32 or more apart are in the
// same lane, closer ones are exchanged by shuffles.
template <int K, int kLogN>
__device__ __forceinline__ void warp_sort(int (&v)[K], int lane) {
#pragma unroll
  for (int ls = 1; ls <= kLogN; ++ls) {
#pragma unroll
    for (int lj = ls - 1; lj >= 0; --lj) {
      if (lj >= 5) {
        const int kj = 1 << (lj - 5);
#pragma unroll
        for (int k = 0; k < K; ++k) {
          if ((k & kj) == 0) {
            const bool up = ((((k << 5) | lane) >> ls) & 1) == 0;
            const int a = v[k], b = v[k | kj];
            const bool swap = (a > b) == up;
            v[k] = swap ? b : a;
            v[k | kj] = swap ? a : b;
          }
        }
      } else {
        const bool lower = (lane & (1 << lj)) == 0;
#pragma unroll
        for (int k = 0; k < K; ++k) {
          const bool up = ((((k << 5) | lane) >> ls) & 1) == 0;
          const int other = __shfl_xor_sync(kFullMask, v[k], 1 << lj);
          v[k] = lower == up ? min(v[k], other) : max(v[k], other);
        }
      }
    }
  }
}

template <int K, int kLogN>
__device__ void sort_list(int* list, int len, int lane) {
  int v[K];
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = 32 * k + lane < len ? list[32 * k + lane] : INT_MAX;
  warp_sort<K, kLogN>(v, lane);
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (32 * k + lane < len) list[32 * k + lane] = v[k];
}

struct Less {
  __device__ bool operator()(int a, int b) const { return a < b; }
};

// Sorts a list of 65..32K entries with CUB's warp merge sort (K consecutive entries per lane):
// for long lists it does several times less work than a bitonic network.
template <int K, typename Storage>
__device__ void merge_sort_list(int* list, int len, int lane, Storage& storage) {
  int v[K];
#pragma unroll
  for (int k = 0; k < K; ++k) v[k] = K * lane + k < len ? list[K * lane + k] : INT_MAX;
  cub::WarpMergeSort<int, K, 32>(storage).Sort(v, Less());
#pragma unroll
  for (int k = 0; k < K; ++k)
    if (K * lane + k < len) list[K * lane + k] = v[k];
}

// One warp per list: sorts idx[start, start + length) for 2 <= length <= 64 (kLong = false:
// a bitonic network in registers) or 64 < length <= kSortCap (kLong = true: merge sort). Two
// launches, so that the many short lists run with the few registers they need.
template <bool kLong>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    sort_lists_kernel(const int* __restrict__ start_len, int n, int* __restrict__ idx) {
  union Storage {
    typename cub::WarpMergeSort<int, 4, 32>::TempStorage k4;
    typename cub::WarpMergeSort<int, 8, 32>::TempStorage k8;
    typename cub::WarpMergeSort<int, 16, 32>::TempStorage k16;
    typename cub::WarpMergeSort<int, 32, 32>::TempStorage k32;
  };
  __shared__ Storage storage[kLong ? kWarpsPerBlock : 1];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int i = blockIdx.x * kWarpsPerBlock + warp;
  if (i >= n) return;
  const int len = start_len[2 * i + 1];
  if (kLong ? len <= 64 || len > kSortCap : len <= 1 || len > 64) return;
  int* list = idx + start_len[2 * i];
  if (!kLong) {
    if (len <= 32) sort_list<1, 5>(list, len, lane);
    else sort_list<2, 6>(list, len, lane);
  } else {
    Storage& st = storage[kLong ? warp : 0];
    if (len <= 128) merge_sort_list<4>(list, len, lane, st.k4);
    else if (len <= 256) merge_sort_list<8>(list, len, lane, st.k8);
    else if (len <= 512) merge_sort_list<16>(list, len, lane, st.k16);
    else merge_sort_list<32>(list, len, lane, st.k32);
  }
}

// Sorts, in place, the lists longer than kSortCap (rare: > 1024 neighbours).
void sort_long_lists(at::Tensor& idx, const at::Tensor& start_len) {
  const at::Tensor len = start_len.select(1, 1);
  const at::Tensor big = at::nonzero(len.gt(kSortCap)).reshape({-1});
  const at::Tensor starts = start_len.select(1, 0).index_select(0, big).to(at::kLong);
  const at::Tensor lens = len.index_select(0, big).to(at::kLong);
  const at::Tensor seg = at::repeat_interleave(lens);  // list number of each entry
  const at::Tensor first = at::cumsum(lens, 0).sub(lens);  // first entry of each list in `seg`
  const at::Tensor pos = starts.index_select(0, seg).add(at::arange(seg.size(0), seg.options()).sub(first.index_select(0, seg)));
  const at::Tensor vals = idx.index_select(0, pos).to(at::kLong);
  const at::Tensor sorted = std::get<0>(at::sort(seg.mul(int64_t(1) << 32).add(vals)));
  idx.index_copy_(0, pos, at::bitwise_and(sorted, (int64_t(1) << 32) - 1).to(at::kInt));
}

// Buckets: a power of two >= 2n (at least 1024, at most 2^30), so that few buckets hold
// more than one cell.
uint32_t table_size(int64_t n) {
  uint32_t t = 1024;
  while (t < 2 * n && t < (1u << 30)) t <<= 1;
  return t;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> ballquery_batch_p_cuda(const at::Tensor& coords, const at::Tensor& batch_idxs,
                                                          const at::Tensor& batch_offsets, double radius) {
  const c10::cuda::CUDAGuard guard(coords.device());
  const int n = static_cast<int>(coords.size(0));
  const int B = static_cast<int>(batch_offsets.size(0) - 1);
  const auto iopt = coords.options().dtype(at::kInt);
  if (n == 0) {
    // Only the offsets can be wrong here; check them on the host (tiny).
    const at::Tensor off = batch_offsets.cpu();
    for (int b = 0; b <= B; ++b)
      TORCH_CHECK_VALUE(off.data_ptr<int>()[b] == 0,
                        "ballquery_batch_p: batch_offsets must be all 0 for 0 points, got ", values_of(off));
    return {at::empty({0}, iopt), at::empty({0, 2}, iopt)};
  }
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int threads = 256;
  const uint32_t table = table_size(n);
  // The edge has a margin over the radius, so that two points that pass the float32 distance
  // test are never two cells apart whatever the rounding of the cell coordinates.
  const double edge = static_cast<double>(static_cast<float>(radius)) * (1.0 + 1e-4);

  at::Tensor info = at::zeros({2}, coords.options().dtype(at::kLong));  // total entries, error bits
  at::Tensor bucket_count = at::zeros({static_cast<int64_t>(table)}, iopt);
  at::Tensor bucket = at::empty({n}, iopt), slot = at::empty({n}, iopt);
  const int* off = batch_offsets.data_ptr<int>();
  auto* info_p = reinterpret_cast<long long*>(info.data_ptr<int64_t>());
  hash_kernel<<<ceil_div(std::max(n, B + 1), threads), threads, 0, stream>>>(
      coords.data_ptr<float>(), batch_idxs.data_ptr<int>(), off, B, n, edge, table - 1, bucket_count.data_ptr<int>(),
      bucket.data_ptr<int>(), slot.data_ptr<int>(), info_p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const at::Tensor bucket_incl = at::cumsum(bucket_count, 0, at::kInt);
  const Grid grid{bucket_incl.data_ptr<int>(), table - 1, edge, n};
  at::Tensor pts = at::empty({n, 4}, coords.options());
  auto* pts_p = reinterpret_cast<float4*>(pts.data_ptr<float>());
  place_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(coords.data_ptr<float>(), bucket.data_ptr<int>(),
                                                              slot.data_ptr<int>(), grid, pts_p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const float r2 = squared_radius(radius);
  at::Tensor count = at::empty({n}, iopt);
  const int wblocks = static_cast<int>(ceil_div(n, kWarpsPerBlock * kPerWarp));
  walk_kernel<false><<<wblocks, kWarpsPerBlock * 32, 0, stream>>>(pts_p, grid, off, B, r2, count.data_ptr<int>(),
                                                                   nullptr, nullptr, info_p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const at::Tensor incl = at::cumsum(count, 0, at::kLong);
  at::Tensor start_len = at::empty({n, 2}, iopt);
  start_len_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(count.data_ptr<int>(), incl.data_ptr<int64_t>(), n,
                                                                 start_len.data_ptr<int>(), info_p);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  // The one host synchronisation: total size and error bits.
  const at::Tensor info_h = info.cpu();
  const int64_t total = info_h.data_ptr<int64_t>()[0];
  const int64_t flags = info_h.data_ptr<int64_t>()[1];
  if (flags & kBadOffsets) {
    const at::Tensor off_h = batch_offsets.cpu();
    TORCH_CHECK_VALUE(false, "ballquery_batch_p: batch_offsets must start with 0, be non-decreasing and end at "
                             "the number of points (", num(n), "), got ", values_of(off_h));
  }
  if (flags & kBadBatchIdx) {
    const at::Tensor expect = at::repeat_interleave(
        at::arange(B, batch_offsets.options().dtype(at::kLong)), batch_offsets.slice(0, 1).sub(batch_offsets.slice(0, 0, B)).to(at::kLong));
    const at::Tensor bad = at::nonzero(expect.to(at::kInt).ne(batch_idxs)).reshape({-1});
    const int64_t i = bad.numel() ? bad[0].item<int64_t>() : -1;
    TORCH_CHECK_VALUE(false, "ballquery_batch_p: batch_idxs does not match batch_offsets (first mismatch at point ",
                      num(i), ": batch_idxs = ", num(i >= 0 ? batch_idxs[i].item<int>() : -1), ", batch_offsets says ",
                      num(i >= 0 ? expect[i].item<int64_t>() : -1), ")");
  }
  TORCH_CHECK_VALUE(!(flags & kNonFinite), "ballquery_batch_p: coords must be finite (found NaN or inf)");
  TORCH_CHECK_VALUE(total <= INT_MAX, "ballquery_batch_p: ", num(total),
                    " neighbour entries exceed what int32 start_len can index (2^31-1); use a smaller radius or batch");

  at::Tensor idx = at::empty({total}, iopt);
  if (total > 0) {
    walk_kernel<true><<<wblocks, kWarpsPerBlock * 32, 0, stream>>>(pts_p, grid, off, B, r2, nullptr,
                                                                    start_len.data_ptr<int>(), idx.data_ptr<int>(),
                                                                    nullptr);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const int sblocks = static_cast<int>(ceil_div(n, kWarpsPerBlock));
    sort_lists_kernel<false><<<sblocks, kWarpsPerBlock * 32, 0, stream>>>(start_len.data_ptr<int>(), n,
                                                                          idx.data_ptr<int>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    sort_lists_kernel<true><<<sblocks, kWarpsPerBlock * 32, 0, stream>>>(start_len.data_ptr<int>(), n,
                                                                         idx.data_ptr<int>());
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (flags & kOversize) sort_long_lists(idx, start_len);
  }
  return {idx, start_len};
}

}  // namespace pointgroup_ops
