"""pointgroup_ops: ball query with batch offsets and breadth-first clustering.

Drop-in for the functions PointGroup-style instance segmentation heads import::

    from pointgroup_ops import ballquery_batch_p, bfs_cluster

* ``ballquery_batch_p(coords, batch_idxs, batch_offsets, radius, meanActive)``
  -> ``(idx, start_len)``: every point of the same scene within ``radius``
  (squared distance < radius^2, the point itself included), ascending index
  order, no cap (``meanActive`` is only a sizing hint).
* ``bfs_cluster(semantic_label, ball_query_idxs, start_len, threshold)``
  -> ``(cluster_idxs, cluster_offsets)``: breadth-first clusters over
  neighbours of equal label, seeded in ascending point order; clusters with
  fewer than ``threshold`` points dropped. CPU or CUDA tensors.
* :class:`Clustering`: a small helper that runs both for a batch.
"""
from ._version import __version__
from .functions import Clustering, ballquery_batch_p, bfs_cluster, cuda_available

__all__ = ["ballquery_batch_p", "bfs_cluster", "Clustering", "cuda_available", "__version__"]
