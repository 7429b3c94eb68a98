"""knn_query: the k nearest points of each query within its scene."""
import torch

from ._checks import check_int, check_offset, check_points


def _query_args(xyz, offset, new_xyz, new_offset):
    xyz = check_points(xyz, "xyz")
    offset = check_offset(offset, "offset", xyz.device, "xyz")
    if new_xyz is None or new_offset is None:
        new_xyz, new_offset = xyz, offset
    else:
        new_xyz = check_points(new_xyz, "new_xyz", xyz.device, "xyz")
        new_offset = check_offset(new_offset, "new_offset", xyz.device, "xyz")
        if new_offset.numel() != offset.numel():
            raise ValueError(
                "offset and new_offset must describe the same number of scenes, got "
                f"{offset.numel()} and {new_offset.numel()}"
            )
    return xyz.detach(), offset, new_xyz.detach(), new_offset


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
    k = check_int(nsample, "nsample")
    xyz, offset, new_xyz, new_offset = _query_args(xyz, offset, new_xyz, new_offset)
    return torch.ops.pointops.knn_query(k, xyz, offset, new_xyz, new_offset)
