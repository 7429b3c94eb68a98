"""ballquery_batch_p on the CPU against a brute-force NumPy reference."""
import copy
import io
import pickle

import numpy as np
import pytest
import torch

import pointgroup_ops as pgo  # noqa: E402  (a broken build fails here, it is never skipped)
from pgo_reference import (  # noqa: E402
    ballquery_reference,
    batch_from_counts,
    clumped_scene,
    offsets_from_counts,
)


def run_and_compare(coords_np, counts, radius, mean_active=300):
    coords = torch.from_numpy(np.ascontiguousarray(coords_np, dtype=np.float32))
    idx, start_len = pgo.ballquery_batch_p(
        coords, batch_from_counts(counts), offsets_from_counts(counts), radius, mean_active
    )
    assert idx.dtype == torch.int32 and start_len.dtype == torch.int32
    assert start_len.shape == (coords.shape[0], 2)
    ref_idx, ref_sl = ballquery_reference(coords_np, offsets_from_counts(counts), radius)
    np.testing.assert_array_equal(start_len.numpy(), ref_sl)
    np.testing.assert_array_equal(idx.numpy(), ref_idx)
    return idx, start_len


def test_uniform_random_scenes_of_different_sizes():
    rng = np.random.default_rng(1)
    counts = [300, 1, 450, 200]
    pts = rng.uniform(0, 10, size=(sum(counts), 3)).astype(np.float32)
    run_and_compare(pts, counts, 1.0)


def test_clumped_scenes_and_an_empty_scene():
    rng = np.random.default_rng(2)
    a, _ = clumped_scene(rng, 700, 6, 2.5, (60, 60, 20), 4)
    b, _ = clumped_scene(rng, 500, 4, 2.5, (60, 60, 20), 4)
    run_and_compare(np.concatenate([a, b]), [700, 0, 500, 0], 1.5)


def test_every_list_is_sorted_and_contains_the_point_itself():
    rng = np.random.default_rng(3)
    pts = rng.normal(0, 1, size=(800, 3)).astype(np.float32)
    idx, sl = run_and_compare(pts, [800], 0.7)
    for i in range(0, 800, 37):
        s, l = sl[i].tolist()
        lst = idx[s : s + l].numpy()
        assert i in lst
        assert np.all(np.diff(lst) > 0)


def test_isolated_points_only_see_themselves():
    pts = np.arange(60, dtype=np.float32).reshape(20, 3) * 10.0
    idx, sl = run_and_compare(pts, [10, 10], 1.5)
    assert idx.tolist() == list(range(20))
    assert sl[:, 1].tolist() == [1] * 20


def test_no_cap_more_than_1000_neighbours_are_kept():
    rng = np.random.default_rng(4)
    pts = rng.uniform(0, 0.5, size=(1300, 3)).astype(np.float32)  # all within radius 1 of each other
    idx, sl = run_and_compare(pts, [1300], 1.0, mean_active=5)
    assert sl[:, 1].min().item() == 1300
    assert idx.numel() == 1300 * 1300


def test_scenes_never_mix_even_at_identical_coordinates():
    rng = np.random.default_rng(5)
    a = rng.uniform(0, 3, size=(200, 3)).astype(np.float32)
    idx, sl = run_and_compare(np.concatenate([a, a]), [200, 200], 1.0)
    assert (idx[sl[0, 0] : sl[0, 0] + sl[0, 1]] < 200).all()
    assert (idx[sl[300, 0] : sl[300, 0] + sl[300, 1]] >= 200).all()


def test_boundary_distance_is_excluded_strictly():
    # Integer lattice: neighbours at distance exactly 1 are not < radius 1.
    g = np.stack(np.meshgrid(np.arange(5), np.arange(5), np.arange(5), indexing="ij"), -1).reshape(-1, 3)
    pts = g.astype(np.float32)
    _, sl = run_and_compare(pts, [125], 1.0)
    assert sl[:, 1].max().item() == 1
    _, sl = run_and_compare(pts, [125], 1.0001)
    assert sl[62, 1].item() == 7  # centre point: itself and 6 face neighbours


def test_large_coordinates_and_duplicate_points():
    rng = np.random.default_rng(6)
    base = rng.uniform(0, 20, size=(300, 3)).astype(np.float32) + np.float32(20000.0)
    pts = np.concatenate([base, base[:50]])  # exact duplicates
    run_and_compare(pts, [350], 1.5)


def test_tiny_radius_with_a_wide_scene():
    rng = np.random.default_rng(7)
    pts = np.concatenate(
        [rng.uniform(0, 1e6, size=(100, 3)), rng.uniform(0, 1e-3, size=(100, 3))]
    ).astype(np.float32)
    run_and_compare(pts, [200], 1e-4)


def test_zero_points():
    idx, sl = pgo.ballquery_batch_p(
        torch.zeros(0, 3), torch.zeros(0, dtype=torch.int32), torch.zeros(3, dtype=torch.int32), 1.0, 10
    )
    assert idx.shape == (0,) and sl.shape == (0, 2)


def _args(n=10, counts=(4, 6)):
    coords = torch.rand(n, 3)
    return coords, batch_from_counts(list(counts)), offsets_from_counts(list(counts))


@pytest.mark.parametrize(
    "offsets, match",
    [
        ([0, 4, 9], "batch_offsets"),  # does not add up to n = 10
        ([0, 4, 11], "batch_offsets"),  # past the end
        ([1, 4, 10], "batch_offsets"),  # no leading zero
        ([0, 6, 4, 10], "batch_offsets"),  # decreasing
    ],
)
def test_bad_batch_offsets_raise(offsets, match):
    coords, _, _ = _args()
    batch = torch.zeros(10, dtype=torch.int32)
    with pytest.raises(ValueError, match=match):
        pgo.ballquery_batch_p(coords, batch, torch.tensor(offsets, dtype=torch.int32), 1.0, 10)


def test_batch_idxs_inconsistent_with_offsets_raises():
    coords, batch, off = _args()
    batch[2] = 1
    with pytest.raises(ValueError, match="batch_idxs"):
        pgo.ballquery_batch_p(coords, batch, off, 1.0, 10)


def test_argument_types_and_values_are_checked():
    coords, batch, off = _args()
    with pytest.raises(TypeError, match="coords"):
        pgo.ballquery_batch_p(coords.double(), batch, off, 1.0, 10)
    with pytest.raises(ValueError, match="coords"):
        pgo.ballquery_batch_p(coords[:, :2].contiguous(), batch, off, 1.0, 10)
    with pytest.raises(ValueError, match="batch_idxs"):
        pgo.ballquery_batch_p(coords, batch[:5], off, 1.0, 10)
    with pytest.raises(TypeError, match="batch_offsets"):
        pgo.ballquery_batch_p(coords, batch, off.float(), 1.0, 10)
    for bad_radius in (0.0, -1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="radius"):
            pgo.ballquery_batch_p(coords, batch, off, bad_radius, 10)
    with pytest.raises(ValueError, match="meanActive"):
        pgo.ballquery_batch_p(coords, batch, off, 1.0, -1)
    nan_coords = coords.clone()
    nan_coords[3, 1] = float("nan")
    with pytest.raises(ValueError, match="coords"):
        pgo.ballquery_batch_p(nan_coords, batch, off, 1.0, 10)


def test_int64_offsets_and_batch_are_accepted():
    coords, batch, off = _args()
    a = pgo.ballquery_batch_p(coords, batch, off, 0.5, 10)
    b = pgo.ballquery_batch_p(coords, batch.long(), off.long(), 0.5, 10)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_cpu_outputs_are_plain_tensors():
    # only CUDA outputs copy to page-locked memory (test_pgo_cuda.py); on the CPU nothing wraps them
    coords = torch.rand(50, 3)
    idx, start_len = pgo.ballquery_batch_p(coords, torch.zeros(50, dtype=torch.int32),
                                           torch.tensor([0, 50], dtype=torch.int32), 0.5)
    assert type(idx) is torch.Tensor and type(start_len) is torch.Tensor


def test_the_page_locked_copy_class_is_saved_and_copied_as_a_plain_tensor():
    # CUDA outputs carry it (test_pgo_cuda.py); a saved output must load with weights_only=True
    from pointgroup_ops.functions import _PinnedHostCopy

    out = torch.arange(6, dtype=torch.int32).as_subclass(_PinnedHostCopy)
    buf = io.BytesIO()
    torch.save(out, buf)
    buf.seek(0)
    for copied in (torch.load(buf, weights_only=True), pickle.loads(pickle.dumps(out)), copy.deepcopy(out)):
        assert type(copied) is torch.Tensor and torch.equal(copied, torch.arange(6, dtype=torch.int32))
    assert repr(out) == repr(torch.arange(6, dtype=torch.int32))


def test_compiled_module_exposes_both_ops():
    import pointgroup_ops_cuda

    assert hasattr(pointgroup_ops_cuda, "ballquery_batch_p")
    assert hasattr(pointgroup_ops_cuda, "bfs_cluster")
    assert isinstance(pgo.__version__, str) and pgo.__version__
