// The k (<= 32) smallest 64-bit keys of a stream, kept sorted across the lanes of one warp:
// lane j holds the j-th smallest key seen so far (kEmptyKey while fewer are held). Used by the
// warp-per-query search (search_warp.cuh). Every member is a warp-collective call: all 32 lanes
// of the warp must call it together with warp-uniform control flow.
//
// Invariant: the 32 slots are ascending over the lanes; slots 0..k-1 are the k smallest keys
// offered so far; slots k..31 hold larger keys that were offered (or kEmptyKey) and are never
// output. Keys are compared as whole 64-bit values, so ties resolve exactly as the CPU's sort.
#pragma once

#include <cstdint>

#include "common/spatial.h"

namespace pointops {
namespace grid {

constexpr unsigned kFullWarp = 0xffffffffu;

__device__ __forceinline__ uint64_t join_key(uint32_t hi, uint32_t lo) {
  return (static_cast<uint64_t>(hi) << 32) | lo;
}
__device__ __forceinline__ uint64_t shfl_key(uint64_t v, int src) {
  const uint32_t lo = __shfl_sync(kFullWarp, static_cast<uint32_t>(v), src);
  const uint32_t hi = __shfl_sync(kFullWarp, static_cast<uint32_t>(v >> 32), src);
  return join_key(hi, lo);
}
__device__ __forceinline__ uint64_t shfl_up_key(uint64_t v, unsigned delta) {
  const uint32_t lo = __shfl_up_sync(kFullWarp, static_cast<uint32_t>(v), delta);
  const uint32_t hi = __shfl_up_sync(kFullWarp, static_cast<uint32_t>(v >> 32), delta);
  return join_key(hi, lo);
}
__device__ __forceinline__ uint64_t shfl_xor_key(uint64_t v, int mask) {
  const uint32_t lo = __shfl_xor_sync(kFullWarp, static_cast<uint32_t>(v), mask);
  const uint32_t hi = __shfl_xor_sync(kFullWarp, static_cast<uint32_t>(v >> 32), mask);
  return join_key(hi, lo);
}

// Batches with at least this many candidates below the k-th key are merged with a bitonic
// sort + merge (21 exchange steps, ~8 instructions each) instead of one insertion per candidate
// (~25 instructions each).
constexpr int kBulkMergeMin = 10;

struct WarpTopK {
  uint64_t key;  // this lane's slot
  uint64_t kth;  // warp-uniform copy of slot k-1 (kEmptyKey until k keys are held)
  int k;         // 1..32
  int lane;

  __device__ __forceinline__ WarpTopK(int k_, int lane_)
      : key(kEmptyKey), kth(kEmptyKey), k(k_), lane(lane_) {}

  // Offers one candidate per lane (kEmptyKey: none). The candidates must be keys never offered
  // before (distinct points), as the grid walk guarantees.
  __device__ __forceinline__ void offer(uint64_t cand) {
    unsigned todo = __ballot_sync(kFullWarp, cand < kth);
    if (todo == 0) return;
    if (__popc(todo) >= kBulkMergeMin) {
      merge(cand);
    } else {
      do {
        const int src = __ffs(todo) - 1;
        todo &= todo - 1;
        const uint64_t c = shfl_key(cand, src);
        // Rank of c among the held keys; c is kept iff it lands in slots 0..k-1, i.e. iff it
        // is below the current k-th key (earlier insertions of this batch may have lowered it).
        const int pos = __popc(__ballot_sync(kFullWarp, key < c));
        if (pos < k) {
          const uint64_t left = shfl_up_key(key, 1);
          if (lane == pos) key = c;
          else if (lane > pos) key = left;
        }
      } while (todo != 0);
    }
    kth = shfl_key(key, k - 1);
  }

  // Replaces the slots by keys ascending over the lanes, such as the slots of another WarpTopK.
  __device__ __forceinline__ void hold_ascending(uint64_t keys) {
    key = keys;
    kth = shfl_key(key, k - 1);
  }

  // Offers one candidate per lane, ascending over the lanes (kEmptyKey for none, at the end),
  // such as the slots of another WarpTopK. Reversed, they are in the order the merge wants, so
  // a batch costs one exchange and the merge's 6, where offer() sorts it first (21 in all).
  __device__ __forceinline__ void offer_ascending(uint64_t cand) {
    if (__ballot_sync(kFullWarp, cand < kth) == 0) return;
    merge_descending(shfl_key(cand, 31 - lane));
    kth = shfl_key(key, k - 1);
  }

 private:
  // key <- the 32 smallest of (slots, candidates of the 32 lanes), ascending over the lanes.
  __device__ __forceinline__ void merge(uint64_t cand) {
    // Bitonic sort of the candidates into descending lane order (the mirror image of the
    // ascending network: every comparator reversed).
    uint64_t v = cand;
#pragma unroll
    for (int size = 2; size <= 32; size <<= 1) {
#pragma unroll
      for (int stride = size >> 1; stride > 0; stride >>= 1) {
        const uint64_t o = shfl_xor_key(v, stride);
        const bool lower = (lane & stride) == 0;
        const bool ascending_block = (lane & size) == 0;
        const bool take_min = lower != ascending_block;
        if ((o < v) == take_min) v = o;  // min or max of (v, o); equal keys are interchangeable
      }
    }
    merge_descending(v);
  }

  // key <- the 32 smallest of (slots, candidates descending over the lanes), ascending.
  __device__ __forceinline__ void merge_descending(uint64_t v) {
    // Slots ascending, candidates descending: the lane-wise minimum holds the 32 smallest of
    // both and is bitonic; a bitonic merge sorts it ascending.
    v = v < key ? v : key;
#pragma unroll
    for (int stride = 16; stride > 0; stride >>= 1) {
      const uint64_t o = shfl_xor_key(v, stride);
      if ((o < v) == ((lane & stride) == 0)) v = o;
    }
    key = v;
  }
};

}  // namespace grid
}  // namespace pointops
