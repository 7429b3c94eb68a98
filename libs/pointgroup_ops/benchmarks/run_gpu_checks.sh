#!/usr/bin/env bash
# GPU checks for pointgroup_ops, run from the repository root on a CUDA machine:
#   bash libs/pointgroup_ops/benchmarks/run_gpu_checks.sh [OUTDIR]
# Builds (sm_90, 16 jobs, timed), runs the tests (CUDA == CPU, 2M-point scale test),
# compute-sanitizer memcheck/racecheck on a small driver, and the instance benchmark.
set -u
out=${1:-pgo-gpu-results}
mkdir -p "$out"
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0} MAX_JOBS=${MAX_JOBS:-16} PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
rc=0
start=$(date +%s)
"$py" -m pip install --no-build-isolation --no-deps ./libs/pointgroup_ops >"$out/build.log" 2>&1 || rc=1
echo "build: rc=$rc, $(( $(date +%s) - start )) s (pip install, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST MAX_JOBS=$MAX_JOBS)"
"$py" -m pytest -q -p no:cacheprovider libs/pointgroup_ops/tests >"$out/pytest.log" 2>&1 || rc=1
tail -3 "$out/pytest.log"
if command -v compute-sanitizer >/dev/null; then
  for tool in ${PGO_SANITIZER_TOOLS:-memcheck racecheck}; do
    if timeout "${PGO_SANITIZER_TIMEOUT:-300}" compute-sanitizer --tool "$tool" --error-exitcode 9 \
      "$py" libs/pointgroup_ops/benchmarks/sanitizer_driver.py >"$out/sanitizer-$tool.log" 2>&1; then
      echo "compute-sanitizer $tool: clean"
    else
      echo "compute-sanitizer $tool: FAILED"
      rc=1
    fi
    tail -2 "$out/sanitizer-$tool.log"
  done
fi
"$py" libs/pointgroup_ops/benchmarks/bench_instance.py --json "$out/bench.json" || rc=1
exit $rc
