// The row gather of grouping / grouping2 and the deterministic segmented sum that scatters the
// gradient of a gather back to its source rows (grouping, subtraction).
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

// out[r] = src[idx[r]] (zeros for an index outside [0, nsrc)).
// Rows are copied as raw words V (16, 8, 4 or 2 bytes), so it serves every dtype.
template <typename V, typename index_t, typename off_t>
__global__ void gather_rows_kernel(const V* __restrict__ src, const index_t* __restrict__ idx,
                                   V* __restrict__ out, off_t rows, off_t vpr, int64_t nsrc) {
  const off_t total = rows * vpr;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  // kUnroll independent words per thread and trip: their loads are in flight together.
  for (off_t base = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; base < total;
       base += kUnroll * stride) {
    V v[kUnroll];
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      v[u] = V{};
      if (e < total) {
        const off_t r = e / vpr;
        const index_t s = idx[r];
        if (valid_index(s, nsrc)) v[u] = src[static_cast<off_t>(s) * vpr + (e - r * vpr)];
      }
    }
#pragma unroll
    for (int u = 0; u < kUnroll; ++u) {
      const off_t e = base + u * stride;
      if (e < total) out[e] = v[u];
    }
  }
}

template <typename V, typename index_t>
cudaError_t gather_words(const Launch& l, const void* src, int64_t nsrc, const void* idx,
                         int64_t rows, void* out, int64_t vpr) {
  const bool use32 = fits32({rows * vpr, nsrc * vpr});
  return POINTOPS_DISPATCH_OFFSET(use32, [&] {
    gather_rows_kernel<V, index_t, off_t><<<blocks_for(rows * vpr, l), kThreads, 0, l.stream>>>(
        static_cast<const V*>(src), static_cast<const index_t*>(idx), static_cast<V*>(out),
        static_cast<off_t>(rows), static_cast<off_t>(vpr), nsrc);
    return cudaGetLastError();
  });
}

// out[r, k] = sign * sum over p in [rowptr[r], rowptr[r+1]) of grad[perm[p], offset + k],
// grad rows of length w, out (nrows, c); N consecutive columns per thread.
template <typename T, int N, typename off_t>
__global__ void segment_sum_kernel(const T* __restrict__ grad, const int64_t* __restrict__ perm,
                                   const int64_t* __restrict__ rowptr, T* __restrict__ out,
                                   off_t nrows, off_t c, int64_t w, int64_t offset, bool negate) {
  using acc = acc_t<T>;
  using VecT = Vec<T, N>;
  const off_t cv = c / N;
  const off_t total = nrows * cv;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / cv;
    const off_t k = (e - r * cv) * N;
    acc sum[N];
#pragma unroll
    for (int q = 0; q < N; ++q) sum[q] = acc(0);
    const int64_t p0 = rowptr[r], p1 = rowptr[r + 1];
    int64_t p = p0;
    // Four loads in flight; the additions still happen in run order (deterministic).
    for (; p + 4 <= p1; p += 4) {
      VecT v[4];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        v[u] = *reinterpret_cast<const VecT*>(grad + perm[p + u] * w + offset + k);
      }
#pragma unroll
      for (int u = 0; u < 4; ++u) {
#pragma unroll
        for (int q = 0; q < N; ++q) sum[q] += to_acc(v[u].v[q]);
      }
    }
    for (; p < p1; ++p) {
      const VecT v = *reinterpret_cast<const VecT*>(grad + perm[p] * w + offset + k);
#pragma unroll
      for (int q = 0; q < N; ++q) sum[q] += to_acc(v.v[q]);
    }
    VecT o;
#pragma unroll
    for (int q = 0; q < N; ++q) o.v[q] = from_acc<T>(negate ? -sum[q] : sum[q]);
    *reinterpret_cast<VecT*>(out + r * c + k) = o;
  }
}

template <typename index_t>
__global__ void csr_keys_kernel(const index_t* __restrict__ idx, int64_t total, int64_t n,
                                int32_t* __restrict__ keys, int32_t* __restrict__ positions) {
  const int64_t p = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x;
  if (p >= total) return;
  const index_t s = idx[p];
  keys[p] = valid_index(s, n) ? static_cast<int32_t>(s) : static_cast<int32_t>(n);
  positions[p] = static_cast<int32_t>(p);
}

}  // namespace

cudaError_t csr_keys(const Launch& l, IndexType it, const void* idx, int64_t total, int64_t n,
                     int32_t* keys, int32_t* positions) {
  if (total == 0) return cudaSuccess;
  return POINTOPS_DISPATCH_INDEX(it, [&] {
    csr_keys_kernel<index_t><<<static_cast<unsigned>((total + kThreads - 1) / kThreads), kThreads, 0,
                               l.stream>>>(static_cast<const index_t*>(idx), total, n, keys, positions);
    return cudaGetLastError();
  });
}

cudaError_t gather_rows(const Launch& l, const void* src, int64_t nsrc, int64_t row_bytes,
                        const void* idx, IndexType it, int64_t rows, void* out) {
  return POINTOPS_DISPATCH_INDEX(it, [&] {
    if (row_bytes % 16 == 0 && aligned(src, 16) && aligned(out, 16)) {
      return gather_words<uint4, index_t>(l, src, nsrc, idx, rows, out, row_bytes / 16);
    } else if (row_bytes % 8 == 0 && aligned(src, 8) && aligned(out, 8)) {
      return gather_words<uint2, index_t>(l, src, nsrc, idx, rows, out, row_bytes / 8);
    } else if (row_bytes % 4 == 0 && aligned(src, 4) && aligned(out, 4)) {
      return gather_words<unsigned int, index_t>(l, src, nsrc, idx, rows, out, row_bytes / 4);
    }
    return gather_words<unsigned short, index_t>(l, src, nsrc, idx, rows, out, row_bytes / 2);
  });
}

cudaError_t segment_sum(const Launch& l, FloatType ft, const void* grad, int64_t w,
                        const int64_t* perm, const int64_t* rowptr, void* out, int64_t nrows,
                        int64_t c, int64_t offset, bool negate) {
  if (nrows * c == 0) return cudaSuccess;
  const bool use32 = fits32({nrows * c});
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    constexpr int NV = 16 / sizeof(scalar_t);
    const bool vec = c % NV == 0 && w % NV == 0 && offset % NV == 0 && aligned(grad, 16) &&
                     aligned(out, 16);
    const auto* g = static_cast<const scalar_t*>(grad);
    auto* o = static_cast<scalar_t*>(out);
    return POINTOPS_DISPATCH_OFFSET(use32, [&] {
      if (vec) {
        segment_sum_kernel<scalar_t, NV, off_t><<<blocks_for(nrows * c / NV, l), kThreads, 0, l.stream>>>(
            g, perm, rowptr, o, static_cast<off_t>(nrows), static_cast<off_t>(c), w, offset, negate);
      } else {
        segment_sum_kernel<scalar_t, 1, off_t><<<blocks_for(nrows * c, l), kThreads, 0, l.stream>>>(
            g, perm, rowptr, o, static_cast<off_t>(nrows), static_cast<off_t>(c), w, offset, negate);
      }
      return cudaGetLastError();
    });
  });
}

}  // namespace cuda
}  // namespace pointops
