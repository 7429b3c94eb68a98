// CUDA implementation of attention_relation_step / attention_fusion_step and their
// backward passes. Every scatter is a segmented sum over a stable sort of its index
// (no atomics), and the weight gradient of the relation step is a fixed-shape two-stage
// reduction, so all results are deterministic.
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/zeros.h>

#include <tuple>

#include "cuda/ops_cuda.h"
#include "feature_ops_cuda.cuh"

namespace pointops {
namespace {

using namespace feature::cuda;

// out[t, g] = sum_c a[ia[t], g, c] * b[ib[t], g, c] * (scale ? scale[c] : 1); 0 for a missing index.
template <typename T, typename ia_t, typename ib_t>
__global__ void paired_dot_kernel(const T* __restrict__ a, const ia_t* __restrict__ ia,
                                  const T* __restrict__ b, const ib_t* __restrict__ ib,
                                  const T* __restrict__ scale, T* __restrict__ out, int64_t tn,
                                  int64_t G, int64_t C, int64_t na, int64_t nb) {
  using acc_t = at::opmath_type<T>;
  const int64_t total = tn * G;
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t e = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const int64_t t = e / G;
    const int64_t g = e - t * G;
    const ia_t sa = ia[t];
    const ib_t sb = ib[t];
    acc_t acc = 0;
    if (valid_index(sa, na) && valid_index(sb, nb)) {
      const T* ra = a + (static_cast<int64_t>(sa) * G + g) * C;
      const T* rb = b + (static_cast<int64_t>(sb) * G + g) * C;
      for (int64_t k = 0; k < C; ++k) {
        acc_t v = static_cast<acc_t>(ra[k]) * static_cast<acc_t>(rb[k]);
        if (scale != nullptr) v *= static_cast<acc_t>(scale[k]);
        acc += v;
      }
    }
    out[e] = static_cast<T>(acc);
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
  using acc_t = at::opmath_type<T>;
  const off_t gc = G * C;
  const off_t total = rows * gc;
  const off_t stride = static_cast<off_t>(gridDim.x) * blockDim.x;
  for (off_t e = static_cast<off_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += stride) {
    const off_t r = e / gc;
    const off_t rem = e - r * gc;
    const off_t g = rem / C;
    const off_t k = rem - g * C;
    acc_t acc = 0;
    for (int64_t p = rowptr[r]; p < rowptr[r + 1]; ++p) {
      const int64_t t = perm[p];
      const index_t s = other[t];
      if (!valid_index(s, nsrc)) continue;
      acc += static_cast<acc_t>(w[t * G + g]) * static_cast<acc_t>(src[static_cast<off_t>(s) * gc + g * C + k]);
    }
    if (scale != nullptr) acc *= static_cast<acc_t>(scale[k]);
    out[e] = static_cast<T>(acc);
  }
}

constexpr int64_t kWeightChunk = 64;  // rows t per partial sum (fixed: results do not depend on the GPU)

// partial[chunk, c] = sum over t in the chunk, g of go[t, g] * q[it[t], g, c] * k[ir[t], g, c]
template <typename T, typename it_t, typename ir_t>
__global__ void relation_weight_partial_kernel(const T* __restrict__ go, const T* __restrict__ q,
                                               const it_t* __restrict__ it, const T* __restrict__ k,
                                               const ir_t* __restrict__ ir,
                                               at::opmath_type<T>* __restrict__ partial, int64_t tn,
                                               int64_t G, int64_t C, int64_t nq, int64_t nk) {
  using acc_t = at::opmath_type<T>;
  const int64_t chunk = blockIdx.x;
  const int64_t t0 = chunk * kWeightChunk;
  const int64_t t1 = t0 + kWeightChunk < tn ? t0 + kWeightChunk : tn;
  for (int64_t c = threadIdx.x; c < C; c += blockDim.x) {
    acc_t acc = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const it_t a = it[t];
      const ir_t b = ir[t];
      if (!valid_index(a, nq) || !valid_index(b, nk)) continue;
      for (int64_t g = 0; g < G; ++g) {
        acc += static_cast<acc_t>(go[t * G + g]) *
               static_cast<acc_t>(q[(static_cast<int64_t>(a) * G + g) * C + c]) *
               static_cast<acc_t>(k[(static_cast<int64_t>(b) * G + g) * C + c]);
      }
    }
    partial[chunk * C + c] = acc;
  }
}

at::Tensor paired_dot_cuda(const at::Tensor& a, const at::Tensor& ia, const at::Tensor& b,
                           const at::Tensor& ib, const at::Tensor& scale) {
  const int64_t tn = ia.size(0), G = a.size(1), C = a.size(2);
  at::Tensor out = at::empty({tn, G}, a.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  POINTOPS_DISPATCH_FLOAT(a.scalar_type(), "paired_dot_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(ia.scalar_type(), "paired_dot_cuda_ia", [&] {
      using ia_t = index_t;
      AT_DISPATCH_INDEX_TYPES(ib.scalar_type(), "paired_dot_cuda_ib", [&] {
        paired_dot_kernel<scalar_t, ia_t, index_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            a.data_ptr<scalar_t>(), ia.data_ptr<ia_t>(), b.data_ptr<scalar_t>(), ib.data_ptr<index_t>(),
            scale.defined() ? scale.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(), tn, G, C,
            a.size(0), b.size(0));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return out;
}

at::Tensor segment_fusion_cuda(const at::Tensor& w, const at::Tensor& src, const at::Tensor& other,
                               const feature::Csr& csr, int64_t rows, const at::Tensor& scale) {
  const int64_t G = src.size(1), C = src.size(2);
  at::Tensor out = at::empty({rows, G, C}, src.options());
  if (out.numel() == 0) return out;
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const bool use32 = fits32({out.numel(), src.numel()});
  POINTOPS_DISPATCH_FLOAT(src.scalar_type(), "segment_fusion_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(other.scalar_type(), "segment_fusion_cuda_idx", [&] {
      POINTOPS_DISPATCH_OFFSET(use32, [&] {
        segment_fusion_kernel<scalar_t, index_t, off_t><<<blocks_for(out.numel()), kThreads, 0, stream>>>(
            w.data_ptr<scalar_t>(), src.data_ptr<scalar_t>(), other.data_ptr<index_t>(),
            csr.perm.data_ptr<int64_t>(), csr.rowptr.data_ptr<int64_t>(),
            scale.defined() ? scale.data_ptr<scalar_t>() : nullptr, out.data_ptr<scalar_t>(),
            static_cast<off_t>(rows), static_cast<off_t>(G), static_cast<off_t>(C), src.size(0));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  return out;
}

at::Tensor relation_weight_grad_cuda(const at::Tensor& go, const at::Tensor& q, const at::Tensor& k,
                                     const at::Tensor& it, const at::Tensor& ir) {
  const int64_t tn = it.size(0), G = q.size(1), C = q.size(2);
  if (tn == 0 || C == 0 || G == 0) return at::zeros({C}, q.options());
  const int64_t chunks = (tn + kWeightChunk - 1) / kWeightChunk;
  const auto acc_type = at::toOpMathType(q.scalar_type());
  at::Tensor partial = at::empty({chunks, C}, q.options().dtype(acc_type));
  const auto stream = c10::cuda::getCurrentCUDAStream();
  const int threads = static_cast<int>(std::min<int64_t>(256, ((C + 31) / 32) * 32));
  POINTOPS_DISPATCH_FLOAT(q.scalar_type(), "relation_weight_grad_cuda", [&] {
    AT_DISPATCH_INDEX_TYPES(it.scalar_type(), "relation_weight_grad_cuda_it", [&] {
      using it_t = index_t;
      AT_DISPATCH_INDEX_TYPES(ir.scalar_type(), "relation_weight_grad_cuda_ir", [&] {
        relation_weight_partial_kernel<scalar_t, it_t, index_t>
            <<<static_cast<unsigned int>(chunks), threads, 0, stream>>>(
                go.data_ptr<scalar_t>(), q.data_ptr<scalar_t>(), it.data_ptr<it_t>(),
                k.data_ptr<scalar_t>(), ir.data_ptr<index_t>(),
                partial.data_ptr<at::opmath_type<scalar_t>>(), tn, G, C, q.size(0), k.size(0));
        C10_CUDA_KERNEL_LAUNCH_CHECK();
      });
    });
  });
  // A fixed-shape reduction over the chunks: deterministic.
  return partial.sum(0).to(q.scalar_type());
}

}  // namespace

at::Tensor attention_relation_step_cuda(const at::Tensor& query, const at::Tensor& key,
                                        const at::Tensor& weight, const at::Tensor& index_target,
                                        const at::Tensor& index_refer) {
  feature::check_relation(query, key, weight, index_target, index_refer);
  const c10::cuda::CUDAGuard guard(query.device());
  feature::check_index_range(index_target, query.size(0), "index_target");
  feature::check_index_range(index_refer, key.size(0), "index_refer");
  return paired_dot_cuda(query.contiguous(), index_target.contiguous(), key.contiguous(),
                         index_refer.contiguous(), weight.contiguous());
}

std::tuple<at::Tensor, at::Tensor, at::Tensor> attention_relation_step_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& query_in, const at::Tensor& key_in,
    const at::Tensor& weight_in, const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_relation_backward(grad_in, query_in, key_in, weight_in, it_in, ir_in);
  const c10::cuda::CUDAGuard guard(query_in.device());
  const at::Tensor go = grad_in.contiguous(), q = query_in.contiguous(), k = key_in.contiguous();
  const at::Tensor w = weight_in.contiguous(), it = it_in.contiguous(), ir = ir_in.contiguous();
  const feature::Csr csr_t = feature::build_csr(it, q.size(0));
  const feature::Csr csr_r = feature::build_csr(ir, k.size(0));
  at::Tensor gq = segment_fusion_cuda(go, k, ir, csr_t, q.size(0), w);
  at::Tensor gk = segment_fusion_cuda(go, q, it, csr_r, k.size(0), w);
  at::Tensor gw = relation_weight_grad_cuda(go, q, k, it, ir);
  return std::make_tuple(gq, gk, gw);
}

at::Tensor attention_fusion_step_cuda(const at::Tensor& weight, const at::Tensor& value,
                                      const at::Tensor& index_target, const at::Tensor& index_refer) {
  feature::check_fusion(weight, value, index_target, index_refer);
  const c10::cuda::CUDAGuard guard(value.device());
  const int64_t n = value.size(0);
  feature::check_index_range(index_target, n, "index_target");
  feature::check_index_range(index_refer, n, "index_refer");
  const feature::Csr csr = feature::build_csr(index_target, n);
  return segment_fusion_cuda(weight.contiguous(), value.contiguous(), index_refer.contiguous(), csr, n,
                             at::Tensor());
}

std::tuple<at::Tensor, at::Tensor> attention_fusion_step_backward_cuda(
    const at::Tensor& grad_in, const at::Tensor& weight_in, const at::Tensor& value_in,
    const at::Tensor& it_in, const at::Tensor& ir_in) {
  feature::check_fusion_backward(grad_in, weight_in, value_in, it_in, ir_in);
  const c10::cuda::CUDAGuard guard(value_in.device());
  const at::Tensor go = grad_in.contiguous(), w = weight_in.contiguous(), v = value_in.contiguous();
  const at::Tensor it = it_in.contiguous(), ir = ir_in.contiguous();
  at::Tensor gw = paired_dot_cuda(go, it, v, ir, at::Tensor());
  const feature::Csr csr_r = feature::build_csr(ir, v.size(0));
  at::Tensor gv = segment_fusion_cuda(w, go, it, csr_r, v.size(0), at::Tensor());
  return std::make_tuple(gw, gv);
}

}  // namespace pointops
