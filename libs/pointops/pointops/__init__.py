"""pointops: point-cloud operators for Pointcept models, with CPU and CUDA kernels.

A drop-in replacement for the `pointops` package that Pointcept imports: the same function
names, signatures and outputs (see libs/pointops/README.md for the exact semantics, including
what this implementation does differently where the old behaviour was a bug).
"""
import torch  # noqa: F401  (loads libtorch before the extension's operator registrations)

from . import _C  # noqa: F401  (registers torch.ops.pointops.*)

__version__ = "1.0.0"

from .knn import knn_query  # noqa: E402
from .ball_query import ball_query, random_ball_query  # noqa: E402
from .interpolation import interpolation, interpolation2  # noqa: E402
from .sampling import farthest_point_sampling  # noqa: E402
from .grouping import grouping, grouping2  # noqa: E402
from .query_group import knn_query_and_group, ball_query_and_group, query_and_group  # noqa: E402
from .subtraction import subtraction  # noqa: E402
from .aggregation import aggregation  # noqa: E402
from .attention import attention_fusion_step, attention_relation_step  # noqa: E402
from .utils import batch2offset, offset2batch  # noqa: E402

__all__ = [
    "__version__",
    "knn_query",
    "ball_query",
    "random_ball_query",
    "farthest_point_sampling",
    "interpolation",
    "interpolation2",
    "grouping",
    "grouping2",
    "knn_query_and_group",
    "ball_query_and_group",
    "query_and_group",
    "subtraction",
    "aggregation",
    "attention_relation_step",
    "attention_fusion_step",
    "offset2batch",
    "batch2offset",
]
