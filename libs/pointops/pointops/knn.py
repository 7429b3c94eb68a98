"""knn_query: the k nearest points of each query within its scene."""
import torch

from . import _checks as chk


def _query_args(xyz, offset, new_xyz, new_offset):
    """The arguments of a neighbour query as the operators take them: contiguous, without
    autograd history, the sources themselves as queries when new_xyz or new_offset is None.
    Everything else (dtypes, shapes, devices, offset values) is checked by the operator."""
    chk.tensor(xyz, "xyz")
    chk.tensor(offset, "offset")
    if new_xyz is None or new_offset is None:
        new_xyz, new_offset = xyz, offset
    else:
        chk.tensor(new_xyz, "new_xyz")
        chk.tensor(new_offset, "new_offset")
    return (xyz.detach().contiguous(), offset.contiguous(), new_xyz.detach().contiguous(),
            new_offset.contiguous())


def knn_query(nsample, xyz, offset, new_xyz=None, new_offset=None):
    """k nearest neighbours within each scene.

    Args:
        nsample: k >= 1 (any size).
        xyz: float32 (n, 3) source points; offset: int32/int64 (B,) cumulative scene sizes.
        new_xyz, new_offset: the queries; when either is None the sources query themselves.

    Returns:
        idx: int32 (m, k) global rows of xyz, ascending by distance, the lower index first at
            equal distance; -1 where the scene holds fewer than k points.
        dist: float32 (m, k) Euclidean distances; +inf where idx is -1.
    """
    k = chk.check_int(nsample, "nsample")
    xyz, offset, new_xyz, new_offset = _query_args(xyz, offset, new_xyz, new_offset)
    return torch.ops.pointops.knn_query(k, xyz, offset, new_xyz, new_offset)
