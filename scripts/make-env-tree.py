#!/usr/bin/env python3
"""Writes a synthetic tree shaped like a CUDA/PyTorch conda env, for the env-cache benchmarks.

    python3 scripts/make-env-tree.py DIR GB

About GB gigabytes under DIR/conda: a dozen 0.1-0.9 GB shared libraries (60%), MB-sized
libraries (20%), and up to 100k small source files (the rest). Half of every file's 4 KiB blocks
are random, half a repeated text block, so zstd packs it about 2x (a real env packs 2-2.5x, and
its libraries compress slower than this text does). A stand-in for a real env: pass a real one
to the benchmarks when the machine has it.
"""
import os
import random
import sys

root, gb = sys.argv[1], float(sys.argv[2])
rnd = random.Random(15)
text = (b"def forward(self, x):\n    return torch.relu(self.linear(x))\n" * 80)[:4096]
pool = b"".join(os.urandom(4096) if i % 2 else text for i in range(16384))  # 64 MiB


def write(path, size):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        while size > 0:
            n = min(size, len(pool))
            off = rnd.randrange(0, len(pool) - n + 1) // 4096 * 4096
            f.write(pool[off:off + n])
            size -= n


total = int(gb * 1e9)
site = f"{root}/conda/envs/env/lib/python3.10/site-packages"
large = [int(total * w) for w in (0.14, 0.1, 0.08, 0.07, 0.06, 0.05, 0.04, 0.04, 0.03, 0.03, 0.02, 0.02)]
for i, size in enumerate(large):
    write(f"{site}/pkg{i}/lib/libbig{i}.so", size)
medium = int(total * 0.2)
n = 0
while medium > 0:
    size = min(medium, rnd.randrange(1 << 20, 10 << 20))
    write(f"{root}/conda/envs/env/lib/lib{n}.so", size)
    medium -= size
    n += 1
small = total - sum(large) - int(total * 0.2)
i = 0
while small > 0 and i < 100000:
    size = min(small, int(rnd.lognormvariate(8.5, 1.3)) + 1)
    write(f"{site}/p{i % 400}/d{i % 7}/f{i}.py", size)
    small -= size
    i += 1
