"""aggregation: weighted sums of neighbour features (Point Transformer), (n, c).

Index conventions: int32 or int64; -1 marks a missing neighbour and contributes nothing
(zeros in the output, no gradient). Any other index outside its source raises ValueError
(checked by the operator: on CUDA one min/max reduction and one small device->host copy,
skipped with POINTOPS_SKIP_INDEX_CHECK=1, in which case the kernels treat such indices like
-1). The operators check every tensor argument; this module only checks that they are tensors.

The backward is deterministic (bit-identical from run to run): the scatter to input is a
segmented sum over a stable sort of idx, with no atomics.
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
