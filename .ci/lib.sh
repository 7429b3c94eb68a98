# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for .ci/setup, .ci/stop, .ci/run and the CI checks.
# Sourced, never executed. Every path can be overridden from the environment.

PCB_CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PCB_REPO_ROOT=$(cd "$PCB_CI_DIR/.." && pwd)

# Pinned tool versions (served by the Go module proxy; both need Go >= 1.26.8).
PCB_BUILDKIT_VERSION=${PCB_BUILDKIT_VERSION:-v0.34.2}
PCB_BUILDX_VERSION=${PCB_BUILDX_VERSION:-v0.38.2}

# Caches that survive between runs (binaries, venv, registry data, buildkit state).
PCB_CI_CACHE=${PCB_CI_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pointcept-conda-build}
PCB_CI_BIN=${PCB_CI_BIN:-$PCB_CI_CACHE/ci/bin}
PCB_CI_HOOK_DIR=${PCB_CI_HOOK_DIR:-$PCB_CI_CACHE/ci/hook-bin}
PCB_CI_STATE=${PCB_CI_STATE:-$PCB_CI_CACHE/ci/state}
PCB_CI_VENV=${PCB_CI_VENV:-$PCB_CI_CACHE/venv}
# Runtime files: PID files, sockets, the stand-in GPU hook's log.
PCB_CI_RUN=${PCB_CI_RUN:-/run/pcb-ci}
PCB_CI_LOGS=${PCB_CI_LOGS:-$PCB_CI_RUN/logs}

PCB_DOCKER_SOCK=${PCB_DOCKER_SOCK:-/var/run/docker.sock}
PCB_BUILDKIT_SOCK=${PCB_BUILDKIT_SOCK:-$PCB_CI_RUN/buildkitd.sock}
PCB_REGISTRY=${PCB_REGISTRY:-127.0.0.1:5000}
PCB_BUILDER=${PCB_BUILDER:-pcb-remote}
PCB_BASE_TAG=${PCB_BASE_TAG:-pcb-base:busybox}
PCB_BASE_IMAGE=${PCB_BASE_IMAGE:-$PCB_REGISTRY/$PCB_BASE_TAG}
PCB_GPU_HOOK_LOG=${PCB_GPU_HOOK_LOG:-$PCB_CI_RUN/gpu-hook.log}
PCB_ENV_FILE=${PCB_ENV_FILE:-$PCB_CI_DIR/.env}

export PATH="$PCB_CI_BIN:$PATH"

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

# pid_alive FILE: true when FILE holds the PID of a running process.
pid_alive() {
  local pid
  [[ -s $1 ]] || return 1
  pid=$(<"$1")
  [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# wait_for SECONDS DESCRIPTION CMD...: poll CMD once a second until it succeeds.
wait_for() {
  local limit=$1 what=$2 i
  shift 2
  for ((i = 0; i < limit; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 1
  done
  log "timed out after ${limit}s waiting for $what"
  return 1
}

# start_daemon NAME LOGFILE CMD...: start CMD in its own session, detached from this
# shell, and record its PID in $PCB_CI_RUN/NAME.pid (that file is what .ci/stop reads).
start_daemon() {
  local name=$1 logfile=$2
  shift 2
  mkdir -p "$PCB_CI_RUN" "$(dirname "$logfile")"
  setsid nohup "$@" >>"$logfile" 2>&1 </dev/null &
  echo $! >"$PCB_CI_RUN/$name.pid"
  log "started $name (pid $!, log $logfile)"
}
