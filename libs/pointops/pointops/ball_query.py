"""ball_query and random_ball_query: neighbours within a radius."""
import torch

from . import _checks as chk
from .knn import _query_args


def _radii(max_radius, min_radius):
    """The radii as floats (min_radius None means 0); their values are checked by the operator."""
    return chk.check_float(max_radius, "max_radius"), chk.check_float(
        0.0 if min_radius is None else min_radius, "min_radius")


def ball_query(nsample, max_radius, min_radius, xyz, offset, new_xyz=None, new_offset=None):
    """Up to `nsample` neighbours with min_radius <= distance < max_radius, nearest first.

    The comparison is min_radius**2 <= d2 < max_radius**2 on float32 squared distances (radii
    rounded to float32). Rows are ascending by distance (lower index first on ties) and padded
    with idx -1 / dist +inf.

    Returns (idx int32 (m, nsample), dist float32 (m, nsample)).
    """
    k = chk.check_int(nsample, "nsample")
    max_radius, min_radius = _radii(max_radius, min_radius)
    xyz, offset, new_xyz, new_offset = _query_args(xyz, offset, new_xyz, new_offset)
    return torch.ops.pointops.ball_query(k, max_radius, min_radius, xyz, offset, new_xyz,
                                         new_offset)


def random_ball_query(nsample, max_radius, min_radius, xyz, offset, new_xyz=None,
                      new_offset=None):
    """Like ball_query, but the kept neighbours are a uniformly random subset (all of them when
    there are at most `nsample`) in random order. The randomness comes from torch's default
    (CPU) generator, so torch.manual_seed makes it reproducible, and the CPU and CUDA kernels
    give the same answer for the same seed. Padding: idx -1 / dist +inf.
    """
    k = chk.check_int(nsample, "nsample")
    max_radius, min_radius = _radii(max_radius, min_radius)
    xyz, offset, new_xyz, new_offset = _query_args(xyz, offset, new_xyz, new_offset)
    seed = int(torch.randint(0, 2**62, (1,), dtype=torch.int64).item())
    return torch.ops.pointops.random_ball_query(k, max_radius, min_radius, xyz, offset, new_xyz,
                                                new_offset, seed)
