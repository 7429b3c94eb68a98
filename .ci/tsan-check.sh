#!/usr/bin/env bash
# ThreadSanitizer over the threaded CPU search of libs/pointgroup_ops (bfs_cluster: the range
# and component searches, the kept threads and their barrier, csrc/cpu/workers.h). Builds the
# package for the CPU with -fsanitize=thread into a folder of its own, then runs
# tests/test_pgo_bfs_threads.py with libtsan preloaded (torch itself is not instrumented).
# ThreadSanitizer makes the process exit with 66 after any report, and this script then fails and
# prints the reports (written to files: pytest would swallow them with the tests' output). The
# fork test is left out: ThreadSanitizer does not follow a
# child forked from a process with threads.
#
# Usage: bash .ci/tsan-check.sh
# Env: PCB_PYTHON (default the CI venv's python), MAX_JOBS.
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=${PCB_PYTHON:-$PCB_CI_VENV/bin/python}
LIB=$PCB_REPO_ROOT/libs/pointgroup_ops
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcb-tsan.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

tsan=$(gcc -print-file-name=libtsan.so)
[[ -f $tsan ]] || { echo "tsan-check: libtsan.so not found (gcc -print-file-name gave '$tsan')" >&2; exit 1; }

# A clean copy of the sources, so that the instrumented objects never mix with the plain ones
# of other builds.
# shellcheck source=../libs/bench/sources.sh
. "$PCB_REPO_ROOT/libs/bench/sources.sh"
copy_sources "$PCB_REPO_ROOT/libs" "$WORK/src"
log "building pointgroup_ops (CPU, -fsanitize=thread)"
CFLAGS="-fsanitize=thread -g" LDFLAGS="-fsanitize=thread" FORCE_CPU=1 MAX_JOBS=${MAX_JOBS:-2} \
  "$PY" -m pip install --no-build-isolation --no-deps --progress-bar off -q --target "$WORK/build" \
  "$WORK/src/pointgroup_ops" || exit 1

log "running tests/test_pgo_bfs_threads.py under ThreadSanitizer"
rc=0
(
  cd "$LIB" &&
    TSAN_OPTIONS="halt_on_error=0 exitcode=66 log_path=$WORK/tsan" LD_PRELOAD=$tsan PYTHONPATH=$WORK/build \
      "$PY" -m pytest -q -p no:cacheprovider tests/test_pgo_bfs_threads.py -k "not forked"
) || rc=$?
if compgen -G "$WORK/tsan*" >/dev/null; then
  cat "$WORK"/tsan* >&2
  echo "tsan-check: ThreadSanitizer reported the races above" >&2
  ((rc == 0)) && rc=66
fi
exit "$rc"
