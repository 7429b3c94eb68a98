// ballquery_batch_p on the GPU.
//
// 0. bounds: the lowest and highest finite coordinate per axis (the grid's origin and extent).
// 1. keys:  every point gets a 32-bit key, the number of its cell on a grid of cells with edge
//           >= radius / 2, numbered (scene, z, y, x) with x fastest. Every axis keeps kReach
//           empty cells on each side, so the cells within kReach of a point's cell are in its
//           scene and its row never runs into the next. The edge grows when scenes x cells
//           would not fit 32 bits: wider cells only add candidates. batch_offsets and
//           batch_idxs are checked on the way (error bits, read at the one sync).
// 2. sort:  sort by key with cub, point indices as 32-bit payloads (the order inside a cell
//           does not matter, every list is ordered when it is written, step 5).
// 3. count: one warp per 16 queries (in sorted order, for locality). A neighbour is within 2
//           cells on every axis: 25 rows (z, y) of 5 cells along x, each row consecutive in
//           sorted order. Lanes 0..24 search a row's bounds each (galloping on from the
//           previous cell's); the warp walks the rows as one stream, 32 candidates at a time,
//           each lane finding its row from a bit mask of the rows' ends. The warp's queries
//           in one cell share the walk: each candidate is loaded once and tested against all
//           of them. Half-radius cells hold 15.6 r^3 of candidates where radius cells (27 of
//           them) hold 27 r^3.
//           Skipped when step 1 found bad input: the call raises at the sync, and NaN
//           coordinates would put every point in one cell, n^2 tests.
// 4. scan:  start = exclusive prefix sum; the total is read with the error bits in
//           the only host synchronisation, to allocate the output.
// 5. fill:  the same walk, shared by every query of the cell among the warp's positions; each
//           query's hits are compacted straight into its part of the output. Each list is then
//           read back into the warp's shared list, ordered (by rank up to 64 entries; up to 512
//           by bucket and rank when the indices spread evenly; else by a bitonic sort) and
//           written over itself. Lists longer than kSortCap stay unsorted there and are sorted
//           afterwards by a global sort of (list, index) keys, so no neighbour is ever dropped.
#include "../pointgroup_ops.h"
#include "common.cuh"

#include <ATen/ops/arange.h>
#include <ATen/ops/bitwise_and.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/repeat_interleave.h>
#include <ATen/ops/sort.h>

#include <c10/util/Exception.h>
#include <cub/device/device_radix_sort.cuh>
#include <cub/device/device_scan.cuh>

#include <algorithm>
#include <climits>
#include <type_traits>

namespace pointgroup_ops {
namespace {

constexpr int kWarpsPerBlock = 4;
constexpr int kReach = 2;              // cells of edge radius / 2 on each side that may hold neighbours
constexpr int kSide = 2 * kReach + 1;  // cells per row
constexpr int kRows = kSide * kSide;   // rows (z, y) around a cell; one lane each
constexpr double kKeySpace = 4294967296.0;  // 32-bit keys
// Sorted positions per warp: a cell's queries among them share one walk. With 16 the count pass
// shares each walk among more queries. 16 in both passes was slower than 8 in both, when the
// fill's groups were still bounded by its shared list; now they are bounded by the positions,
// and the fill at 16 has not been measured since.
constexpr int kCountPerWarp = 16;
constexpr int kFillPerWarp = 8;
static_assert(kCountPerWarp <= 32 && kFillPerWarp <= 32, "lane k holds the k-th position's query");
constexpr int kSortCap = 1024;
constexpr int kRankSortMax = 64;     // lists up to this length are placed by rank
constexpr int kBucketSortMax = 512;  // up to this length by bucket, then rank within the bucket
constexpr int kBuckets = 128;
constexpr int kBucketsPerLane = kBuckets / 32;
constexpr int kBucketCap = 32;       // fuller buckets (indices far from uniform) fall back to the bitonic sort
static_assert(2 * kBucketSortMax <= kSortCap, "a list of kBucketSortMax leaves room to order it");
// Blocks per SM the query kernels are compiled for: it caps their registers (40 for 12), since
// the walk over the candidates needs the occupancy more than the ordering needs registers.
// Turing holds at most 1024 threads per SM.
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ == 750
constexpr int kQueryBlocksPerSm = 8;
#else
constexpr int kQueryBlocksPerSm = 12;
#endif

enum : int { kBadOffsets = 1, kBadBatchIdx = 2, kNonFinite = 4, kOversize = 8 };
constexpr int kBadInput = kBadOffsets | kBadBatchIdx | kNonFinite;

// The one small device buffer the passes share, zeroed by one memset per call and read by
// the host at the one synchronisation.
struct Info {
  long long total;            // neighbour entries
  long long flags;            // error bits above
  unsigned long long lo[3];   // ~order_of(lowest finite coordinate), per axis
  unsigned long long hi[3];   // order_of(highest finite coordinate), per axis
  unsigned row_stride;        // key distance of one cell along y, set by keys_kernel
  unsigned plane_stride;      // and along z
};

// Maps a float to an unsigned integer of the same order, so that bounds are atomicMax'ed from
// a zeroed buffer (the lowest is kept as the complement of its order).
__device__ __forceinline__ unsigned order_of(float f) {
  const unsigned b = __float_as_uint(f);
  return (b & 0x80000000u) ? ~b : (b | 0x80000000u);
}
__device__ __forceinline__ float float_of(unsigned o) {
  return __uint_as_float((o & 0x80000000u) ? (o & 0x7fffffffu) : ~o);
}

// Lowest and highest finite coordinate per axis (non-finite points are flagged by keys_kernel).
__global__ void bounds_kernel(const float* __restrict__ xyz, int n, Info* __restrict__ info) {
  unsigned lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};  // complement of the lowest order, highest order
  for (int t = blockIdx.x * blockDim.x + threadIdx.x; t < n; t += gridDim.x * blockDim.x) {
    for (int d = 0; d < 3; ++d) {
      const float v = xyz[3 * (int64_t)t + d];
      if (!isfinite(v)) continue;
      lo[d] = max(lo[d], ~order_of(v));
      hi[d] = max(hi[d], order_of(v));
    }
  }
  __shared__ unsigned part[2][3][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  for (int d = 0; d < 3; ++d) {
    for (int s = 16; s > 0; s >>= 1) {
      lo[d] = max(lo[d], __shfl_xor_sync(kFullMask, lo[d], s));
      hi[d] = max(hi[d], __shfl_xor_sync(kFullMask, hi[d], s));
    }
    if (lane == 0) {
      part[0][d][warp] = lo[d];
      part[1][d][warp] = hi[d];
    }
  }
  __syncthreads();
  if (threadIdx.x < 6) {
    const int side = threadIdx.x / 3, d = threadIdx.x % 3;
    unsigned m = 0;
    for (int w = 0; w < static_cast<int>(blockDim.x >> 5); ++w) m = max(m, part[side][d][w]);
    atomicMax(side ? &info->hi[d] : &info->lo[d], static_cast<unsigned long long>(m));
  }
}

// The grid: origin, cell edge and cells per axis (kReach empty cells on each side included).
// The edge is at least `min_edge` (radius / 2), and wider where scenes x cells would not fit
// 32-bit keys. An axis with no finite coordinate has both bounds 0 in `info`: no extent.
struct Grid {
  float lo[3];
  double edge;
  unsigned long long cells[3];
};

__device__ Grid grid_of(const Info& info, double min_edge, int scenes) {
  Grid g;
  double ext[3], widest = 0.0;
  for (int d = 0; d < 3; ++d) {
    const bool any = info.lo[d] != 0;
    g.lo[d] = any ? float_of(~static_cast<unsigned>(info.lo[d])) : 0.0f;
    const float hi = any ? float_of(static_cast<unsigned>(info.hi[d])) : 0.0f;
    ext[d] = static_cast<double>(hi) - static_cast<double>(g.lo[d]);
    widest = fmax(widest, ext[d]);
  }
  auto keys_needed = [&](double edge) {
    double k = scenes;
    for (int d = 0; d < 3; ++d) k *= floor(ext[d] / edge) + kSide;
    return k;
  };
  double edge = min_edge, needed = keys_needed(edge);
  for (int i = 0; i < 8 && needed >= kKeySpace; ++i) {
    edge *= fmax(1.0625, cbrt(needed / kKeySpace));
    needed = keys_needed(edge);
  }
  if (needed >= kKeySpace) edge = fmax(edge, 2.0 * widest);  // one cell per axis (host checks it fits)
  g.edge = edge;
  for (int d = 0; d < 3; ++d) g.cells[d] = static_cast<unsigned long long>(floor(ext[d] / edge)) + kSide;
  return g;
}

// The cell of coordinate x along an axis with `cells` cells: kReach .. cells - 1 - kReach.
__device__ __forceinline__ unsigned long long cell_of(float x, float lo, double edge, unsigned long long cells) {
  double c = floor((static_cast<double>(x) - static_cast<double>(lo)) / edge) + kReach;
  const double top = static_cast<double>(cells - 1 - kReach);
  if (!(c >= kReach)) c = kReach;  // also catches NaN
  if (c > top) c = top;
  return static_cast<unsigned long long>(c);
}

// Key of every point, its index as the sort's payload, and the checks of the scene layout.
__global__ void keys_kernel(const float* __restrict__ xyz, const int* __restrict__ bidx,
                            const int* __restrict__ off, int B, int n, double min_edge,
                            unsigned* __restrict__ keys, int* __restrict__ order,
                            Info* __restrict__ info) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t <= B) {
    bool bad = false;
    if (t == 0 && off[0] != 0) bad = true;
    if (t < B && off[t] > off[t + 1]) bad = true;
    if (t == B && off[B] != n) bad = true;
    if (bad) atomicOr(reinterpret_cast<unsigned long long*>(&info->flags), (unsigned long long)kBadOffsets);
  }
  if (t >= n) return;
  // scene = largest b in [0, B-1] with off[b] <= t
  int a = 0, b = B - 1;
  while (a < b) {
    const int mid = (a + b + 1) >> 1;
    if (off[mid] <= t) a = mid; else b = mid - 1;
  }
  const float x = xyz[3 * (int64_t)t], y = xyz[3 * (int64_t)t + 1], z = xyz[3 * (int64_t)t + 2];
  int flags = 0;
  if (bidx[t] != a) flags |= kBadBatchIdx;
  if (!(isfinite(x) && isfinite(y) && isfinite(z))) flags |= kNonFinite;
  if (flags) atomicOr(reinterpret_cast<unsigned long long*>(&info->flags), (unsigned long long)flags);
  const Grid g = grid_of(*info, min_edge, B);
  if (t == 0) {  // for the query kernels (fields that no thread of this kernel reads)
    info->row_stride = static_cast<unsigned>(g.cells[0]);
    info->plane_stride = static_cast<unsigned>(g.cells[0] * g.cells[1]);
  }
  const unsigned long long cx = cell_of(x, g.lo[0], g.edge, g.cells[0]), cy = cell_of(y, g.lo[1], g.edge, g.cells[1]),
                           cz = cell_of(z, g.lo[2], g.edge, g.cells[2]);
  keys[t] = static_cast<unsigned>(((a * g.cells[2] + cz) * g.cells[1] + cy) * g.cells[0] + cx);
  order[t] = t;
}

__global__ void gather_kernel(const float* __restrict__ xyz, const int* __restrict__ perm, int n,
                              float4* __restrict__ pts) {
  const int p = blockIdx.x * blockDim.x + threadIdx.x;
  if (p >= n) return;
  const int64_t i = perm[p];
  pts[p] = make_float4(xyz[3 * i], xyz[3 * i + 1], xyz[3 * i + 2], __int_as_float(static_cast<int>(i)));
}

__device__ __forceinline__ int ceil_pow2(int x) { return x <= 1 ? 1 : 1 << (32 - __clz(x - 1)); }

// Sorts a[0..L) ascending in place (L <= kSortCap) with the 32 lanes of one warp: a bitonic
// network over ceil_pow2(L) places in the form whose every comparator puts the larger value
// at the higher place (each merge starts by comparing a block's halves mirrored). Places from
// L on count as holding +infinity: such a value never moves, so their comparators are skipped
// and nothing past a[L) is read or written.
__device__ void warp_bitonic_sort(int* a, int L, int lane) {
  const int P = ceil_pow2(L);
  for (int k = 2; k <= P; k <<= 1) {
    for (int j = k >> 1; j > 0; j >>= 1) {
      for (int q = lane; q < (P >> 1); q += 32) {
        const int t = ((q & ~(j - 1)) << 1) | (q & (j - 1));  // bit j clear
        const int u = j == (k >> 1) ? t ^ (k - 1) : t | j;
        if (u >= L) continue;
        const int x = a[t], y = a[u];
        if (x > y) {
          a[t] = y;
          a[u] = x;
        }
      }
      __syncwarp();
    }
  }
}

// Orders list[0..L) (kRankSortMax < L <= kBucketSortMax) in place when its values spread
// evenly enough over their range; returns false, with the list untouched, when a bucket
// would hold more than kBucketCap of them. A value's bucket is floor((x - lowest) * kBuckets /
// range), which never decreases with x, so the buckets hold consecutive value ranges and a
// value's place is the size of the buckets before its own plus its rank in its bucket. Four
// buckets a lane keep the buckets at about L / 128 values, so the rank loop, which runs as
// long as the fullest bucket of the 32 lanes, stays short. The values are read from shared
// memory at each pass rather than kept in registers, which would cost the walk above its
// occupancy. `count` holds kBuckets ints; `grouped` holds L ints of scratch.
__device__ bool bucket_order(int* list, int* grouped, int* count, int L, int lane) {
  int lowest = INT_MAX, highest = INT_MIN;
  for (int t = lane; t < L; t += 32) {
    lowest = min(lowest, list[t]);
    highest = max(highest, list[t]);
  }
  for (int s = 16; s > 0; s >>= 1) {
    lowest = min(lowest, __shfl_xor_sync(kFullMask, lowest, s));
    highest = max(highest, __shfl_xor_sync(kFullMask, highest, s));
  }
  // A float product rounds monotonically, so the bucket order stays the value order.
  const float scale = static_cast<float>(kBuckets) / (static_cast<float>(highest - lowest) + 1.0f);
  auto bucket_of = [&](int x) { return min(kBuckets - 1, static_cast<int>(static_cast<float>(x - lowest) * scale)); };
  for (int b = lane; b < kBuckets; b += 32) count[b] = 0;
  __syncwarp();
  for (int t = lane; t < L; t += 32) atomicAdd(&count[bucket_of(list[t])], 1);
  __syncwarp();
  // Lane l holds buckets kBucketsPerLane * l onwards, so one scan over the lanes places them all.
  int size[kBucketsPerLane], mine = 0;
  bool full = false;
  for (int i = 0; i < kBucketsPerLane; ++i) {
    size[i] = count[kBucketsPerLane * lane + i];
    mine += size[i];
    full |= size[i] > kBucketCap;
  }
  if (__any_sync(kFullMask, full)) return false;  // the same answer in every lane
  int next = warp_inclusive_sum(mine, lane) - mine;
  for (int i = 0; i < kBucketsPerLane; ++i) {
    count[kBucketsPerLane * lane + i] = next;  // from here on: the next free place in the bucket
    next += size[i];
  }
  __syncwarp();
  for (int t = lane; t < L; t += 32) {
    const int x = list[t];
    grouped[atomicAdd(&count[bucket_of(x)], 1)] = x;
  }
  __syncwarp();
  // Every bucket is full now: bucket b holds grouped[count[b - 1] .. count[b]).
  for (int t = lane; t < L; t += 32) {
    const int x = grouped[t], b = bucket_of(x);
    const int from = b > 0 ? count[b - 1] : 0, to = count[b];
    int place = from;
    for (int i = from; i < to; ++i) place += grouped[i] < x;
    list[place] = x;
  }
  __syncwarp();
  return true;
}

// First position at or after `from` whose key is above k (upper) or at least k: galloping
// from `from`, a binary search of the whole array when from < 0. Bounds only grow with the
// key (each is the key plus a constant), and a warp's next cell is mostly the next one in its
// row, a few positions on: a few loads, where a search of the whole array takes about 18
// dependent ones.
__device__ __forceinline__ int key_bound(const unsigned* __restrict__ skeys, int n, unsigned k, bool upper, int from) {
  auto below = [&](int i) {
    const unsigned v = skeys[i];
    return upper ? (v <= k) : (v < k);
  };
  int a = 0, b = n;  // below(i) holds for every i < a and fails for every i >= b
  if (from >= 0) {
    a = from;
    for (int step = 1; a < n; step <<= 1) {
      const int probe = min(a + step, n) - 1;
      if (!below(probe)) {
        b = probe;
        break;
      }
      a = probe + 1;
    }
  }
  while (a < b) {
    const int mid = (a + b) >> 1;
    if (below(mid)) a = mid + 1; else b = mid;
  }
  return a;
}

// The sorted positions [begin, end) of lane's row around the cell `key`: lane l < kRows holds
// row (dz, dy) = (l / kSide - kReach, l % kSide - kReach), cells x - kReach .. x + kReach.
// `from` is the lane's row for a smaller key ({-1, -1} for none).
struct Row {
  int begin, end;
};
__device__ __forceinline__ Row row_around(const unsigned* __restrict__ skeys, int n, unsigned key, unsigned row_stride,
                                          unsigned plane_stride, int lane, Row from) {
  if (lane >= kRows) return {0, 0};
  const long long dz = lane / kSide - kReach, dy = lane % kSide - kReach;
  const unsigned mid = static_cast<unsigned>(key + dz * plane_stride + dy * row_stride);  // no wrap: kReach margins
  Row r;
  r.begin = key_bound(skeys, n, mid - kReach, false, from.begin);
  r.end = key_bound(skeys, n, mid + kReach, true, max(from.end, r.begin));
  return r;
}

// The candidates around one cell as one stream: the rows that hold any, in order, packed into
// lanes 0 .. rows - 1. Lane l holds its row's end in the stream and how far on its candidates sit
// in sorted order; lanes past the rows hold an end that no stream reaches. Packing leaves out
// the empty rows, so the ends rise strictly and the ends inside 32 stream positions fit one bit
// mask (candidate_at). `scratch` is 64 ints of the warp's shared memory.
struct Stream {
  int end, shift, total;
};
__device__ __forceinline__ Stream stream_of(Row row, int lane, int* scratch) {
  const int len = row.end - row.begin;  // 0 in lanes >= kRows
  const int end = warp_inclusive_sum(len, lane);
  const unsigned held = __ballot_sync(kFullMask, len > 0);
  if (len > 0) {
    const int slot = __popc(held & lanemask_lt(lane));
    scratch[slot] = end;
    scratch[32 + slot] = row.begin - (end - len);
  }
  __syncwarp();
  const bool mine = lane < __popc(held);
  Stream st;
  st.end = mine ? scratch[lane] : INT_MAX;
  st.shift = mine ? scratch[32 + lane] : 0;
  st.total = __shfl_sync(kFullMask, end, 31);
  __syncwarp();  // before the scratch is written again
  return st;
}

// The candidate at stream position base + lane, for base = 0, 32, 64, ... in turn; `rows_done`
// (0 at base 0) counts the rows that end at or before base. A lane's row is the number of rows
// ending at or before its position: those before base and those whose end - base - 1 is a set
// bit below the lane. Past the stream's end: a point at infinity, never a hit.
__device__ __forceinline__ float4 candidate_at(const float4* __restrict__ pts, const Stream& st, int base,
                                               int& rows_done, int lane) {
  const unsigned d = static_cast<unsigned>(st.end - base - 1);  // >= 32 for ends outside (base, base + 32]
  const unsigned ends = warp_or(d < 32u ? 1u << d : 0u);
  const int row = rows_done + __popc(ends & lanemask_lt(lane));
  rows_done += __popc(ends);
  const int shift = __shfl_sync(kFullMask, st.shift, row);
  if (base + lane >= st.total) return make_float4(INFINITY, INFINITY, INFINITY, 0.0f);
  return pts[base + lane + shift];
}

// The count pass. One warp handles kCountPerWarp consecutive sorted positions; the queries among
// them that share a cell share its stream: each candidate is loaded and placed once and
// tested against all of them. Lane k holds the k-th position's query and its count.
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kQueryBlocksPerSm)
    count_kernel(const unsigned* __restrict__ skeys, const float4* __restrict__ pts, int n, float r2,
                 long long* __restrict__ count, Info* __restrict__ info) {
  __shared__ int scratch[kWarpsPerBlock][64];
  __shared__ float4 queries[kWarpsPerBlock][kCountPerWarp];
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int first = (blockIdx.x * kWarpsPerBlock + warp) * kCountPerWarp;
  if (first >= n) return;  // the whole warp leaves together
  if (info->flags & kBadInput) return;  // the host raises at the sync
  const unsigned row_stride = info->row_stride, plane_stride = info->plane_stride;
  const int here = min(kCountPerWarp, n - first);
  const unsigned my_key = lane < here ? skeys[first + lane] : 0;
  if (lane < here) queries[warp][lane] = pts[first + lane];
  __syncwarp();
  int found = 0;  // lane k: neighbours of the query at first + k
  Row row = {-1, -1};
  for (int k = 0; k < here;) {
    const unsigned key = __shfl_sync(kFullMask, my_key, k);
    // Equal keys are consecutive: the lanes that hold this key are the group k .. k + m - 1.
    const int m = __popc(__ballot_sync(kFullMask, lane < here && my_key == key));
    row = row_around(skeys, n, key, row_stride, plane_stride, lane, row);
    const Stream st = stream_of(row, lane, scratch[warp]);
    int rows_done = 0;
    for (int base = 0; base < st.total; base += 32) {
      const float4 c = candidate_at(pts, st, base, rows_done, lane);
      for (int j = k; j < k + m; ++j) {
        const float4 q = queries[warp][j];
        const unsigned hits = __ballot_sync(kFullMask, squared_distance_dev(q.x, q.y, q.z, c.x, c.y, c.z) < r2);
        if (lane == j) found += __popc(hits);
      }
    }
    k += m;
  }
  if (lane < here) {
    count[__float_as_int(queries[warp][lane].w)] = found;
    if (found > kSortCap) atomicOr(reinterpret_cast<unsigned long long*>(&info->flags), (unsigned long long)kOversize);
  }
}

// Writes list[0..L) (L <= kSortCap) to dst in ascending order. Lists up to kBucketSortMax
// use `scratch`, which holds L ints; longer ones, and those bucket_order turns down, are sorted
// in place.
__device__ void write_ordered(int* list, int L, int* scratch, int* count, int* dst, int lane) {
  if (L <= kRankSortMax) {
    // Short list: each lane places its elements by rank (values are distinct).
    for (int t = lane; t < L; t += 32) {
      const int x = list[t];
      int rank = 0;
      for (int i = 0; i < L; ++i) rank += list[i] < x;
      dst[rank] = x;
    }
    return;
  }
  if (L > kBucketSortMax || !bucket_order(list, scratch, count, L, lane)) warp_bitonic_sort(list, L, lane);
  for (int t = lane; t < L; t += 32) dst[t] = list[t];
}

// The fill pass. One warp handles kFillPerWarp consecutive sorted positions; lane k holds the k-th
// one's query. The queries of one cell walk its stream together, as in the count pass, each
// storing its hits straight into its part of the output in the order the walk meets them. So
// a group is every query of the cell among the warp's positions, however long their lists.
// Then each list is read back into the warp's shared list, ordered and written over itself,
// one at a time; a list longer than kSortCap stays as it is, for sort_long_lists.
__global__ void __launch_bounds__(kWarpsPerBlock * 32, kQueryBlocksPerSm)
    fill_kernel(const unsigned* __restrict__ skeys, const float4* __restrict__ pts, int n, float r2,
                const int* __restrict__ start_len, int* __restrict__ out, const Info* __restrict__ info) {
  __shared__ int buf[kWarpsPerBlock][kSortCap];
  __shared__ __align__(16) int bucket_count[kWarpsPerBlock][kBuckets];  // also the group's queries during its walk
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int first = (blockIdx.x * kWarpsPerBlock + warp) * kFillPerWarp;
  if (first >= n) return;  // the whole warp leaves together
  const unsigned row_stride = info->row_stride, plane_stride = info->plane_stride;
  const int here = min(kFillPerWarp, n - first);
  unsigned my_key = 0;
  int my_start = 0, my_len = 0;
  if (lane < here) {
    my_key = skeys[first + lane];
    const int qi = __float_as_int(pts[first + lane].w);
    my_start = start_len[2 * qi];
    my_len = start_len[2 * qi + 1];
  }
  int cursor = my_start;  // where the lane's query puts its next hit
  int* list = buf[warp];
  float4* queries = reinterpret_cast<float4*>(bucket_count[warp]);
  static_assert(kFillPerWarp * 4 <= kBuckets, "the group's queries fit the bucket counts");
  Row row = {-1, -1};
  for (int k = 0; k < here;) {
    const unsigned key = __shfl_sync(kFullMask, my_key, k);
    // Equal keys are consecutive: the lanes that hold this key from k on are the group.
    const int m = __popc(__ballot_sync(kFullMask, lane >= k && lane < here && my_key == key));
    row = row_around(skeys, n, key, row_stride, plane_stride, lane, row);
    const Stream st = stream_of(row, lane, list);
    if (lane >= k && lane < k + m) {
      // The query's point, and as its fourth value the end of its list: a hit is stored only
      // below it, so that nothing is written outside the list whatever the count pass said.
      const float4 p = pts[first + lane];
      queries[lane - k] = make_float4(p.x, p.y, p.z, __int_as_float(my_start + my_len));
    }
    __syncwarp();
    int rows_done = 0;
    for (int base = 0; base < st.total; base += 32) {
      const float4 c = candidate_at(pts, st, base, rows_done, lane);
      for (int j = 0; j < m; ++j) {
        const float4 q = queries[j];
        const bool hit = squared_distance_dev(q.x, q.y, q.z, c.x, c.y, c.z) < r2;
        const unsigned hits = __ballot_sync(kFullMask, hit);
        const int at = __shfl_sync(kFullMask, cursor, k + j) + __popc(hits & lanemask_lt(lane));
        if (hit && at < __float_as_int(q.w)) out[at] = __float_as_int(c.w);
        if (lane == k + j) cursor += __popc(hits);
      }
    }
    __syncwarp();  // the hits stored above are visible to every lane of the warp from here on
    for (int j = k; j < k + m; ++j) {
      const int L = __shfl_sync(kFullMask, my_len, j);
      if (L > kSortCap) continue;  // ordered afterwards by sort_long_lists
      int* dst = out + __shfl_sync(kFullMask, my_start, j);
      for (int t = lane; t < L; t += 32) list[t] = dst[t];
      __syncwarp();
      write_ordered(list, L, list + L, bucket_count[warp], dst, lane);
      __syncwarp();
    }
    k += m;
  }
}

__global__ void start_len_kernel(const long long* __restrict__ count, const long long* __restrict__ incl, int n,
                                 int* __restrict__ start_len, Info* __restrict__ info) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  const long long s = incl[i] - count[i];
  start_len[2 * i] = s > INT_MAX ? INT_MAX : static_cast<int>(s);
  start_len[2 * i + 1] = static_cast<int>(count[i]);
  if (i == n - 1) info->total = incl[i];
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
  TORCH_CHECK_VALUE(static_cast<double>(B) * kSide * kSide * kSide < kKeySpace,
                    "ballquery_batch_p: too many scenes in batch_offsets (", num(B), ")");
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  // cub directly rather than at::sort: 32-bit keys and payloads (four 8-bit passes), and no
  // copies or index fills around the sort. A radix sort is stable: each cell keeps its points
  // in index order, which the lists do not rely on (every list is ordered as it is written).
  size_t sort_bytes = 0, scan_bytes = 0;
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, sort_bytes, static_cast<const unsigned*>(nullptr),
                                                 static_cast<unsigned*>(nullptr), static_cast<const int*>(nullptr),
                                                 static_cast<int*>(nullptr), n, 0, 32, stream));
  C10_CUDA_CHECK(cub::DeviceScan::InclusiveSum(nullptr, scan_bytes, static_cast<const long long*>(nullptr),
                                               static_cast<long long*>(nullptr), n, stream));
  const size_t temp_bytes = std::max(sort_bytes, scan_bytes);
  // One allocation for all that the call does not return (the GPU waits for the host until the
  // count pass, so each host step there costs the call): Info, keys and point indices unsorted
  // and sorted, counts and their prefix sums, the points in sorted order, cub's scratch. Each
  // part starts on a 256-byte boundary, as cub wants its scratch.
  int64_t workspace_bytes = 0;
  const auto reserve = [&](int64_t b) {
    const int64_t at = workspace_bytes;
    workspace_bytes = ceil_div(at + b, 256) * 256;
    return at;
  };
  const int64_t points = n;
  const int64_t info_at = reserve(sizeof(Info)), keys_at = reserve(2 * points * sizeof(unsigned)),
                order_at = reserve(2 * points * sizeof(int)), counts_at = reserve(2 * points * sizeof(long long)),
                pts_at = reserve(points * sizeof(float4)), temp_at = reserve(static_cast<int64_t>(temp_bytes));
  const at::Tensor workspace = at::empty({workspace_bytes}, coords.options().dtype(at::kByte));
  char* base = static_cast<char*>(workspace.data_ptr());
  auto* info = reinterpret_cast<Info*>(base + info_at);
  auto* keys_in = reinterpret_cast<unsigned*>(base + keys_at);
  unsigned* keys_out = keys_in + n;
  auto* order_in = reinterpret_cast<int*>(base + order_at);
  int* order_out = order_in + n;
  auto* counts = reinterpret_cast<long long*>(base + counts_at);  // per point, then its prefix sum
  long long* incl = counts + n;
  auto* pts = reinterpret_cast<float4*>(base + pts_at);
  void* temp = base + temp_at;

  C10_CUDA_CHECK(cudaMemsetAsync(info, 0, sizeof(Info), stream));
  const int threads = 256;
  const int bounds_blocks = static_cast<int>(std::min<int64_t>(ceil_div(n, threads * 8), 1024));
  bounds_kernel<<<bounds_blocks, threads, 0, stream>>>(coords.data_ptr<float>(), n, info);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // Two cells of this edge are wider than any distance the float test can pass.
  const double min_edge = static_cast<double>(static_cast<float>(radius)) * 0.5 * (1.0 + 1e-4);
  const int key_threads = std::max(n, B + 1);
  keys_kernel<<<ceil_div(key_threads, threads), threads, 0, stream>>>(
      coords.data_ptr<float>(), batch_idxs.data_ptr<int>(), batch_offsets.data_ptr<int>(), B, n, min_edge,
      keys_in, order_in, info);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  C10_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, sort_bytes, keys_in, keys_out, order_in, order_out, n, 0, 32,
                                                 stream));
  gather_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(coords.data_ptr<float>(), order_out, n, pts);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const unsigned* skeys = keys_out;
  const float r2 = squared_radius(radius);
  const int count_blocks = static_cast<int>(ceil_div(n, kWarpsPerBlock * kCountPerWarp));
  const int fill_blocks = static_cast<int>(ceil_div(n, kWarpsPerBlock * kFillPerWarp));
  count_kernel<<<count_blocks, kWarpsPerBlock * 32, 0, stream>>>(skeys, pts, n, r2, counts, info);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  C10_CUDA_CHECK(cub::DeviceScan::InclusiveSum(temp, scan_bytes, counts, incl, n, stream));
  at::Tensor start_len = at::empty({n, 2}, iopt);
  start_len_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(counts, incl, n, start_len.data_ptr<int>(), info);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  // The one host synchronisation: total size and error bits.
  Info info_h;
  C10_CUDA_CHECK(cudaMemcpyAsync(&info_h, info, sizeof(Info), cudaMemcpyDeviceToHost, stream));
  C10_CUDA_CHECK(cudaStreamSynchronize(stream));
  const int64_t total = info_h.total;
  const int64_t flags = info_h.flags;
  if (flags & kBadOffsets) {
    const at::Tensor off = batch_offsets.cpu();
    TORCH_CHECK_VALUE(false, "ballquery_batch_p: batch_offsets must start with 0, be non-decreasing and end at "
                             "the number of points (", num(n), "), got ", values_of(off));
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
    fill_kernel<<<fill_blocks, kWarpsPerBlock * 32, 0, stream>>>(skeys, pts, n, r2, start_len.data_ptr<int>(),
                                                                 idx.data_ptr<int>(), info);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    if (flags & kOversize) sort_long_lists(idx, start_len);
  }
  return {idx, start_len};
}

}  // namespace pointgroup_ops
