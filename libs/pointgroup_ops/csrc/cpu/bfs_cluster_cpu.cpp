// bfs_cluster on the CPU: the sequential breadth-first search (seeds in ascending point
// order, a point marked when it is enqueued, each cluster in queue order), made fast without
// changing a single output value.
//
// - One array holds, per point, both "not yet marked" and its label: code[i] is a compact code
//   of label[i] until the point is marked, then kMarked. A neighbour v joins the cluster of
//   label code `lab` when code[v] == lab: one load and one comparison. With at most 255
//   distinct label values in range the codes are bytes, so the array of a scene (a few tens of
//   KB) stays in L1/L2; wider label ranges use 64-bit codes (the label itself).
// - The traversal allocates nothing: one n-sized array is both the queue of the cluster being
//   grown and the output (a cluster below the threshold is overwritten by the next one).
// - Consecutive queue entries are points whose lists lie far apart in `ball_query_idxs`, so
//   the search stalls on memory, not on arithmetic. The queue is read in windows of
//   kTouchWindow entries: on entering a window, the start_len rows and then one value in every
//   cache line of the window's lists are loaded, all independent of each other, so that their
//   misses overlap. Plain loads, not prefetch hints: a hinted search took 28.8 ms on the H200
//   host's Xeon, about what an unhinted one takes on an AMD EPYC where the hints save 3x
//   (Pointcept's code, which has none, takes 43 ms on both), so hints seem to be dropped there
//   (as a CPU may do on a TLB miss or with its fill buffers busy); loads never are.
//   benchmarks/bfs_memory_probe.cpp measures both on a host.
// - With several threads, the points are cut into index ranges [begin, end) such that no
//   list of a point below `end` holds a point at or above it (for Pointcept's input, the scenes
//   of a batch). The sequential search never enqueues a point below `begin` once it has
//   reached seed `begin`: all of them are marked by then. So each range can be searched on its
//   own, treating the points below it as marked, and its clusters, taken range by range,
//   come out in exactly the sequential order. The cuts are chosen from one load per point, the
//   last entry of its list: the largest one when the list is in ascending order, as
//   ballquery_batch_p writes it. For other lists that is a guess, so the search checks it: it
//   looks at every entry's range anyway, and if any list crosses a cut, the ranges are dropped
//   and the points searched again as one range. (Reading every list to find exact cuts took
//   as long as a second search on a 2-core VM, which is why a second thread did not pay there.)
#include "../pointgroup_ops.h"

#include <ATen/Parallel.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <memory>
#include <system_error>
#include <thread>
#include <vector>

namespace pointgroup_ops {
namespace {

constexpr int64_t kTouchWindow = 32;  // queue entries whose lists are loaded together
constexpr int32_t kLineInts = 16;     // int32 values per 64-byte cache line
// Below this many list entries the parallel path's extra pass does not pay for itself.
constexpr int64_t kParallelMinEntries = 1 << 15;

struct Graph {
  const int32_t* label;
  const int32_t* nb;  // ball_query_idxs
  const int32_t* sl;  // start_len, (start, length) per point
  int64_t n;
  int64_t n_idx;
};

// Label codes: code = label - base while a point is unmarked, kMarked once it is marked.
// uint8_t when every label is within 254 of the smallest (base = the smallest label),
// int64_t otherwise (base = 0: the label itself, never equal to kMarked).
template <typename Code>
constexpr Code kMarked = std::numeric_limits<Code>::max();

// Where the search of one index range put its clusters: order[begin, points_end) holds them
// back to back, cluster_end[begin, begin + clusters) their ends (positions in `order`).
struct RangeResult {
  int64_t points_end = 0;
  int64_t clusters = 0;
  bool bad_neighbour = false;  // a list entry outside [0, n): reported by report_bad_input()
  bool crossed_cut = false;    // a list entry at or above `end`: the ranges were not independent
};

// Runs work(w) for w = 0 .. workers-1 at the same time, worker 0 on the calling thread, and
// returns when all are done; `work` must not throw. Plain std::threads: at::parallel_for runs
// everything on the calling thread in an extension compiled without OpenMP (its `omp
// parallel` pragma sits in a header), and compiling with -fopenmp would load a second OpenMP
// runtime next to the one torch ships. If no thread can be started, the rest run here.
template <typename Work>
void run_workers(int64_t workers, const Work& work) {
  std::vector<std::thread> helpers;
  int64_t started = 1;
  try {
    helpers.reserve(workers - 1);
    for (; started < workers; ++started) helpers.emplace_back([&work, started] { work(started); });
  } catch (const std::system_error&) {
  }
  work(0);
  for (int64_t w = started; w < workers; ++w) work(w);
  for (std::thread& t : helpers) t.join();
}

bool start_len_row_ok(const Graph& g, int64_t i) {
  const int64_t s = g.sl[2 * i], l = g.sl[2 * i + 1];
  return s >= 0 && l >= 0 && s + l <= g.n_idx;
}

// Loads the start_len rows of `count` queue entries, then one value in every cache line of
// their lists (see the top of this file). Returns a sum of what it read, which the caller
// keeps so that the loads are not optimised away.
inline uint32_t touch_lists(const Graph& g, const int32_t* entries, int64_t count) {
  int32_t start[kTouchWindow], len[kTouchWindow];
  for (int64_t i = 0; i < count; ++i) {
    start[i] = g.sl[2 * entries[i]];
    len[i] = g.sl[2 * entries[i] + 1];
  }
  uint32_t sum = 0;
  for (int64_t i = 0; i < count; ++i) {
    const uint32_t* list = reinterpret_cast<const uint32_t*>(g.nb) + start[i];
    for (int32_t k = 0; k < len[i]; k += kLineInts) sum += list[k];
    if (len[i] > 0) sum += list[len[i] - 1];
  }
  return sum;
}

// The sequential search over seeds begin..end-1; points below `begin` count as marked (see the
// top of this file). start_len rows must be valid; list entries are checked here: an entry at
// or above `end` is never followed, and sets crossed_cut.
template <typename Code>
RangeResult search_range(const Graph& g, int64_t begin, int64_t end, int64_t threshold, Code* code, int32_t* order,
                         int32_t* cluster_end) {
  RangeResult r;
  r.points_end = begin;
  int64_t top = begin;  // end of the queue of the cluster being grown
  const uint32_t first = static_cast<uint32_t>(begin), span = static_cast<uint32_t>(end - begin);
  uint32_t touched_sum = 0;
  for (int64_t seed = begin; seed < end; ++seed) {
    if (code[seed] == kMarked<Code>) continue;
    const Code lab = code[seed];
    code[seed] = kMarked<Code>;
    const int64_t cluster_begin = top;
    order[top++] = static_cast<int32_t>(seed);
    int64_t touched = cluster_begin;  // queue entries below this have had their lists loaded
    for (int64_t head = cluster_begin; head < top; ++head) {
      if (head == touched) {
        const int64_t count = std::min(top - head, kTouchWindow);
        touched_sum += touch_lists(g, order + head, count);
        touched = head + count;
      }
      const int32_t u = order[head];
      const int32_t* list = g.nb + g.sl[2 * u];
      const int32_t len = g.sl[2 * u + 1];
      for (int32_t k = 0; k < len; ++k) {
        const int32_t v = list[k];
        // One unsigned comparison for "v in [begin, end)"; the rest is the rare case.
        if (static_cast<uint32_t>(v) - first >= span) {
          if (v < 0 || v >= g.n)
            r.bad_neighbour = true;
          else if (v >= end)
            r.crossed_cut = true;
          // else below begin: marked
          continue;
        }
        if (code[v] == lab) {
          code[v] = kMarked<Code>;
          order[top++] = v;
        }
      }
    }
    if (top - cluster_begin >= threshold) {
      cluster_end[begin + r.clusters++] = static_cast<int32_t>(top);
      r.points_end = top;
    } else {
      top = cluster_begin;  // dropped: the next cluster overwrites it
    }
  }
  volatile uint32_t keep = touched_sum;  // the loads of touch_lists() stay
  (void)keep;
  return r;
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

// Points [lo, hi): writes their label codes and checks their start_len rows; when `reach` is
// given, stores in reach[i] the larger of i and the last entry of its list, capped at n - 1
// (the guess of how far point i reaches, see the top of this file). Returns false when a
// start_len row is invalid.
template <typename Code>
bool prepare_points(const Graph& g, int64_t lo, int64_t hi, int32_t label_base, Code* code, int32_t* reach) {
  bool ok = true;
  for (int64_t i = lo; i < hi; ++i) {
    code[i] = static_cast<Code>(int64_t(g.label[i]) - label_base);
    if (!start_len_row_ok(g, i)) {
      ok = false;
      continue;
    }
    if (reach == nullptr) continue;
    const int32_t len = g.sl[2 * i + 1];
    // As unsigned values a negative entry is above every point index: the cap handles both ends.
    const uint32_t last = len > 0 ? static_cast<uint32_t>(g.nb[g.sl[2 * i] + len - 1]) : 0;
    reach[i] = static_cast<int32_t>(std::min<uint64_t>(std::max<uint64_t>(last, i), g.n - 1));
  }
  return ok;
}

// At most `threads` ranges, [bounds[t], bounds[t+1]), of about equal work (points plus list
// entries), from the reach of every point. A cut is possible before p when no point below p
// reaches p or beyond; for each k/threads of the work, the possible cut nearest to it is taken
// (so two scenes of a little under half the work each still go to two threads).
std::vector<int64_t> independent_ranges(const Graph& g, const int32_t* reach, int64_t threads) {
  int64_t total_work = 0;
  for (int64_t i = 0; i < g.n; ++i) total_work += 1 + g.sl[2 * i + 1];
  auto target = [&](int64_t k) { return total_work * k / threads; };
  std::vector<int64_t> bounds{0};
  auto cut_at = [&](int64_t p) {
    if (p > bounds.back() && p < g.n) bounds.push_back(p);
  };
  int64_t k = 1;                        // the next target: target(k)
  int64_t below = 0, below_work = 0;    // the last possible cut seen, and the work below it
  int64_t work = 0;                     // the work of the points below p
  int32_t reach_below = -1;             // the largest reach of the points below p
  for (int64_t p = 0; p <= g.n && k < threads; ++p) {
    if (p == g.n || (p > 0 && reach_below < p)) {
      // p is the first possible cut at or past the targets it passes: each of them takes p or
      // the possible cut before, whichever is nearer.
      for (; k < threads && work >= target(k); ++k)
        cut_at(target(k) - below_work < work - target(k) ? below : p);
      below = p;
      below_work = work;
    }
    if (p < g.n) {
      work += 1 + g.sl[2 * p + 1];
      reach_below = std::max(reach_below, reach[p]);
    }
  }
  bounds.push_back(g.n);
  return bounds;
}

// Writes the clusters of range t, found by search_range() in `order` and `cluster_end`, as
// rows [cluster id, point] from row point_base on, ids from cluster_base on.
void write_range(const RangeResult& r, int64_t begin, int64_t point_base, int64_t cluster_base, const int32_t* order,
                 const int32_t* cluster_end, int32_t* rows, int32_t* offsets) {
  int64_t from = begin;  // position in `order`
  int32_t* out = rows + 2 * point_base;
  for (int64_t c = 0; c < r.clusters; ++c) {
    const int32_t id = static_cast<int32_t>(cluster_base + c);
    const int64_t to = cluster_end[begin + c];
    for (; from < to; ++from, out += 2) {
      out[0] = id;
      out[1] = order[from];
    }
    offsets[id + 1] = static_cast<int32_t>(point_base + (to - begin));
  }
}

template <typename Code>
std::tuple<at::Tensor, at::Tensor> bfs_cluster_with_codes(const Graph& g, int64_t threshold, int32_t label_base,
                                                          int64_t threads, const at::TensorOptions& options) {
  std::unique_ptr<Code[]> code(new Code[g.n]);
  std::unique_ptr<int32_t[]> order(new int32_t[g.n]), cluster_end(new int32_t[g.n]);

  auto prepare_all = [&](int32_t* reach) {
    const int64_t workers = reach ? threads : 1;
    std::unique_ptr<bool[]> ok(new bool[workers]);
    run_workers(workers, [&](int64_t w) {
      ok[w] = prepare_points(g, g.n * w / workers, g.n * (w + 1) / workers, label_base, code.get(), reach);
    });
    if (!std::all_of(ok.get(), ok.get() + workers, [](bool b) { return b; })) report_bad_input(g);
  };
  auto search = [&](const std::vector<int64_t>& bounds) {
    std::vector<RangeResult> results(bounds.size() - 1);
    run_workers(static_cast<int64_t>(results.size()), [&](int64_t t) {
      results[t] = search_range(g, bounds[t], bounds[t + 1], threshold, code.get(), order.get(), cluster_end.get());
    });
    for (const RangeResult& r : results)
      if (r.bad_neighbour) report_bad_input(g);
    return results;
  };

  std::vector<int64_t> bounds{0, g.n};  // one range
  std::vector<RangeResult> results;
  if (threads > 1 && g.n_idx >= kParallelMinEntries) {
    std::unique_ptr<int32_t[]> reach(new int32_t[g.n]);
    prepare_all(reach.get());
    bounds = independent_ranges(g, reach.get(), threads);
    results = search(bounds);
    if (std::any_of(results.begin(), results.end(), [](const RangeResult& r) { return r.crossed_cut; })) {
      bounds = {0, g.n};  // a guessed cut was crossed: the sequential search, from fresh codes
      prepare_all(nullptr);
      results = search(bounds);
    }
  } else {
    prepare_all(nullptr);
    results = search(bounds);
  }
  const int64_t ranges = static_cast<int64_t>(results.size());

  // Ranges in order give the clusters in the sequential order: number them and copy them out.
  std::vector<int64_t> point_base(ranges + 1, 0), cluster_base(ranges + 1, 0);
  for (int64_t t = 0; t < ranges; ++t) {
    point_base[t + 1] = point_base[t] + (results[t].points_end - bounds[t]);
    cluster_base[t + 1] = cluster_base[t] + results[t].clusters;
  }
  at::Tensor cluster_idxs = at::empty({point_base[ranges], 2}, options);
  at::Tensor cluster_offsets = at::empty({cluster_base[ranges] + 1}, options);
  int32_t* rows = cluster_idxs.data_ptr<int32_t>();
  int32_t* offsets = cluster_offsets.data_ptr<int32_t>();
  offsets[0] = 0;
  run_workers(ranges, [&](int64_t t) {
    write_range(results[t], bounds[t], point_base[t], cluster_base[t], order.get(), cluster_end.get(), rows, offsets);
  });
  return {cluster_idxs, cluster_offsets};
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cpu(const at::Tensor& semantic_label,
                                                   const at::Tensor& ball_query_idxs,
                                                   const at::Tensor& start_len,
                                                   int64_t threshold) {
  const Graph g{semantic_label.data_ptr<int32_t>(), ball_query_idxs.data_ptr<int32_t>(), start_len.data_ptr<int32_t>(),
                semantic_label.size(0), ball_query_idxs.size(0)};
  const int64_t threads = at::in_parallel_region() ? 1 : std::max(1, at::get_num_threads());
  const auto [lowest, highest] = std::minmax_element(g.label, g.label + g.n);
  if (g.n == 0 || int64_t(*highest) - *lowest < kMarked<uint8_t>)
    return bfs_cluster_with_codes<uint8_t>(g, threshold, g.n ? *lowest : 0, threads, semantic_label.options());
  return bfs_cluster_with_codes<int64_t>(g, threshold, 0, threads, semantic_label.options());
}

}  // namespace pointgroup_ops
