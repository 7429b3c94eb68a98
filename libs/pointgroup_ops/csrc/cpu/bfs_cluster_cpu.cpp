// bfs_cluster on the CPU: the classic breadth-first clustering, iterative, with a
// heap-allocated queue (no recursion, no stack arrays), so millions of points are fine.
#include "../pointgroup_ops.h"

#include <c10/util/Exception.h>

#include <cstdint>
#include <vector>

namespace pointgroup_ops {

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cpu(const at::Tensor& semantic_label,
                                                   const at::Tensor& ball_query_idxs,
                                                   const at::Tensor& start_len,
                                                   int64_t threshold) {
  const int64_t n = semantic_label.size(0);
  const int64_t n_idx = ball_query_idxs.size(0);
  const int32_t* label = semantic_label.data_ptr<int32_t>();
  const int32_t* nb = ball_query_idxs.data_ptr<int32_t>();
  const int32_t* sl = start_len.data_ptr<int32_t>();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t s = sl[2 * i], l = sl[2 * i + 1];
    TORCH_CHECK_VALUE(s >= 0 && l >= 0 && s + l <= n_idx, "bfs_cluster: start_len[", fmt(i), "] = (", fmt(s), ", ", fmt(l),
                      ") is outside ball_query_idxs (", fmt(n_idx), " entries)");
    for (int64_t k = s; k < s + l; ++k)
      TORCH_CHECK_VALUE(nb[k] >= 0 && nb[k] < n, "bfs_cluster: ball_query_idxs[", fmt(k), "] = ", fmt(nb[k]),
                        " (a neighbour of point ", fmt(i), ") is not a point index in [0, ", fmt(n), ")");
  }

  std::vector<uint8_t> visited(n, 0);
  std::vector<int32_t> queue;  // BFS order of the current component (heap allocated)
  queue.reserve(1024);
  std::vector<int32_t> points;   // kept points, cluster by cluster
  std::vector<int32_t> offsets{0};
  for (int64_t seed = 0; seed < n; ++seed) {
    if (visited[seed]) continue;
    queue.clear();
    queue.push_back(static_cast<int32_t>(seed));
    visited[seed] = 1;
    const int32_t lab = label[seed];
    for (size_t head = 0; head < queue.size(); ++head) {
      const int32_t u = queue[head];
      const int32_t* lst = nb + sl[2 * u];
      const int32_t len = sl[2 * u + 1];
      for (int32_t k = 0; k < len; ++k) {
        const int32_t v = lst[k];
        if (!visited[v] && label[v] == lab) {
          visited[v] = 1;
          queue.push_back(v);
        }
      }
    }
    if (static_cast<int64_t>(queue.size()) >= threshold) {
      points.insert(points.end(), queue.begin(), queue.end());
      offsets.push_back(static_cast<int32_t>(points.size()));
    }
  }
  const int64_t total = static_cast<int64_t>(points.size());
  const int64_t nc = static_cast<int64_t>(offsets.size()) - 1;
  at::Tensor cluster_idxs = at::empty({total, 2}, semantic_label.options());
  at::Tensor cluster_offsets = at::empty({nc + 1}, semantic_label.options());
  int32_t* ci = cluster_idxs.data_ptr<int32_t>();
  for (int64_t c = 0; c < nc; ++c)
    for (int32_t k = offsets[c]; k < offsets[c + 1]; ++k) {
      ci[2 * k] = static_cast<int32_t>(c);
      ci[2 * k + 1] = points[k];
    }
  std::copy(offsets.begin(), offsets.end(), cluster_offsets.data_ptr<int32_t>());
  return {cluster_idxs, cluster_offsets};
}

}  // namespace pointgroup_ops
