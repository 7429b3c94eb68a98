"""bfs_cluster on the CPU with 1, 2, a few and many threads: the same result as the Python
reference, whatever the number of threads and of independent index ranges (scenes).

With more than one thread and enough list entries (>= 2**15), the search cuts the points into
index ranges and searches them in parallel. The cuts are guessed from the last entry of each
list (its largest, for the ascending lists of ballquery_batch_p) and checked by the search,
which falls back to one range when a list crosses a cut. With more than three times as many
threads as such ranges (weighed by their work), it searches by components instead, and
checks that what it found is what the sequential search finds, else runs that. The inputs
below are big enough for these paths; some are built so that ranges must not be cut, so that
every guess is wrong, or so that the component search must give up.
"""
import multiprocessing
import threading

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

THREADS = [1, 2, 3, 7, 16]
PARALLEL_MIN_ENTRIES = 1 << 15  # below this the search is sequential at any thread count


@pytest.fixture
def threads(request):
    before = torch.get_num_threads()
    torch.set_num_threads(request.param)
    yield request.param
    torch.set_num_threads(before)


def scenes_input(counts, seed, n_labels=3):
    rng = np.random.default_rng(seed)
    parts = [clumped_scene(rng, c, max(1, c // 300), 2.0, (40, 40, 15), n_labels) for c in counts]
    coords = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    label = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    idx, sl = pgo.ballquery_batch_p(coords, batch_from_counts(counts), offsets_from_counts(counts), 1.5, 300)
    return label, idx, sl


# Scenes fewer than, as many as and more than the threads; unequal sizes; an empty scene.
SCENE_LAYOUTS = {
    "one scene": [6000],
    "two scenes": [3500, 2500],
    "five unequal scenes": [2500, 300, 1800, 0, 1200, 900],
    "seventeen scenes": [400] * 17,
}
_inputs = {}


def cached_input(name):
    if name not in _inputs:
        label, idx, sl = scenes_input(SCENE_LAYOUTS[name], seed=len(_inputs) + 20)
        assert idx.numel() >= PARALLEL_MIN_ENTRIES, "too small to reach the parallel search"
        _inputs[name] = (label, idx, sl, {t: bfs_reference(label.numpy(), idx.numpy(), sl.numpy(), t) for t in (0, 30)})
    return _inputs[name]


def searches_run(fn):
    """The searches a call took, by the profiler scopes bfs_cluster opens for them."""
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        fn()
    return {e.name for e in prof.events() if e.name.startswith("bfs_cluster: ")}


def assert_reference(label, idx, sl, threshold, ref=None):
    ci, co = pgo.bfs_cluster(label, idx, sl, threshold)
    rci, rco = ref if ref is not None else bfs_reference(label.numpy(), idx.numpy(), sl.numpy(), threshold)
    np.testing.assert_array_equal(co.numpy(), rco)
    np.testing.assert_array_equal(ci.numpy().reshape(-1, 2), rci)
    return ci, co


@pytest.mark.parametrize("threads", THREADS, indirect=True)
@pytest.mark.parametrize("layout", list(SCENE_LAYOUTS))
@pytest.mark.parametrize("threshold", [0, 30])
def test_scenes_against_reference(threads, layout, threshold):
    label, idx, sl, refs = cached_input(layout)
    assert_reference(label, idx, sl, threshold, refs[threshold])


@pytest.mark.parametrize("threads", THREADS, indirect=True)
@pytest.mark.parametrize("direction", ["forward", "backward"])
def test_lists_crossing_scenes_keep_the_sequential_order(threads, direction):
    # The scenes above, plus directed edges between scenes (from an early point to a late one,
    # or back) whose ends share a label: a forward edge joins clusters of two scenes, so no
    # range may be cut between them; a backward edge leads to a point that is always marked.
    label, idx, sl, _ = cached_input("five unequal scenes")
    lists = [idx[s : s + l].tolist() for s, l in sl.tolist()]
    label = label.clone()
    rng = np.random.default_rng(5)
    n = len(lists)
    for _ in range(6):
        a, b = sorted(rng.integers(0, n, size=2).tolist())
        if direction == "forward":
            lists[a].insert(1, b)
        else:
            lists[b].insert(0, a)
        label[b] = label[a]
    idx2, sl2 = lists_as_tensors(lists)
    assert_reference(label, idx2, sl2, 1)


# The component search is taken when its work, three times the sequential search's, spread
# over the threads, is less than the widest range's. One scene is one range: from 4 threads on.
# Two scenes of 3500 and 2500 points: the wider range holds about 3/5 of the work (more or
# less, with the lists), so 4 threads take the range search and 7 the component search.
# Seventeen equal scenes are cut into at most `threads` ranges of one or two scenes, never
# worth it.
@pytest.mark.parametrize(
    "layout, threads, search",
    [
        ("one scene", 3, "sequential"),
        ("one scene", 4, "component"),
        ("two scenes", 4, "range"),
        ("two scenes", 7, "component"),
        ("seventeen scenes", 16, "range"),
    ],
    indirect=["threads"],
)
def test_the_search_taken_at_the_thread_count_boundaries(layout, threads, search):
    label, idx, sl, refs = cached_input(layout)
    taken = searches_run(lambda: assert_reference(label, idx, sl, 30, refs[30]))
    assert taken == {f"bfs_cluster: {search} search"}


@pytest.mark.parametrize("threads", [4, 16], indirect=True)
def test_one_way_entries_make_the_component_search_give_up(threads):
    # One-way entries inside a scene, from a point to a later point far away, given the same
    # label. The component search joins sets only through entries in the larger point's list,
    # so the two components stay apart, and the search grown in one reaches into the other:
    # the two overlap, or one meets a point below its seed. Its check fails, it gives up, and
    # the sequential search gives the reference result.
    label, idx, sl, _ = cached_input("one scene")
    label = label.clone()
    lists = [idx[s : s + l].tolist() for s, l in sl.tolist()]
    rng = np.random.default_rng(11)
    n = len(lists)
    for _ in range(8):
        a, b = sorted(rng.integers(0, n, size=2).tolist())
        label[b] = label[a]
        lists[a].append(b)
    idx2, sl2 = lists_as_tensors(lists)
    taken = searches_run(lambda: assert_reference(label, idx2, sl2, 30))
    assert taken == {"bfs_cluster: component search", "bfs_cluster: sequential search"}


def search_in_child(queue, label, idx, sl, expected_offsets):
    torch.set_num_threads(4)
    _, offsets = pgo.bfs_cluster(label, idx, sl, 30)
    queue.put(torch.equal(offsets, expected_offsets))


@pytest.mark.parametrize("threads", [4], indirect=True)
def test_a_forked_child_searches_with_threads_of_its_own(threads):
    # The threads are kept between calls. A child made by fork() (a DataLoader worker, say) has
    # none of its parent's threads: it must start its own rather than wait for them.
    label, idx, sl, refs = cached_input("one scene")
    assert searches_run(lambda: pgo.bfs_cluster(label, idx, sl, 30)) == {"bfs_cluster: component search"}
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    child = context.Process(target=search_in_child, args=(queue, label, idx, sl, torch.from_numpy(refs[30][1])))
    child.start()
    child.join(timeout=60)
    alive = child.is_alive()
    if alive:
        child.kill()
    assert not alive, "the child's search did not finish"
    assert child.exitcode == 0 and queue.get(timeout=5)


@pytest.mark.parametrize("threads", [4], indirect=True)
def test_calls_from_two_python_threads_at_once(threads):
    # One call at a time uses the kept threads; a call made meanwhile searches on its own thread.
    results = {}

    def search(name):
        label, idx, sl, refs = cached_input(name)
        for _ in range(5):
            ci, co = pgo.bfs_cluster(label, idx, sl, 30)
            results.setdefault(name, []).append(
                np.array_equal(co.numpy(), refs[30][1]) and np.array_equal(ci.numpy().reshape(-1, 2), refs[30][0]))

    for name in ("one scene", "two scenes"):
        cached_input(name)  # built here, not in the threads
    workers = [threading.Thread(target=search, args=(name,)) for name in ("one scene", "two scenes")]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert results == {"one scene": [True] * 5, "two scenes": [True] * 5}


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_lists_in_descending_order_cross_every_guessed_cut(threads):
    # Reversed lists: the last entry of each is its smallest, so the guessed reach of a point is
    # about itself and cuts are guessed inside scenes, where lists cross them. Only the check in
    # the search keeps the result sequential (the order within clusters follows the lists).
    label, idx, sl, _ = cached_input("two scenes")
    lists = [idx[s : s + l].tolist()[::-1] for s, l in sl.tolist()]
    idx2, sl2 = lists_as_tensors(lists)
    assert_reference(label, idx2, sl2, 0)


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_chain_isolated_points_and_empty_lists(threads):
    # A chain 0-1-2-...; points with empty lists (not even themselves) and isolated points
    # interleaved; one giant component, so no cut exists inside the chain.
    n = 40000
    lists = []
    for i in range(n):
        if i % 97 == 5:
            lists.append([])
        elif i % 89 == 3:
            lists.append([i])
        else:
            lists.append([j for j in (i - 1, i, i + 1) if 0 <= j < n and j % 97 != 5 and j % 89 != 3])
    idx, sl = lists_as_tensors(lists)
    assert idx.numel() >= PARALLEL_MIN_ENTRIES
    label = torch.zeros(n, dtype=torch.int32)
    for threshold in (0, 2, 50):
        assert_reference(label, idx, sl, threshold)


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_one_giant_component(threads):
    rng = np.random.default_rng(8)
    pts = rng.uniform(0, 4, size=(3000, 3)).astype(np.float32)
    idx, sl = pgo.ballquery_batch_p(torch.from_numpy(pts), batch_from_counts([3000]), offsets_from_counts([3000]), 1.0, 300)
    assert idx.numel() >= PARALLEL_MIN_ENTRIES
    ci, co = assert_reference(torch.full((3000,), 4, dtype=torch.int32), idx, sl, 10)
    assert co.tolist() == [0, 3000]


@pytest.mark.parametrize("threads", THREADS, indirect=True)
def test_bad_entries_are_reported_in_index_order(threads):
    label, idx, sl, _ = cached_input("seventeen scenes")
    bad = idx.clone()
    late, early = int(sl[6000, 0]), int(sl[100, 0])
    bad[late] = -7
    bad[early] = label.numel() + 3
    with pytest.raises(ValueError, match=rf"ball_query_idxs\[{early}\] = {label.numel() + 3} \(a neighbour of point 100\)"):
        pgo.bfs_cluster(label, bad, sl, 1)
    bad_sl = sl.clone()
    bad_sl[4000, 1] = idx.numel()
    with pytest.raises(ValueError, match=r"start_len\[4000\]"):
        pgo.bfs_cluster(label, idx, bad_sl, 1)


# The search keeps labels as byte codes when every label is within 254 of the smallest one,
# and as 64-bit codes otherwise: both sides of that boundary, negative labels (an ignore label
# such as -100) and the int32 extremes.
def labels_between(low, high):
    """Random labels in [low, high], both ends present."""
    return lambda rng, n: np.concatenate([[low, high], rng.integers(low, high + 1, size=n - 2)])


LABEL_SETS = {
    "span 254 (byte codes)": labels_between(-100, 154),
    "span 255 (64-bit codes)": labels_between(-100, 155),
    "ignore label and classes": lambda rng, n: rng.choice([-100, 0, 1, 2], size=n),
    "int32 extremes": lambda rng, n: rng.choice([-(2**31), 2**31 - 1, 0], size=n),
    "many labels": labels_between(0, 5000),
}


@pytest.mark.parametrize("threads", [1, 3], indirect=True)
@pytest.mark.parametrize("labels", list(LABEL_SETS))
def test_label_values_of_any_range(threads, labels):
    _, idx, sl, _ = cached_input("five unequal scenes")
    rng = np.random.default_rng(9)
    n = sl.shape[0]
    # Labels constant over runs of 40 points keep clusters of several points.
    values = LABEL_SETS[labels](rng, n // 40 + 1)
    label = torch.from_numpy(np.repeat(values, 40)[:n].astype(np.int32))
    ci, co = assert_reference(label, idx, sl, 2)
    assert co.numel() > 10
