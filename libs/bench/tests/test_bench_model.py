"""libs/bench/bench_model.py at a tiny size on the CPU, with this repository's pointops and
pointgroup_ops (their CPU kernels): the network trains with finite gradients in fp32 and bf16,
the op timer sees every op call forward and backward and measures what it claims, the clustering
step finds the instances, and the command line runs end to end."""
import json
import os
import subprocess
import sys
import time

import pointgroup_ops  # a library that does not build or import fails these tests
import pointops
import pytest
import torch

BENCH = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, BENCH)
import bench_model  # noqa: E402
from bench_model_net import CLUSTER_CALL, Ops, OpTimer, SegNet  # noqa: E402

CPU = torch.device("cpu")


def tiny(points=1600, boxes=5):
    return bench_model.batch(2, points, CPU, seed=1, boxes=boxes)


def model_and_ops(seed=0):
    torch.manual_seed(seed)
    ops = Ops(pointops, pointgroup_ops, OpTimer(CPU))
    # narrow channels: the same calls as the benchmark's network, a fraction of its CPU time here
    return SegNet(ops, classes=bench_model.CLASSES, channels=(8, 16, 16, 16)), ops


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_a_training_step_gives_finite_gradients_to_every_parameter(precision):
    model, ops = model_and_ops()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # lr 0: the gradients stay to be read
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    loss = bench_model.train_step(model, opt, scaler, tiny(), bench_model.PRECISIONS[precision])
    assert torch.isfinite(loss)
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert torch.isfinite(p.grad).all(), f"{name} has a non-finite gradient"
    assert sum(float(p.grad.abs().sum()) for p in model.parameters()) > 0


def test_the_op_timer_sees_each_call_forward_and_backward():
    model, ops = model_and_ops()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    bench_model.train_step(model, opt, torch.amp.GradScaler("cpu", enabled=False), tiny(), None)
    rows = ops.timer.collect()
    # 4 encoder blocks and 3 decoder blocks gather keys and values (2 calls each), 3
    # TransitionDowns group once and sample once, 3 TransitionUps interpolate once.
    assert {k: v["calls"] for k, v in rows.items()} == {
        "knn_query_and_group": 17, "farthest_point_sampling": 3, "interpolation": 3}
    assert all(r["forward_ms"] > 0 for r in rows.values())
    assert rows["knn_query_and_group"]["backward_ms"] > 0
    assert rows["interpolation"]["backward_ms"] > 0
    assert rows["farthest_point_sampling"]["backward_ms"] == 0
    assert ops.timer.collect() == {}, "collect() clears the spans"


class _SlowBackward(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, seconds):
        ctx.seconds = seconds
        return x * 2

    @staticmethod
    def backward(ctx, grad):
        time.sleep(ctx.seconds)
        return grad * 2, None


def test_the_backward_span_is_the_ops_own_backward():
    timer = OpTimer(CPU)
    x = torch.ones(4, requires_grad=True)
    y = timer.call("slow", _SlowBackward.apply, x, 0.2, grad_arg=0)
    # work before and after the op in the graph, with backward passes of their own
    z = _SlowBackward.apply(y, 0.3).sum() + _SlowBackward.apply(x, 0.3).sum()
    z.backward()
    row = timer.collect()["slow"]
    assert 0.19e3 <= row["backward_ms"] < 0.29e3, row
    assert row["forward_ms"] < 50, row


def test_inference_clusters_the_instances_as_pointgroup_does():
    data = tiny(points=4000, boxes=4)
    model, ops = model_and_ops()
    model.eval()
    idx, offsets = bench_model.inference(model, ops, data, None, "trained")
    rows = ops.timer.collect()
    assert rows[CLUSTER_CALL]["calls"] == 1 and not rows[CLUSTER_CALL]["detail"]
    assert rows["ballquery_batch_p"]["detail"] and rows["bfs_cluster"]["detail"]
    assert offsets[0] == 0 and offsets[-1] == len(idx) and bool((offsets.diff() >= 50).all())
    centre = data["center"][idx[:, 1].long()]
    label = data["label"][idx[:, 1].long()]
    assert bool((label > 1).all()), "floor and walls are not clustered"
    # each proposal holds the points of one box, and every box of each scene is found
    for c in range(len(offsets) - 1):
        part = slice(int(offsets[c]), int(offsets[c + 1]))
        assert bool((centre[part] == centre[part][0]).all()), f"proposal {c} mixes boxes"
    assert len(offsets) - 1 == len(torch.unique(data["center"][data["label"] > 1], dim=0))


def test_the_command_line_runs_and_compares(tmp_path):
    out = tmp_path / "cpu.json"
    cmd = [sys.executable, os.path.join(BENCH, "bench_model.py"), "--device", "cpu", "--scenes",
           "2", "--points", "1200", "--precision", "fp32,bf16", "--steps", "1", "--warmup", "0",
           "--label", "tiny", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"pointops: {pointops.__version__} {pointops.__file__}" in proc.stdout
    result = json.loads(out.read_text())
    assert [r["precision"] for r in result["runs"]] == ["fp32", "bf16"]
    for r in result["runs"]:
        assert 0 < r["train"]["ops_ms"] < r["train"]["ms"], r["train"]
        assert 0 < r["inference"]["ops_ms"] < r["inference"]["ms"], r["inference"]
    proc = subprocess.run([sys.executable, os.path.join(BENCH, "bench_model.py"), "--compare",
                           str(out), str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.count("| tiny | fp32 |") == 2, proc.stdout


@pytest.mark.parametrize("args, message", [
    (["--precision", "fp8"], "--precision fp8: fp8 not accepted (accepted: fp32, bf16, fp16)"),
    (["--points", "1000"], "--points 1000: at least 1024"),
    (["--steps", "0"], "--steps must be at least 1, got 0"),
])
def test_bad_arguments_are_one_clear_line(args, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        bench_model.main(args)
    err = capsys.readouterr().err
    assert exit_.value.code == 2 and message in err.strip().splitlines()[-1], err
