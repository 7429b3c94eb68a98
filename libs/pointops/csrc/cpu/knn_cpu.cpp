// CPU neighbour search (the reference implementation) and the CPU knn_query.
// For each query: score every point of its scene, keep the k smallest keys (value, index).
// O(scene size) per query, parallel over queries.
#include <ATen/core/Tensor.h>
#include <ATen/ops/full.h>
#include <ATen/Parallel.h>
#include <torch/library.h>

#include <algorithm>
#include <limits>
#include <vector>

#include "spatial_ops.h"

namespace pointops {

std::tuple<at::Tensor, at::Tensor> spatial_search_cpu(int mode, int64_t k, double max_radius,
                                                      double min_radius, int64_t seed,
                                                      const at::Tensor& xyz,
                                                      const at::Tensor& new_xyz,
                                                      const QueryArgs& a) {
  const int64_t m = a.m;
  at::Tensor idx = at::full({m, k}, -1, xyz.options().dtype(at::kInt));
  at::Tensor dist =
      at::full({m, k}, std::numeric_limits<float>::infinity(), xyz.options().dtype(at::kFloat));
  if (m == 0) return {idx, dist};

  const float* p = xyz.data_ptr<float>();
  const float* q = new_xyz.data_ptr<float>();
  int32_t* out_idx = idx.data_ptr<int32_t>();
  float* out_dist = dist.data_ptr<float>();
  const int64_t* off = a.offset_host.data_ptr<int64_t>();
  const int64_t* qoff = a.new_offset_host.data_ptr<int64_t>();
  const int64_t nb = a.offset_host.numel();
  const float max2 = radius_sq(max_radius), min2 = radius_sq(min_radius);
  const uint64_t useed = static_cast<uint64_t>(seed);

  for (int64_t b = 0; b < nb; ++b) {
    const int64_t ps = b == 0 ? 0 : off[b - 1], pe = off[b];
    const int64_t qs = b == 0 ? 0 : qoff[b - 1], qe = qoff[b];
    if (qe <= qs || pe <= ps) continue;
    at::parallel_for(qs, qe, 16, [&](int64_t begin, int64_t end) {
      std::vector<uint64_t> keys;
      keys.reserve(static_cast<size_t>(pe - ps));
      for (int64_t i = begin; i < end; ++i) {
        const float qx = q[3 * i], qy = q[3 * i + 1], qz = q[3 * i + 2];
        keys.clear();
        for (int64_t j = ps; j < pe; ++j) {
          const float d2 = sqdist3(qx, qy, qz, p[3 * j], p[3 * j + 1], p[3 * j + 2]);
          if (mode == kModeKnn) {
            keys.push_back(make_key(float_bits(d2), static_cast<int32_t>(j)));
          } else if (d2 < max2 && d2 >= min2) {
            const uint32_t primary =
                mode == kModeBall ? float_bits(d2) : random_rank(useed, i, j);
            keys.push_back(make_key(primary, static_cast<int32_t>(j)));
          }
        }
        const size_t kk = std::min<size_t>(static_cast<size_t>(k), keys.size());
        if (kk < keys.size()) {
          std::nth_element(keys.begin(), keys.begin() + kk, keys.end());
        }
        std::sort(keys.begin(), keys.begin() + kk);
        for (size_t t = 0; t < kk; ++t) {
          const int32_t j = key_index(keys[t]);
          const float d2 = sqdist3(qx, qy, qz, p[3 * j], p[3 * j + 1], p[3 * j + 2]);
          out_idx[i * k + t] = j;
          out_dist[i * k + t] = sqrt_rn(d2);
        }
      }
    });
  }
  return {idx, dist};
}

TORCH_LIBRARY_IMPL(pointops, CPU, m) { m.impl("knn_query", &knn_query_op<&spatial_search_cpu>); }

}  // namespace pointops
