#!/usr/bin/env bash
# The libraries' CPU code under a sanitizer. Builds them for the CPU with -fsanitize=SANITIZER
# into a folder of their own, then runs their tests with the sanitizer's runtime preloaded
# (torch itself is not instrumented):
#   thread   ThreadSanitizer over the threaded search (bfs_cluster's range and component searches,
#            the kept threads and their barrier, csrc/cpu/workers.h): tests/test_pgo_bfs_threads.py
#            but the fork test (ThreadSanitizer does not follow a child forked from a process
#            with threads);
#   address  AddressSanitizer over every CPU test of libs/pointgroup_ops and libs/pointops (the
#            CUDA ones skip): reads and writes out of bounds, such as past the spare slot the
#            search's queues keep. libstdc++ is preloaded with it: ASan intercepts __cxa_throw
#            and aborts when the real one is not loaded at start, as in a Python process before
#            torch loads it.
# The sanitizer makes the process exit with 66 after any report, and this script then fails and
# prints the reports (written to files: pytest would swallow them with the tests' output).
#
# Usage: bash .ci/sanitizer-check.sh thread|address
# Env: PCB_PYTHON (default the CI venv's python), MAX_JOBS.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

SANITIZER=${1:-}
case $SANITIZER in
  thread)
    NAME=ThreadSanitizer FLAGS="-fsanitize=thread -g" OPTIONS_VAR=TSAN_OPTIONS OPTIONS="halt_on_error=0"
    PRELOAD_LIBS=(libtsan.so) BUILD=(pointgroup_ops)
    TESTS=("$PCB_REPO_ROOT/libs/pointgroup_ops/tests/test_pgo_bfs_threads.py" -k "not forked")
    ;;
  address)
    NAME=AddressSanitizer FLAGS="-fsanitize=address -fno-omit-frame-pointer -g" OPTIONS_VAR=ASAN_OPTIONS
    OPTIONS="detect_leaks=0" PRELOAD_LIBS=(libasan.so libstdc++.so) BUILD=(pointgroup_ops pointops)
    TESTS=("$PCB_REPO_ROOT/libs/pointgroup_ops/tests" "$PCB_REPO_ROOT/libs/pointops/tests")
    ;;
  *)
    echo "sanitizer-check: give the sanitizer, thread or address (got '$SANITIZER')" >&2
    exit 2
    ;;
esac
PY=${PCB_PYTHON:-$PCB_CI_VENV/bin/python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcb-$SANITIZER-san.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

preload=()
for lib in "${PRELOAD_LIBS[@]}"; do
  path=$(gcc -print-file-name="$lib")
  [[ -f $path ]] || { echo "sanitizer-check: $lib not found (gcc -print-file-name gave '$path')" >&2; exit 1; }
  preload+=("$path")
done

# A clean copy of the sources, so that the instrumented objects never mix with the plain ones
# of other builds.
# shellcheck source=../libs/bench/sources.sh
. "$PCB_REPO_ROOT/libs/bench/sources.sh"
copy_sources "$PCB_REPO_ROOT/libs" "$WORK/src"
log "building ${BUILD[*]} (CPU, -fsanitize=$SANITIZER)"
CFLAGS=$FLAGS LDFLAGS="-fsanitize=$SANITIZER" FORCE_CPU=1 MAX_JOBS=${MAX_JOBS:-2} \
  "$PY" -m pip install --no-build-isolation --no-deps --progress-bar off -q --target "$WORK/build" \
  "${BUILD[@]/#/$WORK/src/}" || exit 1

log "running ${TESTS[*]} under $NAME"
rc=0
# From the work folder: in a library's folder its source package would shadow the build.
(
  cd "$WORK" &&
    env "$OPTIONS_VAR=$OPTIONS exitcode=66 log_path=$WORK/report" LD_PRELOAD="${preload[*]}" PYTHONPATH="$WORK/build" \
      "$PY" -m pytest -q -p no:cacheprovider "${TESTS[@]}"
) || rc=$?
if compgen -G "$WORK/report*" >/dev/null; then
  cat "$WORK"/report* >&2
  echo "sanitizer-check: $NAME reported the problems above" >&2
  ((rc == 0)) && rc=66
fi
exit "$rc"
