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
//   grown and the output (a cluster below the threshold is overwritten by the next one). Every
//   list entry is stored at the queue's end and kept only if it is taken, with no branch, so
//   each queue has one spare slot past the points it can hold.
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
// - With more threads than such ranges (a batch of 4 scenes on 16 threads, or one scene), the
//   search goes by components instead: see "The component search" below.
#include "../pointgroup_ops.h"
#include "workers.h"

#include <ATen/Parallel.h>
#include <ATen/record_function.h>
#include <c10/util/Exception.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <limits>
#include <new>
#include <memory>
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

// Where the search of one index range put its clusters: order[begin, ...) holds them back to
// back, cluster_end[begin, begin + clusters) their ends (positions in `order`).
struct RangeResult {
  int64_t clusters = 0;
  bool bad_neighbour = false;  // a list entry outside [0, n): reported by report_bad_input()
  bool crossed_cut = false;    // a list entry at or above `end`: the ranges were not independent
};

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

// How a search marks points. take(v, lab) marks v and returns true if v is unmarked and of
// label code `lab`; the search stops early once stopped() is true. The sequential and range
// searches mark in the code array itself (code[v] = kMarked).
template <typename Code>
struct CodeMarks {
  Code* code;
  // Without a branch: about 1 entry in 30 is taken, at no pattern a predictor can learn.
  bool take(int32_t v, Code lab) {
    const Code c = code[v];
    const bool taken = c == lab;
    code[v] = taken ? kMarked<Code> : c;
    return taken;
  }
  bool stopped() const { return false; }
};

// The component search (below) marks in a copy of the codes of its own thread, unmarked again
// after each search. It stops at a point of the label below the seed, or when its queue has
// no room left.
template <typename Code>
struct SeedMarks {
  Code* code;
  int32_t seed;
  int64_t room;  // points the queue can still take, the seed included
  bool below_seed = false, full = false;
  bool take(int32_t v, Code lab) {
    if (code[v] != lab) return false;
    if (v < seed) {
      below_seed = true;
      return false;
    }
    if (room == 0) {
      full = true;
      return false;
    }
    --room;
    code[v] = kMarked<Code>;
    return true;
  }
  bool stopped() const { return below_seed || full; }
};

// The breadth-first search from `seed`, of label code `lab`: marks and writes the cluster to
// queue[0, size) in queue order and returns its size (the points marked so far, if it stopped
// early). Entries outside [first, first + span) are never followed; they set r.bad_neighbour
// (not a point) or r.crossed_cut (at or above first + span), or are below `first`: marked (see
// the top of this file). `queue` has a spare slot past the points the search can take.
// Not inlined, and everything its loop reads in locals: inlined into a search, or reading
// through a reference (which a byte store through the code array may alias), its loop kept
// `first`, `span` and the array pointers on the stack and reloaded them for every entry (10%
// slower on the H200 host's Xeon).
template <typename Code, typename Marks>
[[gnu::noinline]] int64_t grow_cluster(const Graph& g, int32_t seed, Code lab, uint32_t first, uint32_t span,
                                       Marks& marks_out, int32_t* queue, RangeResult& r) {
  Marks marks = marks_out;
  const int32_t* const nb = g.nb;
  const int32_t* const sl = g.sl;
  bool bad_neighbour = false, crossed_cut = false;
  uint32_t touched_loads = 0;
  marks.take(seed, lab);
  queue[0] = seed;
  int64_t top = 1;
  int64_t touched = 0;  // queue entries below this have had their lists loaded
  for (int64_t head = 0; head < top; ++head) {
    if (head == touched) {
      const int64_t count = std::min(top - head, kTouchWindow);
      touched_loads += touch_lists(g, queue + head, count);
      touched = head + count;
    }
    const int32_t u = queue[head];
    const int32_t* list = nb + sl[2 * u];
    const int32_t len = sl[2 * u + 1];
    for (int32_t k = 0; k < len; ++k) {
      const int32_t v = list[k];
      // One unsigned comparison for "v in [first, first + span)"; the rest is the rare case.
      if (static_cast<uint32_t>(v) - first >= span) {
        if (v < 0 || v >= g.n)
          bad_neighbour = true;
        else if (static_cast<uint32_t>(v) >= first)
          crossed_cut = true;
        continue;
      }
      queue[top] = v;  // kept only if taken: the queue has a spare slot past its room
      top += marks.take(v, lab);
    }
    if (marks.stopped()) break;
  }
  marks_out = marks;
  r.bad_neighbour |= bad_neighbour;
  r.crossed_cut |= crossed_cut;
  volatile uint32_t keep = touched_loads;  // the loads of touch_lists() stay
  (void)keep;
  return top;
}

// The sequential search over seeds begin..end-1; points below `begin` count as marked (see the
// top of this file). start_len rows must be valid; list entries are checked by grow_cluster().
template <typename Code>
RangeResult search_range(const Graph& g, int64_t begin, int64_t end, int64_t threshold, Code* code, int32_t* order,
                         int32_t* cluster_end) {
  RangeResult r;
  int64_t top = begin;  // where the next cluster starts in `order`
  const uint32_t first = static_cast<uint32_t>(begin), span = static_cast<uint32_t>(end - begin);
  CodeMarks<Code> marks{code};
  for (int64_t seed = begin; seed < end; ++seed) {
    const Code lab = code[seed];
    if (lab == kMarked<Code>) continue;
    const int64_t size =
        grow_cluster(g, static_cast<int32_t>(seed), lab, first, span, marks, order + top, r);
    if (size >= threshold) {
      top += size;
      cluster_end[begin + r.clusters++] = static_cast<int32_t>(top);
    }  // else dropped: the next cluster overwrites it
  }
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

// What prepare_points() finds in a share [lo, hi) of the points for the range search: the
// work (points plus list entries) of the share, the largest reach of its points, and the
// places p in it where no point of the share below p reaches p or beyond, each with the work
// of the share's points below p. A point reaches the larger of itself and the last entry of
// its list (the guess of the top of this file).
struct ShareReach {
  int64_t work = 0;
  int64_t reach = -1;
  std::vector<std::pair<int64_t, int64_t>> cuts;
};

// Points [lo, hi): writes their label codes and checks their start_len rows; fills `share`
// when given. Returns false when a start_len row is invalid.
template <typename Code>
bool prepare_points(const Graph& g, int64_t lo, int64_t hi, int32_t label_base, Code* code, ShareReach* share) {
  bool ok = true;
  for (int64_t i = lo; i < hi; ++i) {
    code[i] = static_cast<Code>(int64_t(g.label[i]) - label_base);
    if (!start_len_row_ok(g, i)) {
      ok = false;
      continue;
    }
    if (share == nullptr) continue;
    if (share->reach < i) share->cuts.emplace_back(i, share->work);
    const int32_t len = g.sl[2 * i + 1];
    // As unsigned values a negative entry is above every point index, so it reaches past the end.
    const uint32_t last = len > 0 ? static_cast<uint32_t>(g.nb[g.sl[2 * i] + len - 1]) : 0;
    share->reach = std::max<int64_t>(share->reach, std::max<int64_t>(last, i));
    share->work += 1 + len;
  }
  return ok;
}

// Ranges [bounds[t], bounds[t+1]) that can be searched on their own, with the work of all of
// them and of the largest one.
struct Ranges {
  std::vector<int64_t> bounds;
  int64_t total_work = 0;
  int64_t widest_work = 0;
};

// At most `threads` ranges of about equal work, from what prepare_points() found in the shares
// 0..n in order. A cut is possible before p when no point below p reaches p or beyond; for
// each k/threads of the work, the possible cut nearest to it is taken (so two scenes of a
// little under half the work each still go to two threads).
Ranges independent_ranges(const std::vector<ShareReach>& shares, int64_t n, int64_t threads) {
  Ranges out;
  for (const ShareReach& share : shares) out.total_work += share.work;
  auto target = [&](int64_t k) { return out.total_work * k / threads; };
  out.bounds = {0};
  int64_t bound_work = 0;  // the work below the last bound
  auto cut_at = [&](int64_t p, int64_t work_below_p) {
    if (p <= out.bounds.back() || p >= n) return;
    out.bounds.push_back(p);
    out.widest_work = std::max(out.widest_work, work_below_p - bound_work);
    bound_work = work_below_p;
  };
  int64_t k = 1;                      // the next target: target(k)
  int64_t below = 0, below_work = 0;  // the last possible cut seen, and the work below it
  // p is the first possible cut at or past the targets it passes: each of them takes p or the
  // possible cut before, whichever is nearer.
  auto possible_cut = [&](int64_t p, int64_t work) {
    for (; k < threads && work >= target(k); ++k) {
      if (target(k) - below_work < work - target(k))
        cut_at(below, below_work);
      else
        cut_at(p, work);
    }
    below = p;
    below_work = work;
  };
  int64_t reach = -1, work = 0;  // of the shares before the current one
  for (const ShareReach& share : shares) {
    for (const auto& [p, share_work] : share.cuts)
      if (reach < p) possible_cut(p, work + share_work);
    reach = std::max(reach, share.reach);
    work += share.work;
  }
  possible_cut(n, out.total_work);
  out.bounds.push_back(n);
  out.widest_work = std::max(out.widest_work, out.total_work - bound_work);
  return out;
}

// A cluster in queue order; its first point is its seed.
struct Cluster {
  const int32_t* points;
  int64_t size;
};

// ---- The component search ----
//
// Take a set C of seeds, and for each seed s in C the points its breadth-first search reaches
// on its own, as if nothing were marked: R(s). If no R(s) holds a point below s, and the R(s)
// are disjoint and hold every point, then the sequential search grows exactly the R(s), in
// the same queue order, seed by seed in ascending order. (By induction over the seeds: when
// it reaches s in C, the points below s it has marked are the R(s') of the seeds s' < s, which
// R(s) does not touch, so its search from s is the one done on its own; a point not in C lies
// in some R(s') with s' below it, so it is marked when reached.) The component search finds
// such seeds, grows their R(s) on all threads at once, and checks the three conditions; when
// they fail it returns nothing, and the sequential search runs instead.
//
// For lists that hold every neighbour both ways, as ballquery_batch_p writes them (the
// distance is symmetric), the seeds are the smallest points of the components: of the sets of
// points joined by same-label entries. They are found with disjoint sets, built so that
// threads seldom write where others read (a cache line one thread writes costs every thread
// that reads it a miss: linking every point into shared sets made two threads on one scene
// five times slower than one). Each thread takes a share of the points, in four steps, each
// waiting for all threads to finish the one before:
//  1. down:   a point's parent is the first smaller point of its label in its list, or itself
//             (a thread writes its own points only);
//  2. basins: a point's parent becomes the root of its chain (own points; a long chain is
//             halved on the way, which writes a few others);
//  3. links:  each point joins its set with those of the first kLinkedEntries smaller points
//             of its label in its list; only roots of basins, a few per cluster, are written.
//             Each entry joins the sets of both its ends from its larger end, so sampling a
//             few per point leaves a component in several sets only rarely; the search from
//             the larger roots then meets a smaller point and is dropped;
//  4. grow:   threads take the roots in turn and grow each into a buffer of their own,
//             marking in a copy of the codes of their own.
constexpr int32_t kLinkedEntries = 4;

// Disjoint sets of points, shared by threads without locks. A root is only linked below a
// smaller root, by compare-and-swap, so the root of a set is its smallest point. A parent only
// ever moves up to an ancestor (find() halves paths), so concurrent finds and links keep every
// point in its set.
class DisjointSets {
 public:
  explicit DisjointSets(int64_t n) : parent_(new std::atomic<int32_t>[n]) {}
  int32_t parent(int32_t x) const { return parent_[x].load(std::memory_order_relaxed); }
  void set_parent(int32_t x, int32_t p) { parent_[x].store(p, std::memory_order_relaxed); }
  bool is_root(int32_t x) const { return parent(x) == x; }
  int32_t find(int32_t x) {
    for (int32_t p = parent(x); p != x; p = parent(x)) {
      const int32_t grandparent = parent(p);
      if (grandparent != p) set_parent(x, grandparent);
      x = grandparent;
    }
    return x;
  }
  // find() without halving: it writes nothing.
  int32_t root_of(int32_t x) const {
    for (int32_t p = parent(x); p != x; p = parent(x)) x = p;
    return x;
  }
  // Joins the sets of a and b; returns the root of the joined set at that moment.
  int32_t unite(int32_t a, int32_t b) {
    for (;;) {
      a = find(a);
      b = find(b);
      if (a == b) return a;
      if (a > b) std::swap(a, b);
      int32_t expected = b;
      if (parent_[b].compare_exchange_weak(expected, a, std::memory_order_relaxed)) return a;
    }
  }

 private:
  std::unique_ptr<std::atomic<int32_t>[]> parent_;
};

// Where the search from the i-th root put its points: buffer `worker`, from `begin`, `size`
// points; size -1 when it met a point below the root.
struct Grown {
  int32_t worker, begin, size;
};

template <typename Code>
class ComponentSearch {
 public:
  ComponentSearch(const Graph& g, const Code* code, int64_t threads)
      : g_(g), code_(code), threads_(threads), sets_(g.n), roots_(new int32_t[g.n]), grown_(new Grown[g.n]),
        buffers_(threads), codes_(threads), covered_(threads), root_counts_(threads),
        bad_entry_(threads), overflow_(threads) {
    for (int64_t w = 0; w < threads; ++w) {
      buffers_[w].reset(new int32_t[g.n + 1]);  // + grow_cluster()'s spare slot
      codes_[w].reset(new Code[g.n]);
      covered_[w].reset(new uint64_t[words()]);
    }
  }

  // Appends the clusters in the sequential order; false (nothing appended) when the
  // conditions at the top of this section do not hold, or when it would run on one thread
  // (another call is using the threads), where it would do three times the sequential work.
  // Raises the error for a list entry that is not a point.
  bool run(int64_t threshold, std::vector<Cluster>& clusters) {
    std::atomic<int64_t> next_root{0};
    run_team(threads_, [&](int64_t w, int64_t team, Barrier& barrier) {
      if (w == 0) team_ = team;
      if (team == 1) return;
      const int64_t lo = g_.n * w / team, hi = g_.n * (w + 1) / team;
      link_down(lo, hi);
      std::copy(code_, code_ + g_.n, codes_[w].get());
      std::fill(covered_[w].get(), covered_[w].get() + words(), uint64_t(0));
      barrier.wait();
      for (int64_t u = lo; u < hi; ++u) sets_.set_parent(static_cast<int32_t>(u), sets_.find(static_cast<int32_t>(u)));
      barrier.wait();
      link_entries(lo, hi);
      barrier.wait();
      root_counts_[w] = count_roots(lo, hi);
      barrier.wait();
      int64_t at = 0, total = 0;  // where this share's roots go, and the roots of all shares
      for (int64_t t = 0; t < team; ++t) {
        if (t < w) at += root_counts_[t];
        total += root_counts_[t];
      }
      if (w == 0) roots_total_ = total;
      for (int64_t u = lo; u < hi; ++u)
        if (sets_.is_root(static_cast<int32_t>(u))) roots_[at++] = static_cast<int32_t>(u);
      barrier.wait();
      grow(w, threshold, total, next_root);
    });
    if (team_ == 1) return false;
    for (int64_t w = 0; w < team_; ++w)
      if (bad_entry_[w]) report_bad_input(g_);
    if (!cover_every_point_once()) return false;
    for (int64_t i = 0; i < roots_total_; ++i) {
      const Grown& c = grown_[i];
      if (c.size >= 0 && c.size >= threshold) clusters.push_back({buffers_[c.worker].get() + c.begin, c.size});
    }
    return true;
  }

 private:
  int64_t words() const { return (g_.n + 63) / 64; }

  // Step 1 for points [lo, hi).
  void link_down(int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      const int32_t* list = g_.nb + g_.sl[2 * u];
      const int32_t len = g_.sl[2 * u + 1];
      int32_t down = static_cast<int32_t>(u);
      for (int32_t k = 0; k < len; ++k) {
        // As unsigned values a negative entry is above every point: "below u" excludes it.
        if (static_cast<uint32_t>(list[k]) < static_cast<uint32_t>(u) && code_[list[k]] == code_[u]) {
          down = list[k];
          break;
        }
      }
      sets_.set_parent(static_cast<int32_t>(u), down);
    }
  }

  // Step 3 for points [lo, hi).
  void link_entries(int64_t lo, int64_t hi) {
    for (int64_t u = lo; u < hi; ++u) {
      const Code lab = code_[u];
      int32_t root = sets_.root_of(static_cast<int32_t>(u));  // halving here would write u, which others read
      const int32_t* list = g_.nb + g_.sl[2 * u];
      const int32_t len = g_.sl[2 * u + 1];
      for (int32_t k = 0, linked = 0; k < len && linked < kLinkedEntries; ++k) {
        const int32_t v = list[k];
        if (static_cast<uint32_t>(v) >= static_cast<uint32_t>(u) || code_[v] != lab) continue;
        ++linked;
        // After step 2, v's parent is the root of its basin, whose parent is mostly the root of
        // the set once basins are joined: two loads and no find() for most entries.
        const int32_t above = sets_.parent(v);
        if (above != root && sets_.parent(above) != root) root = sets_.unite(root, above);
      }
    }
  }

  int64_t count_roots(int64_t lo, int64_t hi) const {
    int64_t count = 0;
    for (int64_t u = lo; u < hi; ++u) count += sets_.is_root(static_cast<int32_t>(u));
    return count;
  }

  // Step 4: grows the roots claimed from next_root into buffer w.
  void grow(int64_t w, int64_t threshold, int64_t roots, std::atomic<int64_t>& next_root) {
    Code* code = codes_[w].get();
    uint64_t* covered = covered_[w].get();
    RangeResult entries;
    int64_t top = 0;
    for (int64_t i; (i = next_root.fetch_add(1, std::memory_order_relaxed)) < roots;) {
      // A buffer of n points holds this thread's clusters unless they overlap, and then the
      // search fails anyway (see cover_every_point_once()).
      if (top == g_.n) {
        overflow_[w] = true;
        break;
      }
      const int32_t root = roots_[i];
      int32_t* queue = buffers_[w].get() + top;
      const Code lab = code_[root];
      SeedMarks<Code> seed_marks{code, root, g_.n - top};
      const int64_t size =
          grow_cluster(g_, root, lab, 0, static_cast<uint32_t>(g_.n), seed_marks, queue, entries);
      // Unmarked for the next search, and kept in `covered` if this one counts.
      const bool counts = !seed_marks.stopped();
      for (int64_t k = 0; k < size; ++k) {
        code[queue[k]] = lab;
        if (counts) covered[queue[k] >> 6] |= uint64_t(1) << (queue[k] & 63);
      }
      if (seed_marks.full) overflow_[w] = true;
      if (!counts) {
        grown_[i] = {static_cast<int32_t>(w), 0, -1};
        continue;
      }
      grown_[i] = {static_cast<int32_t>(w), static_cast<int32_t>(top), static_cast<int32_t>(size)};
      if (size >= threshold) top += size;  // else the next cluster overwrites it
    }
    bad_entry_[w] = entries.bad_neighbour;
  }

  // Whether the searches that count hold n points between them and every point is in one:
  // then no point is in two.
  bool cover_every_point_once() const {
    for (int64_t w = 0; w < team_; ++w)
      if (overflow_[w]) return false;
    int64_t points = 0;
    for (int64_t i = 0; i < roots_total_; ++i) points += std::max(0, grown_[i].size);
    if (points != g_.n) return false;
    for (int64_t k = 0; k < words(); ++k) {
      uint64_t any = 0;
      for (int64_t w = 0; w < team_; ++w) any |= covered_[w][k];
      const int64_t in_word = std::min<int64_t>(64, g_.n - 64 * k);
      if (any != (in_word == 64 ? ~uint64_t(0) : (uint64_t(1) << in_word) - 1)) return false;
    }
    return true;
  }

  const Graph& g_;
  const Code* code_;
  const int64_t threads_;
  int64_t team_ = 0;  // the threads that ran it (<= threads_)
  DisjointSets sets_;
  std::unique_ptr<int32_t[]> roots_;  // in ascending order
  std::unique_ptr<Grown[]> grown_;    // per root
  std::vector<std::unique_ptr<int32_t[]>> buffers_;
  std::vector<std::unique_ptr<Code[]>> codes_;
  std::vector<std::unique_ptr<uint64_t[]>> covered_;
  std::vector<int64_t> root_counts_;
  std::vector<char> bad_entry_, overflow_;
  int64_t roots_total_ = 0;
};

// Writes the clusters as rows [cluster id, point] and their offsets, several threads taking
// about equal shares of the rows.
std::tuple<at::Tensor, at::Tensor> write_clusters(const std::vector<Cluster>& clusters, int64_t threads,
                                                  const at::TensorOptions& options) {
  const int64_t count = static_cast<int64_t>(clusters.size());
  at::Tensor cluster_offsets = at::empty({count + 1}, options);
  int32_t* offsets = cluster_offsets.data_ptr<int32_t>();
  std::vector<int64_t> start(count + 1, 0);
  for (int64_t c = 0; c < count; ++c) start[c + 1] = start[c] + clusters[c].size;
  for (int64_t c = 0; c <= count; ++c) offsets[c] = static_cast<int32_t>(start[c]);
  const int64_t rows_total = start[count];
  at::Tensor cluster_idxs = at::empty({rows_total, 2}, options);
  int32_t* rows = cluster_idxs.data_ptr<int32_t>();
  // Worker w writes the clusters that start in [rows_total * w / workers, rows_total * (w + 1) / workers).
  constexpr int64_t kMinRowsPerWorker = 4096;
  const int64_t workers = std::max<int64_t>(1, std::min(threads, rows_total / kMinRowsPerWorker));
  auto first_of_share = [&](int64_t w) {
    return std::lower_bound(start.begin(), start.begin() + count, rows_total * w / workers) - start.begin();
  };
  run_workers(workers, [&](int64_t w) {
    for (int64_t c = first_of_share(w); c < first_of_share(w + 1); ++c) {
      int32_t* out = rows + 2 * start[c];
      for (int64_t k = 0; k < clusters[c].size; ++k, out += 2) {
        out[0] = static_cast<int32_t>(c);
        out[1] = clusters[c].points[k];
      }
    }
  });
  return {cluster_idxs, cluster_offsets};
}

// Whether the component search should beat the range search, where each range is searched by
// one thread. It does about three times the work of the sequential search (its steps took
// 3.3 ms on 16 threads of the H100 host, where one thread searches in 16-22 ms), and on 8
// threads for 4 scenes it was no faster than the range search. Only with byte codes: each
// thread copies the codes, 8 bytes a point with 64-bit ones.
constexpr int64_t kComponentCost = 3;
template <typename Code>
bool components_pay(const Ranges& ranges, int64_t threads) {
  return sizeof(Code) == 1 && kComponentCost * ranges.total_work < ranges.widest_work * threads;
}

template <typename Code>
std::tuple<at::Tensor, at::Tensor> bfs_cluster_with_codes(const Graph& g, int64_t threshold, int32_t label_base,
                                                          int64_t threads, const at::TensorOptions& options) {
  std::unique_ptr<Code[]> code(new Code[g.n]);
  // Range t of at most `threads` puts its clusters at range_order(t) + its first point: each
  // range has grow_cluster()'s spare slot before the next.
  std::unique_ptr<int32_t[]> order(new int32_t[g.n + threads]), cluster_end(new int32_t[g.n]);
  const auto range_order = [&](size_t t) { return order.get() + t; };

  // Fills `shares` (one per thread) when given.
  auto prepare_all = [&](std::vector<ShareReach>* shares) {
    const int64_t workers = shares ? threads : 1;
    if (shares) shares->resize(workers);
    std::unique_ptr<bool[]> ok(new bool[workers]);
    run_workers(workers, [&](int64_t w) {
      ok[w] = prepare_points(g, g.n * w / workers, g.n * (w + 1) / workers, label_base, code.get(),
                             shares ? &(*shares)[w] : nullptr);
    });
    if (!std::all_of(ok.get(), ok.get() + workers, [](bool b) { return b; })) report_bad_input(g);
  };
  // Appends the clusters of the range search in the sequential order (ranges in order); false
  // when a list crossed a cut.
  auto search_ranges = [&](const std::vector<int64_t>& bounds, std::vector<Cluster>& clusters) {
    // Scopes named for torch.profiler, which show the search a call took.
    RECORD_FUNCTION(bounds.size() > 2 ? "bfs_cluster: range search" : "bfs_cluster: sequential search",
                    std::vector<c10::IValue>());
    std::vector<RangeResult> results(bounds.size() - 1);
    run_workers(static_cast<int64_t>(results.size()), [&](int64_t t) {
      results[t] = search_range(g, bounds[t], bounds[t + 1], threshold, code.get(), range_order(t), cluster_end.get());
    });
    for (const RangeResult& r : results)
      if (r.bad_neighbour) report_bad_input(g);
    if (std::any_of(results.begin(), results.end(), [](const RangeResult& r) { return r.crossed_cut; })) return false;
    for (size_t t = 0; t < results.size(); ++t) {
      for (int64_t c = 0, from = bounds[t]; c < results[t].clusters; ++c) {
        const int64_t to = cluster_end[bounds[t] + c];
        clusters.push_back({range_order(t) + from, to - from});
        from = to;
      }
    }
    return true;
  };

  std::vector<Cluster> clusters;
  std::unique_ptr<ComponentSearch<Code>> components;  // its buffers hold the clusters it finds
  bool found = false;
  if (threads > 1 && g.n_idx >= kParallelMinEntries) {
    std::vector<ShareReach> shares;
    prepare_all(&shares);
    const Ranges ranges = independent_ranges(shares, g.n, threads);
    if (components_pay<Code>(ranges, threads)) {
      RECORD_FUNCTION("bfs_cluster: component search", std::vector<c10::IValue>());
      try {
        components.reset(new ComponentSearch<Code>(g, code.get(), threads));
      } catch (const std::bad_alloc&) {  // buffers for every thread: the sequential search needs none
      }
      if (components) found = components->run(threshold, clusters);  // leaves the codes as they are
    } else {
      found = search_ranges(ranges.bounds, clusters);
      if (!found) prepare_all(nullptr);  // fresh codes for the sequential search
    }
  } else {
    prepare_all(nullptr);
  }
  if (!found) search_ranges({0, g.n}, clusters);  // both searches above append nothing when they fail
  return write_clusters(clusters, threads, options);
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
