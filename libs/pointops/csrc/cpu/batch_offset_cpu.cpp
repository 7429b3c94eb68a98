// CPU implementation of offset2batch / batch2offset.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <torch/library.h>

#include "../feature_ops.h"

namespace pointops {
namespace {

at::Tensor offset2batch_cpu(const at::Tensor& offset_in) {
  const int64_t n = feature::check_offset2batch(offset_in);
  const at::Tensor offset = offset_in.to(at::kLong).contiguous();
  at::Tensor batch = at::empty({n}, offset.options().dtype(at::kLong));
  const int64_t* po = offset.data_ptr<int64_t>();
  int64_t* pb = batch.data_ptr<int64_t>();
  int64_t start = 0;
  for (int64_t b = 0; b < offset.numel(); ++b) {
    for (int64_t i = start; i < po[b]; ++i) pb[i] = b;
    start = po[b];
  }
  return batch;
}

at::Tensor batch2offset_cpu(const at::Tensor& batch_in) {
  const int64_t B = feature::check_batch2offset(batch_in);
  const at::Tensor batch = batch_in.to(at::kLong).contiguous();
  at::Tensor offset = at::empty({B}, batch.options().dtype(at::kInt));
  const int64_t* pb = batch.data_ptr<int64_t>();
  int32_t* po = offset.data_ptr<int32_t>();
  const int64_t n = batch.numel();
  TORCH_CHECK_VALUE(n <= INT32_MAX, "batch has ", num(n), " points; int32 offsets hold at most ", num(INT32_MAX));
  // offset[b] = number of points with batch id <= b; ids without points repeat the count.
  int64_t i = 0;
  for (int64_t b = 0; b < B; ++b) {
    while (i < n && pb[i] <= b) ++i;
    po[b] = static_cast<int32_t>(i);
  }
  return offset;
}

}  // namespace

TORCH_LIBRARY_IMPL(pointops, CPU, m) {
  m.impl("offset2batch", &offset2batch_cpu);
  m.impl("batch2offset", &batch2offset_cpu);
}

}  // namespace pointops
