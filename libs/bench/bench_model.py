"""Model-level benchmark: what pointops and pointgroup_ops cost a whole network.

Trains and runs the network of bench_model_net.py (a small point-transformer-style segmentation
network with a PointGroup-style clustering step, built from the libraries' public functions) on
synthetic rooms, in fp32 and under torch.autocast (bf16, fp16), and reports per precision:
  - the time of a training step (forward, loss, backward, optimizer step) and of an inference
    (forward, then the clustering step as Pointcept's PointGroup head calls it);
  - the share of that time spent in the ops, timed on the device's timeline at each call
    (forward, and backward between the marks put after and before the op).
It runs on whichever `pointops` / `pointgroup_ops` Python imports: this repository's, or
Pointcept's original ones (put them first on PYTHONPATH); `--compare A.json B.json` puts two runs
side by side.

    python libs/bench/bench_model.py [--device cuda|cpu] [--scenes 4] [--points 25000]
        [--precision fp32,bf16,fp16] [--steps 10] [--warmup 3] [--centers trained|predicted]
        [--label NAME] [--json PATH]
    python libs/bench/bench_model.py --compare ours.json pointcept.json

Scenes: B rooms of 10 x 10 x 3 m; half the points on the floor and walls (labels 0 and 1, not
clustered), half on the faces of 40 boxes standing on the floor (labels 2-12, one instance each).
--centers trained (the default) hands the clustering step the true labels and instance centres
with 1 cm of noise, as a converged model gives them (the network's own outputs are computed and
timed, then replaced): the cost of clustering depends on how tightly the centres collapse, and an
untrained network's do not. --centers predicted clusters the network's raw outputs.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_model_net import CLUSTER_CALL, Ops, OpTimer, SegNet, cluster  # noqa: E402

CLASSES = 13
PRECISIONS = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


def room(points, boxes, gen):
    """One scene: (coord (n, 3), colour (n, 3), label (n,), centre (n, 3)) on the CPU."""
    stuff = points // 2
    walls = torch.rand(stuff, 3, generator=gen) * torch.tensor([10.0, 10.0, 3.0])
    side = torch.randint(0, 5, (stuff,), generator=gen)  # 0: floor, 1-4: the four walls
    walls[side == 0, 2] = 0.0
    walls[side == 1, 0], walls[side == 2, 0] = 0.0, 10.0
    walls[side == 3, 1], walls[side == 4, 1] = 0.0, 10.0
    label = (side > 0).long()
    size = 0.3 + 0.7 * torch.rand(boxes, 3, generator=gen)
    low = torch.rand(boxes, 3, generator=gen) * (torch.tensor([10.0, 10.0, 0.0]) - size)
    low[:, 2] = 0.0
    area = 2 * (size[:, 0] * size[:, 1] + size[:, 1] * size[:, 2] + size[:, 0] * size[:, 2])
    box = torch.multinomial(area, points - stuff, replacement=True, generator=gen)
    # a point on a random face of its box: one axis pinned to the low or high side
    u = torch.rand(points - stuff, 3, generator=gen)
    axis = torch.randint(0, 3, (points - stuff,), generator=gen)
    u[torch.arange(len(u)), axis] = torch.randint(0, 2, (len(u),), generator=gen).float()
    objects = low[box] + u * size[box]
    coord = torch.cat([walls, objects])
    label = torch.cat([label, 2 + box % (CLASSES - 2)])
    center = torch.cat([walls, (low + size / 2)[box]])
    colour = torch.rand(boxes + 2, 3, generator=gen)[torch.cat([label[:stuff], 2 + box])]
    return coord, colour, label, center


def batch(scenes, points, device, seed=0, boxes=40):
    gen = torch.Generator().manual_seed(seed)
    parts = [room(points, boxes, gen) for _ in range(scenes)]
    coord, colour, label, center = (torch.cat(p) for p in zip(*parts))
    offset = torch.tensor([points * (i + 1) for i in range(scenes)], dtype=torch.int32)
    feat = torch.cat([colour, coord / 10.0], 1)
    return {k: v.to(device).contiguous() for k, v in dict(
        coord=coord, feat=feat, label=label, center=center, offset=offset).items()}


def timed(device, fn):
    """(milliseconds of fn() on the device's timeline, its result)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        out = fn()
        end.record()
        torch.cuda.synchronize()
        return start.elapsed_time(end), out
    t0 = time.perf_counter()
    out = fn()
    return (time.perf_counter() - t0) * 1e3, out


def train_step(model, opt, scaler, data, dtype):
    with torch.autocast(data["coord"].device.type, dtype=dtype, enabled=dtype is not None):
        logits, shift = model(data["coord"], data["feat"], data["offset"])
        loss = F.cross_entropy(logits.float(), data["label"])
        fg = data["label"] > 1
        loss = loss + (shift.float() - (data["center"] - data["coord"]))[fg].abs().sum(1).mean()
    opt.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    scaler.step(opt)
    scaler.update()
    return loss.detach()


def inference(model, ops, data, dtype, centers):
    with torch.no_grad(), torch.autocast(data["coord"].device.type, dtype=dtype,
                                         enabled=dtype is not None):
        logits, shift = model(data["coord"], data["feat"], data["offset"])
        segment = logits.argmax(1)
        if centers == "trained":
            segment = data["label"]
            noise = torch.randn(shift.shape, device=shift.device) * 0.01
            shift = data["center"] - data["coord"] + noise
        return cluster(ops, data["coord"], segment, shift, data["offset"])


def summarise(times, op_rows):
    """Median step time and the ops' share (medians over the steps)."""
    total = statistics.median(times)
    per_op = {}
    for rows in op_rows:
        for name, row in rows.items():
            per_op.setdefault(name, []).append(row)
    ops = {name: {"calls": rows[0]["calls"], "detail": rows[0]["detail"],
                  "forward_ms": statistics.median(r["forward_ms"] for r in rows),
                  "backward_ms": statistics.median(r["backward_ms"] for r in rows)}
           for name, rows in per_op.items()}
    in_ops = sum(r["forward_ms"] + r["backward_ms"] for r in ops.values() if not r["detail"])
    return {"ms": total, "ops_ms": in_ops, "ops_share": in_ops / total if total else 0.0,
            "ops": ops}


def run_precision(name, dtype, data, pointops, pointgroup_ops, args):
    device = data["coord"].device
    torch.manual_seed(args.seed)
    timer = OpTimer(device)
    ops = Ops(pointops, pointgroup_ops, timer)
    model = SegNet(ops, classes=CLASSES).to(device)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    scaler = torch.amp.GradScaler(device.type, enabled=dtype == torch.float16)
    train_ms, train_ops, infer_ms, infer_ops, losses, proposals = [], [], [], [], [], 0
    for i in range(args.warmup + args.steps):
        ms, loss = timed(device, lambda: train_step(model, opt, scaler, data, dtype))
        rows = timer.collect()
        if i >= args.warmup:
            train_ms.append(ms)
            train_ops.append(rows)
            losses.append(float(loss))
    model.eval()
    for i in range(args.warmup + args.steps):
        ms, (idx, offsets) = timed(device, lambda: inference(model, ops, data, dtype, args.centers))
        rows = timer.collect()
        if i >= args.warmup:
            infer_ms.append(ms)
            infer_ops.append(rows)
            proposals = len(offsets) - 1
    return {"precision": name, "train": summarise(train_ms, train_ops),
            "inference": summarise(infer_ms, infer_ops), "proposals": proposals,
            "loss_first_last": [losses[0], losses[-1]] if losses else None}


def environment(device, pointops, pointgroup_ops, args):
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {"label": args.label, "command": " ".join([sys.executable] + sys.argv),
            "host": platform.node(), "cpu_threads": torch.get_num_threads(), "gpu": gpu,
            "python": platform.python_version(), "torch": torch.__version__,
            "torch_cuda": torch.version.cuda,
            "pointops": f"{getattr(pointops, '__version__', '?')} {pointops.__file__}",
            "pointgroup_ops": f"{getattr(pointgroup_ops, '__version__', '?')} "
                              f"{pointgroup_ops.__file__}",
            "scenes": args.scenes, "points": args.points, "steps": args.steps,
            "warmup": args.warmup, "centers": args.centers}


def table(results):
    lines = ["| libs | precision | train step ms | ops in it (share) | inference ms | "
             "ops in it (share) | clustering call ms |", "|---|---|---|---|---|---|---|"]
    for res in results:
        label = res["environment"]["label"]
        for r in res["runs"]:
            if "error" in r:
                lines.append(f"| {label} | {r['precision']} | failed: {r['error']} | | | | |")
                continue
            t, i = r["train"], r["inference"]
            step = i["ops"].get(CLUSTER_CALL, {}).get("forward_ms", 0.0)
            lines.append(f"| {label} | {r['precision']} | {t['ms']:.1f} | {t['ops_ms']:.1f} "
                         f"({t['ops_share']:.0%}) | {i['ms']:.1f} | {i['ops_ms']:.1f} "
                         f"({i['ops_share']:.0%}) | {step:.1f} |")
    return "\n".join(lines)


def op_table(res):
    lines = [f"{res['environment']['label']}: per op (median ms per step; calls)",
             "| precision | phase | op | calls | forward | backward |", "|---|---|---|---|---|---|"]
    for r in (r for r in res["runs"] if "error" not in r):
        for phase in ("train", "inference"):
            for name, row in r[phase]["ops"].items():
                lines.append(f"| {r['precision']} | {phase} | {name} | {row['calls']} | "
                             f"{row['forward_ms']:.2f} | {row['backward_ms']:.2f} |")
    return "\n".join(lines)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--scenes", type=int, default=4)
    p.add_argument("--points", type=int, default=25000, help="points per scene")
    p.add_argument("--precision", default="fp32,bf16,fp16")
    p.add_argument("--steps", type=int, default=10, help="timed steps (the median is reported)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--centers", choices=("trained", "predicted"), default="trained")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--label", default="libs")
    p.add_argument("--json", metavar="PATH")
    p.add_argument("--compare", nargs="+", metavar="JSON")
    args = p.parse_args(argv)
    bad = [x for x in args.precision.split(",") if x not in PRECISIONS]
    if bad:
        p.error(f"--precision {args.precision}: {', '.join(bad)} not accepted "
                f"(accepted: {', '.join(PRECISIONS)})")
    for name in ("scenes", "points", "steps"):
        if getattr(args, name) < 1:
            p.error(f"--{name} must be at least 1, got {getattr(args, name)}")
    if args.points < 1024:
        p.error(f"--points {args.points}: at least 1024 (16 neighbours in each scene at the "
                f"coarsest of 4 levels of 1/4)")
    return args


def main(argv=None):
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.compare:
        results = []
        for path in args.compare:
            with open(path, encoding="utf-8") as fh:
                results.append(json.load(fh))
        print(table(results))
        return 0
    import pointgroup_ops
    import pointops

    device = torch.device(args.device)
    env = environment(device, pointops, pointgroup_ops, args)
    print("\n".join(f"{k}: {v}" for k, v in env.items()), flush=True)
    data = batch(args.scenes, args.points, device, args.seed)
    runs = []
    for name in args.precision.split(","):
        try:
            runs.append(run_precision(name, PRECISIONS[name], data, pointops, pointgroup_ops, args))
        except Exception as exc:  # one precision the libraries cannot run must not hide the others
            first = (str(exc).strip().splitlines() or [""])[0]
            runs.append({"precision": name, "error": f"{type(exc).__name__}: {first}"})
            print(f"{name}: failed: {runs[-1]['error']}", flush=True)
    result = {"environment": env, "runs": runs}
    print(table([result]))
    print(op_table(result))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(result, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
