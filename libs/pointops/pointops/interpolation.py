"""interpolation / interpolation2: inverse-distance weighted kNN upsampling of features."""
import torch

from . import _checks as chk
from .knn import _query_args


class _Interpolation(torch.autograd.Function):
    @staticmethod
    def forward(ctx, xyz, new_xyz, feat, offset, new_offset, k):
        out, idx, weight = torch.ops.pointops.interpolation_forward(
            xyz, offset, new_xyz, new_offset, feat, k
        )
        ctx.save_for_backward(idx, weight)
        ctx.n = feat.shape[0]
        return out

    @staticmethod
    def backward(ctx, grad_out):
        idx, weight = ctx.saved_tensors
        grad_feat = None
        if ctx.needs_input_grad[2]:
            grad_feat = torch.ops.pointops.interpolation_backward(
                grad_out.contiguous().float(), idx, weight, ctx.n
            )
        return None, None, grad_feat, None, None, None


def interpolation(xyz, new_xyz, feat, offset, new_offset, k=3):
    """Features of the sources `xyz` (n, 3) / `feat` (n, c) interpolated at `new_xyz` (m, 3).

    out[i] = sum_j w_ij feat[idx_ij] over the k nearest sources of target i in its scene, with
    w_ij = (1 / (d_ij + 1e-8)) normalised to sum 1. Missing neighbours (scene with fewer than k
    sources) weigh 0; a target whose scene has no source gets zeros. Differentiable w.r.t. feat
    (deterministic backward). float16/bfloat16 feat is computed in float32 and cast back.
    """
    k = chk.check_int(k, "k")
    xyz, offset, new_xyz, new_offset = _query_args(xyz, offset, new_xyz, new_offset)
    dtype = chk.tensor(feat, "feat").dtype
    if dtype in (torch.float16, torch.bfloat16):
        feat = feat.float()
    out = _Interpolation.apply(xyz, new_xyz, feat.contiguous(), offset, new_offset, k)
    return out if out.dtype == dtype else out.to(dtype)


def interpolation2(xyz, new_xyz, input, offset, new_offset, k=3):  # noqa: A002 (Pointcept's name)
    """The same operation as interpolation (Pointcept's CUDA-kernel variant); same maths."""
    return interpolation(xyz, new_xyz, input, offset, new_offset, k)
