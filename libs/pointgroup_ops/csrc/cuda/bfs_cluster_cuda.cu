// bfs_cluster on the GPU, with exactly the output of the sequential algorithm.
//
// 1. components: lock-free union-find over same-label neighbour edges, hooking the
//    larger root under the smaller one, so each root is its component's smallest
//    index = the seed the sequential algorithm starts that component from (it seeds
//    in ascending order and a component is first touched at its smallest index).
//    A first pass unites each point with two same-label neighbours (sampling),
//    the full pass then skips edges whose ends already share a root. Both validate
//    start_len / ball_query_idxs (error bits).
// 2. levels: breadth-first levels of all components at once. The frontier array of
//    a level is in sequential queue order (components by seed, then queue order).
//    A node v first reached from frontier position p at list position k gets the
//    key (p << 32 | k) via atomicMin; the minimum is exactly the discovery the
//    sequential queue would make first. Each frontier node then counts the children
//    it owns, a scan gives their places, and they are written in list order: the
//    next frontier, again in queue order.
// 3. output: a stable sort of the concatenated levels by seed gives every cluster
//    in queue order (level by level); clusters below the threshold are dropped and
//    ids are given to the kept ones in seed order.
// If the lists are not symmetric and a component is not reachable from its seed,
// an undefined tensor is returned and the caller uses the CPU path.
#include "../pointgroup_ops.h"
#include "common.cuh"

#include <ATen/ops/arange.h>
#include <ATen/ops/cumsum.h>
#include <ATen/ops/full.h>
#include <ATen/ops/nonzero.h>
#include <ATen/ops/sort.h>
#include <ATen/ops/zeros.h>

#include <c10/util/Exception.h>

#include <algorithm>
#include <climits>

namespace pointgroup_ops {
namespace {

constexpr int kWarpsPerBlock = 8;
enum : int { kBadStartLen = 1, kBadIndex = 2 };

__device__ __forceinline__ int find_root(volatile int* p, int x) {
  while (true) {
    const int nx = p[x];
    if (nx == x) return x;
    const int nnx = p[nx];
    if (nnx != nx) p[x] = nnx;  // path halving; parents only ever point to smaller members
    x = nx;
  }
}

__device__ __forceinline__ void unite(int* p, int a, int b) {
  volatile int* vp = p;
  a = find_root(vp, a);
  b = find_root(vp, b);
  while (a != b) {
    if (a > b) {
      const int t = a;
      a = b;
      b = t;
    }
    const int old = atomicCAS(p + b, b, a);
    if (old == b) return;
    b = find_root(vp, old);
    a = find_root(vp, a);
  }
}

// Phase 1 (one thread per point): validate its list and unite it with its first
// kSample same-label neighbours. This builds most of each component cheaply.
constexpr int kSample = 2;
__global__ void sample_hook_kernel(const int* __restrict__ label, const int* __restrict__ nb, int64_t n_idx,
                                   const int* __restrict__ sl, int n, int* parent, int* __restrict__ flags) {
  const int u = blockIdx.x * blockDim.x + threadIdx.x;
  if (u >= n) return;
  const int64_t s = sl[2 * (int64_t)u], l = sl[2 * (int64_t)u + 1];
  if (s < 0 || l < 0 || s + l > n_idx) {
    atomicOr(flags, kBadStartLen);
    return;
  }
  const int lab = label[u];
  int done = 0;
  for (int64_t k = s; k < s + l && done < kSample; ++k) {
    const int v = nb[k];
    if (v < 0 || v >= n) return;  // reported by the full pass
    if (v != u && label[v] == lab) {
      unite(parent, u, v);
      ++done;
    }
  }
}

// Phase 2 (one warp per point): every listed edge, in both directions; edges whose
// ends already share a root cost two reads. Also validates every entry.
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    hook_kernel(const int* __restrict__ label, const int* __restrict__ nb, int64_t n_idx,
                const int* __restrict__ sl, int n, int* parent, int* __restrict__ flags) {
  const int u = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (u >= n) return;
  const int64_t s = sl[2 * (int64_t)u], l = sl[2 * (int64_t)u + 1];
  if (s < 0 || l < 0 || s + l > n_idx) return;  // reported by the sampling pass
  const int lab = label[u];
  const volatile int* vp = parent;
  const int pu = vp[u];
  for (int64_t k = s + lane; k < s + l; k += 32) {
    const int v = nb[k];
    if (v < 0 || v >= n) {
      atomicOr(flags, kBadIndex);
      continue;
    }
    if (v != u && label[v] == lab && vp[v] != pu) unite(parent, u, v);
  }
}

__global__ void compress_kernel(int* parent, int n) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= n) return;
  parent[i] = find_root(parent, i);
}

__global__ void seeds_kernel(const int64_t* __restrict__ seeds, int ns, int* __restrict__ order,
                             int* __restrict__ dist) {
  const int t = blockIdx.x * blockDim.x + threadIdx.x;
  if (t >= ns) return;
  const int s = static_cast<int>(seeds[t]);
  order[t] = s;
  dist[s] = 0;
}

// Step A: claim undiscovered same-label neighbours with the smallest (position, list slot).
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    claim_kernel(const int* __restrict__ frontier, int fsize, const int* __restrict__ label,
                 const int* __restrict__ nb, const int* __restrict__ sl, const int* __restrict__ dist,
                 unsigned long long* __restrict__ key) {
  const int p = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (p >= fsize) return;
  const int u = frontier[p];
  const int lab = label[u];
  const int64_t s = sl[2 * (int64_t)u];
  const int l = sl[2 * (int64_t)u + 1];
  for (int k = lane; k < l; k += 32) {
    const int v = nb[s + k];
    if (dist[v] == INT_MAX && label[v] == lab)
      atomicMin(key + v, (static_cast<unsigned long long>(p) << 32) | static_cast<unsigned>(k));
  }
}

// Step B (kWrite = false): count the children each frontier node owns.
// Step C (kWrite = true): write them, in list order, at the scanned place.
template <bool kWrite>
__global__ void __launch_bounds__(kWarpsPerBlock * 32)
    own_kernel(const int* __restrict__ frontier, int fsize, const int* __restrict__ label,
               const int* __restrict__ nb, const int* __restrict__ sl, int* __restrict__ dist,
               const unsigned long long* __restrict__ key, int* __restrict__ cnt,
               const int* __restrict__ incl, int* __restrict__ next, int level) {
  const int p = blockIdx.x * kWarpsPerBlock + (threadIdx.x >> 5);
  const int lane = threadIdx.x & 31;
  if (p >= fsize) return;
  const int u = frontier[p];
  const int lab = label[u];
  const int64_t s = sl[2 * (int64_t)u];
  const int l = sl[2 * (int64_t)u + 1];
  int base = kWrite ? incl[p] - cnt[p] : 0;
  int owned = 0;
  for (int k0 = 0; k0 < l; k0 += 32) {
    const int k = k0 + lane;
    bool mine = false;
    int v = 0;
    if (k < l) {
      v = nb[s + k];
      mine = dist[v] == INT_MAX && label[v] == lab &&
             key[v] == ((static_cast<unsigned long long>(p) << 32) | static_cast<unsigned>(k));
    }
    const unsigned m = __ballot_sync(kFullMask, mine);
    if (kWrite && mine) {
      next[base + owned + __popc(m & lanemask_lt(lane))] = v;
      dist[v] = level + 1;
    }
    owned += __popc(m);
  }
  if (!kWrite && lane == 0) cnt[p] = owned;
}

// Per sorted position: keep flag and "first of a kept cluster" flag.
__global__ void flags_kernel(const int* __restrict__ sroot, int n, int threshold, int* __restrict__ f) {
  const int pos = blockIdx.x * blockDim.x + threadIdx.x;
  if (pos >= n) return;
  const int r = sroot[pos];
  int a = 0, b = pos;  // first position with root r
  while (a < b) {
    const int mid = (a + b) >> 1;
    if (sroot[mid] < r) a = mid + 1; else b = mid;
  }
  const int first = a;
  a = pos + 1;
  b = n;  // first position with root > r
  while (a < b) {
    const int mid = (a + b) >> 1;
    if (sroot[mid] <= r) a = mid + 1; else b = mid;
  }
  const bool keep = (a - first) >= threshold;
  f[pos] = keep;
  f[n + pos] = keep && first == pos;
}

__global__ void output_kernel(const int* __restrict__ nodes, const int* __restrict__ c, int n, int kept,
                              int nclusters, int* __restrict__ cluster_idxs, int* __restrict__ cluster_offsets) {
  const int pos = blockIdx.x * blockDim.x + threadIdx.x;
  if (pos == 0) cluster_offsets[nclusters] = kept;
  if (pos >= n) return;
  const int before = pos ? c[pos - 1] : 0;
  if (c[pos] == before) return;  // not kept
  const int r = before;          // row of this point
  const int cid = c[n + pos] - 1;
  cluster_idxs[2 * (int64_t)r] = cid;
  cluster_idxs[2 * (int64_t)r + 1] = nodes[pos];
  const int before_first = pos ? c[n + pos - 1] : 0;
  if (c[n + pos] != before_first) cluster_offsets[cid] = r;
}

}  // namespace

std::tuple<at::Tensor, at::Tensor> bfs_cluster_cuda(const at::Tensor& semantic_label,
                                                    const at::Tensor& ball_query_idxs,
                                                    const at::Tensor& start_len, int64_t threshold) {
  const c10::cuda::CUDAGuard guard(semantic_label.device());
  const int n = static_cast<int>(semantic_label.size(0));
  const auto iopt = semantic_label.options();
  if (n == 0) return {at::empty({0, 2}, iopt), at::zeros({1}, iopt)};
  cudaStream_t stream = c10::cuda::getCurrentCUDAStream();
  const int* label = semantic_label.data_ptr<int>();
  const int* nb = ball_query_idxs.data_ptr<int>();
  const int* sl = start_len.data_ptr<int>();
  const int threads = 256;
  const int wblocks = static_cast<int>(ceil_div(n, kWarpsPerBlock));

  at::Tensor parent = at::arange(n, iopt);
  at::Tensor flags = at::zeros({1}, iopt);
  sample_hook_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(label, nb, ball_query_idxs.size(0), sl, n,
                                                                   parent.data_ptr<int>(), flags.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  compress_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(parent.data_ptr<int>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  hook_kernel<<<wblocks, kWarpsPerBlock * 32, 0, stream>>>(label, nb, ball_query_idxs.size(0), sl, n,
                                                           parent.data_ptr<int>(), flags.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  const int fl = flags.item<int>();
  TORCH_CHECK_VALUE(!(fl & kBadStartLen), "bfs_cluster: start_len holds a (start, length) outside ball_query_idxs (",
                    num(ball_query_idxs.size(0)), " entries) or a negative value");
  TORCH_CHECK_VALUE(!(fl & kBadIndex), "bfs_cluster: ball_query_idxs holds a neighbour that is not a point index in [0, ",
                    num(n), ")");
  compress_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(parent.data_ptr<int>(), n);
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  const at::Tensor seeds = at::nonzero(parent.eq(at::arange(n, iopt))).reshape({-1});  // ascending
  const int ns = static_cast<int>(seeds.size(0));
  at::Tensor order = at::empty({n}, iopt);
  at::Tensor dist = at::full({n}, INT_MAX, iopt);
  at::Tensor key = at::full({n}, -1, iopt.dtype(at::kLong));  // all bits set = "unclaimed"
  at::Tensor cnt = at::empty({n}, iopt);
  seeds_kernel<<<ceil_div(ns, threads), threads, 0, stream>>>(seeds.data_ptr<int64_t>(), ns, order.data_ptr<int>(),
                                                              dist.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();

  int* ord = order.data_ptr<int>();
  auto* kp = reinterpret_cast<unsigned long long*>(key.data_ptr<int64_t>());
  int fbeg = 0, fsize = ns, level = 0;
  while (fsize > 0 && fbeg + fsize < n) {
    const int fb = static_cast<int>(ceil_div(fsize, kWarpsPerBlock));
    claim_kernel<<<fb, kWarpsPerBlock * 32, 0, stream>>>(ord + fbeg, fsize, label, nb, sl, dist.data_ptr<int>(), kp);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    own_kernel<false><<<fb, kWarpsPerBlock * 32, 0, stream>>>(ord + fbeg, fsize, label, nb, sl, dist.data_ptr<int>(),
                                                              kp, cnt.data_ptr<int>(), nullptr, nullptr, level);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    const at::Tensor incl = at::cumsum(cnt.slice(0, 0, fsize), 0, at::kInt);
    const int next = incl[fsize - 1].item<int>();  // one synchronisation per level
    if (next == 0) {
      fbeg += fsize;
      fsize = 0;
      break;
    }
    own_kernel<true><<<fb, kWarpsPerBlock * 32, 0, stream>>>(ord + fbeg, fsize, label, nb, sl, dist.data_ptr<int>(), kp,
                                                             cnt.data_ptr<int>(), incl.data_ptr<int>(),
                                                             ord + fbeg + fsize, level);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    fbeg += fsize;
    fsize = next;
    ++level;
  }
  fbeg += fsize;
  if (fbeg != n) return {at::Tensor(), at::Tensor()};  // not every point reached: directed lists

  const at::Tensor roots = parent.index_select(0, order);
  auto sorted = at::sort(roots, /*stable=*/true, /*dim=*/0, /*descending=*/false);
  const at::Tensor sroot = std::get<0>(sorted).contiguous();
  const at::Tensor nodes = order.index_select(0, std::get<1>(sorted)).contiguous();
  at::Tensor f = at::empty({2, n}, iopt);
  const int thr = static_cast<int>(std::min<int64_t>(threshold, INT_MAX));
  flags_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(sroot.data_ptr<int>(), n, thr, f.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  // Two 1-D scans (a scan along the last dim of a (2, n) tensor is much slower).
  at::Tensor c = at::empty({2, n}, iopt);
  at::Tensor c0 = c.select(0, 0), c1 = c.select(0, 1);
  at::cumsum_out(c0, f.select(0, 0), 0, at::kInt);
  at::cumsum_out(c1, f.select(0, 1), 0, at::kInt);
  const at::Tensor totals = c.select(1, n - 1).cpu().contiguous();
  const int kept = totals.data_ptr<int>()[0];
  const int nclusters = totals.data_ptr<int>()[1];
  at::Tensor cluster_idxs = at::empty({kept, 2}, iopt);
  at::Tensor cluster_offsets = at::empty({nclusters + 1}, iopt);
  output_kernel<<<ceil_div(n, threads), threads, 0, stream>>>(nodes.data_ptr<int>(), c.data_ptr<int>(), n, kept,
                                                              nclusters, cluster_idxs.data_ptr<int>(),
                                                              cluster_offsets.data_ptr<int>());
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {cluster_idxs, cluster_offsets};
}

}  // namespace pointgroup_ops
