"""CUDA paths: results identical to the CPU paths (which are checked against the
references in the other test files). Skipped without a CUDA device."""
import gc
import io
import os

import numpy as np
import pytest
import torch

import pointgroup_ops as pgo  # noqa: E402  (a broken build fails here, it is never skipped)
from pgo_reference import (  # noqa: E402
    batch_from_counts,
    bfs_reference,
    clumped_scene,
    instance_workload,
    offsets_from_counts,
    widest_bucket,
)

has_cuda = torch.cuda.is_available() and pgo.cuda_available()
needs_cuda = pytest.mark.skipif(not has_cuda, reason="needs a CUDA device and a CUDA build of pointgroup_ops")


def both(coords, batch, off, radius, mean_active=300):
    cpu = pgo.ballquery_batch_p(coords.cpu(), batch.cpu(), off.cpu(), radius, mean_active)
    gpu = pgo.ballquery_batch_p(coords.cuda(), batch.cuda(), off.cuda(), radius, mean_active)
    assert gpu[0].is_cuda and gpu[1].is_cuda
    assert torch.equal(cpu[1], gpu[1].cpu()), "start_len differs"
    assert torch.equal(cpu[0], gpu[0].cpu()), "idx differs"
    return cpu, gpu


def bfs_both(label, idx, sl, threshold):
    cpu = pgo.bfs_cluster(label.cpu(), idx.cpu(), sl.cpu(), threshold)
    gpu = pgo.bfs_cluster(label.cuda(), idx.cuda(), sl.cuda(), threshold)
    assert gpu[0].is_cuda and gpu[1].is_cuda
    assert torch.equal(cpu[1], gpu[1].cpu()), "cluster_offsets differ"
    assert torch.equal(cpu[0], gpu[0].cpu()), "cluster_idxs differ"
    return cpu, gpu


@needs_cuda
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clumped_batches_identical(seed):
    rng = np.random.default_rng(seed)
    counts = [3000, 0, 2500, 4000]
    parts = [clumped_scene(rng, c, 10, 2.5, (80, 80, 30), 5) for c in counts]
    coords = torch.from_numpy(np.concatenate([p[0] for p in parts]))
    label = torch.from_numpy(np.concatenate([p[1] for p in parts]))
    (idx, sl), _ = both(coords, batch_from_counts(counts), offsets_from_counts(counts), 1.5)
    for threshold in (0, 1, 50):
        bfs_both(label, idx, sl, threshold)
        rci, rco = bfs_reference(label.numpy(), idx.numpy(), sl.numpy(), threshold)
        assert np.array_equal(pgo.bfs_cluster(label.cuda(), idx.cuda(), sl.cuda(), threshold)[1].cpu().numpy(), rco)


@needs_cuda
def test_uniform_and_boundary_cases_identical():
    rng = np.random.default_rng(5)
    pts = rng.uniform(0, 10, size=(5000, 3)).astype(np.float32)
    both(torch.from_numpy(pts), batch_from_counts([2000, 3000]), offsets_from_counts([2000, 3000]), 0.8)
    g = np.stack(np.meshgrid(np.arange(6), np.arange(6), np.arange(6), indexing="ij"), -1).reshape(-1, 3)
    g = torch.from_numpy(g.astype(np.float32))
    for r in (1.0, 1.0001, 1.4142135, 1.7320508):
        both(g, batch_from_counts([216]), offsets_from_counts([216]), r)
    big = torch.from_numpy(rng.uniform(0, 20, size=(2000, 3)).astype(np.float32) + 20000.0)
    both(big, batch_from_counts([2000]), offsets_from_counts([2000]), 1.5)


@needs_cuda
@pytest.mark.parametrize("offset", [0.0, 1000.25])
def test_lattice_ties_identical(offset):
    # A lattice with radii of 3-4 spacings: cells of 27 or more points, and many neighbours
    # exactly at the radius (excluded) or a rounding error inside it, on cell boundaries;
    # far from the origin, coordinates keep fewer bits.
    g = np.stack(np.meshgrid(*[np.arange(16)] * 3, indexing="ij"), -1).reshape(-1, 3)
    g = torch.from_numpy(g.astype(np.float32) + np.float32(offset))
    for r in (3.0, 3.0001, 3.1622777, 3.6055512, 4.0):
        both(g, batch_from_counts([4096]), offsets_from_counts([4096]), r)


@needs_cuda
@pytest.mark.parametrize("spread", [3.0, 40.0, 4000.0])
def test_sparse_points_over_many_cells_identical(spread):
    # Few points over many cells: most cells empty, neighbouring cells missing from the keys,
    # a scene of one point between two others.
    rng = np.random.default_rng(int(spread))
    counts = [700, 1, 900]
    pts = torch.from_numpy(rng.uniform(-spread, spread, size=(sum(counts), 3)).astype(np.float32))
    (idx, sl), _ = both(pts, batch_from_counts(counts), offsets_from_counts(counts), 1.5)
    assert sl[:, 1].min().item() >= 1  # every point lists itself


@needs_cuda
def test_cells_widen_when_scenes_times_cells_overflow_the_keys():
    # 400 scenes 10^4 wide at radius 1: half-radius cells would need about 400 * (2 * 10^4)^3
    # keys, far past 2^32, so the grid widens its cells. Each scene holds a clump (neighbours)
    # and strays (most cells empty); nothing may be lost.
    rng = np.random.default_rng(8)
    counts = [int(c) for c in rng.integers(1, 60, size=400)]
    parts = []
    for c in counts:
        pts = rng.uniform(0, 1e4, size=(c, 3))
        pts[: c // 2] = pts[0] + rng.normal(0, 0.8, size=(c // 2, 3))
        parts.append(pts)
    coords = torch.from_numpy(np.concatenate(parts).astype(np.float32))
    (idx, sl), _ = both(coords, batch_from_counts(counts), offsets_from_counts(counts), 1.0)
    assert sl[:, 1].max().item() >= 10  # the clumps give real lists, not only the points themselves


@needs_cuda
def test_more_than_1024_neighbours_are_kept_and_sorted():
    rng = np.random.default_rng(6)
    dense = rng.uniform(0, 0.5, size=(3000, 3))
    sparse = rng.uniform(0, 30, size=(3000, 3))
    pts = torch.from_numpy(np.concatenate([dense, sparse]).astype(np.float32))
    perm = torch.from_numpy(rng.permutation(6000))
    pts = pts[perm].contiguous()
    (idx, sl), _ = both(pts, batch_from_counts([6000]), offsets_from_counts([6000]), 1.0, mean_active=10)
    assert sl[:, 1].max().item() >= 3000
    label = torch.zeros(6000, dtype=torch.int32)
    bfs_both(label, idx, sl, 10)


@needs_cuda
def test_lists_of_every_length_band_identical():
    # The fill pass orders a list by a means chosen by its length (by rank up to 64 entries, by
    # bucket or a bitonic sort up to 512, by a bitonic sort up to 1024, by a global sort beyond;
    # test_lists_ordered_whatever_the_index_order covers bucket and fallback): clumps of rising
    # density, in shuffled index order, give lists in every band up to 1024 (beyond: the test of
    # more than 1024 neighbours).
    rng = np.random.default_rng(7)
    clumps = [rng.uniform(0, 4, size=(m, 3)) + 10.0 * i for i, m in enumerate((600, 1500, 3000, 6000, 12000))]
    pts = np.concatenate(clumps).astype(np.float32)
    pts = torch.from_numpy(pts[rng.permutation(len(pts))])
    n = len(pts)
    (idx, sl), _ = both(pts, batch_from_counts([n]), offsets_from_counts([n]), 1.0)
    lengths = sl[:, 1]
    for lo, hi in ((1, 64), (65, 512), (513, 1024)):
        assert ((lengths >= lo) & (lengths <= hi)).any(), f"no list of {lo}-{hi} neighbours"


@needs_cuda
@pytest.mark.parametrize("order", ["shuffled", "by x", "clumps with strays"])
def test_lists_ordered_whatever_the_index_order(order):
    # How a list's indices spread over their range decides whether the fill pass orders it by
    # bucket or falls back to the bitonic sort: shuffled points spread evenly; points numbered
    # along x give narrow, even ranges; clumps numbered one after the other, with 2% of their
    # points numbered at the end, pack the longer lists into a few buckets.
    rng = np.random.default_rng(11)
    sizes = (2000, 4000, 8000)
    clumps = [rng.uniform(0, 4, size=(m, 3)) + 10.0 * i for i, m in enumerate(sizes)]
    pts = np.concatenate(clumps).astype(np.float32)
    if order == "shuffled":
        perm = rng.permutation(len(pts))
    elif order == "by x":
        perm = np.argsort(pts[:, 0], kind="stable")
    else:
        strays = rng.random(len(pts)) < 0.02
        perm = np.concatenate([np.flatnonzero(~strays), np.flatnonzero(strays)])
    pts = torch.from_numpy(pts[perm])
    n = len(pts)
    (idx, sl), _ = both(pts, batch_from_counts([n]), offsets_from_counts([n]), 1.0)
    bucketed = [widest_bucket(idx[s:s + l]) for s, l in sl.tolist() if 64 < l <= 512]
    assert bucketed, "no list of 65-512 neighbours"
    if order == "clumps with strays":
        assert max(bucketed) > 32, "no list falls back to the bitonic sort"
    else:
        assert min(bucketed) <= 32, "no list is ordered by bucket"


@needs_cuda
def test_random_labels_and_asymmetric_lists_identical():
    rng = np.random.default_rng(7)
    pts, _ = clumped_scene(rng, 6000, 4, 2.0, (30, 30, 30), 1)
    label = torch.from_numpy(rng.integers(0, 4, size=6000).astype(np.int32))
    idx, sl = pgo.ballquery_batch_p(torch.from_numpy(pts), batch_from_counts([6000]), offsets_from_counts([6000]), 1.5, 300)
    bfs_both(label, idx, sl, 1)
    # drop the last entry of every list: no longer symmetric
    sl2 = sl.clone()
    sl2[:, 1] = torch.clamp(sl2[:, 1] - 1, min=0)
    bfs_both(label, idx, sl2, 1)


@needs_cuda
def test_cuda_errors_raise_and_leave_the_device_usable():
    coords = torch.rand(100, 3, device="cuda")
    batch = batch_from_counts([40, 60]).cuda()
    with pytest.raises(ValueError, match="batch_offsets"):
        pgo.ballquery_batch_p(coords, batch, torch.tensor([0, 40, 90], dtype=torch.int32, device="cuda"), 0.3, 10)
    with pytest.raises(ValueError, match="batch_offsets"):
        pgo.ballquery_batch_p(coords, batch, torch.tensor([0, 50, 40, 100], dtype=torch.int32, device="cuda"), 0.3, 10)
    bad = batch.clone()
    bad[10] = 1
    with pytest.raises(ValueError, match="batch_idxs"):
        pgo.ballquery_batch_p(coords, bad, offsets_from_counts([40, 60]).cuda(), 0.3, 10)
    nanc = coords.clone()
    nanc[5, 0] = float("nan")
    infc = coords.clone()
    infc[7, 2] = float("-inf")
    # every coordinate NaN: no bounds at all (the count pass is skipped, not run on one cell)
    for bad_coords in (nanc, infc, torch.full_like(coords, float("nan"))):
        with pytest.raises(ValueError, match="coords must be finite"):
            pgo.ballquery_batch_p(bad_coords, batch, offsets_from_counts([40, 60]).cuda(), 0.3, 10)
    idx, sl = pgo.ballquery_batch_p(coords, batch, offsets_from_counts([40, 60]).cuda(), 0.3, 10)
    label = torch.zeros(100, dtype=torch.int32, device="cuda")
    bad_idx = idx.clone()
    bad_idx[0] = 100
    with pytest.raises(ValueError, match="ball_query_idxs"):
        pgo.bfs_cluster(label, bad_idx, sl, 1)
    bad_sl = sl.clone()
    bad_sl[3, 1] = idx.numel() + 5
    with pytest.raises(ValueError, match="start_len"):
        pgo.bfs_cluster(label, idx, bad_sl, 1)
    torch.cuda.synchronize()
    # still usable, and CPU offsets are accepted with CUDA coords
    pgo.ballquery_batch_p(coords, batch, offsets_from_counts([40, 60]), 0.3, 10)


def device_memory_in_use():
    """Bytes held by live tensors on the device, once pending frees are done: garbage
    collected, and frees that wait on a stream event processed (empty_cache does that)."""
    torch.cuda.synchronize()
    gc.collect()
    torch.cuda.empty_cache()
    return torch.cuda.memory_allocated()


@needs_cuda
def test_no_device_memory_leak():
    # A leak grows with the number of calls; memory that torch or the driver sets up once, on
    # some first call, does not. So two equal runs of calls after a warm-up are compared.
    coords, batch, off, label = instance_workload(seed=3, scenes=2, points=20000, clumps=20, device="cuda")

    def calls(k):
        for _ in range(k):
            idx, sl = pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)
            ci, co = pgo.bfs_cluster(label, idx, sl, 50)
            del idx, sl, ci, co

    calls(2)
    in_use = [device_memory_in_use()]
    for _ in range(2):
        calls(3)
        in_use.append(device_memory_in_use())
    assert in_use[2] == in_use[1], f"device memory in use after 0, 3 and 6 calls (bytes): {in_use}"


@needs_cuda
def test_instance_workload_identical():
    coords, batch, off, label = instance_workload(seed=0)
    (idx, sl), _ = both(coords, batch, off, 1.5)
    bfs_both(label, idx, sl, 50)


@needs_cuda
def test_host_copies_of_the_outputs_are_page_locked_and_nothing_else_changes():
    # Pointcept's call: bfs_cluster(label.cpu(), idx.cpu(), start_len.cpu(), ...)
    coords, batch, off, label = instance_workload(seed=3, scenes=2, points=20_000, clumps=20)
    idx, sl = pgo.ballquery_batch_p(coords.cuda(), batch.cuda(), off.cuda(), 1.5, 300)
    for out in (idx, sl):
        host, pageable = out.cpu(), out.to("cpu")
        assert host.is_pinned() and not pageable.is_pinned()
        assert type(host) is torch.Tensor and torch.equal(host, pageable)
        # every other operation gives a plain tensor, on the device
        for derived in (out[1:], out.long(), out + 0, out.clone()):
            assert type(derived) is torch.Tensor and derived.is_cuda
        assert repr(out).startswith("tensor(")
        buf = io.BytesIO()
        torch.save(out, buf)
        buf.seek(0)
        saved = torch.load(buf, weights_only=True)
        assert type(saved) is torch.Tensor and saved.is_cuda and torch.equal(saved, out)
    want = pgo.bfs_cluster(label, idx.to("cpu"), sl.to("cpu"), 50)
    for got in (pgo.bfs_cluster(label.cuda().int().cpu(), idx.cpu(), sl.cpu(), 50),
                pgo.bfs_cluster(label.cuda(), idx, sl, 50)):
        assert torch.equal(got[0].cpu(), want[0]) and torch.equal(got[1].cpu(), want[1])


@pytest.mark.skipif(not (has_cuda or os.environ.get("PGO_SCALE_TESTS") == "1"),
                    reason="2M-point scale test: runs on CUDA machines or with PGO_SCALE_TESTS=1")
def test_two_million_points_scale():
    coords, batch, off, label = instance_workload(seed=9, scenes=4, points=500_000, clumps=300)
    idx, sl = pgo.ballquery_batch_p(coords, batch, off, 1.5, 300)
    assert sl.shape == (2_000_000, 2) and int(sl[:, 1].min()) >= 1
    ci, co = pgo.bfs_cluster(label, idx, sl, 50)
    assert int(co[-1]) == ci.shape[0] and ci.shape[0] > 0
    if has_cuda:
        gidx, gsl = pgo.ballquery_batch_p(coords.cuda(), batch.cuda(), off.cuda(), 1.5, 300)
        assert torch.equal(gsl.cpu(), sl) and torch.equal(gidx.cpu(), idx)
        gci, gco = pgo.bfs_cluster(label.cuda(), gidx, gsl, 50)
        assert torch.equal(gco.cpu(), co) and torch.equal(gci.cpu(), ci)
