#!/usr/bin/env bash
# Times the CUDA build of libs/pointops and libs/pointgroup_ops through ccache, the way the image's
# `extensions` stage builds them (docker/build-extensions.sh, as wheels through pip), for the
# changes a developer makes: cold, nothing changed, one .cu file touched, one .cu file edited,
# and another arch list (which must miss every CUDA object). Checks that a rebuild from the cache
# gives byte-identical wheels, and that the wheels built from the cache import and run a kNN on
# the GPU. About 5 minutes on 16 cores.
#
# Usage (on a GPU host with torch, nvcc and ninja):
#   bash libs/bench/bench_compile_cache.sh [--out DIR] [--ccache-root DIR]
#   bash libs/bench/bench_compile_cache.sh --prepare-ccache DIR   (on Debian 12: unpack its ccache)
# --out DIR          results and logs (default $OUT, else ./compile-cache-out)
# --ccache-root DIR  a directory holding usr/bin/ccache (and the libraries it needs under
#                    usr/lib/x86_64-linux-gnu), used when no ccache is on PATH; --prepare-ccache
#                    makes one from Debian 12's ccache and libhiredis0.14 packages.
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default the image's list),
# MAX_JOBS (default: nproc).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=sources.sh
. "$HERE/sources.sh"
BUILD_SCRIPT=$REPO/docker/build-extensions.sh
OUT_DIR=${OUT:-}
CCACHE_ROOT=""
COMMAND="bash libs/bench/bench_compile_cache.sh $*"

prepare_ccache() { # DIR
  local dir=$1 tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download ccache libhiredis0.14) || { echo "apt-get download failed (a Debian 12 machine is needed)" >&2; exit 1; }
  mkdir -p "$dir"
  for deb in "$tmp"/*.deb; do dpkg-deb -x "$deb" "$dir"; done
  rm -rf "$tmp" "${dir:?}/usr/share"
  echo "ccache unpacked into $dir: $(LD_LIBRARY_PATH=$dir/usr/lib/x86_64-linux-gnu "$dir/usr/bin/ccache" --version | head -n 1)"
}

while (($#)); do
  case $1 in
    --out) OUT_DIR=${2:?--out needs a directory}; shift 2 ;;
    --ccache-root) CCACHE_ROOT=${2:?--ccache-root needs a directory}; shift 2 ;;
    --prepare-ccache) prepare_ccache "${2:?--prepare-ccache needs a directory}"; exit 0 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "bench_compile_cache.sh: unknown argument '$1' (accepted: --out DIR, --ccache-root DIR, --prepare-ccache DIR)" >&2; exit 2 ;;
  esac
done

# Absolute: the ccache wrapper below runs from the build directories.
[[ -n $CCACHE_ROOT ]] && CCACHE_ROOT=$(cd "$CCACHE_ROOT" && pwd)
PYTHON=${PYTHON:-python3}
export PYTHON
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-7.5;8.0;8.6;8.9;9.0+PTX}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export FORCE_CUDA=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-compile-cache.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OUT_DIR=${OUT_DIR:-$PWD/compile-cache-out}
mkdir -p "$OUT_DIR/logs" "$WORK/bin"

if ! command -v ccache >/dev/null; then
  [[ -n $CCACHE_ROOT && -x $CCACHE_ROOT/usr/bin/ccache ]] ||
    { echo "no ccache on PATH and no --ccache-root DIR with usr/bin/ccache" >&2; exit 2; }
  # Its own libraries for ccache only (they also reach the compilers it runs: libhiredis alone).
  # shellcheck disable=SC2016  # expanded when the wrapper runs
  printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' \
    "$CCACHE_ROOT/usr/lib/x86_64-linux-gnu" "$CCACHE_ROOT/usr/bin/ccache" >"$WORK/bin/ccache"
  chmod +x "$WORK/bin/ccache"
  export PATH=$WORK/bin:$PATH
fi
ccache --version >/dev/null 2>&1 ||
  { echo "ccache does not run on this host: $(ccache --version 2>&1 | head -n 1)" >&2; exit 2; }
export CCACHE_DIR=$WORK/ccache

{
  echo "host: $(hostname), $(nproc) CPUs, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
  "$PYTHON" -c 'import torch, torch.utils.cpp_extension as c; print("torch", torch.__version__, "CUDA", torch.version.cuda, "CUDA_HOME", c.CUDA_HOME)'
  nvcc=$("$PYTHON" -c 'import os, torch.utils.cpp_extension as c; print(os.path.join(c.CUDA_HOME, "bin", "nvcc"))')
  echo "nvcc: $("$nvcc" --version | tail -n 1)"
  echo "ccache: $(ccache --version | head -n 1)"
  echo "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS"
  echo "command: $COMMAND"
} | tee "$OUT_DIR/environment.txt"

# The sources at one fixed path for every run, as in the image (/pcb/libs).
SRC=$WORK/libs
copy_sources "$REPO/libs" "$SRC"

printf 'case\tseconds\thits\tmisses\twheels\tother ccache calls\n' >"$OUT_DIR/results.tsv"
# run NAME LIB...: one build from a clean build directory, as a fresh image layer starts.
run() {
  local name=$1 t0 t1 log=$OUT_DIR/logs/$1.log
  shift
  rm -rf "$WORK/wheels"
  for lib in pointops pointgroup_ops; do rm -rf "$SRC/$lib/build" "$SRC/$lib"/*.egg-info; done
  t0=$(date +%s.%N)
  if ! sh "$BUILD_SCRIPT" "$WORK/wheels" "$@" >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "$name: the build failed (log: $log)" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  local counts secs sums
  # "build-extensions: compiler cache: H hits, M misses[, what else it did]"
  counts=$(sed -n 's/^build-extensions: compiler cache: \([0-9]*\) hits, \([0-9]*\) misses,* *\(.*\)$/\1\t\2\t\3/p' "$log")
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  sums=$(cd "$WORK/wheels" && sha256sum ./*.whl | sort -k2 | sha256sum | cut -c1-12)
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$secs" "$(cut -f1,2 <<<"$counts")" "$sums" \
    "$(cut -f3 <<<"$counts")" | tee -a "$OUT_DIR/results.tsv"
}

cu_files() { find "$SRC/$1/csrc" -name '*.cu' -printf '%s %p\n' | sort -n | cut -d' ' -f2-; }
edit() { printf '\nstatic __device__ int bench_compile_cache_edit_%s;\n' "$2" >>"$1"; }

BOTH=("$SRC/pointops" "$SRC/pointgroup_ops")
run cold "${BOTH[@]}"
run nothing-changed "${BOTH[@]}"
touch "$(cu_files pointops | tail -n 1)"
run one-cu-touched "${BOTH[@]}"
small=$(cu_files pointops | head -n 1)
edit "$small" 1
run "one-cu-edited-small:$(basename "$small")" "${BOTH[@]}"
large=$(cu_files pointops | tail -n 1)
edit "$large" 2
run "one-cu-edited-large:$(basename "$large")" "${BOTH[@]}"
edit "$large" 3
run "one-cu-edited-large-pointops-only" "$SRC/pointops"
TORCH_CUDA_ARCH_LIST=9.0 run "arch-list-9.0-pointgroup_ops" "$SRC/pointgroup_ops"

# The wheels of the last full build come from the cache only.
run final-from-cache "${BOTH[@]}"

{
  echo "| case | seconds | ccache hits | misses | wheels (sha256 of the set) | other ccache calls |"
  echo "|---|---|---|---|---|---|"
  tail -n +2 "$OUT_DIR/results.tsv" |
    awk -F'\t' '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }'
  echo
  same=$(awk -F'\t' '$1 == "cold" { a = $5 } $1 == "nothing-changed" { b = $5 } END { print (a == b ? "yes" : "NO") }' "$OUT_DIR/results.tsv")
  echo "cold and nothing-changed wheels byte-identical: $same"
} | tee "$OUT_DIR/results.md"
ccache -s >"$OUT_DIR/ccache-stats.txt" 2>&1 || true

# Those wheels against the GPU: import and one kNN.
mkdir -p "$WORK/site"
for w in "$WORK"/wheels/*.whl; do (cd "$WORK/site" && "$PYTHON" -m zipfile -e "$w" .); done
PYTHONPATH=$WORK/site "$PYTHON" - <<'EOF' 2>&1 | tee "$OUT_DIR/gpu-check.txt"
import torch, pointops, pointgroup_ops
xyz = torch.rand(4096, 3, device="cuda")
offset = torch.tensor([2048, 4096], dtype=torch.int32, device="cuda")
idx, dist = pointops.knn_query(8, xyz, offset)
ref = torch.cat([torch.cdist(xyz[:2048], xyz[:2048]).topk(8, largest=False).values,
                 torch.cdist(xyz[2048:], xyz[2048:]).topk(8, largest=False).values])
print("knn from the cached build matches cdist:", bool(torch.allclose(dist, ref, atol=1e-5)),
      "| pointgroup_ops CUDA:", pointgroup_ops.cuda_available())
EOF
