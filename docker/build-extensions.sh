#!/bin/sh
# Builds the CUDA extensions of libs/ as wheels, through a compiler cache. POSIX sh.
#
#   sh build-extensions.sh WHEEL_DIR LIB_DIR...
#
# The `extensions` stage of docker/Dockerfile.gpu runs it in one RUN, with the compiler cache in
# a BuildKit cache mount; libs/bench/bench_compile_cache.sh runs it outside Docker.
#
# MAX_JOBS   parallel compiler jobs, all libraries together. Empty or unset: one per CPU, at most
#            one per 4 GiB of memory (a job peaks at about 3 GiB: nvcc of pointgroup_ops' CUDA
#            files, which include torch's headers, on 4 threads), counted where the build runs,
#            its cgroup memory limit included. This is the rule of the action's `max-jobs: auto`;
#            the action passes a number, so the rule here is for builds without the action.
# The libraries build at the same time, each in its own `pip wheel`, with a share of MAX_JOBS in
#   proportion to its number of C++ and CUDA sources (at least one job each, the shares adding
#   up to MAX_JOBS; with fewer jobs than libraries they build one after the other). One build with all the jobs after the other leaves
#   most CPUs idle while its last few files compile. The pip output of each library is printed
#   once all are done, followed by its time.
# Compiler cache: used when `ccache` is on PATH (the env's conda-forge ccache); PCB_CCACHE=0
#   turns it off. Every nvcc compile (PYTORCH_NVCC) and every C++ compile (CXX) goes through it;
#   its files live in CCACHE_DIR (default /pcb/ccache). A cached object is reused only when all
#   of these are equal:
#     - the source and every header it includes (ccache's direct mode), and the whole command
#       line, which holds the -gencode flags made from TORCH_CUDA_ARCH_LIST: another arch list
#       is another key;
#     - the compiler identity printed by the compiler_check command this script writes: the
#       version banner of the compiler ccache runs, of the host compilers nvcc calls (gcc, g++,
#       and CC when set), and the machine type (no object of another platform can come back).
#   nvcc's dependency files (--generate-dependencies-with-compile) are switched off with
#   TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES=1: ccache cannot cache a compile that writes one,
#   and a build that starts from nothing never reads them.
# SOURCE_DATE_EPOCH (default 315532800, 1980-01-01, the oldest a zip can hold): fixed timestamps,
#   so that the same objects give byte-identical wheels and the layers after this one stay cached
#   when libs/ changed in a way that does not change what is built (a test, a comment).
# PYTHON     the interpreter that builds (default python).
set -eu

PYTHON=${PYTHON:-python}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcb-build-extensions.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

log() { printf 'build-extensions: %s\n' "$*" >&2; }
die() { printf 'build-extensions: error: %s\n' "$*" >&2; exit 1; }

# Memory this build may use, in KiB: MemTotal, or the cgroup's limit when that is lower.
memory_kib() {
  kib=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo 2>/dev/null || true)
  [ -n "$kib" ] || kib=0
  for limit_file in /sys/fs/cgroup/memory.max /sys/fs/cgroup/memory/memory.limit_in_bytes; do
    [ -r "$limit_file" ] || continue
    limit=$(cat "$limit_file")
    case $limit in
      '' | max | *[!0-9]*) ;;
      *) [ $((limit / 1024)) -lt "$kib" ] && kib=$((limit / 1024)) ;;
    esac
    break
  done
  echo "$kib"
}

# MAX_JOBS as given (checked), or derived from the CPUs and memory of this machine.
max_jobs() {
  case ${MAX_JOBS:-} in
    '') ;;
    *[!0-9]* | 0*) die "MAX_JOBS='${MAX_JOBS}' is not accepted: a whole number from 1, or empty for one job per CPU (at most one per 4 GiB of memory)" ;;
    *) echo "$MAX_JOBS"; return ;;
  esac
  cpus=$(nproc 2>/dev/null || echo 1)
  by_memory=$(($(memory_kib) / (4 * 1024 * 1024)))
  jobs=$cpus
  [ "$by_memory" -lt "$jobs" ] && jobs=$by_memory
  [ "$jobs" -ge 1 ] || jobs=1
  echo "$jobs"
}

# The compiler_check command: what ccache hashes as the identity of the compiler it runs.
write_compiler_id() { # DEST
  cat > "$1" <<'EOF'
#!/bin/sh
# $1: the compiler ccache is about to run. Prints everything that decides what it produces.
uname -m
"$1" --version 2>&1
for host in "${CC:-}" gcc g++; do
  [ -n "$host" ] && command -v "$host" >/dev/null 2>&1 && "$host" --version 2>&1
done
exit 0
EOF
  chmod +x "$1"
}

# Wrap a compiler in ccache with a script named like the real compiler (torch recognises gcc by
# the name of CXX, and runs it with -v and -dumpversion: ccache passes those through).
wrap() { # REAL_PATH DEST_DIR
  real=$1
  name=$(basename "$(readlink -f "$real")")
  printf '#!/bin/sh\nexec ccache '"'"'%s'"'"' "$@"\n' "$real" > "$2/$name"
  chmod +x "$2/$name"
  echo "$2/$name"
}

# What ccache did between two `ccache --print-stats` dumps: hits, misses, and the other calls
# that changed (a link, or a compile it could not cache, which names why).
ccache_summary() { # BEFORE AFTER
  awk -F'\t' '
    NR == FNR { before[$1] = $2; next }
    { d = $2 - before[$1] }
    $1 == "direct_cache_hit" || $1 == "preprocessed_cache_hit" { hits += d; next }
    $1 == "cache_miss" { misses += d; next }
    $1 ~ /(hit|miss|size|files|cleanups|storage|stats|recache)/ { next }
    d > 0 { other = other sprintf(", %s %d", $1, d) }
    END { printf "%d hits, %d misses%s\n", hits, misses, other }' "$1" "$2"
}

use_ccache() {
  [ "${PCB_CCACHE:-1}" != 0 ] || { log "compiler cache off (PCB_CCACHE=0)"; return 1; }
  command -v ccache >/dev/null 2>&1 || { log "no ccache on PATH: compiling without a compiler cache"; return 1; }
  export CCACHE_DIR="${CCACHE_DIR:-/pcb/ccache}"
  mkdir -p "$CCACHE_DIR" "$WORK/bin"
  write_compiler_id "$WORK/compiler-id"
  export CCACHE_COMPILERCHECK="$WORK/compiler-id %compiler%"
  export TORCH_EXTENSION_SKIP_NVCC_GEN_DEPENDENCIES=1
  cxx=$(command -v "${CXX:-c++}") || die "the C++ compiler '${CXX:-c++}' is not on PATH"
  CXX=$(wrap "$cxx" "$WORK/bin")
  export CXX
  # The nvcc torch would run: PYTORCH_NVCC, else CUDA_HOME as torch finds it; none: a CPU build.
  if [ -n "${PYTORCH_NVCC:-}" ]; then
    nvcc=$PYTORCH_NVCC
  else
    nvcc=$("$PYTHON" -c 'import os; from torch.utils.cpp_extension import CUDA_HOME as h; print(os.path.join(h, "bin", "nvcc") if h else "")') ||
      die "torch does not import with $PYTHON, and the extensions are built against it"
  fi
  case $nvcc in
    '' | ccache\ * | */ccache\ *) ;;  # a CPU build, or a command that goes through ccache already
    *) export PYTORCH_NVCC="ccache $nvcc" ;;
  esac
  log "compiler cache: $(ccache --version | head -n 1) in $CCACHE_DIR (CXX=$cxx${nvcc:+, nvcc=$nvcc})"
  return 0
}

# The C++ and CUDA sources of a library (outside build/): its share of MAX_JOBS.
source_count() { # LIB_DIR
  find "$1" -name build -prune -o -type f \( -name '*.cu' -o -name '*.cpp' \) -print | wc -l
}

# wheel LIB_DIR WHEEL_DIR JOBS INDEX: one library's pip wheel with JOBS compiler jobs; its output
# goes to $WORK/INDEX.log, its exit status and seconds to $WORK/INDEX.status.
wheel() {
  lib_started=$(date +%s)
  rc=0
  MAX_JOBS=$3 "$PYTHON" -m pip wheel --no-build-isolation --no-deps --wheel-dir "$2" "$1" \
    > "$WORK/$4.log" 2>&1 || rc=$?
  echo "$rc $(($(date +%s) - lib_started))" > "$WORK/$4.status"
}

# build_libraries WHEEL_DIR LIB_DIR...: every library's wheel (at the same time when MAX_JOBS
# has a job for each), then each one's pip output and time. Fails when one failed; failed_libs
# names those that did.
build_libraries() {
  wheel_dir=$1
  shift
  total=0
  for lib in "$@"; do total=$((total + $(source_count "$lib"))); done
  [ "$total" -ge 1 ] || total=1
  together=0
  [ $# -gt 1 ] && [ "$MAX_JOBS" -ge $# ] && together=1
  i=0
  jobs_left=$MAX_JOBS
  for lib in "$@"; do
    i=$((i + 1))
    if [ "$together" = 1 ]; then
      # its share, rounded, leaving at least one job to each library after it; the last one
      # gets what is left, so that the shares add up to MAX_JOBS
      later=$(($# - i))
      jobs=$(((MAX_JOBS * $(source_count "$lib") + total / 2) / total))
      [ "$jobs" -ge 1 ] || jobs=1
      [ "$jobs" -le $((jobs_left - later)) ] || jobs=$((jobs_left - later))
      [ "$later" -gt 0 ] || jobs=$jobs_left
      jobs_left=$((jobs_left - jobs))
      log "$(basename "$lib"): $jobs of the $MAX_JOBS compiler jobs"
      wheel "$lib" "$wheel_dir" "$jobs" "$i" &
    else
      wheel "$lib" "$wheel_dir" "$MAX_JOBS" "$i"
    fi
  done
  wait
  failed_libs=
  i=0
  for lib in "$@"; do
    i=$((i + 1))
    name=$(basename "$lib")
    cat "$WORK/$i.log"
    read -r rc secs < "$WORK/$i.status"
    if [ "$rc" = 0 ]; then
      log "$name: wheel built in $secs s"
    else
      log "$name: pip wheel failed (exit status $rc) after $secs s"
      failed_libs="${failed_libs:+$failed_libs, }$name"
    fi
  done
  [ -z "$failed_libs" ]
}

[ $# -ge 2 ] || die "usage: build-extensions.sh WHEEL_DIR LIB_DIR..."
wheels=$1
shift
MAX_JOBS=$(max_jobs)
export MAX_JOBS
export SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-315532800}"
log "MAX_JOBS=$MAX_JOBS ($(nproc 2>/dev/null || echo '?') CPUs, $(($(memory_kib) / 1024 / 1024)) GiB of memory), TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-unset}"
cache=0
if use_ccache; then
  cache=1
  ccache --print-stats > "$WORK/stats-before" 2>/dev/null || :
fi
started=$(date +%s)
built=1
build_libraries "$wheels" "$@" || built=0
if [ "$cache" = 1 ]; then
  ccache --print-stats > "$WORK/stats-after" 2>/dev/null || :
  log "compiler cache: $(ccache_summary "$WORK/stats-before" "$WORK/stats-after")"
fi
[ "$built" = 1 ] || die "no wheel for $failed_libs (the pip output is above)"
log "wheels built in $(($(date +%s) - started)) s"
