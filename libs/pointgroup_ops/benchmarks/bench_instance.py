"""Times pointgroup_ops on the instance workload, the way Pointcept's PointGroup heads call it.

Usage (from the repository root, with a pointgroup_ops importable: this package, or
Pointcept's original one on PYTHONPATH to compare):

    python libs/pointgroup_ops/benchmarks/bench_instance.py [--threads 1,2,16] [--json out.json]
    python libs/pointgroup_ops/benchmarks/bench_instance.py --compare ours.json original.json

Instance workload: B=4 scenes of 60k points in 40 Gaussian clumps (sigma 5 cm) in voxel units
of 2 cm, 18 labels, radius 1.5, meanActive 300, cluster threshold 50. Rows (median of --repeat
runs after 3 warm-up runs; wall clock, the GPU synchronised before and after):

  bfs_cluster CPU, T threads   bfs_cluster on CPU tensors, torch.set_num_threads(T) (wall time,
                               its best call, and the process CPU time of all threads)
  call pattern, T threads      what Pointcept runs: ballquery_batch_p on CUDA tensors, then
                               bfs_cluster(label.cpu(), idx.cpu(), start_len.cpu(), 50)
  idx.cpu() copy               the device-to-host copy of idx alone, as the call makes it (and
                               into pageable memory, and into one pinned buffer)
  ballquery_batch_p            on CUDA, at radius 1.5 and at radii giving ~20..200 neighbours
  ballquery + bfs on CUDA      both ops on CUDA tensors (this package only)

Without a GPU only the CPU rows run; --lists FILE takes the neighbour lists from a file
written by --save-lists (the original package has no CPU ball query). Every run prints the
command line and the machine it ran on.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests"))
from pgo_reference import instance_workload  # noqa: E402

import pointgroup_ops as pgo  # noqa: E402

RADIUS, MEAN_ACTIVE, THRESHOLD = 1.5, 300, 50
DENSITIES = (20, 50, 100, 200)  # mean neighbours per point, for the ballquery sweep


def machine():
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), cpu)
    except OSError:
        pass
    info = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "python": platform.python_version(),
        "pointgroup_ops": os.path.dirname(os.path.abspath(pgo.__file__)),
        "implementation": "this package" if hasattr(pgo, "cuda_available") else "original",
    }
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
        info["cuda"] = torch.version.cuda
    return info


def cuda_workload(script):
    """For the scripts that need a GPU: one line and exit without one; else prints the machine
    and returns the instance workload (coords, batch_idxs, batch_offsets, labels) on the GPU."""
    if not torch.cuda.is_available():
        raise SystemExit(f"{script}: needs a CUDA device")
    print(json.dumps(machine()), flush=True)
    return [t.cuda() for t in instance_workload(seed=0)]


def radius_for(density, mean_list):
    """The radius for `density` mean neighbours, given the mean list length at RADIUS: the mean
    list length is taken to grow with radius^3."""
    return RADIUS * (density / mean_list) ** (1 / 3)


def density_radii(mean_list):
    """(density, radius) for each density of the sweep."""
    return [(d, radius_for(d, mean_list)) for d in DENSITIES]


def times_ms(fn, repeat, cuda, clocks=(time.perf_counter,)):
    """Milliseconds of each of `repeat` calls (after 3 warm-up calls) by each clock: one list per
    clock, all read around the same calls."""
    for _ in range(3):
        fn()
    times = [[] for _ in clocks]
    for _ in range(repeat):
        if cuda:
            torch.cuda.synchronize()
        start = [clock() for clock in clocks]
        fn()
        if cuda:
            torch.cuda.synchronize()
        for clock, t, out in zip(clocks, start, times):
            out.append((clock() - t) * 1e3)
    return times


def median_ms(fn, repeat, cuda):
    return statistics.median(times_ms(fn, repeat, cuda)[0])


def with_threads(threads, fn):
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        return fn()
    finally:
        torch.set_num_threads(before)


def cpu_lists(args, coords, batch, off):
    if args.lists:
        return torch.load(args.lists, weights_only=True)
    if torch.cuda.is_available():
        idx, sl = pgo.ballquery_batch_p(coords.cuda(), batch.cuda(), off.cuda(), RADIUS, MEAN_ACTIVE)
        return idx.cpu(), sl.cpu()
    return pgo.ballquery_batch_p(coords, batch, off, RADIUS, MEAN_ACTIVE)


def run(args):
    threads = [int(t) for t in args.threads.split(",")]
    res = {"machine": machine(), "rows": []}

    def row(name, ms, **extra):
        res["rows"].append({"name": name, "ms": ms, **extra})
        print(f"{name:<44} {ms:9.3f} ms  {json.dumps(extra) if extra else ''}", flush=True)

    print(json.dumps(res["machine"], indent=1), flush=True)
    coords, batch, off, label = instance_workload(seed=0)
    idx, sl = cpu_lists(args, coords, batch, off)
    if args.save_lists:
        torch.save((idx, sl), args.save_lists)
    ci, co = pgo.bfs_cluster(label, idx, sl, THRESHOLD)
    if args.save_raw:  # the inputs of bfs_memory_probe.cpp; order.bin: the clustered points in search order
        os.makedirs(args.save_raw, exist_ok=True)
        for name, t in (("label", label), ("idx", idx), ("sl", sl), ("order", ci[:, 1])):
            t.contiguous().numpy().astype("<i4").tofile(os.path.join(args.save_raw, name + ".bin"))
    res["workload"] = {"points": int(coords.shape[0]), "neighbour_entries": int(idx.numel()),
                       "mean_list": float(sl[:, 1].float().mean()), "max_list": int(sl[:, 1].max()),
                       "clusters": int(co.numel() - 1), "clustered_points": int(ci.shape[0])}
    print(json.dumps(res["workload"]), flush=True)
    for t in threads:
        def bfs():
            return pgo.bfs_cluster(label, idx, sl, THRESHOLD)

        # The best call and the CPU time of the process (all threads) next to the median wall
        # time: on a shared machine, whose cores change speed from one minute to the next, they
        # show the search where the median shows the host.
        wall, cpu = with_threads(t, lambda: times_ms(bfs, args.repeat, False, (time.perf_counter, time.process_time)))
        row(f"bfs_cluster CPU, {t} threads", statistics.median(wall), best_ms=round(min(wall), 3),
            process_cpu_ms=round(statistics.median(cpu), 2))
    if not torch.cuda.is_available():
        return res

    gc, gb, go, gl = coords.cuda(), batch.cuda(), off.cuda(), label.cuda()

    def call_pattern():  # Pointcept's PointGroup heads, copies included
        i, s = pgo.ballquery_batch_p(gc, gb, go, RADIUS, MEAN_ACTIVE)
        return pgo.bfs_cluster(gl.int().cpu(), i.cpu(), s.cpu(), THRESHOLD)

    for t in threads:
        row(f"call pattern, {t} threads", with_threads(t, lambda: median_ms(call_pattern, args.repeat, True)))
    gidx, gsl = pgo.ballquery_batch_p(gc, gb, go, RADIUS, MEAN_ACTIVE)
    pinned = torch.empty(gidx.shape, dtype=gidx.dtype, pin_memory=True)
    mb = gidx.numel() * 4 / 1e6
    # .cpu() as the call makes it (into page-locked memory for this package's outputs), .to("cpu")
    # always into pageable memory, and a copy into one page-locked buffer kept between calls
    row("idx.cpu() copy", median_ms(lambda: gidx.cpu(), args.repeat, True), megabytes=mb)
    row("idx copy into pageable memory", median_ms(lambda: gidx.to("cpu"), args.repeat, True), megabytes=mb)
    row("idx copy into pinned memory", median_ms(lambda: pinned.copy_(gidx), args.repeat, True), megabytes=mb)
    row("ballquery_batch_p, radius 1.5", median_ms(lambda: pgo.ballquery_batch_p(gc, gb, go, RADIUS, MEAN_ACTIVE),
                                                   args.repeat, True), mean_list=res["workload"]["mean_list"])
    for density, r in density_radii(res["workload"]["mean_list"]):
        i, s = pgo.ballquery_batch_p(gc, gb, go, r, MEAN_ACTIVE)
        mean = float(s[:, 1].float().mean())
        row(f"ballquery_batch_p, ~{density} neighbours", median_ms(
            lambda: pgo.ballquery_batch_p(gc, gb, go, r, MEAN_ACTIVE), args.repeat, True),
            radius=round(r, 4), mean_list=round(mean, 1), entries=int(i.numel()))
        del i, s
    if res["machine"]["implementation"] == "this package":
        row("ballquery + bfs on CUDA", median_ms(
            lambda: pgo.bfs_cluster(gl, *pgo.ballquery_batch_p(gc, gb, go, RADIUS, MEAN_ACTIVE), THRESHOLD),
            args.repeat, True))
    return res


def compare(ours_path, original_path):
    with open(ours_path) as f:
        ours = json.load(f)
    with open(original_path) as f:
        orig = json.load(f)
    base = {r["name"]: r for r in orig["rows"]}
    m = ours["machine"]
    print(f"Machine: {m['cpu']} ({m['cpu_count']} CPUs){', ' + m['gpu'] if 'gpu' in m else ''}; "
          f"torch {m['torch']}; {ours['workload']['neighbour_entries']} neighbour entries, "
          f"{ours['workload']['clusters']} clusters")
    o = orig["machine"]
    print(f"Original measured on: {o['cpu']} ({o['cpu_count']} CPUs){', ' + o['gpu'] if 'gpu' in o else ''}; "
          f"torch {o['torch']}\n")
    print("| row | original | this package | speed-up | best call: original / this package |\n|---|---|---|---|---|")
    for r in ours["rows"]:
        old_row = base.get(r["name"], {})
        old = old_row.get("ms")
        speed = f"{old / r['ms']:.1f}x" if old else ""
        old_best, new_best = old_row.get("best_ms"), r.get("best_ms")
        bests = f"{old_best:.2f} / {new_best:.2f} ms ({old_best / new_best:.1f}x)" if old_best and new_best else ""
        print(f"| {r['name']} | {f'{old:.2f} ms' if old else ''} | {r['ms']:.2f} ms | {speed} | {bests} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("--threads", default="1,2,16", help="comma-separated torch thread counts for the CPU rows")
    ap.add_argument("--lists", help="load (idx, start_len) from this torch.save file instead of computing them")
    ap.add_argument("--save-lists", help="save the (idx, start_len) used to this file")
    ap.add_argument("--save-raw", metavar="DIR", help="write the inputs of bfs_memory_probe.cpp to DIR")
    ap.add_argument("--json", help="write the machine, the workload and the rows here")
    ap.add_argument("--compare", nargs=2, metavar=("OURS_JSON", "ORIGINAL_JSON"),
                    help="print a markdown table of two --json results and exit")
    args = ap.parse_args()
    if args.compare:
        return compare(*args.compare)
    res = run(args)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
