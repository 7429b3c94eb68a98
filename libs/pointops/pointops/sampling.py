"""Farthest point sampling."""

import torch

from . import _C  # noqa: F401  (loads the compiled library, which registers torch.ops.pointops.*)

__all__ = ["farthest_point_sampling"]


def _require_tensor(value, name, what):
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor ({what}), got {type(value).__name__}")


def farthest_point_sampling(xyz, offset, new_offset):
    """Farthest point sampling of every scene of a batch.

    Args:
        xyz: float32 tensor (n, 3), the points of all scenes concatenated.
        offset: int32/int64 tensor (B,), cumulative point counts (offset[-1] == n).
        new_offset: int32/int64 tensor (B,), cumulative sample counts; scene b gets
            new_offset[b] - new_offset[b-1] samples, at most as many as it has points.

    Returns:
        int32 tensor (new_offset[-1],) of global row indices into xyz. Each scene's
        samples start with its first point; each next sample is the point farthest
        (largest minimum squared distance) from those already chosen, the lowest
        index on ties. A scene asked for 0 samples contributes nothing. The CPU and
        CUDA implementations return identical indices.
    """
    _require_tensor(xyz, "xyz", "float32 (n, 3)")
    _require_tensor(offset, "offset", "int32/int64 (B,) cumulative point counts")
    _require_tensor(new_offset, "new_offset", "int32/int64 (B,) cumulative sample counts")
    if xyz.dim() == 2 and not xyz.is_contiguous():
        xyz = xyz.contiguous()
    if not offset.is_contiguous():
        offset = offset.contiguous()
    if not new_offset.is_contiguous():
        new_offset = new_offset.contiguous()
    return torch.ops.pointops.farthest_point_sampling(xyz, offset, new_offset)
