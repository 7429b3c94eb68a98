// attention_relation_step / attention_fusion_step and their gradients: a paired dot product,
// a segmented weighted sum (the scatters, in the order of a stable sort: no atomics) and the
// fixed-shape partial sums of the relation step's weight gradient.
#include "cuda/feature/feature_kernels.cuh"
#include "cuda/feature/feature_kernels.h"

namespace pointops {
namespace cuda {
namespace {

// out[t, g] = sum_c a[ia[t], g, c] * b[ib[t], g, c] * (scale ? scale[c] : 1); 0 for a missing index.
template <typename T, typename ia_t, typename ib_t>
__global__ void paired_dot_kernel(const T* __restrict__ a, const ia_t* __restrict__ ia,
                                  const T* __restrict__ b, const ib_t* __restrict__ ib,
                                  const T* __restrict__ scale, T* __restrict__ out, int64_t tn,
                                  int64_t G, int64_t C, int64_t na, int64_t nb) {
  using acc = acc_t<T>;
  const int64_t total = tn * G;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t t = e / G;
    const int64_t g = e - t * G;
    const ia_t sa = ia[t];
    const ib_t sb = ib[t];
    acc sum = 0;
    if (valid_index(sa, na) && valid_index(sb, nb)) {
      const T* ra = a + (static_cast<int64_t>(sa) * G + g) * C;
      const T* rb = b + (static_cast<int64_t>(sb) * G + g) * C;
      for (int64_t k = 0; k < C; ++k) {
        acc v = to_acc(ra[k]) * to_acc(rb[k]);
        if (scale != nullptr) v *= to_acc(scale[k]);
        sum += v;
      }
    }
    out[e] = from_acc<T>(sum);
  }
}

// out[r, g, c] = (sum over p in run r of w[t, g] * src[other[t], g, c]) * (scale ? scale[c] : 1),
// t = perm[p]; pairs whose `other` index is missing are skipped.
template <typename T, typename index_t, typename off_t>
__global__ void segment_fusion_kernel(const T* __restrict__ w, const T* __restrict__ src,
                                      const index_t* __restrict__ other,
                                      const int64_t* __restrict__ perm,
                                      const int64_t* __restrict__ rowptr, const T* __restrict__ scale,
                                      T* __restrict__ out, off_t rows, off_t G, off_t C, int64_t nsrc) {
  using acc = acc_t<T>;
  const off_t gc = G * C;
  const off_t total = rows * gc;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / gc;
    const off_t rem = e - r * gc;
    const off_t g = rem / C;
    const off_t k = rem - g * C;
    acc sum = 0;
    for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {
      const int64_t t = perm[p];
      const index_t s = other[t];
      if (!valid_index(s, nsrc)) continue;
      sum += to_acc(w[t * G + g]) * to_acc(src[static_cast<off_t>(s) * gc + g * C + k]);
    }
    if (scale != nullptr) sum *= to_acc(scale[k]);
    out[e] = from_acc<T>(sum);
  }
}

// partial[chunk, c] = sum over t in the chunk, g of go[t, g] * q[it[t], g, c] * k[ir[t], g, c]
template <typename T, typename it_t, typename ir_t>
__global__ void relation_weight_partial_kernel(const T* __restrict__ go, const T* __restrict__ q,
                                               const it_t* __restrict__ it, const T* __restrict__ k,
                                               const ir_t* __restrict__ ir,
                                               acc_t<T>* __restrict__ partial, int64_t tn,
                                               int64_t G, int64_t C, int64_t nq, int64_t nk) {
  using acc = acc_t<T>;
  const int64_t chunk = blockIdx.x;
  const int64_t t0 = chunk * kWeightChunk;
  const int64_t t1 = t0 + kWeightChunk < tn ? t0 + kWeightChunk : tn;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    acc sum = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const it_t a = it[t];
      const ir_t b = ir[t];
      if (!valid_index(a, nq) || !valid_index(b, nk)) continue;
      for (int64_t g = 0; g < G; ++g) {
        sum += to_acc(go[t * G + g]) * to_acc(q[(static_cast<int64_t>(a) * G + g) * C + c]) *
               to_acc(k[(static_cast<int64_t>(b) * G + g) * C + c]);
      }
    }
    partial[chunk * C + c] = sum;
  }
}

}  // namespace

cudaError_t paired_dot(const Launch& l, FloatType ft, IndexType ia_type, IndexType ib_type,
                       const void* a, const void* ia, const void* b, const void* ib,
                       const void* scale, void* out, int64_t tn, int64_t G, int64_t C, int64_t na,
                       int64_t nb) {
  if (tn * G == 0) return cudaSuccess;
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(ia_type, [&] {
      using ia_t = index_t;
      return POINTOPS_DISPATCH_INDEX(ib_type, [&] {
        paired_dot_kernel<scalar_t, ia_t, index_t><<<blocks_for(tn * G, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(a), static_cast<const ia_t*>(ia),
            static_cast<const scalar_t*>(b), static_cast<const index_t*>(ib),
            static_cast<const scalar_t*>(scale), static_cast<scalar_t*>(out), tn, G, C, na, nb);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t segment_fusion(const Launch& l, FloatType ft, IndexType other_type, const void* w,
                           const void* src, const void* other, const int64_t* perm,
                           const int64_t* rowptr, const void* scale, void* out, int64_t rows,
                           int64_t G, int64_t C, int64_t nsrc) {
  const int64_t total = rows * G * C;
  if (total == 0) return cudaSuccess;
  const bool use32 = fits32({total, nsrc * G * C});
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(other_type, [&] {
      return POINTOPS_DISPATCH_OFFSET(use32, [&] {
        segment_fusion_kernel<scalar_t, index_t, off_t><<<blocks_for(total, l), kThreads, 0, l.stream>>>(
            static_cast<const scalar_t*>(w), static_cast<const scalar_t*>(src),
            static_cast<const index_t*>(other), perm, rowptr, static_cast<const scalar_t*>(scale),
            static_cast<scalar_t*>(out), static_cast<off_t>(rows), static_cast<off_t>(G),
            static_cast<off_t>(C), nsrc);
        return cudaGetLastError();
      });
    });
  });
}

cudaError_t relation_weight_partial(const Launch& l, FloatType ft, IndexType it_type,
                                    IndexType ir_type, const void* go, const void* q,
                                    const void* it, const void* k, const void* ir, void* partial,
                                    int64_t tn, int64_t G, int64_t C, int64_t nq, int64_t nk) {
  const int64_t chunks = (tn + kWeightChunk - 1) / kWeightChunk;
  const int threads = static_cast<int>(std::min<int64_t>(256, ((C + 31) / 32) * 32));
  return POINTOPS_DISPATCH_FLOAT(ft, [&] {
    return POINTOPS_DISPATCH_INDEX(it_type, [&] {
      using it_t = index_t;
      return POINTOPS_DISPATCH_INDEX(ir_type, [&] {
        relation_weight_partial_kernel<scalar_t, it_t, index_t>
            <<<static_cast<unsigned int>(chunks), threads, 0, l.stream>>>(
                static_cast<const scalar_t*>(go), static_cast<const scalar_t*>(q),
                static_cast<const it_t*>(it), static_cast<const scalar_t*>(k),
                static_cast<const index_t*>(ir), static_cast<acc_t<scalar_t>*>(partial), tn, G, C,
                nq, nk);
        return cudaGetLastError();
      });
    });
  });
}

}  // namespace cuda
}  // namespace pointops
