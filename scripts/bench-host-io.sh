#!/usr/bin/env bash
# What this host can do with an environment-shaped tree, outside any Docker Engine or BuildKit:
# hash it, pack it, unpack it (one tar, then K tars at once) and compress it. No env-cache path
# can restore or save faster than these floors, so they tell whether a goal such as "10 GB in 20 s"
# is bounded by the machine or by the path.
#
#   bash scripts/bench-host-io.sh [TREE]
#
# TREE: a directory to pack (read only), best a real CUDA/PyTorch env. Without it a synthetic tree
# of PCB_BENCH_GB GB (default 6) is made by scripts/make-env-tree.py (a stand-in: its text
# compresses faster than real libraries do, so its zstd rows are optimistic).
# Scratch space: PCB_BENCH_DIR (default: a new directory under /var/tmp), about 3x the tree; removed
# at the end. Results: a markdown table on stdout, also written to $OUT/host-io.md when OUT is set.
set -euo pipefail

GB=${PCB_BENCH_GB:-6}
CPUS=$(nproc)
K=$((CPUS < 8 ? CPUS : 8))
WORK=${PCB_BENCH_DIR:-$(mktemp -d /var/tmp/pcb-host-io.XXXXXX)}
mkdir -p "$WORK"
trap 'rm -rf "$WORK"' EXIT
for tool in tar python3; do
  command -v "$tool" >/dev/null || { echo "bench-host-io: $tool is needed" >&2; exit 1; }
done

rows=()
# row NAME BYTES SECONDS NOTE: one line of the table (MB/s from bytes and seconds)
row() {
  rows+=("| $1 | $3 | $(python3 -c "print(round($2 / 1e6 / max($3, 1e-9)))") | $4 |")
  echo "bench-host-io: $1: $3 s" >&2
}
# timed CMD...: runs CMD, prints its wall seconds
timed() {
  local t0 t1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  python3 -c "print(round($t1 - $t0, 2))"
}

tree=${1:-}
if [[ -z $tree ]]; then
  tree=$WORK/tree
  echo "bench-host-io: generating a ${GB} GB synthetic tree in $tree" >&2
  python3 "$(dirname "$0")/make-env-tree.py" "$tree" "$GB"
fi
bytes=$(du -sb "$tree" | cut -f1)
files=$(find "$tree" -type f | wc -l)
echo "bench-host-io: tree $tree: $bytes bytes, $files files, $CPUS CPUs" >&2

# Sequential disk speed, page cache bypassed (what a cold cache entry is read at).
dd if=/dev/zero of="$WORK/dd" bs=16M count=256 oflag=direct status=none
s=$(timed dd if="$WORK/dd" of=/dev/null bs=16M iflag=direct status=none)
row "disk read, O_DIRECT, 4 GiB" $((16 << 28)) "$s" "the ceiling of any restore from a cold cache entry"
rm -f "$WORK/dd"

sync
s=$(timed sh -c "tar -cf '$WORK/env.tar' -C '$tree' . && sync")
row "pack: tar -c of the tree + sync" "$bytes" "$s" "the save path's floor (one writer)"

# sha256 over 64 MiB chunks by N threads (hashlib releases the GIL): N=1 is one stream.
cat >"$WORK/hash.py" <<'PY'
import hashlib, os, sys
from concurrent.futures import ThreadPoolExecutor
path, workers = sys.argv[1], int(sys.argv[2])
size, chunk = os.path.getsize(path), 64 << 20
def one(i):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        f.seek(i * chunk)
        left = min(chunk, size - i * chunk)
        while left > 0:
            b = f.read(min(left, 4 << 20))
            h.update(b)
            left -= len(b)
    return h.digest()
with ThreadPoolExecutor(workers) as ex:
    list(ex.map(one, range((size + chunk - 1) // chunk)))
PY
s=$(timed python3 "$WORK/hash.py" "$WORK/env.tar" 1)
row "sha256, 1 thread (page cache)" "$bytes" "$s" "checking an entry before use, one stream"
s=$(timed python3 "$WORK/hash.py" "$WORK/env.tar" "$K")
row "sha256, $K threads over 64 MiB chunks" "$bytes" "$s" "with per-chunk checksums in the entry"

mkdir -p "$WORK/x1"
sync
s=$(timed sh -c "tar -xf '$WORK/env.tar' -C '$WORK/x1' && sync")
row "unpack: one tar -x + sync" "$bytes" "$s" "what a RUN tar -x or one image layer costs at best"
rm -rf "$WORK/x1"

# K tars of equal size, directories made first, unpacked at once.
python3 - "$tree" "$WORK" "$K" <<'PY'
import os, sys
root, work, k = sys.argv[1], sys.argv[2], int(sys.argv[3])
files, dirs = [], []
for d, ds, fs in os.walk(root):
    dirs.append(os.path.relpath(d, root))
    files += [(os.lstat(os.path.join(d, f)).st_size, os.path.relpath(os.path.join(d, f), root)) for f in fs]
files.sort(reverse=True)
bins = [[0, []] for _ in range(k)]
for s, p in files:
    b = min(bins, key=lambda x: x[0]); b[0] += s; b[1].append(p)
open(f"{work}/dirs.list", "w").write("\n".join(dirs) + "\n")
for i, (_, ps) in enumerate(bins):
    open(f"{work}/part{i}.list", "w").write("\n".join(ps) + "\n")
PY
tar -cf "$WORK/dirs.tar" -C "$tree" --no-recursion -T "$WORK/dirs.list"
for ((i = 0; i < K; i++)); do tar -cf "$WORK/part$i.tar" -C "$tree" -T "$WORK/part$i.list"; done
rm -f "$WORK/env.tar"
mkdir -p "$WORK/xk"
sync
s=$(timed sh -c "tar -xf '$WORK/dirs.tar' -C '$WORK/xk' && for i in \$(seq 0 $((K - 1))); do tar -xf '$WORK'/part\$i.tar -C '$WORK/xk' & done; wait && sync")
row "unpack: $K tars at once + sync" "$bytes" "$s" "a split entry unpacked in parallel"
got=$(find "$WORK/xk" -type f | wc -l)
rm -rf "$WORK/xk"
cat "$WORK"/part*.tar >"$WORK/all.tar.parts" # input bytes for the compressors (not one valid tar)
rm -f "$WORK"/part*.tar

if command -v zstd >/dev/null; then
  s=$(timed sh -c "zstd -q -1 -T0 -c '$WORK/all.tar.parts' > '$WORK/z1'")
  row "zstd -1, all cores" "$bytes" "$s" "ratio $(python3 -c "print(round($bytes / $(stat -c %s "$WORK/z1"), 2))")"
  s=$(timed sh -c "zstd -q -3 -T0 -c '$WORK/all.tar.parts' > '$WORK/z3'")
  row "zstd -3, all cores" "$bytes" "$s" "ratio $(python3 -c "print(round($bytes / $(stat -c %s "$WORK/z3"), 2))")"
  s=$(timed sh -c "zstd -q -3 -T1 -c '$WORK/all.tar.parts' > /dev/null")
  row "zstd -3, 1 thread" "$bytes" "$s" "what one compressing goroutine of a layer export does at best"
  s=$(timed sh -c "zstd -q -d -c '$WORK/z3' > /dev/null")
  row "zstd -d (one stream)" "$bytes" "$s" "decompressing one layer"
else
  echo "bench-host-io: no zstd on this host: compression rows left out" >&2
fi

{
  echo "host: $CPUS CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 1048576}' /proc/meminfo), $(df -T "$WORK" | awk 'NR == 2 {print $1 " (" $2 ")"}')"
  echo "tree: $bytes bytes, $files files (${tree}); files after the K-way unpack: $got"
  echo
  echo "| step | seconds | MB/s | notes |"
  echo "|---|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
} | tee "${OUT:-$WORK}/host-io.md"
