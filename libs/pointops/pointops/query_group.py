"""knn_query_and_group, ball_query_and_group, query_and_group: a neighbour query followed by
grouping (see grouping.grouping for the -1 rule and the deterministic backward)."""
from . import _checks as chk
from .grouping import grouping


def _points(xyz):
    """xyz is checked here: the grouping operator sees it only with with_xyz."""
    chk.floating(xyz, "xyz", 2, "(n, 3)")


def _queries(xyz, offset, new_xyz, new_offset):
    if new_xyz is None:
        return xyz, offset
    if new_offset is None and offset is not None:
        raise ValueError("new_offset must be given together with new_xyz")
    return new_xyz, new_offset


def _required(**values):
    """Raise ValueError naming the first argument that is None (needed when idx is not given)."""
    for name, value in values.items():
        if value is None:
            raise ValueError(f"{name} is required when idx is not given")


def knn_query_and_group(feat, xyz, offset=None, new_xyz=None, new_offset=None, idx=None,
                        nsample=None, with_xyz=False):
    """kNN (unless idx is given) then grouping.

    feat (n, c), xyz (n, 3), offset (B,); new_xyz / new_offset default to xyz / offset.
    When idx (m, nsample) is None it is computed with knn_query(nsample, xyz, offset, new_xyz,
    new_offset) (nsample and offset are then required). Returns (grouped, idx) with grouped
    (m, nsample, c), or (m, nsample, 3 + c) with with_xyz (relative coordinates first).
    """
    _points(xyz)
    new_xyz, new_offset = _queries(xyz, offset, new_xyz, new_offset)
    if idx is None:
        from .knn import knn_query

        _required(offset=offset, nsample=nsample)
        idx, _ = knn_query(nsample, xyz, offset, new_xyz, new_offset)
    return grouping(idx, feat, xyz, new_xyz, with_xyz), idx


def ball_query_and_group(feat, xyz, offset=None, new_xyz=None, new_offset=None, idx=None,
                         max_radio=None, min_radio=0, nsample=None, with_xyz=False):
    """Ball query (unless idx is given) then grouping.

    When idx is None it is computed with ball_query(nsample, max_radio, min_radio, xyz, offset,
    new_xyz, new_offset) (nsample, max_radio and offset are then required). Missing neighbours
    (-1) give zero rows. Returns (grouped, idx).
    """
    _points(xyz)
    new_xyz, new_offset = _queries(xyz, offset, new_xyz, new_offset)
    if idx is None:
        from .ball_query import ball_query

        _required(offset=offset, nsample=nsample, max_radio=max_radio)
        idx, _ = ball_query(nsample, max_radio, min_radio, xyz, offset,
                            new_xyz, new_offset)
    return grouping(idx, feat, xyz, new_xyz, with_xyz), idx


def query_and_group(nsample, xyz, new_xyz, feat, idx, offset, new_offset, dilation=0,
                    with_feat=True, with_xyz=True):
    """kNN (unless idx is given) then grouping, with optional dilation.

    When idx is None: with dilation d >= 1 the nsample * (d + 1) nearest neighbours are found
    and every (d + 1)-th is kept (nearest first), else the nsample nearest. new_xyz defaults to
    xyz (and new_offset to offset). Returns (grouped, idx) where grouped is
    cat(xyz[idx] - new_xyz, feat[idx]) (m, nsample, 3 + c) with both flags, only the relative
    coordinates (m, nsample, 3) without with_feat, only the features without with_xyz;
    -1 neighbours give zero rows.
    """
    if not with_feat and not with_xyz:
        raise ValueError("at least one of with_feat and with_xyz must be True")
    _points(xyz)
    new_xyz, new_offset = _queries(xyz, offset, new_xyz, new_offset)
    if idx is None:
        from .knn import knn_query

        _required(offset=offset)
        nsample = chk.check_int(nsample, "nsample", minimum=1)  # knn sees only the product
        dilation = chk.check_int(dilation, "dilation", minimum=0)
        idx, _ = knn_query(nsample * (dilation + 1), xyz, offset, new_xyz, new_offset)
        if dilation > 0:
            idx = idx[:, :: dilation + 1].contiguous()
    if with_feat:
        return grouping(idx, feat, xyz, new_xyz, with_xyz), idx
    # coordinates only: group an empty feature tensor with with_xyz
    empty = xyz.new_empty((xyz.shape[0], 0))
    return grouping(idx, empty, xyz, new_xyz, True), idx
