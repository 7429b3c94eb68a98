"""Thin Python layer over the compiled module ``pointgroup_ops_cuda``.

Validation of every argument happens in the compiled module, which raises
``ValueError`` / ``TypeError`` naming the argument.
"""
from typing import Optional, Sequence, Tuple, Union

import torch

import pointgroup_ops_cuda as _C


def cuda_available() -> bool:
    """True when the compiled module contains the CUDA kernels."""
    return bool(_C.with_cuda())


class _PinnedHostCopy(torch.Tensor):
    """A CUDA output of :func:`ballquery_batch_p` whose ``.cpu()`` lands in page-locked memory.

    PointGroup heads copy both outputs to the host for ``bfs_cluster`` with ``.cpu()``. Into
    pageable memory the driver copies through staging buffers of its own, at a third to a
    quarter of the speed of a copy into page-locked memory, and with trained centres ``idx`` grows
    with the square of each instance's size. The pages come from torch's caching host
    allocator, so after the first call a copy of a similar size reuses them.

    Only ``.cpu()`` changes: every other operation gives a plain tensor, so the behaviour stays
    on the two outputs themselves.
    """

    @classmethod
    def __torch_function__(cls, func, types, args=(), kwargs=None):
        with torch._C.DisableTorchFunctionSubclass():
            if func is torch.Tensor.cpu and len(args) == 1 and not kwargs and args[0].is_cuda:
                src = args[0]
                return torch.empty(src.shape, dtype=src.dtype, pin_memory=True).copy_(src)
            if func in _AS_PLAIN_TENSOR:
                return func(args[0].as_subclass(torch.Tensor), *args[1:], **(kwargs or {}))
            return func(*args, **(kwargs or {}))


# Printed, pickled (torch.save) and deep-copied as the plain tensor it stands for: a saved output
# then loads with torch.load(weights_only=True), which refuses unknown subclasses.
_AS_PLAIN_TENSOR = frozenset({torch.Tensor.__repr__, torch.Tensor.__reduce_ex__, torch.Tensor.__deepcopy__})


def ballquery_batch_p(
    coords: torch.Tensor,
    batch_idxs: torch.Tensor,
    batch_offsets: torch.Tensor,
    radius: float,
    meanActive: int = 0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Radius neighbours of every point within its own scene.

    Args:
        coords: float32 ``(n, 3)``, CPU or CUDA.
        batch_idxs: int32 ``(n,)`` scene of each point (must agree with ``batch_offsets``).
        batch_offsets: int32 ``(B+1,)`` with a leading 0, non-decreasing, last == n.
        radius: neighbours have ``squared distance < float32(radius)**2``.
        meanActive: sizing hint kept for compatibility; every neighbour is returned.

    Returns:
        ``idx`` int32 ``(nActive,)``: all neighbour lists concatenated, each in
        ascending index order and containing the point itself;
        ``start_len`` int32 ``(n, 2)``: ``(start, length)`` of each point's list.
        On CUDA, their ``.cpu()`` copies land in page-locked memory (see ``_PinnedHostCopy``).
    """
    idx, start_len = _C.ballquery_batch_p(coords, batch_idxs, batch_offsets, float(radius), int(meanActive))
    if idx.is_cuda:
        return idx.as_subclass(_PinnedHostCopy), start_len.as_subclass(_PinnedHostCopy)
    return idx, start_len


def bfs_cluster(
    semantic_label: torch.Tensor,
    ball_query_idxs: torch.Tensor,
    start_len: torch.Tensor,
    threshold: int,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Breadth-first clustering over neighbour lists of equal semantic label.

    Seeds are taken in ascending point order; each cluster lists its points in
    BFS visiting order (seed, then its unvisited same-label neighbours in list
    order, ...). Clusters with fewer than ``threshold`` points are dropped and
    ids are given to the kept clusters in discovery order.

    Args:
        semantic_label: int32 ``(n,)``.
        ball_query_idxs, start_len: output of :func:`ballquery_batch_p`.
        threshold: minimum cluster size.

    Returns:
        ``cluster_idxs`` int32 ``(total, 2)`` rows ``[cluster_id, point_index]`` and
        ``cluster_offsets`` int32 ``(n_clusters + 1,)``, on the inputs' device.
    """
    return _C.bfs_cluster(semantic_label, ball_query_idxs, start_len, int(threshold))


class Clustering:
    """Ball-query + BFS clustering of a batch, the way PointGroup heads use the two ops.

    ``Clustering(radius, mean_active=300, min_points=50)`` then
    ``clusters(coord, semantic_label, offset)`` where ``offset`` is the Pointcept
    batching (B cumulative counts, no leading zero; a leading zero is accepted
    too). ``ignore_labels`` (optional) lists semantic classes that are not
    clustered (e.g. wall/floor): their points are left out before clustering and
    the returned indices still refer to the full point set.

    Returns ``(cluster_idxs, cluster_offsets)`` as :func:`bfs_cluster` does, with
    point indices into ``coord``. This helper is a convenience of this package,
    not part of Pointcept's interface.
    """

    def __init__(
        self,
        radius: float,
        mean_active: int = 300,
        min_points: int = 50,
        ignore_labels: Optional[Sequence[int]] = None,
    ):
        if not radius > 0:
            raise ValueError(f"Clustering: radius must be > 0, got {radius}")
        if int(min_points) < 0:
            raise ValueError(f"Clustering: min_points must be >= 0, got {min_points}")
        self.radius = float(radius)
        self.mean_active = int(mean_active)
        self.min_points = int(min_points)
        self.ignore_labels = list(ignore_labels) if ignore_labels is not None else []

    def __call__(
        self,
        coord: torch.Tensor,
        semantic_label: torch.Tensor,
        offset: Union[torch.Tensor, Sequence[int]],
    ) -> Tuple[torch.Tensor, torch.Tensor]:
        device = coord.device
        offset = torch.as_tensor(offset, device=device).to(torch.int64).reshape(-1)
        if offset.numel() == 0:
            raise ValueError("Clustering: offset must hold at least one scene")
        if int(offset[0]) != 0:
            offset = torch.cat([offset.new_zeros(1), offset])
        n = coord.shape[0]
        if int(offset[-1]) != n:
            raise ValueError(f"Clustering: offset[-1] must equal coord.shape[0] = {n}, got {int(offset[-1])}")
        if semantic_label.shape != (n,):
            raise ValueError(f"Clustering: semantic_label must have shape ({n},), got {tuple(semantic_label.shape)}")
        counts = offset[1:] - offset[:-1]
        if bool((counts < 0).any()):
            raise ValueError("Clustering: offset must be non-decreasing")
        batch = torch.repeat_interleave(torch.arange(counts.numel(), device=device), counts)
        label = semantic_label.to(device=device, dtype=torch.int32)
        keep = torch.ones(n, dtype=torch.bool, device=device)
        for ignored in self.ignore_labels:
            keep &= label != int(ignored)
        keep_idx = torch.nonzero(keep).reshape(-1)
        sub_batch = batch[keep_idx]
        sub_counts = torch.bincount(sub_batch, minlength=counts.numel())
        sub_offsets = torch.cat([sub_counts.new_zeros(1), torch.cumsum(sub_counts, 0)]).to(torch.int32)
        idx, start_len = ballquery_batch_p(
            coord[keep_idx].float().contiguous(),
            sub_batch.to(torch.int32),
            sub_offsets,
            self.radius,
            self.mean_active,
        )
        cluster_idxs, cluster_offsets = bfs_cluster(label[keep_idx].contiguous(), idx, start_len, self.min_points)
        if cluster_idxs.numel():
            cluster_idxs = cluster_idxs.clone()
            cluster_idxs[:, 1] = keep_idx[cluster_idxs[:, 1].long()].to(torch.int32)
        return cluster_idxs, cluster_offsets
