"""libs/bench/fps_round_cycles.py without a GPU: its hooks still fit the multi FPS kernel as it
is (so a kernel edit that breaks them fails here, not on the GPU host), a source they do not fit
is refused with one line naming the hook, and the kernel's printed cycles become the per-round
table; without a GPU the script stops before building."""
import os
import subprocess
import sys

import pytest
import torch

BENCH = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, BENCH)
import fps_round_cycles as frc  # noqa: E402

KERNEL = os.path.join(os.path.dirname(BENCH), frc.KERNEL)


def kernel_source():
    with open(KERNEL) as f:
        return f.read()


def test_every_hook_fits_the_kernel_once_and_every_step_is_timed():
    out = frc.instrument(kernel_source())
    for _, new in frc.HOOKS:
        assert new in out
    for step in range(len(frc.STEPS)):
        assert out.count(f"cycles[{step}] +=") == 1, f"step {frc.STEPS[step]} is not timed exactly once"
    assert out.count("printf(") == 1
    # the printed line is the one rounds_table() reads
    assert 'printf("fps round cycles: csize %d p %d n %lld m %lld rounds %d samples %lld cycles' + " %lld" * 7 in out


@pytest.mark.parametrize("hook", range(len(frc.HOOKS)))
def test_a_kernel_without_a_hook_is_refused_naming_it(hook):
    old = frc.HOOKS[hook][0]
    source = kernel_source().replace(old, old.replace("\n", " \n", 1))  # a space at the end of its first line
    with pytest.raises(SystemExit) as err:
        frc.instrument(source)
    message = str(err.value)
    assert f"hook {hook} (" in message and "matches 0 times" in message
    assert "\n" not in message


def test_a_hook_found_twice_is_refused():
    old = frc.HOOKS[2][0]
    with pytest.raises(SystemExit, match="hook 2 .* matches 2 times"):
        frc.instrument(kernel_source() + old)


def test_printed_cycles_become_medians_per_round():
    def line(csize, rounds, cycles):
        return (f"fps round cycles: csize {csize} p 7 n 100000 m 25000 rounds {rounds} samples 24985 cycles "
                + " ".join(str(c) for c in cycles))

    lines = [
        "| farthest_point_sampling | uniform, 4 x 100k -> 4 x 25k | 22.0 | 495 | <= 20.0 | no |",
        line(16, 10, [100, 20, 30, 40, 50, 60, 70]),
        line(16, 10, [300, 40, 30, 40, 50, 60, 70]),
        line(16, 10, [200, 30, 30, 40, 50, 60, 70]),
        line(4, 2, [2, 4, 6, 8, 10, 12, 14]),
    ]
    table = frc.rounds_table(lines)
    assert set(table) == {(100000, 25000, 16, 7), (100000, 25000, 4, 7)}
    rounds, samples, per_step = table[(100000, 25000, 16, 7)]
    assert (rounds, samples) == (10, 24985)
    assert per_step == [20.0, 3.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert table[(100000, 25000, 4, 7)][2] == [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    assert frc.rounds_table(lines[:1]) == {}


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the script builds and runs")
def test_without_a_gpu_it_stops_with_one_line_before_building():
    run = subprocess.run([sys.executable, os.path.join(BENCH, "fps_round_cycles.py")], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 1
    assert run.stderr.strip() == "fps_round_cycles: needs a CUDA device (torch sees none)"
