#!/usr/bin/env bash
# The Docker Engines of the runner-setup matrix: each one a dockerd whose default builder is
# the `docker` buildx driver (the BuildKit built into the Engine), as on a self-hosted runner.
#
#   debian12       Debian 12's docker.io 20.10 (the system's dockerd), classic image store
#   26-classic     Debian 13's docker.io 26.1.5 + containerd 1.7.24, classic image store
#   26-containerd  the same binaries with the containerd image store on
#   28-classic     Docker Engine 28.5.2 and its docker CLI, built here from Moby's source (the Go
#                  module proxy's github.com/docker/docker and github.com/docker/cli), with Debian
#                  13's containerd 1.7.24, classic image store: what a Docker CE 28 install runs
#   29-containerd  Docker Engine 29's daemon (github.com/moby/moby/v2 v2.0.0-beta.24, after 29.8.0)
#                  and docker CLI 29.8.0, built the same way, with the same containerd and a runc
#                  1.3.7 built from source, containerd image store: what a fresh Docker CE 29
#                  install runs
#
# Each Engine runs in a network namespace that this script makes (`ip netns add pcb-ci-ID`):
# there it has a docker0 bridge and iptables rules of its own, so the docker driver's RUN steps
# get a network (the main dockerd runs with --bridge=none, where every such RUN fails with
# "network bridge not found"), and none of it touches the host's interfaces or rules. Its API
# socket lies in $PCB_ENGINES_RUN/ID/ (a unix socket is reachable from any network namespace).
# A relay carries the registry in: 127.0.0.1:PORT inside each namespace (socat) ->
# $PCB_ENGINES_RUN/registry.sock -> the registry on $PCB_REGISTRY (socat, host side), so the
# Engines push to and pull from the test registry under its usual name.
#
# Debian 13's binaries come as .debs through a private apt configuration, unpacked with
# dpkg-deb -x into the cache. Debian 13's runc needs GLIBC 2.38, so the Engines up to 28 use
# the system's runc (1.1.5), as the main dockerd does; 29 needs a newer one (lib.sh). Engines 28
# and 29 are built from Moby's source with Go, from the Go module proxy, so CI needs no other
# package source than Debian's (a module without go.mod gets its vendor.mod as one, which pins
# every dependency to the version the release vendors).
#
# Usage: bash .ci/engines.sh start        fetch what is missing, start every Engine and relay
#        bash .ci/engines.sh base-image   put the base image into each Engine (pull through the relay)
#        bash .ci/engines.sh env          print the variables the tests read (for .ci/.env)
#        bash .ci/engines.sh stop         stop what start started (PID files), remove the namespaces
# All of them are idempotent. The set of Engines is $PCB_ENGINES (see lib.sh).
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

read -r -a ENGINES <<<"${PCB_ENGINES//,/ }"
DEBIAN13_DIR=$PCB_CI_CACHE/ci/engines/debian13-docker-$PCB_DEBIAN13_DOCKER_VERSION-containerd-$PCB_DEBIAN13_CONTAINERD_VERSION
REGISTRY_RELAY_SOCK=$PCB_ENGINES_RUN/registry.sock
SYSTEM_DOCKER_CLI=/usr/bin/docker   # Debian 12's docker.io

# ---------------------------------------------------------------- what each Engine is
check_id() {
  engine_spec "$1" >/dev/null ||
    die "unknown engine '$1' in PCB_ENGINES (accepted: debian12, 26-classic, 26-containerd, 28-classic, 29-containerd)"
}
# Where an Engine's binaries come from: the system's docker.io (debian12), Debian 13's packages
# (26-*), or Moby's source (28-*, 29-*, with Debian 13's containerd).
engine_source() {
  case $1 in
    debian12) echo system ;;
    28-* | 29-*) echo moby ;;
    *) echo debian13 ;;
  esac
}
# The directory of an Engine built from Moby's source: bin/dockerd (and bin/runc for 29) and cli/docker.
moby_dir() {
  case $1 in
    28-*) echo "$PCB_CI_CACHE/ci/engines/moby-$PCB_MOBY28_VERSION" ;;
    29-*) echo "$PCB_CI_CACHE/ci/engines/moby-$PCB_MOBY29_VERSION-cli-$PCB_MOBY29_CLI_VERSION-runc-$PCB_RUNC_VERSION" ;;
  esac
}
# The PATH entries of the Engine's own dockerd, containerd, shim and docker-proxy (empty: the system's).
daemon_dir() {
  case $(engine_source "$1") in
    debian13) echo "$DEBIAN13_DIR/bin" ;;
    moby) echo "$(moby_dir "$1")/bin:$DEBIAN13_DIR/bin" ;;
  esac
}
# The directory of the docker CLI released with the Engine. For debian12 it holds a link to the
# docker.io package's CLI: another docker (e.g. in /usr/local/bin) may come first on PATH.
cli_dir() {
  case $(engine_source "$1") in
    debian13) echo "$DEBIAN13_DIR/cli" ;;
    moby) echo "$(moby_dir "$1")/cli" ;;
    *) echo "$PCB_ENGINES_RUN/$1/cli" ;;
  esac
}
daemon_json() {
  local version store
  read -r version store _ <<<"$(engine_spec "$1")"
  if [[ $store == containerd ]]; then
    echo '{"features":{"containerd-snapshotter":true}}'
  else
    echo '{}'
  fi
}
netns() { echo "pcb-ci-$1"; }
run_dir() { echo "$PCB_ENGINES_RUN/$1"; }
engine_sock() { echo "$PCB_ENGINES_RUN/$1/docker.sock"; }
engine_docker() { local id=$1; shift; docker -H "unix://$(engine_sock "$id")" "$@"; }
engine_up() { engine_docker "$1" version --format '{{.Server.Version}}' >/dev/null 2>&1; }

# ---------------------------------------------------------------- Debian 13's binaries
# newest_revision DIR PACKAGE UPSTREAM: the version trixie serves of PACKAGE at UPSTREAM.
newest_revision() {
  debian13_apt "$1" main cache madison "$2" | awk -v up="$3" '
    { v = $3; if (index(v, up) == 1 && substr(v, length(up) + 1, 1) ~ /[-+~]/) { print v; exit } }'
}

fetch_debian13() {
  if [[ -x $DEBIAN13_DIR/bin/dockerd && -x $DEBIAN13_DIR/cli/docker && -s $DEBIAN13_DIR/versions ]]; then
    log "Debian 13 engine binaries present ($(tr '\n' ' ' <"$DEBIAN13_DIR/versions"))"
    return
  fi
  local t0=$SECONDS apt_dir=$PCB_CI_CACHE/ci/apt-trixie-main work p v versions=()
  log "fetching Debian 13's docker.io $PCB_DEBIAN13_DOCKER_VERSION and containerd $PCB_DEBIAN13_CONTAINERD_VERSION"
  debian13_apt "$apt_dir" main -qq update
  work=$DEBIAN13_DIR.fetch
  rm -rf "$work" && mkdir -p "$work"
  for p in docker.io:$PCB_DEBIAN13_DOCKER_VERSION docker-cli:$PCB_DEBIAN13_DOCKER_VERSION containerd:$PCB_DEBIAN13_CONTAINERD_VERSION; do
    v=$(newest_revision "$apt_dir" "${p%%:*}" "${p#*:}")
    [[ -n $v ]] || die "Debian 13 (trixie) serves no ${p%%:*} ${p#*:} (see: apt-cache madison ${p%%:*})"
    versions+=("${p%%:*}=$v")
  done
  (cd "$work" && debian13_apt "$apt_dir" main -qq download "${versions[@]}")
  for p in "$work"/*.deb; do dpkg-deb -x "$p" "$work/root"; done
  rm -rf "$DEBIAN13_DIR.tmp" && mkdir -p "$DEBIAN13_DIR.tmp/bin" "$DEBIAN13_DIR.tmp/cli"
  # Only what dockerd runs; docker-init (tini) and runc come from the system.
  cp -a "$work/root/usr/sbin/dockerd" "$work/root/usr/sbin/docker-proxy" "$work/root/usr/bin/containerd" \
    "$work/root/usr/bin/containerd-shim-runc-v2" "$DEBIAN13_DIR.tmp/bin/"
  cp -a "$work/root/usr/bin/docker" "$DEBIAN13_DIR.tmp/cli/"
  printf '%s\n' "${versions[@]}" >"$DEBIAN13_DIR.tmp/versions"
  rm -rf "$DEBIAN13_DIR" "$work" && mv "$DEBIAN13_DIR.tmp" "$DEBIAN13_DIR"
  log "Debian 13 engine binaries ready in $((SECONDS - t0))s: ${versions[*]}"
}

# ---------------------------------------------------------------- Moby's source
# build_moby_part MODULE VERSION PKG LDFLAGS OUT [CGO [TAGS]]: builds PKG of MODULE@VERSION from a writable
# copy of the module proxy's source. A module without go.mod (Moby's releases before v2, the
# docker CLI) gets its vendor.mod and vendor.sum as go.mod and go.sum; its vendor/ tree is not in
# the module zip, so -mod=mod fetches those versions. CGO (default 0) and TAGS (default: without
# the graph drivers that need cgo, btrfs and devicemapper; overlay2 and the containerd
# snapshotters are pure Go) are optional arguments 6 and 7.
build_moby_part() {
  local module=$1 version=$2 pkg=$3 ldflags=$4 out=$5 cgo=${6:-0} tags=${7:-exclude_graphdriver_btrfs exclude_graphdriver_devicemapper} src dir
  src=$(go mod download -json "$module@$version" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [[ -d $src ]] || die "go mod download $module@$version gave no source directory"
  dir=$out.src
  rm -rf "$dir" && mkdir -p "$dir" && cp -a "$src/." "$dir/" && chmod -R u+w "$dir"
  if [[ ! -f $dir/go.mod ]]; then
    rm -rf "$dir/vendor" && cp "$dir/vendor.mod" "$dir/go.mod" && cp "$dir/vendor.sum" "$dir/go.sum"
  fi
  log "building $pkg of $module $version"
  (cd "$dir" && CGO_ENABLED=$cgo GOFLAGS="-trimpath -mod=mod" go build -tags "$tags" -ldflags "-s -w $ldflags" -o "$out" "$pkg")
  rm -rf "$dir"
}

# build_moby ID: the dockerd and docker CLI of an Engine built from Moby's source, unless present.
build_moby() {
  local id=$1 dir tmp t0=$SECONDS cli
  dir=$(moby_dir "$id")
  if [[ -x $dir/bin/dockerd && -x $dir/cli/docker && ($id != 29-* || -x $dir/bin/runc) ]]; then
    log "engine $id: dockerd and docker CLI present in $dir"
    return
  fi
  command -v go >/dev/null || die "the Go toolchain (>= 1.26.8) is needed to build the dockerd of engine $id"
  tmp=$dir.tmp
  rm -rf "$tmp" && mkdir -p "$tmp/bin" "$tmp/cli"
  case $id in
    28-*)
      build_moby_part github.com/docker/docker "v$PCB_MOBY28_VERSION+incompatible" ./cmd/dockerd \
        "-X github.com/docker/docker/dockerversion.Version=$PCB_MOBY28_VERSION" "$tmp/bin/dockerd"
      cli=$PCB_MOBY28_VERSION
      ;;
    29-*)
      build_moby_part github.com/moby/moby/v2 "$PCB_MOBY29_VERSION" ./cmd/dockerd \
        "-X github.com/moby/moby/v2/dockerversion.Version=${PCB_MOBY29_VERSION#v}" "$tmp/bin/dockerd"
      # runc needs cgo (its nsenter is C) and libseccomp (the seccomp tag: Docker's default profile)
      build_moby_part github.com/opencontainers/runc "v$PCB_RUNC_VERSION" . \
        "-X main.version=$PCB_RUNC_VERSION" "$tmp/bin/runc" 1 "seccomp urfave_cli_no_docs"
      cli=$PCB_MOBY29_CLI_VERSION
      ;;
  esac
  build_moby_part github.com/docker/cli "v$cli+incompatible" ./cmd/docker \
    "-X github.com/docker/cli/cli/version.Version=$cli" "$tmp/cli/docker"
  rm -rf "$dir" && mv "$tmp" "$dir"
  log "engine $id: dockerd and docker CLI built in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- namespaces, relays, daemons
make_netns() {
  local ns
  ns=$(netns "$1")
  [[ -e /run/netns/$ns ]] || ip netns add "$ns"
  ip -n "$ns" link set lo up
}

link_system_cli() {
  if [[ $(engine_source "$1") == system ]]; then
    mkdir -p "$(cli_dir "$1")"
    ln -sfn "$SYSTEM_DOCKER_CLI" "$(cli_dir "$1")/docker"
  fi
}

start_registry_relay() {
  pid_alive "$PCB_CI_RUN/registry-relay.pid" && return
  start_daemon registry-relay "$PCB_CI_LOGS/registry-relay.log" \
    socat "UNIX-LISTEN:$REGISTRY_RELAY_SOCK,fork,unlink-early,mode=0600" "TCP:$PCB_REGISTRY"
}

start_engine_relay() {
  local id=$1
  pid_alive "$PCB_CI_RUN/relay-$id.pid" && return
  start_daemon "relay-$id" "$PCB_CI_LOGS/relay-$id.log" \
    nsenter "--net=/run/netns/$(netns "$id")" \
    socat "TCP-LISTEN:${PCB_REGISTRY##*:},bind=${PCB_REGISTRY%:*},fork,reuseaddr" "UNIX-CONNECT:$REGISTRY_RELAY_SOCK"
}

start_engine() {
  local id=$1 run state dir path
  run=$(run_dir "$id")
  if engine_up "$id"; then
    if pid_alive "$PCB_CI_RUN/engine-$id.pid"; then
      log "engine $id already running (pid $(<"$PCB_CI_RUN/engine-$id.pid"))"
    else
      log "an Engine not started by .ci/engines.sh answers on $(engine_sock "$id"); using it"
    fi
    return
  fi
  state=$PCB_CI_STATE/engines/$id
  mkdir -p "$run" "$state/data"
  touch "$run/gpu-hook.log"
  daemon_json "$id" >"$run/daemon.json"
  # dockerd finds containerd, its shim, docker-proxy and the stand-in GPU hook on its PATH.
  dir=$(daemon_dir "$id")
  path=$PCB_CI_HOOK_DIR:$PATH
  if [[ -n $dir ]]; then path=$dir:$path; fi
  rm -f "$(engine_sock "$id")"
  start_daemon "engine-$id" "$PCB_CI_LOGS/engine-$id.log" \
    nsenter "--net=/run/netns/$(netns "$id")" \
    env PATH="$path" PCB_GPU_HOOK_LOG="$run/gpu-hook.log" \
    dockerd --config-file "$run/daemon.json" --host "unix://$(engine_sock "$id")" \
    --data-root "$state/data" --exec-root "$run/exec" --pidfile "$run/dockerd.pid" \
    --cgroup-parent "/$(netns "$id")"
}

cmd_start() {
  local t0=$SECONDS id
  mkdir -p "$PCB_ENGINES_RUN" "$PCB_CI_LOGS"
  for id in "${ENGINES[@]}"; do check_id "$id"; done
  command -v socat >/dev/null || die "socat is missing (run .ci/setup --apt-only)"
  # Debian 13's containerd runs under every Engine but the system's.
  for id in "${ENGINES[@]}"; do
    if [[ $(engine_source "$id") != system ]]; then
      fetch_debian13
      break
    fi
  done
  for id in "${ENGINES[@]}"; do
    if [[ $(engine_source "$id") == moby ]]; then build_moby "$id"; fi
  done
  start_registry_relay
  for id in "${ENGINES[@]}"; do
    make_netns "$id"
    link_system_cli "$id"
    start_engine "$id"
    start_engine_relay "$id"
  done
  for id in "${ENGINES[@]}"; do
    wait_for 90 "engine $id on $(engine_sock "$id")" engine_up "$id" || {
      tail -n 30 "$PCB_CI_LOGS/engine-$id.log" >&2
      die "engine $id did not start"
    }
    log "engine $id: Docker Engine $(engine_docker "$id" version --format '{{.Server.Version}}')," \
      "store $(engine_docker "$id" info --format '{{.Driver}}')"
  done
  log "engines started in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- base image
base_image_into() {
  local id=$1
  if engine_docker "$id" image inspect "$PCB_BASE_TAG" >/dev/null 2>&1 &&
    engine_docker "$id" image inspect "$PCB_BASE_IMAGE" >/dev/null 2>&1; then
    return
  fi
  # The pull goes through the relay: it proves the Engine reaches the registry.
  engine_docker "$id" pull -q "$PCB_BASE_IMAGE" >/dev/null
  engine_docker "$id" tag "$PCB_BASE_IMAGE" "$PCB_BASE_TAG"
  log "engine $id: pulled $PCB_BASE_IMAGE, tagged $PCB_BASE_TAG"
}

cmd_base_image() {
  local t0=$SECONDS id pids=() rc=0 p
  for id in "${ENGINES[@]}"; do
    base_image_into "$id" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  ((rc == 0)) || die "the base image could not be put into every engine"
  log "base image in every engine (${ENGINES[*]}) in $((SECONDS - t0))s"
}

# ---------------------------------------------------------------- variables for the tests
cmd_env() {
  local id var ids
  ids=${ENGINES[*]}
  echo "PCB_ENGINES=${ids// /,}"
  for id in "${ENGINES[@]}"; do
    check_id "$id"
    var=$(engine_var "$id")
    echo "$var=unix://$(engine_sock "$id")"
    echo "${var}_HOOK_LOG=$(run_dir "$id")/gpu-hook.log"
    echo "${var}_CLI=$(cli_dir "$id")"
  done
}

# ---------------------------------------------------------------- stop
# remove_cgroups ID: the Engine's empty cgroups (children first), left behind on cgroup v1.
remove_cgroups() {
  local d
  while IFS= read -r d; do rmdir "$d" 2>/dev/null || true; done < <(
    find /sys/fs/cgroup -maxdepth 3 -type d \( -path "*/$(netns "$1")" -o -path "*/$(netns "$1")/*" \) 2>/dev/null |
      sort -r)
}

stop_engine() {
  local id=$1 ns
  ns=$(netns "$id")
  stop_daemon "engine-$id" "engines/$id/docker.sock"
  stop_daemon "relay-$id" socat
  # Only a namespace where nothing runs any more (an Engine this script did not start stays).
  if [[ -e /run/netns/$ns && -z $(ip netns pids "$ns" 2>/dev/null) ]]; then
    ip netns delete "$ns"
    remove_cgroups "$id"
  fi
}

cmd_stop() {
  local id pids=() p
  for id in "${ENGINES[@]}"; do
    stop_engine "$id" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || true; done
  stop_daemon registry-relay socat
  pid_alive "$PCB_CI_RUN/registry-relay.pid" || rm -f "$REGISTRY_RELAY_SOCK"
}

case ${1:-} in
  start) cmd_start ;;
  base-image) cmd_base_image ;;
  env) cmd_env ;;
  stop) cmd_stop ;;
  *) die "usage: engines.sh start|base-image|env|stop (got '${1:-}')" ;;
esac
