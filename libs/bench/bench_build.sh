#!/usr/bin/env bash
# Times a clean CUDA build of libs/pointops and libs/pointgroup_ops the way the image builds them:
# docker/build-extensions.sh (both libraries at once, each a `pip wheel` with its share of
# MAX_JOBS), without a compiler cache. The spec's target: both in <= 60 s with 16 jobs, for sm_90
# and for the image's arch list.
#
# Usage (from anywhere; needs torch, a CUDA toolkit (nvcc / CUDA_HOME) and ninja):
#   bash libs/bench/bench_build.sh [--json PATH] [--wheels DIR] [--profile DIR]
#     --wheels DIR   copy the built wheels there
#     --profile DIR  also write where the compile time went: nvcc's phase times of both
#                    libraries (DIR/nvcc.csv, NVCC_APPEND_FLAGS=--time; summarise them with
#                    nvcc_phases.py) and ninja's per-file times (DIR/<lib>-ninja_log)
# Environment: PYTHON (default python3), TORCH_CUDA_ARCH_LIST (default 9.0), MAX_JOBS
# (default 16), KEEP=1 keeps the temporary directory with the sources, logs and wheels.
#
# Both libraries (without build/, *.egg-info, *.so) and libs/common are copied into a temporary
# directory, so nothing from an earlier build is reused. Prints the wall time of the whole build
# (what the image's extensions stage waits for) and each library's own time.
set -euo pipefail

JSON=""
WHEELS=""
PROFILE=""
while (($#)); do
  case $1 in
    --json) JSON=${2:?--json needs a path}; shift 2 ;;
    --wheels) WHEELS=${2:?--wheels needs a directory}; shift 2 ;;
    --profile) PROFILE=${2:?--profile needs a directory}; shift 2 ;;
    -h | --help) sed -n '2,18p' "$0"; exit 0 ;;
    *) echo "bench_build.sh: unknown argument '$1' (accepted: --json PATH, --wheels DIR, --profile DIR)" >&2; exit 2 ;;
  esac
done
[[ -z $WHEELS ]] || mkdir -p "$WHEELS"
[[ -z $PROFILE ]] || PROFILE=$(mkdir -p "$PROFILE" && cd "$PROFILE" && pwd)

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LIBS=$(cd "$HERE/.." && pwd)
# shellcheck source-path=SCRIPTDIR source=sources.sh
. "$HERE/sources.sh"
BUILD_SCRIPT=$(cd "$HERE/../../docker" && pwd)/build-extensions.sh
export PYTHON=${PYTHON:-python3}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-16}
export FORCE_CUDA=1 PCB_CCACHE=0
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-build.XXXXXX")
if [[ ${KEEP:-0} == 1 ]]; then
  echo "keeping $WORK"
else
  trap 'rm -rf "$WORK"' EXIT
fi

"$PYTHON" -c 'import torch, torch.utils.cpp_extension as c; print("torch", torch.__version__, "CUDA", torch.version.cuda, "CUDA_HOME", c.CUDA_HOME)'
if command -v nvcc >/dev/null; then nvcc --version | tail -n 1; fi
echo "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS nproc=$(nproc)"

LIBRARIES=(pointops pointgroup_ops)
copy_sources "$LIBS" "$WORK/src"
[[ -z $PROFILE ]] || export NVCC_APPEND_FLAGS="--time=$PROFILE/nvcc.csv"

status=0
t0=$(date +%s.%N)
sh "$BUILD_SCRIPT" "$WORK/wheels" "${LIBRARIES[@]/#/$WORK/src/}" >"$WORK/build.log" 2>&1 || status=$?
t1=$(date +%s.%N)
TOTAL=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
grep '^build-extensions: ' "$WORK/build.log" || :
if ((status != 0)); then
  echo "FAILED after $TOTAL s (exit status $status); last lines of the log:"
  tail -n 40 "$WORK/build.log"
fi

# Each library's seconds, as build-extensions.sh reports them ("NAME: wheel built in N s").
declare -A SECS
for lib in "${LIBRARIES[@]}"; do
  SECS[$lib]=$(sed -n "s/^build-extensions: $lib: wheel built in \([0-9]*\) s$/\1/p" "$WORK/build.log")
  [[ -n ${SECS[$lib]} ]] || SECS[$lib]=null
  if [[ -n $PROFILE ]]; then
    cp "$WORK/src/$lib"/build/temp*/.ninja_log "$PROFILE/$lib-ninja_log" 2>/dev/null ||
      echo "$lib: no ninja log found"
  fi
done
[[ -z $WHEELS ]] || cp "$WORK"/wheels/*.whl "$WHEELS"/ 2>/dev/null || :
echo "total: $TOTAL s for both, built at once (pointops ${SECS[pointops]} s, pointgroup_ops ${SECS[pointgroup_ops]} s; target <= 60 s)"

if [[ -n $JSON ]]; then
  printf '{"torch_cuda_arch_list": "%s", "max_jobs": %s, "pointops_s": %s, "pointgroup_ops_s": %s, "total_s": %s, "ok": %s}\n' \
    "$TORCH_CUDA_ARCH_LIST" "$MAX_JOBS" "${SECS[pointops]}" "${SECS[pointgroup_ops]}" "$TOTAL" \
    "$([[ $status == 0 ]] && echo true || echo false)" >"$JSON"
fi
exit $status
