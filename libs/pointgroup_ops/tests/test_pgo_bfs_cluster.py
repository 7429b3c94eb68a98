"""bfs_cluster (and the Clustering helper) on the CPU against a Python BFS reference."""
import numpy as np
import pytest
import torch

import pointgroup_ops as pgo  # noqa: E402  (a broken build fails here, it is never skipped)
from pgo_reference import (  # noqa: E402
    batch_from_counts,
    bfs_reference,
    clumped_scene,
    lists_as_tensors,
    offsets_from_counts,
)


def compare(label, idx, sl, threshold):
    ci, co = pgo.bfs_cluster(label, idx, sl, threshold)
    assert ci.dtype == torch.int32 and co.dtype == torch.int32
    rci, rco = bfs_reference(label.numpy(), idx.numpy(), sl.numpy(), threshold)
    np.testing.assert_array_equal(co.numpy(), rco)
    np.testing.assert_array_equal(ci.numpy().reshape(-1, 2), rci)
    return ci, co


def test_known_small_graph_gives_the_expected_order():
    # 0-3, 0-1, 3-4, 1-2 (lists in this order), 5 alone, 6-7 with another label.
    lists = [[0, 3, 1], [1, 0, 2], [2, 1], [3, 4, 0], [4, 3], [5], [6, 7], [7, 6]]
    label = torch.tensor([1, 1, 1, 1, 1, 1, 2, 2], dtype=torch.int32)
    idx, sl = lists_as_tensors(lists)
    ci, co = pgo.bfs_cluster(label, idx, sl, 2)
    assert co.tolist() == [0, 5, 7]
    assert ci.tolist() == [[0, 0], [0, 3], [0, 1], [0, 4], [0, 2], [1, 6], [1, 7]]
    ci, co = pgo.bfs_cluster(label, idx, sl, 1)
    assert co.tolist() == [0, 5, 6, 8]
    assert ci[5].tolist() == [1, 5]


def _ballquery(pts, counts, radius):
    return pgo.ballquery_batch_p(
        torch.from_numpy(pts), batch_from_counts(counts), offsets_from_counts(counts), radius, 300
    )


@pytest.mark.parametrize("threshold", [0, 1, 5, 50])
def test_clumped_input_against_reference(threshold):
    rng = np.random.default_rng(10 + threshold)
    a, la = clumped_scene(rng, 900, 8, 2.5, (60, 60, 20), 3)
    b, lb = clumped_scene(rng, 600, 5, 2.5, (60, 60, 20), 3)
    idx, sl = _ballquery(np.concatenate([a, b]), [900, 600], 1.5)
    compare(torch.from_numpy(np.concatenate([la, lb])), idx, sl, threshold)


def test_random_labels_split_clumps():
    rng = np.random.default_rng(11)
    pts, _ = clumped_scene(rng, 1200, 3, 2.0, (20, 20, 20), 1)
    label = torch.from_numpy(rng.integers(0, 3, size=1200).astype(np.int32))
    idx, sl = _ballquery(pts, [1200], 1.5)
    ci, co = compare(label, idx, sl, 1)
    assert co.numel() - 1 > 3  # the labels really split the clumps


def test_isolated_points_and_threshold_filtering():
    pts = (np.arange(30, dtype=np.float32).reshape(10, 3) * 10.0).astype(np.float32)
    idx, sl = _ballquery(pts, [10], 1.0)
    label = torch.zeros(10, dtype=torch.int32)
    ci, co = compare(label, idx, sl, 1)
    assert co.tolist() == list(range(11))
    ci, co = compare(label, idx, sl, 2)
    assert ci.shape == (0, 2) and co.tolist() == [0]


def test_one_big_cluster():
    rng = np.random.default_rng(12)
    pts = rng.uniform(0, 3, size=(1500, 3)).astype(np.float32)
    idx, sl = _ballquery(pts, [1500], 1.0)
    ci, co = compare(torch.full((1500,), 7, dtype=torch.int32), idx, sl, 100)
    assert co.tolist() == [0, 1500]
    assert sorted(ci[:, 1].tolist()) == list(range(1500))


def test_directed_lists_follow_the_breadth_first_search():
    # Asymmetric input: 2 lists 0 but 0 does not list 2.
    lists = [[0, 1], [1], [2, 0], [3, 2]]
    label = torch.zeros(4, dtype=torch.int32)
    idx, sl = lists_as_tensors(lists)
    ci, co = compare(label, idx, sl, 1)
    assert co.tolist() == [0, 2, 3, 4]


def test_zero_points():
    ci, co = pgo.bfs_cluster(
        torch.zeros(0, dtype=torch.int32), torch.zeros(0, dtype=torch.int32), torch.zeros(0, 2, dtype=torch.int32), 1
    )
    assert ci.shape == (0, 2) and co.tolist() == [0]


def test_two_million_point_chain_does_not_overflow():
    n = 2_000_000
    i = np.arange(n, dtype=np.int64)
    nb = np.stack([i - 1, i, i + 1], 1)
    valid = (nb >= 0) & (nb < n)
    lens = valid.sum(1)
    idx = torch.from_numpy(nb[valid].astype(np.int32))
    starts = np.concatenate([[0], np.cumsum(lens)[:-1]])
    sl = torch.from_numpy(np.stack([starts, lens], 1).astype(np.int32))
    ci, co = pgo.bfs_cluster(torch.zeros(n, dtype=torch.int32), idx, sl, 10)
    assert co.tolist() == [0, n]
    assert torch.equal(ci[:, 1], torch.arange(n, dtype=torch.int32))


def test_bad_inputs_raise_naming_the_argument():
    idx, sl = lists_as_tensors([[0, 1], [1, 0]])
    label = torch.zeros(2, dtype=torch.int32)
    with pytest.raises(TypeError, match="semantic_label"):
        pgo.bfs_cluster(label.long(), idx, sl, 1)
    with pytest.raises(TypeError, match="ball_query_idxs"):
        pgo.bfs_cluster(label, idx.long(), sl, 1)
    with pytest.raises(ValueError, match="start_len"):
        pgo.bfs_cluster(label, idx, sl[:1].contiguous(), 1)
    bad = sl.clone()
    bad[1, 1] = 5
    with pytest.raises(ValueError, match="start_len"):
        pgo.bfs_cluster(label, idx, bad, 1)
    bad_idx = idx.clone()
    bad_idx[1] = 2
    with pytest.raises(ValueError, match="ball_query_idxs"):
        pgo.bfs_cluster(label, bad_idx, sl, 1)
    with pytest.raises(ValueError, match="threshold"):
        pgo.bfs_cluster(label, idx, sl, -1)


def test_clustering_helper_matches_the_two_ops():
    rng = np.random.default_rng(13)
    a, la = clumped_scene(rng, 800, 6, 2.5, (60, 60, 20), 4)
    b, lb = clumped_scene(rng, 500, 4, 2.5, (60, 60, 20), 4)
    coord = torch.from_numpy(np.concatenate([a, b]))
    label = torch.from_numpy(np.concatenate([la, lb]))
    ci, co = pgo.Clustering(radius=1.5, mean_active=300, min_points=20)(coord, label, torch.tensor([800, 1300]))
    idx, sl = _ballquery(coord.numpy(), [800, 500], 1.5)
    rci, rco = bfs_reference(label.numpy(), idx.numpy(), sl.numpy(), 20)
    np.testing.assert_array_equal(co.numpy(), rco)
    np.testing.assert_array_equal(ci.numpy(), rci)
    # ignored labels: their points never appear, indices still refer to `coord`
    ci2, _ = pgo.Clustering(radius=1.5, min_points=20, ignore_labels=[0])(coord, label, [800, 1300])
    assert ci2.numel() and not (label[ci2[:, 1].long()] == 0).any()
    with pytest.raises(ValueError, match="offset"):
        pgo.Clustering(radius=1.5)(coord, label, [800, 1200])
