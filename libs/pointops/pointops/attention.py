"""attention_relation_step and attention_fusion_step (Point Transformer V2 attention steps).

Index conventions: int32 or int64; -1 marks a missing neighbour / pair and contributes
nothing (zeros in gathered outputs, skipped in sums, no gradient). Any other index outside
its source raises ValueError (range checked by the forward operators; on CUDA one min/max
reduction and one small device->host copy per index tensor, skipped with
POINTOPS_SKIP_INDEX_CHECK=1, in which case the kernels treat such indices like -1). The
operators check every tensor argument; this module only checks that they are tensors.

Every backward pass here is deterministic (bit-identical from run to run): scatters are
segmented sums over a stable sort of their index, and the weight gradient of
attention_relation_step is a fixed-shape two-stage reduction. No atomics are used.
"""
import torch

from . import _checks as chk


class _RelationStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, query, key, weight, index_target, index_refer):
        ctx.save_for_backward(query, key, weight, index_target, index_refer)
        return torch.ops.pointops.attention_relation_step(query, key, weight, index_target, index_refer)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        q, k, w, it, ir = ctx.saved_tensors
        gq, gk, gw = torch.ops.pointops.attention_relation_step_backward(grad.contiguous(), q, k, w, it, ir)
        return gq, gk, gw, None, None


def attention_relation_step(query, key, weight, index_target, index_refer):
    """out[t, g] = sum_c query[index_target[t], g, c] * key[index_refer[t], g, c] * weight[c].

    query (n, g, c), key (n_k, g, c), weight (c,), index_target / index_refer (M,) int32/int64.
    Returns (M, g); 0 for a pair with a -1 index. Differentiable with respect to query, key
    and weight (the old implementation dropped weight's gradient); deterministic backward.
    """
    for value, name in ((query, "query"), (key, "key"), (weight, "weight"),
                        (index_target, "index_target"), (index_refer, "index_refer")):
        chk.tensor(value, name)
    return _RelationStep.apply(query, key, weight, index_target, index_refer)


class _FusionStep(torch.autograd.Function):
    @staticmethod
    def forward(ctx, weight, value, index_target, index_refer):
        ctx.save_for_backward(weight, value, index_target, index_refer)
        return torch.ops.pointops.attention_fusion_step(weight, value, index_target, index_refer)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        w, v, it, ir = ctx.saved_tensors
        gw, gv = torch.ops.pointops.attention_fusion_step_backward(grad.contiguous(), w, v, it, ir)
        return gw, gv, None, None


def attention_fusion_step(weight, value, index_target, index_refer):
    """out[r, g, c] = sum over t with index_target[t] == r of weight[t, g] * value[index_refer[t], g, c].

    weight (M, g), value (n, g, c), index_target / index_refer (M,) with values in [-1, n-1].
    Returns (n, g, c) (rows without a pair are zero). The scatter-sum is deterministic (a
    segmented sum over a stable sort of index_target, no atomics), and so is the backward
    (to weight and value).
    """
    for value_, name in ((weight, "weight"), (value, "value"), (index_target, "index_target"),
                         (index_refer, "index_refer")):
        chk.tensor(value_, name)
    return _FusionStep.apply(weight, value, index_target, index_refer)
