#!/usr/bin/env python3
"""Where a round of the multi FPS kernel spends its time, on a CUDA machine.

Usage (from the repository root):
    python libs/bench/fps_round_cycles.py [--only WORDS] [--keep DIR]

Builds a copy of pointops whose multi kernel (csrc/cuda/fps/fps_multi_kernels.cu) reads
clock64() around each step of a round, in thread 0 of block 0 (the first scene's warp 0, which
also runs the merge and the acceptance loop), sums the cycles over the rounds and prints them
at the end of each call. Then runs `bench_ops.py --only farthest` with that build and prints,
per workload, the cycles of each step per round (median over the calls). The clock reads cost
the kernel registers and spills: the steps' shares hold, the absolute time is a little longer
than the plain kernel's. The repository's own build is not touched.

The copy is patched by exact text: when the kernel changes, a hook that no longer matches stops
the script with one line naming it, before anything is built.
"""
import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

LIBS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KERNEL = os.path.join("pointops", "csrc", "cuda", "fps", "fps_multi_kernels.cu")
# The steps of a round, in the order of the cycles the kernel prints.
STEPS = (
    "1. lower the distances by the last round's samples",
    "2. each warp's best keys",
    "block barrier",
    "3a. warp 0: the block's 32 best",
    "cluster barrier",
    "3b + 4. the cluster's candidates (a merge tree), acceptance loop",
    "block barrier",
)

# (text in the kernel, what replaces it). Each must match exactly once.
HOOKS = [
    ("#include <cstdint>\n", "#include <cstdint>\n#include <cstdio>\n"),
    ("  for (int round = 0; sampled < m; ++round) {\n"
     "    // 1. The samples of the last round.\n"
     "    const int count = taken_count;\n",
     "  long long cycles[7] = {0, 0, 0, 0, 0, 0, 0}, samples = 0;\n"
     "  int rounds = 0;\n"
     "  for (int round = 0; sampled < m; ++round) {\n"
     "    long long t0 = clock64();\n"
     "    // 1. The samples of the last round.\n"
     "    const int count = taken_count;\n"
     "    samples += count;\n"
     "    ++rounds;\n"),
    ("    // 2. The warp's kPerWarp best keys, in order.\n",
     "    long long t1 = clock64();\n"
     "    cycles[0] += t1 - t0;\n"
     "    // 2. The warp's kPerWarp best keys, in order.\n"),
    ("      if (lane == 0) warp_keys[warp][e] = best;\n"
     "    }\n"
     "    __syncthreads();\n",
     "      if (lane == 0) warp_keys[warp][e] = best;\n"
     "    }\n"
     "    long long t2 = clock64();\n"
     "    cycles[1] += t2 - t1;\n"
     "    __syncthreads();\n"
     "    long long t3 = clock64();\n"
     "    cycles[2] += t3 - t2;\n"),
    ("      for (int r = 0; r < csize; ++r) *in_block(&lists[buf][rank][lane], r, csize) = mine;\n"
     "    }\n"
     "    cluster_barrier(csize);\n",
     "      for (int r = 0; r < csize; ++r) *in_block(&lists[buf][rank][lane], r, csize) = mine;\n"
     "    }\n"
     "    long long t4 = clock64();\n"
     "    cycles[3] += t4 - t3;\n"
     "    cluster_barrier(csize);\n"
     "    long long t5 = clock64();\n"
     "    cycles[4] += t5 - t4;\n"),
    ("        sampled = done + got;\n"
     "      }\n"
     "    }\n"
     "    __syncthreads();\n"
     "  }\n",
     "        sampled = done + got;\n"
     "      }\n"
     "    }\n"
     "    long long t6 = clock64();\n"
     "    cycles[5] += t6 - t5;\n"
     "    __syncthreads();\n"
     "    cycles[6] += clock64() - t6;\n"
     "  }\n"
     "  if (tid == 0 && blockIdx.x == 0)\n"
     "    printf(\"fps round cycles: csize %d p %d n %lld m %lld rounds %d samples %lld"
     " cycles %lld %lld %lld %lld %lld %lld %lld\\n\", csize, p, (long long)n, (long long)m, rounds,"
     " samples, cycles[0], cycles[1], cycles[2], cycles[3], cycles[4], cycles[5], cycles[6]);\n"),
]

LINE = re.compile(r"fps round cycles: csize (\d+) p (\d+) n (\d+) m (\d+) rounds (\d+) samples (\d+) cycles"
                  + r" (\d+)" * len(STEPS))


def instrument(source):
    """The kernel source with the clock reads; SystemExit naming the first hook that does not
    match exactly once."""
    for i, (old, new) in enumerate(HOOKS):
        found = source.count(old)
        if found != 1:
            first = old.strip().splitlines()[0]
            raise SystemExit(f"fps_round_cycles: hook {i} ('{first}') matches {found} times in {KERNEL}, "
                             "not once: the kernel changed; update HOOKS in this script")
        source = source.replace(old, new)
    return source


def rounds_table(lines):
    """{(n, m, csize, p): (rounds, samples, [median cycles per round of each step])} from the
    kernel's printed lines."""
    calls = {}
    for line in lines:
        hit = LINE.search(line)
        if not hit:
            continue
        csize, p, n, m, rounds, samples, *cycles = (int(x) for x in hit.groups())
        calls.setdefault((n, m, csize, p), []).append((rounds, samples, [c / rounds for c in cycles]))
    table = {}
    for key, runs in calls.items():
        per_step = [statistics.median(run[2][s] for run in runs) for s in range(len(STEPS))]
        table[key] = (runs[-1][0], runs[-1][1], per_step)
    return table


def build(work, python):
    # The libraries' sources without what a build left in them: sources.sh's rule, which the
    # other build scripts share.
    copy = subprocess.run(["bash", "-c", '. "$1" && copy_sources "$2" "$3"', "copy_sources",
                           os.path.join(LIBS, "bench", "sources.sh"), LIBS, os.path.join(work, "src")])
    if copy.returncode != 0:
        raise SystemExit(f"fps_round_cycles: copying the sources failed (exit {copy.returncode})")
    path = os.path.join(work, "src", KERNEL)
    with open(path) as f:
        source = instrument(f.read())
    with open(path, "w") as f:
        f.write(source)
    target = os.path.join(work, "build")
    env = dict(os.environ, FORCE_CUDA="1")
    pip = subprocess.run([python, "-m", "pip", "install", "-q", "--no-build-isolation", "--no-deps", "--target",
                          target, os.path.join(work, "src", "pointops")], env=env)
    if pip.returncode != 0:
        raise SystemExit(f"fps_round_cycles: building the instrumented pointops failed (pip exited with "
                         f"{pip.returncode}; its output is above)")
    return target


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", default="farthest", help="bench_ops.py's --only (default: farthest)")
    ap.add_argument("--keep", help="build in this folder and keep it (default: a temporary one)")
    args = ap.parse_args()
    import torch  # only to fail early: the build takes minutes

    if not torch.cuda.is_available():
        raise SystemExit("fps_round_cycles: needs a CUDA device (torch sees none)")
    work = args.keep or tempfile.mkdtemp(prefix="fps-round-cycles.")
    os.makedirs(work, exist_ok=True)
    try:
        print(f"command: {' '.join([os.path.basename(sys.executable)] + sys.argv)}", flush=True)
        target = build(work, sys.executable)
        paths = [target] + ([os.environ["PYTHONPATH"]] if os.environ.get("PYTHONPATH") else [])
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(paths))
        run = subprocess.run([sys.executable, os.path.join(LIBS, "bench", "bench_ops.py"), "--only", args.only],
                             env=env, capture_output=True, text=True)
        lines = run.stdout.splitlines()
        print("\n".join(line for line in lines if not LINE.search(line)))
        if run.returncode != 0:
            sys.stderr.write(run.stderr)
            raise SystemExit(f"fps_round_cycles: bench_ops.py exited with {run.returncode}")
        table = rounds_table(lines)
        if not table:
            raise SystemExit("fps_round_cycles: no multi-kernel call printed its cycles (no CUDA device, or "
                             "no workload that takes the multi kernel)")
        for (n, m, csize, p), (rounds, samples, per_step) in sorted(table.items()):
            print(f"\n{n} -> {m} a scene, clusters of {csize}, {p} points a thread: {rounds} rounds, "
                  f"{samples / rounds:.1f} samples a round; cycles per round (median over the calls):")
            for step, cycles in zip(STEPS, per_step):
                print(f"  {step:58s} {cycles:10,.0f}")
            print(f"  {'the round':58s} {sum(per_step):10,.0f}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
