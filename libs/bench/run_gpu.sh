#!/usr/bin/env bash
# One measuring run of libs/ on a GPU host (written for one H200 with 16 cores; about 4 minutes):
#  1. a clean timed build of both libraries the way the image builds them
#     (docker/build-extensions.sh through bench_build.sh, the image's arch list, 16 jobs), with
#     nvcc's phase times and ninja's per-file times;
#  2. the wheels installed, and the pointops CUDA tests;
#  3. compute-sanitizer memcheck of the kernels changed since the last run (FPS, the feature
#     ops' gathers and backward passes);
#  4. bench_ops.py, then grouping alone with the index check (the default) and without it
#     (POINTOPS_SKIP_INDEX_CHECK=1): what the check costs;
#  5. memcheck of the index check tests (the test without the check runs in a child process);
#  6. racecheck of the FPS kernels.
# Steps 5 and 6 take what is left of the time; BUDGET_S=420 leaves room for both (racecheck of
# the six FPS cases took about 3 minutes on an H100 host, the dense kernel's alone 68 s).
# A step that fails or runs out of time is recorded and the others still run.
#
# Usage: OUT=/path/to/results bash libs/bench/run_gpu.sh
# Environment: PYTHON (default /opt/torch/.venv/bin/python when present, else python3),
# BUDGET_S (default 240): no step runs past that many seconds from the start, a step with no
# time left is recorded as skipped; MAX_JOBS (default 16); TORCH_CUDA_ARCH_LIST (default the
# image's list).
#
# $OUT receives six files: steps.tsv (each step's exit status and seconds), summary.md (what to
# read first: build times, test and sanitizer verdicts, the benchmark tables), build.json,
# bench.json, grouping-index-check.json (the two grouping runs) and logs.tgz (every log, the
# build profile, pytest's junit XML).
set -uo pipefail

OUT=${OUT:?set OUT to the results directory}
OUT=$(mkdir -p "$OUT" && cd "$OUT" && pwd)
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 1
if [[ -z ${PYTHON:-} ]]; then
  PYTHON=python3
  [[ -x /opt/torch/.venv/bin/python ]] && PYTHON=/opt/torch/.venv/bin/python
fi
export PYTHON
BUDGET_S=${BUDGET_S:-240}
export MAX_JOBS=${MAX_JOBS:-16}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-7.5;8.0;8.6;8.9;9.0+PTX}
LOGS=$(mktemp -d "${TMPDIR:-/tmp}/run-gpu.XXXXXX")
trap 'rm -rf "$LOGS"' EXIT
mkdir -p "$LOGS/wheels" "$LOGS/profile"
printf 'step\trc\tseconds\n' >"$OUT/steps.tsv"

# step NAME LIMIT_S CMD...: run CMD with a time limit (at most what is left of the budget),
# output in $LOGS/NAME.log.
step() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  ((limit > BUDGET_S - SECONDS)) && limit=$((BUDGET_S - SECONDS))
  if ((limit < 15)); then
    printf '%s\tskipped (no time left)\t0\n' "$name" >>"$OUT/steps.tsv"
    return 0
  fi
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >"$LOGS/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$OUT/steps.tsv"
  tail -n 3 "$LOGS/$name.log"
  return 0
}

{
  date -u
  nproc
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nvcc --version | tail -n 2
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
  git -C "$ROOT" log -1 --oneline 2>/dev/null
} >"$LOGS/env.txt" 2>&1

# 1. Build.
step build 150 bash libs/bench/bench_build.sh --json "$OUT/build.json" --wheels "$LOGS/wheels" \
  --profile "$LOGS/profile"
for lib in pointops pointgroup_ops; do
  "$PYTHON" libs/bench/nvcc_phases.py --lib "$lib" "$LOGS/profile/nvcc.csv" >"$LOGS/profile/$lib-phases.md" 2>&1
done

# 2. Install and test (from $LOGS, so that the installed packages are imported, not the sources).
step install 60 "$PYTHON" -m pip install --no-deps --force-reinstall "$LOGS"/wheels/*.whl
cd "$LOGS" || exit 1
TESTS=$ROOT/libs/pointops/tests
PYTEST=("$PYTHON" -m pytest -q -p no:cacheprovider)
step pytest 120 "${PYTEST[@]}" --junitxml="$LOGS/pytest.xml" -k cuda "$TESTS"

# 3. memcheck of the changed kernels (torch's profiler, which test_cuda_kernel_choice uses, does
# not run under compute-sanitizer; the same kernels run in the other FPS tests). The index check
# tests run after the benchmarks: POINTOPS_SKIP_INDEX_CHECK is read once per process, so its test
# runs in a child process.
step memcheck 120 compute-sanitizer --tool memcheck "${PYTEST[@]}" \
  -k "cuda and not kernel_choice and not index_check" "$TESTS/test_fps.py" "$TESTS/test_grouping.py" \
  "$TESTS/test_subtraction.py" "$TESTS/test_aggregation.py" "$TESTS/test_attention.py" \
  "$TESTS/test_query_group.py"

# 4. Benchmarks.
BENCH=("$PYTHON" "$ROOT/libs/bench/bench_ops.py")
step bench 60 "${BENCH[@]}" --json "$OUT/bench.json"
for check in separate skip; do
  case $check in
    separate) variant=() ;;
    skip) variant=(POINTOPS_SKIP_INDEX_CHECK=1) ;;
  esac
  step "grouping-$check" 40 env -u POINTOPS_SKIP_INDEX_CHECK "${variant[@]}" \
    "${BENCH[@]}" --only grouping --reps 50 --json "$LOGS/grouping-$check.json"
done
"$PYTHON" - "$LOGS" >"$OUT/grouping-index-check.json" <<'PY'
import json, os, sys
runs = {}
for check in ("separate", "skip"):
    path = os.path.join(sys.argv[1], f"grouping-{check}.json")
    if os.path.exists(path):
        with open(path) as f:
            runs[check] = json.load(f)["rows"]
json.dump(runs, sys.stdout, indent=1)
PY

# 5. memcheck of the index check tests, following their child processes.
step memcheck-index-check 90 compute-sanitizer --tool memcheck --target-processes all "${PYTEST[@]}" \
  -k "cuda and index_check" "$TESTS/test_grouping.py"

# 6. racecheck of the FPS kernels (shared-memory hazards), few samples.
step racecheck 240 compute-sanitizer --tool racecheck --racecheck-report hazard "${PYTEST[@]}" \
  -k "every_kernel_few_samples" "$TESTS/test_fps.py"

# bench_rows LOG: the table bench_ops.py printed, or the rows it had measured when it was cut short.
bench_rows() {
  if grep -q '^Device:' "$1" 2>/dev/null; then
    sed -n '/^Device:/,$p' "$1"
  else
    grep '^# ' "$1" 2>/dev/null
  fi
}

# The summary, then the rest into one archive.
{
  echo "# GPU run of libs/ ($(git -C "$ROOT" log -1 --format='%h %s' 2>/dev/null))"
  echo
  echo '```'
  cat "$LOGS/env.txt"
  echo '```'
  echo
  echo "## Steps (exit status, seconds; budget ${BUDGET_S} s)"
  echo
  echo '```'
  cat "$OUT/steps.tsv"
  echo '```'
  echo
  echo "## Build (MAX_JOBS=$MAX_JOBS, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST)"
  echo
  echo '```'
  grep -E '^(total|build-extensions: )' "$LOGS/build.log"
  cat "$OUT/build.json" 2>/dev/null
  for lib in pointops pointgroup_ops; do
    [[ -f $LOGS/profile/$lib-ninja_log ]] || continue
    # objects, ninja's wall time, the compile seconds summed, and the longest file
    awk -v lib="$lib" -F'\t' 'NR > 1 { d = ($2 - $1) / 1000; sum += d; n++; if ($2 > end) end = $2
        if (d > longest) { longest = d; file = $4 } }
      END { sub(/.*\//, "", file); printf "%s: %d objects, ninja %.1f s, %.1f s of compiles, longest %s %.1f s\n",
            lib, n, end / 1000, sum, file, longest }' "$LOGS/profile/$lib-ninja_log"
  done
  echo '```'
  for lib in pointops pointgroup_ops; do
    echo
    echo "nvcc phases, $lib:"
    echo
    awk 'NR <= 8 || /^\| all /' "$LOGS/profile/$lib-phases.md" 2>/dev/null  # six longest files
  done
  echo
  echo "## Tests and sanitizers"
  echo
  echo '```'
  for name in pytest memcheck memcheck-index-check racecheck; do
    printf '%s: ' "$name"
    tail -n 1 "$LOGS/$name.log" 2>/dev/null || echo "no log"
    grep -E '(ERROR|RACECHECK) SUMMARY' "$LOGS/$name.log" 2>/dev/null
  done
  echo '```'
  echo
  echo "## bench_ops.py"
  echo
  bench_rows "$LOGS/bench.log"
  echo
  echo "## grouping with each index check (--reps 50)"
  for check in separate skip; do
    echo
    echo "$check:"
    echo
    bench_rows "$LOGS/grouping-$check.log"
  done
} >"$OUT/summary.md" 2>&1
tar -C "$LOGS" -czf "$OUT/logs.tgz" --exclude=./wheels .
echo "== done; steps:"
cat "$OUT/steps.tsv"
