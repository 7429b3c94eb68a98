"""subtraction, aggregation, attention_relation_step, attention_fusion_step.

Index conventions: int32 or int64; -1 marks a missing neighbour / pair and contributes
nothing (zeros in gathered outputs, skipped in sums, no gradient). Any other index outside
its source raises ValueError (range checked in C++ by the forward ops; on CUDA one min/max
reduction and one small device->host copy per index tensor, skipped with
POINTOPS_SKIP_INDEX_CHECK=1, in which case the kernels treat such indices like -1).

Every backward pass here is deterministic (bit-identical from run to run): scatters are
segmented sums over a stable sort of their index, and the weight gradient of
attention_relation_step is a fixed-shape two-stage reduction. No atomics are used.
"""
import torch

from . import _feature_checks as chk


class _Subtraction(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input1, input2, idx):
        ctx.save_for_backward(idx)
        ctx.n2 = input2.shape[0]
        return torch.ops.pointops.subtraction(input1, input2, idx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        g1, g2 = torch.ops.pointops.subtraction_backward(grad.contiguous(), idx, ctx.n2)
        return g1, g2, None


def subtraction(input1, input2, idx):
    """out[i, j] = input1[i] - input2[idx[i, j]]: (n, nsample, c); zeros where idx is -1.

    input1 (n, c), input2 (n2, c) (n2 == n in Pointcept's use), idx (n, nsample).
    Differentiable with respect to both inputs (deterministic backward).
    """
    chk.floats(input1, "input1", 2, "(n, c)")
    chk.floats(input2, "input2", 2, "(n, c)")
    chk.index(idx, "idx", 2, "(n, nsample)")
    chk.same_dtype(input2, "input2", input1, "input1")
    chk.same_device(input2, "input2", input1, "input1")
    chk.same_device(idx, "idx", input1, "input1")
    chk.size(input2, "input2", 1, input1.shape[1], "input1.shape[1]")
    chk.size(idx, "idx", 0, input1.shape[0], "input1.shape[0]")
    return _Subtraction.apply(input1, input2, idx)


class _Aggregation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, input, position, weight, idx):  # noqa: A002
        ctx.save_for_backward(input, position, weight, idx)
        return torch.ops.pointops.aggregation(input, position, weight, idx)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        input, position, weight, idx = ctx.saved_tensors  # noqa: A001
        gi, gp, gw = torch.ops.pointops.aggregation_backward(grad.contiguous(), input, position, weight, idx)
        return gi, gp, gw, None


def aggregation(input, position, weight, idx):  # noqa: A002
    """out[i, c] = sum_j (input[idx[i, j], c] + position[i, j, c]) * weight[i, j, c % w_c].

    input (n, c), position (n, nsample, c), weight (n, nsample, w_c) with w_c >= 1 (usually a
    divisor of c: channel c uses weight channel c mod w_c), idx (n, nsample). Terms with
    idx == -1 are skipped (position included). Returns (n, c). Differentiable with respect to
    input, position and weight (deterministic backward).
    """
    chk.floats(input, "input", 2, "(n, c)")
    chk.floats(position, "position", 3, "(n, nsample, c)")
    chk.floats(weight, "weight", 3, "(n, nsample, w_c)")
    chk.index(idx, "idx", 2, "(n, nsample)")
    for t, name in ((position, "position"), (weight, "weight")):
        chk.same_dtype(t, name, input, "input")
        chk.same_device(t, name, input, "input")
        chk.size(t, name, 0, idx.shape[0], "idx.shape[0]")
        chk.size(t, name, 1, idx.shape[1], "idx.shape[1]")
    chk.same_device(idx, "idx", input, "input")
    chk.size(position, "position", 2, input.shape[1], "input.shape[1]")
    if weight.shape[2] < 1 and input.shape[1] > 0:
        raise ValueError(f"weight.shape[2] (w_c) must be >= 1, got shape {tuple(weight.shape)}")
    return _Aggregation.apply(input, position, weight, idx)


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


def _check_pair_indices(index_target, index_refer, ref, ref_name, m=None):
    chk.index(index_target, "index_target", 1, "(M,)")
    chk.index(index_refer, "index_refer", 1, "(M,)")
    chk.same_device(index_target, "index_target", ref, ref_name)
    chk.same_device(index_refer, "index_refer", ref, ref_name)
    chk.size(index_refer, "index_refer", 0, index_target.shape[0], "index_target.shape[0]")
    if m is not None:
        chk.size(index_target, "index_target", 0, m, "weight.shape[0]")


def attention_relation_step(query, key, weight, index_target, index_refer):
    """out[t, g] = sum_c query[index_target[t], g, c] * key[index_refer[t], g, c] * weight[c].

    query (n, g, c), key (n_k, g, c), weight (c,), index_target / index_refer (M,) int32/int64.
    Returns (M, g); 0 for a pair with a -1 index. Differentiable with respect to query, key
    and weight (the old implementation dropped weight's gradient); deterministic backward.
    """
    chk.floats(query, "query", 3, "(n, g, c)")
    chk.floats(key, "key", 3, "(n, g, c)")
    chk.floats(weight, "weight", 1, "(c,)")
    for t, name in ((key, "key"), (weight, "weight")):
        chk.same_dtype(t, name, query, "query")
        chk.same_device(t, name, query, "query")
    chk.size(key, "key", 1, query.shape[1], "query.shape[1]")
    chk.size(key, "key", 2, query.shape[2], "query.shape[2]")
    chk.size(weight, "weight", 0, query.shape[2], "query.shape[2]")
    _check_pair_indices(index_target, index_refer, query, "query")
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
    chk.floats(weight, "weight", 2, "(M, g)")
    chk.floats(value, "value", 3, "(n, g, c)")
    chk.same_dtype(weight, "weight", value, "value")
    chk.same_device(weight, "weight", value, "value")
    chk.size(weight, "weight", 1, value.shape[1], "value.shape[1]")
    _check_pair_indices(index_target, index_refer, value, "value", m=weight.shape[0])
    return _FusionStep.apply(weight, value, index_target, index_refer)
