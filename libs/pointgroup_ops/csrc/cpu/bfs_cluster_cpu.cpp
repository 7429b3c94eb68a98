// bfs_cluster on the CPU: the sequential breadth-first search (seeds in ascending point
// order, a point marked when it is enqueued, each cluster in queue order), made fast without
// changing a single output value.
//
// - The traversal allocates nothing: one n-sized array is both the queue of the cluster being
//   grown and the output (a cluster below the threshold is overwritten by the next one), and
//   one byte per point marks it.
// - Consecutive queue entries are points whose lists lie far apart in `ball_query_idxs`, so
//   the search stalls on memory, not on arithmetic: the lists (and start_len rows) of the
//   points a few places ahead in the queue are prefetched while the current one is scanned.
// - With several threads, the points are cut into index ranges [begin, end) such that no
//   list of a point below `end` holds a point at or above it (for Pointcept's input, the scenes
//   of a batch). The sequential search never enqueues a point below `begin` once it has
//   reached seed `begin`: all of them are marked by then. So each range can be searched on its
//   own, treating the points below it as marked, and its clusters, taken range by range,
//   come out in exactly the sequential order. Finding the cuts costs one streaming pass over
//   the lists, which also validates them.
#include "../pointgroup_ops.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

namespace pointgroup_ops {
namespace {

// Queue entries looked ahead: a list is prefetched kListAhead places before it is scanned, its
// start_len row twice as early (the list's address depends on it).
constexpr int64_t kListAhead = 8;
constexpr int64_t kLineInts = 16;  // int32 values per 64-byte cache line
// Below this many list entries the parallel path's extra pass does not pay for itself.
constexpr int64_t kParallelMinEntries = 1 << 15;

struct Graph {
  const int32_t* label;
  const int32_t* nb;  // ball_query_idxs
  const int32_t* sl;  // start_len, (start, length) per point
  int64_t n;
  int64_t n_idx;
};

// Where the search of one index range put its clusters: order[begin, points_end) holds them
// back to back, cluster_end[begin, begin + clusters) their ends (positions in `order`).
struct RangeResult {
  int64_t points_end = 0;
  int64_t clusters = 0;
  bool bad_neighbour = false;  // a list entry outside [0, n): reported by report_bad_input()
};

inline void prefetch_list(const Graph& g, int32_t point) {
  const int32_t* list = g.nb + g.sl[2 * point];
  const int32_t len = g.sl[2 * point + 1];
  for (int32_t k = 0; k < len; k += kLineInts) __builtin_prefetch(list + k);
}

// The sequential search over seeds begin..end-1. No list of these points may hold a point at
// or above `end`; points below `begin` count as marked (see the top of this file).
RangeResult search_range(const Graph& g, int64_t begin, int64_t end, int64_t threshold, uint8_t* visited,
                         int32_t* order, int32_t* cluster_end) {
  RangeResult r;
  r.points_end = begin;
  int64_t top = begin;  // end of the queue of the cluster being grown
  const uint32_t n = static_cast<uint32_t>(g.n);
  const int32_t first_point = static_cast<int32_t>(begin);
  for (int64_t seed = begin; seed < end; ++seed) {
    if (visited[seed]) continue;
    const int64_t first = top;
    order[top++] = static_cast<int32_t>(seed);
    visited[seed] = 1;
    const int32_t lab = g.label[seed];
    for (int64_t head = first; head < top; ++head) {
      if (head + 2 * kListAhead < top) __builtin_prefetch(g.sl + 2 * order[head + 2 * kListAhead]);
      if (head + kListAhead < top) prefetch_list(g, order[head + kListAhead]);
      const int32_t u = order[head];
      const int32_t* list = g.nb + g.sl[2 * u];
      const int32_t len = g.sl[2 * u + 1];
      for (int32_t k = 0; k < len; ++k) {
        const int32_t v = list[k];
        if (static_cast<uint32_t>(v) >= n) {
          r.bad_neighbour = true;
          continue;
        }
        if (v >= first_point && !visited[v] && g.label[v] == lab) {
          visited[v] = 1;
          order[top++] = v;
        }
      }
    }
    if (top - first >= threshold) {
      cluster_end[begin + r.clusters++] = static_cast<int32_t>(top);
      r.points_end = top;
    } else {
      top = first;  // dropped: the next cluster overwrites it
    }
  }
  return r;
}

bool start_len_row_ok(const Graph& g, int64_t i) {
  const int64_t s = g.sl[2 * i], l = g.sl[2 * i + 1];
  return s >= 0 && l >= 0 && s + l <= g.n_idx;
}

// Raises the error for the first bad start_len row, else for the first list entry that is
// not a point index (both in index order, whatever pass noticed the problem).
[[noreturn]] void report_bad_input(const Graph& g) {
  for (int64_t i = 0; i < g.n; ++i)
    TORCH_CHECK_VALUE(start_len_row_ok(g, i), "bfs_cluster: start_len[", num(i), "] = (", num(g.sl[2 * i]), ", ",
                      num(g.sl[2 * i + 1]), ") is outside ball_query_idxs (", num(g.n_idx), " entries)");
  for (int64_t i = 0; i < g.n; ++i)
    for (int64_t k = g.sl[2 * i]; k < int64_t(g.sl[2 * i]) + g.sl[2 * i + 1]; ++k)
      TORCH_CHECK_VALUE(g.nb[k] >= 0 && g.nb[k] < g.n, "bfs_cluster: ball_query_idxs[", num(k), "] = ",
                        num(g.nb[k]), " (a neighbour of point ", num(i), ") is not a point index in [0, ",
                        num(g.n), ")");
  TORCH_CHECK(false, "bfs_cluster: internal error: invalid input reported but not found");
}

// At most one range per thread, [bounds[t], bounds[t+1]), of about equal work (points plus
// list entries). Validates every list on the way.
std::vector<int64_t> independent_ranges(const Graph& g, int threads) {
  // reach[i]: the largest index that point i or its list holds.
  std::unique_ptr<int32_t[]> reach(new int32_t[g.n]);
  std::atomic<bool> bad{false};
  at::parallel_for(0, g.n, 2048, [&](int64_t lo, int64_t hi) {
    bool chunk_bad = false;
    for (int64_t i = lo; i < hi; ++i) {
      int32_t smallest = 0, largest = static_cast<int32_t>(i);
      if (start_len_row_ok(g, i)) {
        const int32_t* list = g.nb + g.sl[2 * i];
        const int32_t len = g.sl[2 * i + 1];
        for (int32_t k = 0; k < len; ++k) {
          smallest = std::min(smallest, list[k]);
          largest = std::max(largest, list[k]);
        }
        chunk_bad |= smallest < 0 || largest >= g.n;
      } else {
        chunk_bad = true;
      }
      reach[i] = largest;
    }
    if (chunk_bad) bad = true;
  });
  if (bad) report_bad_input(g);

  // A cut is possible before p when no point below p reaches p or beyond; one is placed at
  // the first possible cut after each 1/threads of the work.
  int64_t total_work = 0;
  for (int64_t i = 0; i < g.n; ++i) total_work += 1 + g.sl[2 * i + 1];
  std::vector<int64_t> bounds{0};
  int64_t work = 0;
  int32_t reach_below = -1;  // the largest reach of the points below p
  for (int64_t p = 0; p < g.n && static_cast<int64_t>(bounds.size()) < threads; ++p) {
    const int64_t share = total_work * static_cast<int64_t>(bounds.size()) / threads;
    if (p > 0 && reach_below < p && work >= share) bounds.push_back(p);
    work += 1 + g.sl[2 * p + 1];
    reach_below = std::max(reach_below, reach[p]);
  }
  bounds.push_back(g.n);
  return bounds;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cpu(const at::Tensor& semantic_label,
                                                   const at::Tensor& ball_query_idxs,
                                                   const at::Tensor& start_len,
                                                   int64_t threshold) {
  const Graph g{semantic_label.data_ptr<int32_t>(), ball_query_idxs.data_ptr<int32_t>(), start_len.data_ptr<int32_t>(),
                semantic_label.size(0), ball_query_idxs.size(0)};
  const int threads = at::in_parallel_region() ? 1 : at::get_num_threads();
  std::vector<int64_t> bounds;
  if (threads > 1 && g.n_idx >= kParallelMinEntries) {
    bounds = independent_ranges(g, threads);
  } else {
    for (int64_t i = 0; i < g.n; ++i)
      if (!start_len_row_ok(g, i)) report_bad_input(g);
    bounds = {0, g.n};  // list entries are checked by the search itself
  }
  const int64_t ranges = static_cast<int64_t>(bounds.size()) - 1;

  std::unique_ptr<uint8_t[]> visited(new uint8_t[g.n]());
  std::unique_ptr<int32_t[]> order(new int32_t[g.n]), cluster_end(new int32_t[g.n]);
  std::vector<RangeResult> results(ranges);
  at::parallel_for(0, ranges, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t)
      results[t] = search_range(g, bounds[t], bounds[t + 1], threshold, visited.get(), order.get(), cluster_end.get());
  });

  // Ranges in order give the clusters in the sequential order: number them and copy them out.
  std::vector<int64_t> point_base(ranges + 1, 0), cluster_base(ranges + 1, 0);
  for (int64_t t = 0; t < ranges; ++t) {
    if (results[t].bad_neighbour) report_bad_input(g);
    point_base[t + 1] = point_base[t] + (results[t].points_end - bounds[t]);
    cluster_base[t + 1] = cluster_base[t] + results[t].clusters;
  }
  at::Tensor cluster_idxs = at::empty({point_base[ranges], 2}, semantic_label.options());
  at::Tensor cluster_offsets = at::empty({cluster_base[ranges] + 1}, semantic_label.options());
  int32_t* rows = cluster_idxs.data_ptr<int32_t>();
  int32_t* offsets = cluster_offsets.data_ptr<int32_t>();
  offsets[0] = 0;
  at::parallel_for(0, ranges, 1, [&](int64_t lo, int64_t hi) {
    for (int64_t t = lo; t < hi; ++t) {
      int64_t from = bounds[t];  // position in `order`
      int32_t* out = rows + 2 * point_base[t];
      for (int64_t c = 0; c < results[t].clusters; ++c) {
        const int32_t id = static_cast<int32_t>(cluster_base[t] + c);
        const int64_t to = cluster_end[bounds[t] + c];
        for (; from < to; ++from, out += 2) {
          out[0] = id;
          out[1] = order[from];
        }
        offsets[id + 1] = static_cast<int32_t>(point_base[t] + (to - bounds[t]));
      }
    }
  });
  return {cluster_idxs, cluster_offsets};
}

}  // namespace pointgroup_ops
