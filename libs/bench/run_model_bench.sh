#!/usr/bin/env bash
# The model-level benchmark on a GPU host, this repository's libraries next to Pointcept's
# original ones: builds both pairs (pip, TORCH_CUDA_ARCH_LIST default 9.0, MAX_JOBS default nproc)
# into two separate directories, runs bench_model.py with each one first on PYTHONPATH, and
# writes the side-by-side table. About 6 minutes on 16 cores, most of it the two builds.
#
# Usage: bash libs/bench/run_model_bench.sh POINTCEPT_DIR [OUT_DIR]
#   POINTCEPT_DIR  a Pointcept checkout (its libs/pointops and libs/pointgroup_ops are built), or a
#                  directory that holds pointops/ and pointgroup_ops/ itself
#   OUT_DIR        results: model-bench.md (the table), model-{ours,pointcept}.{json,txt}, build
#                  logs (default $OUT, else ./model-bench-out)
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST, MAX_JOBS, BENCH_ARGS (more
# arguments for bench_model.py, e.g. "--steps 20").
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=sources.sh
. "$HERE/sources.sh"
REPO=$(cd "$HERE/../.." && pwd)
PC=${1:?usage: run_model_bench.sh POINTCEPT_DIR [OUT_DIR]}
OUT_DIR=${2:-${OUT:-$PWD/model-bench-out}}
PYTHON=${PYTHON:-python3}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-$(nproc)}
export FORCE_CUDA=1
[[ -d $PC/libs/pointops ]] && PC=$PC/libs
for lib in pointops pointgroup_ops; do
  [[ -f $PC/$lib/setup.py ]] || { echo "run_model_bench.sh: no $lib/setup.py in $PC (give a Pointcept checkout or its libs/)" >&2; exit 2; }
done
mkdir -p "$OUT_DIR"
WORK=$(mktemp -d "${TMPDIR:-/tmp}/model-bench.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# build NAME SRC_DIR: both libraries from SRC_DIR into $WORK/NAME (from clean copies).
build() {
  local name=$1 src=$2 t0
  copy_sources "$src" "$WORK/src/$name"
  t0=$SECONDS
  if ! "$PYTHON" -m pip install --no-build-isolation --no-deps --target "$WORK/$name" \
    "$WORK/src/$name/pointops" "$WORK/src/$name/pointgroup_ops" >"$OUT_DIR/build-$name.log" 2>&1; then
    tail -n 30 "$OUT_DIR/build-$name.log"
    echo "run_model_bench.sh: building $name failed (log: $OUT_DIR/build-$name.log)" >&2
    exit 1
  fi
  echo "built $name in $((SECONDS - t0)) s (TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS)"
}

# bench NAME: bench_model.py with $WORK/NAME first on PYTHONPATH (and proof that it was used).
bench() {
  local name=$1
  # shellcheck disable=SC2086  # BENCH_ARGS is a list of arguments
  PYTHONPATH="$WORK/$name${PYTHONPATH:+:$PYTHONPATH}" "$PYTHON" "$HERE/bench_model.py" \
    --label "$name" --json "$OUT_DIR/model-$name.json" ${BENCH_ARGS:-} | tee "$OUT_DIR/model-$name.txt"
  grep -q "^pointops: .* $WORK/$name/pointops/" "$OUT_DIR/model-$name.txt" ||
    { echo "run_model_bench.sh: the $name run did not import pointops from $WORK/$name" >&2; exit 1; }
}

build ours "$REPO/libs"
CPATH="${CPATH:+$CPATH:}$(sparsehash_stand_in "$WORK")" build pointcept "$PC"
bench ours
bench pointcept
{
  echo "Model-level benchmark (libs/bench/bench_model.py), $(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1),"
  echo "torch $("$PYTHON" -c 'import torch; print(torch.__version__)'), TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST:"
  echo
  "$PYTHON" "$HERE/bench_model.py" --compare "$OUT_DIR/model-ours.json" "$OUT_DIR/model-pointcept.json"
} | tee "$OUT_DIR/model-bench.md"
