// The CPU form of the deterministic backward passes: per row of an inverse index (feature::Csr),
// a sum over the row's positions in perm order, the order the CUDA segment sums use too.
#pragma once

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../feature_ops.h"

namespace pointops {
namespace feature {

// For r in [0, rows): acc[0, width) starts at zero, add(acc, e) runs for every position e of
// row r's run of csr (perm order), and out[r * width + k] = acc[k].
template <typename scalar_t, typename acc_t, typename Add>
void csr_row_sums(const Csr& csr, int64_t rows, int64_t width, scalar_t* out, const Add& add) {
  const int64_t* perm = csr.perm.data_ptr<int64_t>();
  const int64_t* rowptr = csr.rowptr.data_ptr<int64_t>();
  at::parallel_for(0, rows, 256, [&](int64_t begin, int64_t end) {
    std::vector<acc_t> acc(static_cast<size_t>(width));
    for (int64_t r = begin; r < end; ++r) {
      std::fill(acc.begin(), acc.end(), acc_t(0));
      for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) add(acc.data(), perm[p]);
      for (int64_t k = 0; k < width; ++k) out[r * width + k] = static_cast<scalar_t>(acc[k]);
    }
  });
}

}  // namespace feature
}  // namespace pointops
