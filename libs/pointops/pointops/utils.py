"""offset2batch / batch2offset: convert between the offset layout and per-point scene ids."""
import torch

from . import _checks as chk


def offset2batch(offset):
    """offset (B,) int32/int64 cumulative counts (no leading 0) -> int64 (offset[-1],) scene id
    of every point. Empty scenes are allowed. Raises ValueError for negative or decreasing
    offsets. On CUDA one small device->host copy (the output length is offset[-1])."""
    chk.tensor(offset, "offset")
    return torch.ops.pointops.offset2batch(offset)


def batch2offset(batch):
    """batch (N,) int32/int64 non-decreasing scene ids >= 0 -> int32 (batch[-1] + 1,) cumulative
    counts (scene ids without points repeat the previous count). Raises ValueError for negative
    or decreasing ids. On CUDA one small device->host copy (the output length is batch[-1] + 1)."""
    chk.tensor(batch, "batch")
    return torch.ops.pointops.batch2offset(batch)
