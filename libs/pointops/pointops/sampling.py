"""Farthest point sampling."""

import torch

from . import _C  # noqa: F401  (loads the compiled library, which registers torch.ops.pointops.*)
from . import _checks as chk

__all__ = ["farthest_point_sampling"]


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
    for value, name in ((xyz, "xyz"), (offset, "offset"), (new_offset, "new_offset")):
        chk.tensor(value, name)
    return torch.ops.pointops.farthest_point_sampling(xyz.contiguous(), offset.contiguous(),
                                                      new_offset.contiguous())
