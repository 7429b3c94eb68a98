// What the memory of a host does to the CPU bfs_cluster: the time to read every neighbour
// list once, in index order (a stream) and in breadth-first order (what the search does:
// consecutive queue entries have lists far apart), the latter with no help, with prefetch
// hints a few entries ahead, and with plain loads of 32 entries' lists at a time (what
// csrc/cpu/bfs_cluster_cpu.cpp does). Each pass compares every entry's label code with the
// list owner's, as the search does, and prints its best thread CPU time of 15 runs.
//
// Build and run (bench_instance.py --save-raw DIR writes the inputs):
//   g++ -O3 -o probe libs/pointgroup_ops/benchmarks/bfs_memory_probe.cpp && ./probe DIR
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <ctime>
#include <string>
#include <vector>

namespace {

std::vector<int32_t> load(const std::string& path) {
  std::vector<int32_t> v;
  if (FILE* f = std::fopen(path.c_str(), "rb")) {
    int32_t x;
    while (std::fread(&x, 4, 1, f) == 1) v.push_back(x);
    std::fclose(f);
  }
  return v;
}

double thread_cpu_ms() {
  timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec * 1e-6;
}

struct Lists {
  const int32_t* nb;
  const int32_t* sl;
  const uint8_t* code;
};

// Entries of point u's list whose code equals u's.
inline int64_t scan(const Lists& g, int32_t u) {
  const int32_t* list = g.nb + g.sl[2 * u];
  int64_t same = 0;
  for (int32_t k = 0; k < g.sl[2 * u + 1]; ++k) same += g.code[list[k]] == g.code[u];
  return same;
}

enum class Help { none, hints, loads };

int64_t pass(const Lists& g, const std::vector<int32_t>& order, Help help) {
  int64_t same = 0;
  uint32_t touched = 0;
  const int64_t m = static_cast<int64_t>(order.size());
  for (int64_t h = 0; h < m; ++h) {
    if (help == Help::hints) {
      if (h + 16 < m) __builtin_prefetch(g.sl + 2 * order[h + 16]);
      if (h + 8 < m) {
        const int32_t v = order[h + 8];
        for (int32_t k = 0; k < g.sl[2 * v + 1]; k += 16) __builtin_prefetch(g.nb + g.sl[2 * v] + k);
      }
    } else if (help == Help::loads && h % 32 == 0) {
      int32_t start[32], len[32];
      const int64_t c = std::min<int64_t>(32, m - h);
      for (int64_t i = 0; i < c; ++i) {
        start[i] = g.sl[2 * order[h + i]];
        len[i] = g.sl[2 * order[h + i] + 1];
      }
      for (int64_t i = 0; i < c; ++i) {
        for (int32_t k = 0; k < len[i]; k += 16) touched += static_cast<uint32_t>(g.nb[start[i] + k]);
        if (len[i] > 0) touched += static_cast<uint32_t>(g.nb[start[i] + len[i] - 1]);
      }
    }
    same += scan(g, order[h]);
  }
  volatile uint32_t keep = touched;
  (void)keep;
  return same;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR   (DIR holds label.bin, idx.bin, sl.bin, order.bin: int32)\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  const std::vector<int32_t> label = load(dir + "/label.bin"), nb = load(dir + "/idx.bin"),
                             sl = load(dir + "/sl.bin"), bfs = load(dir + "/order.bin");
  if (label.empty() || sl.size() != 2 * label.size() || bfs.empty()) {
    std::fprintf(stderr, "bfs_memory_probe: missing or inconsistent inputs in %s\n", dir.c_str());
    return 2;
  }
  const int32_t lowest = *std::min_element(label.begin(), label.end());
  std::vector<uint8_t> code(label.size());
  for (size_t i = 0; i < label.size(); ++i) code[i] = static_cast<uint8_t>(label[i] - lowest);
  std::vector<int32_t> stream(bfs);
  std::sort(stream.begin(), stream.end());
  const Lists g{nb.data(), sl.data(), code.data()};
  struct Row {
    const char* name;
    const std::vector<int32_t>* order;
    Help help;
  } rows[] = {{"index order (a stream)", &stream, Help::none},
              {"breadth-first order, no help", &bfs, Help::none},
              {"breadth-first order, prefetch hints", &bfs, Help::hints},
              {"breadth-first order, loads of 32 lists", &bfs, Help::loads}};
  std::printf("%zu points listed, %zu list entries\n", bfs.size(), nb.size());
  for (const Row& r : rows) {
    double best = 1e30;
    int64_t same = 0;
    for (int rep = 0; rep < 15; ++rep) {
      const double t0 = thread_cpu_ms();
      same = pass(g, *r.order, r.help);
      best = std::min(best, thread_cpu_ms() - t0);
    }
    std::printf("%-42s %8.2f ms   (%lld same-label entries)\n", r.name, best, static_cast<long long>(same));
  }
  return 0;
}
