#!/usr/bin/env python3
"""Benchmark of the pointops and pointgroup_ops operators on the workloads of the ops spec.

Usage (from the repository root, with both packages installed):

    python libs/bench/bench_ops.py                    # markdown table on stdout
    python libs/bench/bench_ops.py --json bench.json  # also write the rows as JSON
    python libs/bench/bench_ops.py --only farthest,knn   # rows whose op name contains a word
    python libs/bench/bench_ops.py --device cpu --scale 0.01 --reps 2   # quick smoke run

Every row: B = 4 concatenated scenes, fixed seeds, median of --reps timed calls (CUDA events
on a GPU, wall clock on the CPU) after --warmup untimed calls. The "old" and "target" columns
are the reference numbers of the spec (one NVIDIA H200); they only mean something at
--scale 1 on such a GPU. An operator that is missing or fails prints "n/a" and the reason.

Data generators (all float32, metres unless said otherwise):
  uniform(n)  n points uniform in a 10 x 10 x 3 m box.
  surface(n)  a 10 x 10 x 3 m room: floor, ceiling, 4 walls and 30 random boxes standing on
              the floor; n points uniform over all faces (face chosen with probability
              proportional to its area), plus 5 mm Gaussian noise.
  instance    per scene 60k points in 40 Gaussian clumps (sigma 5 cm), clump centres uniform
              in the room, coordinates in voxel units of 2 cm; each clump gets one of 18
              semantic labels; radius 1.5 (voxels), meanActive 300, cluster threshold 50.
"""
import argparse
import json
import platform
import statistics
import sys
import time

import numpy as np
import torch

B = 4
ROOM = (10.0, 10.0, 3.0)


# ------------------------------------------------------------------ data generators


def uniform(n, rng):
    return (rng.random((n, 3)) * np.asarray(ROOM)).astype(np.float32)


def _room_faces(rng, boxes=30):
    """Rectangles (origin, edge u, edge v) of the room and of the boxes on its floor."""
    lx, ly, lz = ROOM
    faces = [
        ((0, 0, 0), (lx, 0, 0), (0, ly, 0)),  # floor
        ((0, 0, lz), (lx, 0, 0), (0, ly, 0)),  # ceiling
        ((0, 0, 0), (lx, 0, 0), (0, 0, lz)),  # wall y = 0
        ((0, ly, 0), (lx, 0, 0), (0, 0, lz)),  # wall y = ly
        ((0, 0, 0), (0, ly, 0), (0, 0, lz)),  # wall x = 0
        ((lx, 0, 0), (0, ly, 0), (0, 0, lz)),  # wall x = lx
    ]
    for _ in range(boxes):
        sx, sy, sz = rng.uniform(0.3, 2.0), rng.uniform(0.3, 2.0), rng.uniform(0.3, 1.5)
        x0, y0 = rng.uniform(0, lx - sx), rng.uniform(0, ly - sy)
        faces += [
            ((x0, y0, sz), (sx, 0, 0), (0, sy, 0)),  # top
            ((x0, y0, 0), (sx, 0, 0), (0, 0, sz)),  # four sides
            ((x0, y0 + sy, 0), (sx, 0, 0), (0, 0, sz)),
            ((x0, y0, 0), (0, sy, 0), (0, 0, sz)),
            ((x0 + sx, y0, 0), (0, sy, 0), (0, 0, sz)),
        ]
    o, u, v = (np.asarray([f[i] for f in faces], dtype=np.float64) for i in range(3))
    return o, u, v


def surface(n, rng):
    o, u, v = _room_faces(rng)
    area = np.linalg.norm(np.cross(u, v), axis=1)
    face = rng.choice(len(area), size=n, p=area / area.sum())
    a = rng.random((n, 1))
    b = rng.random((n, 1))
    pts = o[face] + a * u[face] + b * v[face] + rng.normal(0.0, 0.005, size=(n, 3))
    return pts.astype(np.float32)


def instance_scene(rng, n=60000, clumps=40, labels=18, voxel=0.02, sigma=0.05):
    centres = rng.random((clumps, 3)) * np.asarray(ROOM)
    which = rng.integers(0, clumps, size=n)
    pts = centres[which] + rng.normal(0.0, sigma, size=(n, 3))
    label = rng.integers(0, labels, size=clumps)[which]
    return (pts / voxel).astype(np.float32), label.astype(np.int32)


def batched(gen, n, seed, device):
    rng = np.random.default_rng(seed)
    xyz = np.concatenate([gen(n, rng) for _ in range(B)])
    offset = torch.arange(1, B + 1, dtype=torch.int32) * n
    return torch.from_numpy(xyz).to(device), offset.to(device)


GENERATORS = {"uniform": uniform, "surface": surface}


# ------------------------------------------------------------------ timing


def timed(fn, reps, warmup, cuda):
    for _ in range(warmup):
        fn()
    if cuda:
        torch.cuda.synchronize()
    times = []
    for _ in range(reps):
        if cuda:
            start = torch.cuda.Event(enable_timing=True)
            end = torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            times.append(start.elapsed_time(end))
        else:
            t0 = time.perf_counter()
            fn()
            times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


# ------------------------------------------------------------------ workloads
# Each workload: (op, workload text, old ms, target ms, make(ctx) -> callable).
# make() prepares inputs outside the timed region and returns the function to time.


def s(n, ctx):
    """Scale a point count (for quick runs)."""
    return max(1, int(round(n * ctx.scale)))


def _pointops():
    import pointops

    return pointops


def make_knn(n, k, data):
    def make(ctx):
        po = _pointops()
        xyz, off = batched(GENERATORS[data], s(n, ctx), 1, ctx.device)
        return lambda: po.knn_query(k, xyz, off)

    return make


def make_knn_cross(n_src, n_query, k, data):
    def make(ctx):
        po = _pointops()
        src, soff = batched(GENERATORS[data], s(n_src, ctx), 2, ctx.device)
        qry, qoff = batched(GENERATORS[data], s(n_query, ctx), 3, ctx.device)
        return lambda: po.knn_query(k, src, soff, qry, qoff)

    return make


def make_fps(n, m, data):
    def make(ctx):
        po = _pointops()
        xyz, off = batched(GENERATORS[data], s(n, ctx), 4, ctx.device)
        new_off = torch.arange(1, B + 1, dtype=torch.int32, device=ctx.device) * s(m, ctx)
        return lambda: po.farthest_point_sampling(xyz, off, new_off)

    return make


def make_ball_query(n, k, radius, data):
    def make(ctx):
        po = _pointops()
        xyz, off = batched(GENERATORS[data], s(n, ctx), 5, ctx.device)
        return lambda: po.ball_query(k, radius, 0.0, xyz, off)

    return make


def make_grouping(n, k, c, mode, data):
    def make(ctx):
        po = _pointops()
        xyz, off = batched(GENERATORS[data], s(n, ctx), 6, ctx.device)
        idx, _ = po.knn_query(k, xyz, off)
        g = torch.Generator(device="cpu").manual_seed(7)
        feat = torch.randn(xyz.shape[0], c, generator=g).to(ctx.device)
        if mode == "fwd":
            return lambda: po.grouping(idx, feat, xyz)
        if mode == "with_xyz":
            return lambda: po.grouping(idx, feat, xyz, with_xyz=True)
        feat.requires_grad_(True)
        grad = torch.randn(idx.shape[0], k, c, generator=g).to(ctx.device)

        def fwd_bwd():
            out = po.grouping(idx, feat, xyz)
            (g_feat,) = torch.autograd.grad(out, feat, grad)
            return g_feat

        return fwd_bwd

    return make


def make_interpolation(n_src, n_dst, c, data):
    def make(ctx):
        po = _pointops()
        src, soff = batched(GENERATORS[data], s(n_src, ctx), 8, ctx.device)
        dst, doff = batched(GENERATORS[data], s(n_dst, ctx), 9, ctx.device)
        g = torch.Generator(device="cpu").manual_seed(10)
        feat = torch.randn(src.shape[0], c, generator=g).to(ctx.device)
        return lambda: po.interpolation(src, dst, feat, soff, doff, k=3)

    return make


def _instance_inputs(ctx):
    rng = np.random.default_rng(11)
    n = s(60000, ctx)
    scenes = [instance_scene(rng, n=n) for _ in range(B)]
    coords = torch.from_numpy(np.concatenate([p for p, _ in scenes])).to(ctx.device)
    label = torch.from_numpy(np.concatenate([lab for _, lab in scenes])).to(ctx.device)
    batch_idxs = torch.arange(B, dtype=torch.int32).repeat_interleave(n).to(ctx.device)
    batch_offsets = (torch.arange(B + 1, dtype=torch.int32) * n).to(ctx.device)
    return coords, batch_idxs, batch_offsets, label


def make_ballquery_batch_p():
    def make(ctx):
        import pointgroup_ops as pgo

        coords, batch_idxs, batch_offsets, _ = _instance_inputs(ctx)
        return lambda: pgo.ballquery_batch_p(coords, batch_idxs, batch_offsets, 1.5, 300)

    return make


def make_ballquery_bfs():
    def make(ctx):
        import pointgroup_ops as pgo

        coords, batch_idxs, batch_offsets, label = _instance_inputs(ctx)

        def run():
            idx, start_len = pgo.ballquery_batch_p(coords, batch_idxs, batch_offsets, 1.5, 300)
            return pgo.bfs_cluster(label, idx, start_len, 50)

        return run

    return make


def workloads():
    rows = []
    for data in ("uniform", "surface"):
        w = f"{data}, 4 x 100k"
        rows += [
            ("knn_query self k=16", w, 38.7, 1.3, make_knn(100000, 16, data)),
            ("knn_query self k=32", w, 55.6, 2.0, make_knn(100000, 32, data)),
            ("knn_query self k=16", f"{data}, 4 x 25k", 5.3, 0.3, make_knn(25000, 16, data)),
            ("knn_query k=3", f"{data}, 4 x 25k -> 4 x 100k", 8.6, 0.5,
             make_knn_cross(25000, 100000, 3, data)),
            ("farthest_point_sampling", f"{data}, 4 x 100k -> 4 x 25k", 495.0, 20.0,
             make_fps(100000, 25000, data)),
            ("farthest_point_sampling", f"{data}, 4 x 25k -> 4 x 6.25k", 37.0, 2.5,
             make_fps(25000, 6250, data)),
            ("ball_query k=32 r=0.1", f"{data}, 4 x 25k", 3.1, 0.3,
             make_ball_query(25000, 32, 0.1, data)),
            ("grouping fwd", f"{data}, 4 x 100k, knn16, C=64", 4.0, 4.0 / 3,
             make_grouping(100000, 16, 64, "fwd", data)),
            ("grouping with_xyz", f"{data}, 4 x 100k, knn16, C=64", 6.8, 6.8 / 3,
             make_grouping(100000, 16, 64, "with_xyz", data)),
            ("grouping fwd+bwd", f"{data}, 4 x 100k, knn16, C=64", 4.6, 4.6 / 3,
             make_grouping(100000, 16, 64, "fwd+bwd", data)),
            ("interpolation k=3", f"{data}, 4 x 25k -> 4 x 100k, C=64", 9.9, 1.0,
             make_interpolation(25000, 100000, 64, data)),
        ]
    rows += [
        ("ballquery_batch_p", "instance, 4 x 60k", 14.0, 1.0, make_ballquery_batch_p()),
        ("ballquery_batch_p + bfs_cluster", "instance, 4 x 60k", 105.0, 5.0, make_ballquery_bfs()),
    ]
    return rows


# ------------------------------------------------------------------ main


class Ctx:
    def __init__(self, device, scale):
        self.device = device
        self.scale = scale


def fmt(x):
    if x is None:
        return "n/a"
    if x >= 100:
        return f"{x:.0f}"
    if x >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}" if x >= 1 else f"{x:.3f}"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--reps", type=int, default=10, help="timed calls per row (median reported)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed calls before timing")
    ap.add_argument("--scale", type=float, default=1.0, help="multiply every point count (quick runs)")
    ap.add_argument("--only", default="", help="comma-separated words; run rows whose op contains one")
    ap.add_argument("--json", default=None, metavar="PATH", help="also write the results as JSON")
    args = ap.parse_args(argv)
    if args.reps < 1 or args.warmup < 0 or not (args.scale > 0):
        ap.error("--reps must be >= 1, --warmup >= 0 and --scale > 0")
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    if cuda and not torch.cuda.is_available():
        ap.error("--device cuda, but torch sees no CUDA device")
    ctx = Ctx(device, args.scale)
    words = [w.strip() for w in args.only.split(",") if w.strip()]

    results = []
    for op, workload, old, target, make in workloads():
        if words and not any(w in op for w in words):
            continue
        row = {"op": op, "workload": workload, "ms": None, "old_ms": old, "target_ms": target,
               "met": None, "note": ""}
        try:
            torch.manual_seed(0)
            fn = make(ctx)
            row["ms"] = timed(fn, args.reps, args.warmup, cuda)
            # Only a full-size GPU run is comparable with the spec's numbers.
            if cuda and args.scale == 1.0:
                row["met"] = row["ms"] <= target
        except (ImportError, AttributeError, NotImplementedError, RuntimeError, TypeError,
                ValueError) as e:
            row["note"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:160]
        finally:
            if cuda:
                torch.cuda.empty_cache()
        results.append(row)
        print(f"# {op} | {workload}: {fmt(row['ms'])} ms {row['note']}", file=sys.stderr, flush=True)

    info = {
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
        "scale": args.scale,
        "reps": args.reps,
        "warmup": args.warmup,
        "batch": B,
    }
    for name in ("pointops", "pointgroup_ops"):
        try:
            info[name] = __import__(name).__version__
        except Exception:  # noqa: BLE001  (a missing or broken package is reported, not fatal)
            info[name] = None

    print(f"Device: {info['device']}; torch {info['torch']} (CUDA {info['cuda']}); "
          f"pointops {info['pointops']}, pointgroup_ops {info['pointgroup_ops']}; "
          f"B={B}, median of {args.reps} after {args.warmup} warm-up calls, scale {args.scale:g}")
    print()
    print("| op | workload | ours (ms) | old Pointcept (ms) | target (ms) | met? |")
    print("|---|---|---|---|---|---|")
    for r in results:
        met = "n/a" if r["met"] is None else ("yes" if r["met"] else "no")
        ours = fmt(r["ms"]) if r["ms"] is not None else f"n/a ({r['note']})" if r["note"] else "n/a"
        print(f"| {r['op']} | {r['workload']} | {ours} | {fmt(r['old_ms'])} | "
              f"<= {fmt(r['target_ms'])} | {met} |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"info": info, "rows": results}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
