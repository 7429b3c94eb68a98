"""farthest_point_sampling: CPU and CUDA against a NumPy reference, CUDA against CPU
(bit-identical indices), and argument validation."""
import numpy as np
import pytest
import torch

import pointops
from pointops import farthest_point_sampling

CUDA = torch.cuda.is_available()


def reference_fps(xyz, sizes, samples):
    """Classic FPS in NumPy float32: start at each scene's first point, then repeatedly take
    the point with the largest squared distance to the chosen set (first index on ties).
    Distances evaluated as ((dx*dx + dy*dy) + dz*dz), each step rounded to float32."""
    xyz = np.asarray(xyz, dtype=np.float32)
    out = []
    start = 0
    for n, m in zip(sizes, samples):
        assert m <= n
        if m > 0:
            p = xyz[start:start + n]
            dist = np.full(n, np.inf, dtype=np.float32)
            last = 0
            out.append(start)
            for _ in range(1, m):
                d = p - p[last]
                sq = d * d
                cur = (sq[:, 0] + sq[:, 1]) + sq[:, 2]
                dist = np.minimum(dist, cur)
                last = int(np.argmax(dist))  # first maximum = lowest index
                out.append(start + last)
        start += n
    return np.asarray(out, dtype=np.int32)


def run(xyz_np, sizes, samples, device, dtype=torch.int32):
    xyz = torch.from_numpy(np.ascontiguousarray(xyz_np)).to(device)
    offset = torch.tensor(np.cumsum(sizes), dtype=dtype, device=device)
    new_offset = torch.tensor(np.cumsum(samples), dtype=dtype, device=device)
    idx = farthest_point_sampling(xyz, offset, new_offset)
    assert idx.dtype == torch.int32
    assert idx.device.type == torch.device(device).type
    assert idx.shape == (int(sum(samples)),)
    return idx.cpu().numpy()


def test_exported_from_package():
    assert pointops.farthest_point_sampling is farthest_point_sampling


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64])
def test_random_scenes_match_reference(device, data, dtype):
    sizes = [300, 1, 57, 800]
    samples = [40, 1, 57, 123]
    xyz = data.uniform(sizes, seed=1)
    got = run(xyz, sizes, samples, device, dtype)
    np.testing.assert_array_equal(got, reference_fps(xyz, sizes, samples))
    # indices are global and stay inside their scene
    bounds = np.cumsum([0] + sizes)
    pos = 0
    for b, m in enumerate(samples):
        part = got[pos:pos + m]
        assert part[0] == bounds[b]
        assert ((part >= bounds[b]) & (part < bounds[b + 1])).all()
        pos += m


def test_all_points_sampled_is_a_permutation(device, data):
    sizes = [64, 130]
    xyz = data.uniform(sizes, seed=2)
    got = run(xyz, sizes, sizes, device)
    np.testing.assert_array_equal(got, reference_fps(xyz, sizes, sizes))
    assert sorted(got[:64].tolist()) == list(range(64))
    assert sorted(got[64:].tolist()) == list(range(64, 194))


def test_exact_ties_take_lowest_index(device, data):
    sizes = [200, 150]
    samples = [60, 150]
    xyz = data.lattice(sizes, seed=3)  # many equal distances
    got = run(xyz, sizes, samples, device)
    np.testing.assert_array_equal(got, reference_fps(xyz, sizes, samples))


def test_tie_rule_by_hand(device):
    # Points 1, 2 and 3 are all at squared distance 1 from point 0: the lowest index (1)
    # wins. Then 2 and 3 are both at distance 1 from {0, 1} (point 4 at 0.5): 2 wins.
    xyz = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [0.5, 0.5, 0]], dtype=np.float32)
    got = run(xyz, [5], [3], device)
    assert got.tolist() == [0, 1, 2]
    np.testing.assert_array_equal(got, reference_fps(xyz, [5], [3]))


def test_duplicate_points_and_exhausted_scene(device, data):
    # 5 distinct positions, 40 samples: once every position is chosen all distances are
    # 0 and the lowest index of the scene (its first point) is chosen again and again.
    sizes = [100, 80]
    samples = [40, 80]
    xyz = data.duplicates(sizes, seed=4, distinct=5)
    got = run(xyz, sizes, samples, device)
    ref = reference_fps(xyz, sizes, samples)
    np.testing.assert_array_equal(got, ref)
    assert (got[10:40] == 0).all()
    assert (got[40 + 10:] == 100).all()


def test_single_point_and_empty_scenes(device, data):
    sizes = [1, 0, 5, 0, 1, 7]
    samples = [1, 0, 0, 0, 1, 3]  # a scene with points but no samples writes nothing
    xyz = data.uniform(sizes, seed=5)
    got = run(xyz, sizes, samples, device)
    np.testing.assert_array_equal(got, reference_fps(xyz, sizes, samples))
    assert got[:2].tolist() == [0, 6]


def test_no_samples_at_all(device, data):
    sizes = [4, 6]
    xyz = data.uniform(sizes, seed=6)
    got = run(xyz, sizes, [0, 0], device)
    assert got.shape == (0,)


def test_empty_point_cloud(device):
    got = run(np.zeros((0, 3), np.float32), [0], [0], device)
    assert got.shape == (0,)


def test_far_away_coordinates(device, data):
    sizes = [120, 90]
    samples = [50, 30]
    xyz = data.uniform(sizes, seed=7, scale=(3.0, 3.0, 1.0), shift=1.0e5)
    got = run(xyz, sizes, samples, device)
    np.testing.assert_array_equal(got, reference_fps(xyz, sizes, samples))


def test_non_contiguous_xyz(device, data):
    sizes = [90, 40]
    samples = [20, 10]
    wide = data.uniform([sum(sizes) * 2], seed=8).reshape(-1, 6)  # (130, 6)
    xyz_t = torch.from_numpy(wide).to(device)[:, 1:4]
    assert not xyz_t.is_contiguous()
    offset = torch.tensor(np.cumsum(sizes), device=device)
    new_offset = torch.tensor(np.cumsum(samples), device=device)
    got = farthest_point_sampling(xyz_t, offset, new_offset).cpu().numpy()
    np.testing.assert_array_equal(got, reference_fps(wide[:, 1:4], sizes, samples))


# ---------------------------------------------------------------- validation


def _args(device="cpu"):
    xyz = torch.rand(10, 3, device=device)
    return xyz, torch.tensor([4, 10], device=device), torch.tensor([2, 5], device=device)


@pytest.mark.parametrize(
    "mutate, exc, words",
    [
        (lambda x, o, n: (x.double(), o, n), TypeError, ["xyz", "float32"]),
        (lambda x, o, n: (x[:, :2].contiguous(), o, n), ValueError, ["xyz", "(n, 3)"]),
        (lambda x, o, n: (x.reshape(-1), o, n), ValueError, ["xyz", "(n, 3)"]),
        (lambda x, o, n: ("points", o, n), TypeError, ["xyz"]),
        (lambda x, o, n: (x, o.float(), n), TypeError, ["offset", "int32 or int64"]),
        (lambda x, o, n: (x, o, n.float()), TypeError, ["new_offset", "int32 or int64"]),
        (lambda x, o, n: (x, o.reshape(2, 1), n), ValueError, ["offset", "1-D"]),
        (lambda x, o, n: (x, o[:0], n[:0]), ValueError, ["offset", "at least one scene"]),
        (lambda x, o, n: (x, torch.tensor([4, 9]), n), ValueError, ["offset[-1]", "10"]),
        (lambda x, o, n: (x, torch.tensor([6, 4, 10]), torch.tensor([1, 2, 3])), ValueError,
         ["offset", "non-decreasing"]),
        (lambda x, o, n: (x, torch.tensor([-1, 10]), n), ValueError, ["offset", "non-decreasing"]),
        (lambda x, o, n: (x, o, torch.tensor([3, 2])), ValueError, ["new_offset", "non-decreasing"]),
        (lambda x, o, n: (x, o, torch.tensor([5, 6])), ValueError, ["new_offset", "scene 0", "4 points"]),
        (lambda x, o, n: (x, o, torch.tensor([2, 9])), ValueError, ["new_offset", "scene 1", "6 points"]),
        (lambda x, o, n: (x, o, torch.tensor([5])), ValueError, ["offset", "new_offset", "same length"]),
        (lambda x, o, n: (x, [4, 10], n), TypeError, ["offset"]),
    ],
)
def test_validation_errors_name_the_argument(mutate, exc, words):
    xyz, offset, new_offset = mutate(*_args())
    with pytest.raises(exc) as info:
        farthest_point_sampling(xyz, offset, new_offset)
    message = str(info.value)
    for w in words:
        assert w in message, (w, message)


def test_op_rejects_non_contiguous_xyz_directly():
    # The Python layer makes xyz contiguous; the raw op refuses instead of misreading it.
    xyz = torch.rand(10, 6)[:, :3]
    with pytest.raises(ValueError, match="xyz must be contiguous"):
        torch.ops.pointops.farthest_point_sampling(xyz, torch.tensor([10]), torch.tensor([3]))


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_device_mismatch_is_an_error():
    xyz, offset, new_offset = _args("cuda")
    with pytest.raises(ValueError, match="offset must be on the same device as xyz"):
        farthest_point_sampling(xyz, offset.cpu(), new_offset)
    with pytest.raises(ValueError, match="new_offset must be on the same device as xyz"):
        farthest_point_sampling(xyz, offset, new_offset.cpu())


# ------------------------------------------------------- CUDA == CPU, exactly


def _cpu_vs_cuda(xyz_np, sizes, samples):
    xyz = torch.from_numpy(np.ascontiguousarray(xyz_np))
    offset = torch.tensor(np.cumsum(sizes))
    new_offset = torch.tensor(np.cumsum(samples))
    cpu = farthest_point_sampling(xyz, offset, new_offset)
    gpu = farthest_point_sampling(xyz.cuda(), offset.cuda(), new_offset.cuda())
    torch.cuda.synchronize()
    assert gpu.dtype == torch.int32
    assert torch.equal(cpu, gpu.cpu()), (cpu[:20], gpu[:20])
    return cpu


# The kernel is chosen by the largest scene of a call (csrc/cuda/fps/fps_cuda.cpp): "multi" while
# it fits in the registers of a cluster, "pruned" beyond, "dense" beyond what the pruned kernel's
# shared-memory tables hold. Every case below runs the kernel named for it on an H200 (clusters of
# up to 16 blocks, 227 KB of shared memory per block); test_cuda_kernel_choice_by_scene_size
# checks the names.


def _multi_capacity():
    """Points per scene the multi kernel holds: 1024 threads x 8 points per block, clusters of 16
    blocks on sm_90 and later, one block before."""
    return 1024 * 8 * (16 if torch.cuda.get_device_capability()[0] >= 9 else 1)


# 2**24 points need 8192 buckets of 2048 points in the pruned kernel's tables (384 KiB of shared
# memory), more than any GPU has per block: such a scene always runs the dense kernel.
HUGE_SCENE = 2**24


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize(
    "sizes, samples",
    [
        ([1000, 3000, 5000, 7000], [300, 700, 10, 1]),  # multi, clusters of 4 blocks
        ([20000, 9000, 0, 25000, 31], [700, 900, 0, 1200, 31]),  # multi, clusters of 16
        ([100000, 60000], [600, 300]),  # multi, 7 points per thread
        ([140000, 1], [200, 1]),  # pruned
        ([300000], [64]),  # pruned, larger buckets
    ],
)
def test_cuda_equals_cpu_uniform(data, sizes, samples):
    _cpu_vs_cuda(data.uniform(sizes, seed=11), sizes, samples)


# The multi kernel's cluster size follows the largest scene (at most 2 points per thread up to
# 16 blocks): 2000 points run on 1 block, 4000 on 2, 8000 on 4, 16000 on 8, 40000 on 16.
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize("n", [2000, 4000, 8000, 16000, 40000])
def test_cuda_equals_cpu_every_cluster_size(data, n):
    sizes = [n, n // 3, 7]
    samples = [n // 4, n // 3, 7]
    _cpu_vs_cuda(data.uniform(sizes, seed=12), sizes, samples)
    _cpu_vs_cuda(data.lattice([n], seed=13), [n], [min(n, 400)])
    _cpu_vs_cuda(data.duplicates([n], seed=14, distinct=50), [n], [120])


def _room_surface(n, seed):
    """Points on the floor, walls and a few boxes of a room: thin, strongly clustered data."""
    rng = np.random.default_rng(seed)
    face = rng.integers(0, 5, size=n)
    u, v = rng.random(n) * 8.0, rng.random(n) * 3.0
    pts = np.stack([u, v, np.zeros(n)], axis=1)
    pts[face == 1] = np.stack([u, np.zeros(n), v], axis=1)[face == 1]
    pts[face == 2] = np.stack([np.zeros(n), u, v], axis=1)[face == 2]
    box = np.stack([2.0 + rng.random(n) * 0.5, 2.0 + rng.random(n) * 0.5, np.full(n, 0.7)], axis=1)
    pts[face == 3] = box[face == 3]
    pts[face == 4] = np.stack([u, np.full(n, 8.0), v], axis=1)[face == 4]
    return (pts + rng.normal(0.0, 0.002, size=pts.shape)).astype(np.float32)


def _odd_coordinates(data, seed):
    """Two scenes of 5000 points with NaN, +inf and -inf coordinates, and points whose squared
    distances overflow to +inf (the reference keeps NaN points at +inf: they are picked again
    and again)."""
    odd = data.uniform([5000, 5000], seed=seed)
    odd[[7, 4000, 6001]] = np.nan
    odd[[100, 7000]] = np.inf
    odd[[2000, 9000], 1] = -np.inf
    odd[[300, 5300]] = 1.0e19
    return odd


def _hard_scenes(data, seed):
    """(xyz, sizes, samples) of scenes that stress the kernels' exactness: thin boxes (room
    surfaces), exact ties (lattice), coinciding points, NaN / inf coordinates."""
    parts = [
        (_room_surface(60000, seed=seed), [60000], [6000]),
        (data.lattice([40000, 3000], seed=seed + 1), [40000, 3000], [5000, 3000]),
        (data.duplicates([30000, 200], seed=seed + 2, distinct=700), [30000, 200], [1500, 200]),
        (_odd_coordinates(data, seed=seed + 3), [5000, 5000], [400, 5000]),
    ]
    return (np.concatenate([p[0] for p in parts]), sum((p[1] for p in parts), []),
            sum((p[2] for p in parts), []))


def _with_large_scene(data, xyz, sizes, samples, n, seed):
    """The scenes plus one uniform scene of n points with 24 samples: the largest scene decides
    the kernel of the whole call."""
    return (np.concatenate([xyz, data.uniform([n], seed=seed)]), sizes + [n], samples + [24])


# The multi kernel takes several samples per round only while they provably are the sequential
# ones: check it where that proof is stressed, and up to its register capacity.
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_multi_equals_cpu_on_hard_data(data):
    _cpu_vs_cuda(*_hard_scenes(data, seed=41))
    sizes = [_multi_capacity(), 25000, 7, 0, 9000]  # every point of a scene
    _cpu_vs_cuda(data.uniform(sizes, seed=45), sizes, [2000, 6250, 7, 0, 9000])


# The pruned kernel skips updates by bounding boxes: the same hard scenes (a scene beyond the
# multi kernel's capacity in the call sends them all to it), and scenes large enough for buckets
# of 64 and 256 points.
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_pruned_equals_cpu_on_hard_data(data):
    _cpu_vs_cuda(*_with_large_scene(data, *_hard_scenes(data, seed=21), _multi_capacity() + 1, seed=25))
    _cpu_vs_cuda(data.uniform([250000], seed=26), [250000], [700])
    _cpu_vs_cuda(data.uniform([700000], seed=27), [700000], [120])


# The dense kernel: the same hard scenes next to a scene too large for the pruned kernel.
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_dense_equals_cpu_on_hard_data(data):
    _cpu_vs_cuda(*_with_large_scene(data, *_hard_scenes(data, seed=51), HUGE_SCENE, seed=55))


# Every kernel with few samples: the code of the larger cases above at a size compute-sanitizer's
# racecheck and memcheck get through quickly (see the README's racecheck command).
@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize(
    "kernel, sizes",
    [
        ("multi", [1500, 700]),  # one block per scene
        ("multi", [3000, 5000]),  # clusters of 4 blocks
        ("multi", [40000, 131072]),  # clusters of 16 blocks, 8 points per thread
        ("pruned", [140000, 3000]),
        ("pruned", [700000]),  # larger buckets
        ("dense", [HUGE_SCENE, 5000]),
    ],
)
def test_cuda_every_kernel_few_samples(data, kernel, sizes):
    samples = [min(n, 24) for n in sizes]
    _cpu_vs_cuda(data.uniform(sizes, seed=31), sizes, samples)


def _cuda_kernels_launched(fn):
    """Names of the CUDA kernels that fn launches, from torch's profiler (not available under
    compute-sanitizer)."""
    from torch.autograd import DeviceType
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        fn()
        torch.cuda.synchronize()
    return [e.name for e in prof.events() if e.device_type == DeviceType.CUDA]


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
@pytest.mark.parametrize(
    "largest, kernel",
    [
        ("small", "fps_multi_kernel"),
        ("multi capacity", "fps_multi_kernel"),
        ("multi capacity + 1", "fps_pruned_kernel"),
        ("huge", "fps_dense_kernel"),
    ],
)
def test_cuda_kernel_choice_by_scene_size(data, largest, kernel):
    n = {"small": 3000, "multi capacity": _multi_capacity(), "multi capacity + 1": _multi_capacity() + 1,
         "huge": HUGE_SCENE}[largest]
    sizes, samples = [n, 500], [16, 16]
    xyz = torch.from_numpy(data.uniform(sizes, seed=32)).cuda()
    offset = torch.tensor(np.cumsum(sizes)).cuda()
    new_offset = torch.tensor(np.cumsum(samples)).cuda()
    names = _cuda_kernels_launched(lambda: farthest_point_sampling(xyz, offset, new_offset))
    fps_kernels = sorted({name for name in names if "fps_" in name and "_kernel" in name})
    assert len(fps_kernels) == 1 and kernel in fps_kernels[0], (largest, n, names)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_many_small_scenes_and_far_coordinates(data):
    rng = np.random.default_rng(15)
    sizes = rng.integers(0, 400, size=300).tolist()
    samples = [int(rng.integers(0, s + 1)) for s in sizes]
    _cpu_vs_cuda(data.uniform(sizes, seed=16, shift=-5.0e4), sizes, samples)


@pytest.mark.skipif(not CUDA, reason="needs a CUDA device")
def test_cuda_uses_current_stream(data):
    sizes = [5000, 5000]
    samples = [500, 500]
    xyz = torch.from_numpy(data.uniform(sizes, seed=17))
    offset = torch.tensor(np.cumsum(sizes))
    new_offset = torch.tensor(np.cumsum(samples))
    expected = farthest_point_sampling(xyz, offset, new_offset)
    s = torch.cuda.Stream()
    with torch.cuda.stream(s):
        got = farthest_point_sampling(xyz.cuda(), offset.cuda(), new_offset.cuda())
    s.synchronize()
    assert torch.equal(got.cpu(), expected)
