"""open3d: imports, and a PointCloud computes the bounding box numpy computes."""
from ..core import CheckFailed


def check_open3d(ctx):
    import numpy as np
    import open3d as o3d

    ctx.versions["open3d"] = getattr(o3d, "__version__", None)
    pts = np.random.default_rng(0).random((500, 3))
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(pts))
    box = pcd.get_axis_aligned_bounding_box()
    if not (np.allclose(box.min_bound, pts.min(0)) and np.allclose(box.max_bound, pts.max(0))):
        raise CheckFailed("open3d bounding box disagrees with numpy")
    return f"open3d {ctx.versions['open3d']}: PointCloud of 500 points, bounding box matches"
