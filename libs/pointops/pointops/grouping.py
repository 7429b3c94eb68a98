"""grouping and grouping2: gather neighbour features (and relative coordinates).

Missing neighbours (-1 in idx) give all-zero rows, for the relative coordinates as well as
the features (the old code gave -new_xyz there). Any other index outside [-1, n-1] raises
ValueError (checked in C++: on CUDA one min/max reduction and one small device->host copy;
the environment variable POINTOPS_SKIP_INDEX_CHECK=1 skips it, out-of-range indices are then
treated like -1 by the kernels, which never read out of bounds).

Backward passes are deterministic: the scatter-add back to the source rows is a segmented sum
over a stable sort of idx (no atomics), so repeated runs give bit-identical gradients.
"""
import torch

from . import _checks as chk


def _valid_mask(idx, n):
    return (idx >= 0) & (idx < n)


class _Grouping(torch.autograd.Function):
    @staticmethod
    def forward(ctx, feat, idx, xyz, new_xyz):
        out = torch.ops.pointops.grouping(feat, idx, xyz, new_xyz)
        ctx.save_for_backward(idx)
        ctx.n = feat.shape[0]
        ctx.c = feat.shape[1]
        ctx.with_xyz = xyz is not None
        return out

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        (idx,) = ctx.saved_tensors
        grad = grad.contiguous()
        off = 3 if ctx.with_xyz else 0
        g_feat = g_xyz = g_new = None
        if ctx.needs_input_grad[0]:
            g_feat = torch.ops.pointops.grouping_backward(grad, idx, ctx.n, off, ctx.c)
        if ctx.with_xyz and ctx.needs_input_grad[2]:
            g_xyz = torch.ops.pointops.grouping_backward(grad, idx, ctx.n, 0, 3)
        if ctx.with_xyz and ctx.needs_input_grad[3]:
            mask = _valid_mask(idx, ctx.n).unsqueeze(-1).to(grad.dtype)
            g_new = -(grad[..., :3] * mask).sum(1)
        return g_feat, None, g_xyz, g_new


def grouping(idx, feat, xyz, new_xyz=None, with_xyz=False):
    """Gather neighbour features.

    idx (m, nsample) int32/int64 with -1 for a missing neighbour; feat (n, c) floating point;
    xyz (n, 3) and new_xyz (m, 3) (new_xyz defaults to xyz) are used only with with_xyz.
    Returns (m, nsample, c), or (m, nsample, 3 + c) = cat(xyz[idx] - new_xyz, feat[idx]) with
    with_xyz; a -1 neighbour gives zeros in both parts. If xyz and feat differ in dtype, both
    are promoted to the common dtype. Differentiable with respect to feat (and, with with_xyz,
    xyz and new_xyz); the backward is deterministic.
    """
    chk.tensor(idx, "idx")
    chk.tensor(feat, "feat")
    if not with_xyz:
        return _Grouping.apply(feat, idx, None, None)
    new_xyz = xyz if new_xyz is None else new_xyz
    # Promotion would turn an integer tensor into a float one: the dtypes are checked first.
    chk.floating(feat, "feat")
    chk.floating(xyz, "xyz")
    chk.floating(new_xyz, "new_xyz")
    dtype = torch.promote_types(torch.promote_types(feat.dtype, xyz.dtype), new_xyz.dtype)
    return _Grouping.apply(feat.to(dtype), idx, xyz.to(dtype), new_xyz.to(dtype))


def grouping2(input, idx):  # noqa: A002  (Pointcept's argument name)
    """out[i, j] = input[idx[i, j]]: (m, nsample, c); zeros where idx is -1.

    Any size works (64-bit indexing on CUDA when m * nsample * c >= 2^31). Differentiable with
    respect to input; the backward is deterministic.
    """
    # The operator calls this argument feat; its own checks would name it so.
    chk.floating(input, "input", 2, "(n, c)")
    chk.tensor(idx, "idx")
    return _Grouping.apply(input, idx, None, None)
