"""subtraction: neighbour differences, (n, nsample, c).

Indices follow the feature operators' rules (README, "Feature operators": -1 contributes
nothing, any other index outside its source raises ValueError). The operator checks every
tensor argument; this module only checks that they are tensors. The backward is deterministic:
the scatter to input2 is a segmented sum over a stable sort of idx, with no atomics.
"""
import torch

from . import _checks as chk


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
    chk.tensor(input1, "input1")
    chk.tensor(input2, "input2")
    chk.tensor(idx, "idx")
    return _Subtraction.apply(input1, input2, idx)
