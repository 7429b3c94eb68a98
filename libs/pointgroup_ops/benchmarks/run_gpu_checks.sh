#!/usr/bin/env bash
# GPU checks of pointgroup_ops and a side-by-side benchmark against Pointcept's original
# pointgroup_ops, run from the repository root on a CUDA machine:
#
#   bash libs/pointgroup_ops/benchmarks/run_gpu_checks.sh ORIGINAL_SRC [OUTDIR]
#
# ORIGINAL_SRC: a checkout of Pointcept's libs/pointgroup_ops (setup.py, src/, functions/),
# built only to compare against, never installed into the environment. OUTDIR defaults to
# $OUT, else ./pgo-gpu-results. PYTHON (default: python) is the interpreter with torch.
#
# Steps, each logged to OUTDIR (summary.txt collects the headlines):
#   1. build this package (FORCE_CUDA=1, TORCH_CUDA_ARCH_LIST=9.0, MAX_JOBS=16) and the
#      original one, each into a folder of its own put first on PYTHONPATH (timed);
#   2. pytest libs/pointgroup_ops/tests libs/common/tests (CUDA == CPU, 2M-point scale test);
#   3. compute-sanitizer memcheck on the CUDA tests (without the 2M-point scale test),
#      racecheck on benchmarks/sanitizer_driver.py;
#   4. the benchmark for both packages on 1, 2 and 16 threads, the comparison table, and a
#      per-kernel profile of ballquery_batch_p at ~30 and ~200 neighbours.
# Exits non-zero when a build, a test or a sanitizer run failed.
set -u
ORIGINAL_SRC=${1:?usage: run_gpu_checks.sh ORIGINAL_SRC [OUTDIR]  (ORIGINAL_SRC: Pointcept libs/pointgroup_ops)}
OUTDIR=${2:-${OUT:-pgo-gpu-results}}
PY=${PYTHON:-python}
HERE=libs/pointgroup_ops/benchmarks
mkdir -p "$OUTDIR"
OUTDIR=$(cd "$OUTDIR" && pwd)
ORIGINAL_SRC=$(cd "$ORIGINAL_SRC" && pwd) || exit 2
[[ -f $ORIGINAL_SRC/setup.py && -d $ORIGINAL_SRC/src ]] || {
  echo "run_gpu_checks.sh: $ORIGINAL_SRC is not Pointcept's libs/pointgroup_ops (no setup.py and src/)" >&2
  exit 2
}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16} PYTHONUNBUFFERED=1
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pgo-gpu.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
OURS=$WORK/ours ORIG=$WORK/original
SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
rc=0
say() { echo "$*" | tee -a "$SUMMARY"; }
# step NAME CMD...: run CMD with its output in OUTDIR/NAME.log, timed, the tail shown.
step() {
  local name=$1 t0=$SECONDS status
  shift
  echo "+ $*" >"$OUTDIR/$name.log"
  "$@" >>"$OUTDIR/$name.log" 2>&1
  status=$?
  ((status == 0)) || rc=1
  say "$name: exit $status in $((SECONDS - t0)) s"
  tail -n 4 "$OUTDIR/$name.log" | sed 's/^/    /' | tee -a "$SUMMARY"
  return "$status"
}

{
  echo "command: $0 $*"
  echo "date: $(date -u +%FT%TZ)"
  echo "host: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1
  command -v nvcc >/dev/null && nvcc --version | tail -n 2
  "$PY" -c 'import sys, torch; print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda)'
  echo "TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS"
} 2>&1 | tee "$OUTDIR/machine.txt" >>"$SUMMARY"

# 1. builds. The original includes <google/dense_hash_map> without using it; where sparsehash
# is not installed an empty stand-in header (in the temporary folder) lets it compile.
mkdir -p "$WORK/stand-in/google"
: >"$WORK/stand-in/google/dense_hash_map"
step build-ours env FORCE_CUDA=1 "$PY" -m pip install --no-build-isolation --no-deps --target "$OURS" ./libs/pointgroup_ops
cp -r "$ORIGINAL_SRC" "$WORK/original-src"
step build-original env CPATH="${CPATH:+$CPATH:}$WORK/stand-in" \
  "$PY" -m pip install --no-build-isolation --no-deps --target "$ORIG" "$WORK/original-src"

# 2. tests (this package first on the path)
export PYTHONPATH=$OURS${PYTHONPATH:+:$PYTHONPATH}
step pytest "$PY" -m pytest -q -p no:cacheprovider libs/pointgroup_ops/tests libs/common/tests

# 3. sanitizers
if command -v compute-sanitizer >/dev/null; then
  step memcheck timeout 270 compute-sanitizer --tool memcheck --error-exitcode 9 \
    "$PY" -m pytest -q -p no:cacheprovider libs/pointgroup_ops/tests/test_pgo_cuda.py -k "not two_million"
  step racecheck timeout 90 compute-sanitizer --tool racecheck --error-exitcode 9 "$PY" "$HERE/sanitizer_driver.py"
else
  say "compute-sanitizer not found: sanitizer runs skipped"
  rc=1
fi

# 4. benchmarks: both packages on the same lists for the CPU rows, each its own ball query
# for the call pattern.
step bench-ours "$PY" "$HERE/bench_instance.py" --threads 1,2,16 --save-lists "$WORK/lists.pt" --json "$OUTDIR/bench-ours.json"
step bench-original env PYTHONPATH="$ORIG" "$PY" "$HERE/bench_instance.py" --threads 1,2,16 \
  --lists "$WORK/lists.pt" --json "$OUTDIR/bench-original.json"
if [[ -s $OUTDIR/bench-ours.json && -s $OUTDIR/bench-original.json ]]; then
  "$PY" "$HERE/bench_instance.py" --compare "$OUTDIR/bench-ours.json" "$OUTDIR/bench-original.json" |
    tee "$OUTDIR/comparison.md" >>"$SUMMARY"
fi
step profile "$PY" "$HERE/profile_instance.py"
say "overall: $([[ $rc == 0 ]] && echo ok || echo FAILED)"
exit "$rc"
