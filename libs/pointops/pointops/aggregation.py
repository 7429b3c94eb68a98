"""aggregation: the weighted neighbour sums of Point Transformer, (n, c).

A neighbour whose index is -1 is skipped, position and weight included; the other index rules
are the feature operators' (README, "Feature operators"), checked with every tensor argument by
the operator itself, so this module only checks that the arguments are tensors. Gradients reach
input, position and weight; the one of input is a segmented sum over a stable sort of idx (no
atomics), so repeated runs give the same bits.
"""
import torch

from . import _checks as chk


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
    for value, name in ((input, "input"), (position, "position"), (weight, "weight"), (idx, "idx")):
        chk.tensor(value, name)
    return _Aggregation.apply(input, position, weight, idx)
