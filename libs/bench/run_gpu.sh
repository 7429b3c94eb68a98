#!/usr/bin/env bash
# One measuring run of libs/ on a GPU host (written for one H200, 16 cores, ~8 minutes): clean
# timed builds of both libraries (sm_90, then the image's arch list with nvcc's phase times),
# the pointops test suite on CUDA, the variants under measurement checked for exactness,
# compute-sanitizer memcheck (and racecheck of the new FPS kernel), and bench_ops.py with each
# variant. Every result goes under $OUT; steps.tsv lists each step's exit status and seconds,
# so a step that failed or ran out of time shows there and the others still run.
#
# Usage: OUT=/path/to/results bash libs/bench/run_gpu.sh
# Environment: PYTHON (default /opt/torch/.venv/bin/python when present, else python3),
# BUDGET_S (default 480): no step runs past that many seconds from the start (memcheck, last,
# gets what is left; a step with no time left is recorded as skipped).
#
# The variants (environment variables read by the CUDA operators; each is chosen per process):
#   POINTOPS_CSR_SORT=bits    backward passes: radix sort of only the row bits (grouping fwd+bwd)
#   POINTOPS_GRID_PPC=N       grid cells of N points (knn k=3 on surface data; default 2)
#   POINTOPS_FPS_KERNEL=multi farthest_point_sampling with several samples per round
#   POINTOPS_SKIP_INDEX_CHECK=1  (not a variant: shows what the index range check costs)
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
WHEELS=$(mktemp -d "${TMPDIR:-/tmp}/run-gpu-wheels.XXXXXX")
trap 'rm -rf "$WHEELS"' EXIT
printf 'step\trc\tseconds\n' >"$OUT/steps.tsv"
BUDGET_S=${BUDGET_S:-480}

# step NAME LIMIT_S CMD...: run CMD with a time limit (at most what is left of the budget),
# output in $OUT/NAME.log.
step() {
  local name=$1 limit=$2 t0=$SECONDS rc
  shift 2
  ((limit > BUDGET_S - SECONDS)) && limit=$((BUDGET_S - SECONDS))
  if ((limit < 15)); then
    printf '%s\tskipped (no time left)\t0\n' "$name" >>"$OUT/steps.tsv"
    return 0
  fi
  echo "== $name (limit ${limit}s)"
  timeout --kill-after=10 "$limit" "$@" >"$OUT/$name.log" 2>&1
  rc=$?
  printf '%s\t%s\t%s\n' "$name" "$rc" "$((SECONDS - t0))" >>"$OUT/steps.tsv"
  tail -n 3 "$OUT/$name.log"
  return 0
}

{
  date -u
  nproc
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
  nvcc --version | tail -n 2
  "$PYTHON" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda)'
  git -C "$ROOT" log -1 --oneline 2>/dev/null
} >"$OUT/env.txt" 2>&1

FULL_ARCHS="7.5;8.0;8.6;8.9;9.0+PTX"
step build-sm90 180 env TORCH_CUDA_ARCH_LIST=9.0 MAX_JOBS=16 \
  bash libs/bench/bench_build.sh --json "$OUT/build-sm90.json" --wheels "$WHEELS"
step build-full 240 env TORCH_CUDA_ARCH_LIST="$FULL_ARCHS" MAX_JOBS=16 \
  bash libs/bench/bench_build.sh --json "$OUT/build-full.json" --profile "$OUT/profile-full"
for lib in pointops pointgroup_ops; do
  [[ -f $OUT/profile-full/$lib-nvcc.csv ]] &&
    "$PYTHON" libs/bench/nvcc_phases.py "$OUT/profile-full/$lib-nvcc.csv" >"$OUT/profile-full/$lib-phases.md" 2>&1
done

step install 120 "$PYTHON" -m pip install --no-deps --force-reinstall "$WHEELS"/*.whl
cd "$OUT" || exit 1  # import the installed packages, not the sources
step pytest 240 "$PYTHON" -m pytest -q -p no:cacheprovider --junitxml="$OUT/pytest.xml" \
  "$ROOT/libs/pointops/tests"
step pytest-csr-bits 120 env POINTOPS_CSR_SORT=bits "$PYTHON" -m pytest -q -p no:cacheprovider \
  -k "cuda and (grouping or subtraction or aggregation or attention or query_group)" "$ROOT/libs/pointops/tests"

BENCH=("$PYTHON" "$ROOT/libs/bench/bench_ops.py")
step bench 240 "${BENCH[@]}" --json "$OUT/bench.json"
step bench-csr-bits 90 env POINTOPS_CSR_SORT=bits "${BENCH[@]}" --only grouping --json "$OUT/bench-csr-bits.json"
step bench-skip-index-check 90 env POINTOPS_SKIP_INDEX_CHECK=1 "${BENCH[@]}" --only grouping \
  --json "$OUT/bench-skip-index-check.json"
for ppc in 1 3; do
  step "bench-ppc$ppc" 60 env POINTOPS_GRID_PPC=$ppc "${BENCH[@]}" --only "knn_query k=3" \
    --json "$OUT/bench-ppc$ppc.json"
done
step bench-fps-multi 120 env POINTOPS_FPS_KERNEL=multi "${BENCH[@]}" --only farthest \
  --json "$OUT/bench-fps-multi.json"

step racecheck-fps-multi 120 compute-sanitizer --tool racecheck --racecheck-report hazard \
  "$PYTHON" -m pytest -q -p no:cacheprovider -k "few_samples and multi" "$ROOT/libs/pointops/tests/test_fps.py"
step memcheck 300 compute-sanitizer --tool memcheck "$PYTHON" -m pytest -q -p no:cacheprovider \
  -k cuda "$ROOT/libs/pointops/tests"
echo "== done; steps:"
cat "$OUT/steps.tsv"
