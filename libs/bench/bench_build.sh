#!/usr/bin/env bash
# Times a clean CUDA build of libs/pointops and libs/pointgroup_ops (the spec's targets: both
# together in <= 60 s with 16 jobs, for sm_90 and for the image's arch list).
#
# Usage (from anywhere; needs torch, a CUDA toolkit (nvcc / CUDA_HOME) and ninja):
#   bash libs/bench/bench_build.sh [--json PATH] [--wheels DIR] [--profile DIR]
#     --wheels DIR   copy the built wheels there
#     --profile DIR  also write where the compile time went: nvcc's phase times
#                    (DIR/<lib>-nvcc.csv, NVCC_APPEND_FLAGS=--time; summarise them with
#                    nvcc_phases.py) and ninja's per-file times (DIR/<lib>-ninja_log)
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default 9.0), MAX_JOBS
# (default 16), KEEP=1 keeps the temporary directory with the logs and wheels.
#
# Each library is copied (without build/, *.egg-info, *.so) into a temporary directory and
# built as a wheel with `pip wheel --no-build-isolation --no-deps`, FORCE_CUDA=1, so nothing
# from an earlier build is reused. Prints one line per library and the total.
set -euo pipefail

JSON=""
WHEELS=""
PROFILE=""
while (($#)); do
  case $1 in
    --json) JSON=${2:?--json needs a path}; shift 2 ;;
    --wheels) WHEELS=${2:?--wheels needs a directory}; shift 2 ;;
    --profile) PROFILE=${2:?--profile needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0"; exit 0 ;;
    *) echo "bench_build.sh: unknown argument '$1' (accepted: --json PATH, --wheels DIR, --profile DIR)" >&2; exit 2 ;;
  esac
done
[[ -z $WHEELS ]] || mkdir -p "$WHEELS"
[[ -z $PROFILE ]] || PROFILE=$(mkdir -p "$PROFILE" && cd "$PROFILE" && pwd)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIBS=$(cd "$HERE/.." && pwd)
PYTHON=${PYTHON:-python3}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-16}
export FORCE_CUDA=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-build.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
  echo "keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi

"$PYTHON" -c 'import torch, torch.utils.cpp_extension as c; print("torch", torch.__version__, "CUDA", torch.version.cuda, "CUDA_HOME", c.CUDA_HOME)'
if command -v nvcc >/dev/null; then nvcc --version | tail -n 1; fi
echo "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS nproc=$(nproc)"

declare -A SECS
status=0
total_start=$(date +%s.%N)
for lib in pointops pointgroup_ops; do
  src=$LIBS/$lib
  if [[ ! -f $src/setup.py ]]; then
    echo "$lib: no setup.py, skipped"
    SECS[$lib]=null
    continue
  fi
  mkdir -p "$WORK/src/$lib" "$WORK/wheels"
  tar -C "$src" --exclude=./build --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ -cf - . |
    tar -C "$WORK/src/$lib" -xf -
  # Both libraries build with the rules and header of libs/common, found next to them.
  [[ -d $WORK/src/common ]] || cp -r "$LIBS/common" "$WORK/src/common"
  profile_env=()
  [[ -z $PROFILE ]] || profile_env=(NVCC_APPEND_FLAGS="--time=$PROFILE/$lib-nvcc.csv")
  t0=$(date +%s.%N)
  if env "${profile_env[@]}" "$PYTHON" -m pip wheel --no-build-isolation --no-deps -q -w "$WORK/wheels" "$WORK/src/$lib" \
    >"$WORK/$lib.log" 2>&1; then
    t1=$(date +%s.%N)
    SECS[$lib]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
    echo "$lib: ${SECS[$lib]} s"
    if [[ -n $PROFILE ]]; then
      cp "$WORK/src/$lib"/build/temp*/.ninja_log "$PROFILE/$lib-ninja_log" 2>/dev/null ||
        echo "$lib: no ninja log found"
    fi
    t1=$(date +%s.%N)
    SECS[$lib]=null
    status=1
    echo "$lib: FAILED after $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }') s; last lines of the log:"
    tail -n 30 "$WORK/$lib.log"
  fi
done
total_end=$(date +%s.%N)
[[ -z $WHEELS ]] || cp "$WORK"/wheels/*.whl "$WHEELS"/
TOTAL=$(awk -v a="$total_start" -v b="$total_end" 'BEGIN { printf "%.1f", b - a }')
echo "total: $TOTAL s (target <= 60 s for both; old: 65 s + 41 s)"

if [[ -n $JSON ]]; then
  printf '{"torch_cuda_arch_list": "%s", "max_jobs": %s, "pointops_s": %s, "pointgroup_ops_s": %s, "total_s": %s, "ok": %s}\n' \
    "$TORCH_CUDA_ARCH_LIST" "$MAX_JOBS" "${SECS[pointops]}" "${SECS[pointgroup_ops]}" "$TOTAL" \
    "$([[ $status == 0 ]] && echo true || echo false)" >"$JSON"
fi
exit $status
