#!/usr/bin/env bash
# Checks that the services .ci/setup started do what the end-to-end tests rely on, one
# junit testcase each ($PCB_JUNIT_DIR/services.xml): containers on dockerd, the GPU path
# through the stand-in hook, the registry, and buildx with the remote BuildKit builder
# (--load, --output type=local, --build-context DIR and docker-image://, --check, push);
# then each matrix engine of $PCB_ENGINES: its version and image store, a RUN step on its
# default builder, a push through its relay, and its GPU path.
# Needs the variables of .ci/.env (it sources that file when PCB_E2E is unset).
# The t_* functions are called through check().
# shellcheck disable=SC2317,SC2016
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ -z ${PCB_E2E:-} && -f $PCB_ENV_FILE ]]; then
  set -a
  # shellcheck disable=SC1090
  . "$PCB_ENV_FILE"
  set +a
fi
JUNIT_DIR=${PCB_JUNIT_DIR:-$PCB_REPO_ROOT/.junit}
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcb-services-check.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
TAG=pcb-ci-check-$$
trap 'docker image rm -f "$TAG:load" >/dev/null 2>&1; rm -rf "$WORK"' EXIT
status=0

# check NAME CMD...: run CMD (a function below), record pass/fail with its output.
check() {
  local name=$1 t0=$SECONDS logf
  shift
  logf=$WORK/$(tr -c 'a-zA-Z0-9' '_' <<<"$name").log
  if (set -e; "$@") >"$logf" 2>&1; then
    printf '%s\tpass\t%s\t\n' "$name" $((SECONDS - t0)) >>"$RESULTS"
    log "ok    $name"
  else
    printf '%s\tfail\t%s\t%s\n' "$name" $((SECONDS - t0)) "$logf" >>"$RESULTS"
    log "FAIL  $name"
    tail -n 20 "$logf" >&2
    status=1
  fi
}

bx() { docker buildx build --builder "$PCB_BUILDER" --progress plain "$@"; }

t_docker_run() {
  out=$(docker run --rm --network none "$PCB_BASE_TAG" sh -c 'echo ran-in-$(uname -s)')
  [[ $out == ran-in-Linux ]] || { echo "unexpected output: $out"; return 1; }
}

t_gpu_path() {
  before=$(wc -l <"$PCB_GPU_HOOK_LOG")
  out=$(docker run --rm --gpus all --network none "$PCB_BASE_TAG" sh -c 'echo "$NVIDIA_VISIBLE_DEVICES"')
  [[ $out == all ]] || { echo "NVIDIA_VISIBLE_DEVICES in the container: '$out' (expected all)"; return 1; }
  after=$(wc -l <"$PCB_GPU_HOOK_LOG")
  ((after == before + 1)) || { echo "hook log $PCB_GPU_HOOK_LOG grew by $((after - before)) lines, expected 1"; return 1; }
  tail -n 1 "$PCB_GPU_HOOK_LOG" | grep -q 'prestart id=[0-9a-f]\{64\} .*NVIDIA_VISIBLE_DEVICES=all' ||
    { echo "unexpected hook log line: $(tail -n 1 "$PCB_GPU_HOOK_LOG")"; return 1; }
}

t_registry() {
  curl -fsS "http://$PCB_REGISTRY/v2/" >/dev/null
  repo=${PCB_BASE_IMAGE#"$PCB_REGISTRY"/}
  curl -fsS -o /dev/null -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    "http://$PCB_REGISTRY/v2/${repo%%:*}/manifests/${repo##*:}"
}

t_load() {
  mkdir -p "$WORK/load"
  printf 'FROM %s\nARG WORD=unset\nRUN echo "built:$WORD" > /built\nCMD ["cat", "/built"]\n' "$PCB_BASE_IMAGE" >"$WORK/load/Dockerfile"
  bx --load -t "$TAG:load" --build-arg WORD=load "$WORK/load"
  out=$(docker run --rm --network none "$TAG:load")
  [[ $out == built:load ]] || { echo "container printed '$out'"; return 1; }
}

t_output_local() {
  mkdir -p "$WORK/loc"
  printf 'FROM %s AS build\nRUN mkdir /out && echo local-ok > /out/result\nFROM scratch\nCOPY --from=build /out/ /\n' \
    "$PCB_BASE_IMAGE" >"$WORK/loc/Dockerfile"
  bx --output "type=local,dest=$WORK/loc/dest" "$WORK/loc"
  [[ $(cat "$WORK/loc/dest/result") == local-ok ]]
}

t_context_dir() {
  mkdir -p "$WORK/cd/ctx" "$WORK/cd/app"
  echo "from-dir-$$" >"$WORK/cd/ctx/payload.txt"
  printf 'FROM scratch AS extra\nFROM %s AS use\nRUN --mount=from=extra,target=/x cp /x/payload.txt /got\nFROM scratch\nCOPY --from=use /got /got\n' \
    "$PCB_BASE_IMAGE" >"$WORK/cd/app/Dockerfile"
  bx --build-context "extra=$WORK/cd/ctx" --output "type=local,dest=$WORK/cd/out" "$WORK/cd/app"
  [[ $(cat "$WORK/cd/out/got") == "from-dir-$$" ]]
}

t_context_image() {
  mkdir -p "$WORK/ci/src" "$WORK/ci/app"
  printf 'FROM scratch\nCOPY token /token\n' >"$WORK/ci/src/Dockerfile"
  echo "from-image-$$" >"$WORK/ci/src/token"
  ref=$PCB_REGISTRY/pcb-ci-check:ctx-$$
  bx --output "type=image,name=$ref,push=true" "$WORK/ci/src"
  printf 'FROM scratch AS cachectx\nFROM %s AS use\nRUN --mount=from=cachectx,target=/c cp /c/token /got\nFROM scratch\nCOPY --from=use /got /got\n' \
    "$PCB_BASE_IMAGE" >"$WORK/ci/app/Dockerfile"
  bx --build-context "cachectx=docker-image://$ref" --output "type=local,dest=$WORK/ci/out" "$WORK/ci/app"
  [[ $(cat "$WORK/ci/out/got") == "from-image-$$" ]]
  # and dockerd can pull what BuildKit pushed
  docker pull -q "$ref" >/dev/null
  docker image rm "$ref" >/dev/null
}

t_check() {
  mkdir -p "$WORK/chk/good" "$WORK/chk/bad"
  printf 'FROM %s AS base\nRUN true\n' "$PCB_BASE_IMAGE" >"$WORK/chk/good/Dockerfile"
  bx --check "$WORK/chk/good"
  # Mixed-case FROM ... as is a build-check warning (FromAsCasing): --check must report it and fail.
  printf 'FROM %s as base\nRUN true\n' "$PCB_BASE_IMAGE" >"$WORK/chk/bad/Dockerfile"
  if bx --check "$WORK/chk/bad" >"$WORK/chk/bad.out" 2>&1; then
    cat "$WORK/chk/bad.out"
    echo "--check passed a Dockerfile with a FromAsCasing violation"
    return 1
  fi
  grep -q FromAsCasing "$WORK/chk/bad.out" || { cat "$WORK/chk/bad.out"; return 1; }
}

# ---- the matrix engines (.ci/engines.sh), each through its own socket, CLI and default builder
# engine_env ID: point `docker` at the Engine: its DOCKER_HOST, the CLI released with it, and a
# buildx state of its own (a fresh runner's: the current builder is the Engine's default one).
engine_env() {
  local var
  var=$(engine_var "$1")
  export DOCKER_HOST=${!var:?"$var is not set (.ci/.env from .ci/setup)"}
  local cli_var=${var}_CLI hook_var=${var}_HOOK_LOG
  export PATH="${!cli_var:?}:$PATH"
  ENGINE_HOOK_LOG=${!hook_var:?}
  export BUILDX_CONFIG=$WORK/buildx-$1
}

t_engine_version_store() {
  engine_env "$1"
  read -r want_version want_store want_client <<<"$(engine_spec "$1")"
  want_client=${want_client:-$want_version}
  version=$(docker version --format '{{.Server.Version}}')
  [[ $version == "$want_version" || $version == "$want_version"[.+~-]* ]] ||
    { echo "engine $1 reports Docker Engine $version, expected $want_version"; return 1; }
  driver_type=$(docker info --format '{{range .DriverStatus}}{{if eq (index . 0) "driver-type"}}{{index . 1}}{{end}}{{end}}')
  store=classic
  [[ $driver_type == io.containerd.snapshotter.v1 ]] && store=containerd
  [[ $store == "$want_store" ]] || { echo "engine $1 has the $store image store (driver-type '$driver_type'), expected $want_store"; return 1; }
  # The runner's docker CLI is the one released with the Engine.
  client=$(docker version --format '{{.Client.Version}}')
  [[ $client == "$want_client" || $client == "$want_client"[.+~-]* ]] ||
    { echo "the docker CLI for engine $1 is $client ($(command -v docker)), expected $want_client"; return 1; }
  echo "engine $1: Docker Engine $version, $store image store, client $client"
}

t_engine_build() {
  engine_env "$1"
  # (read whole, not piped into grep -q: with pipefail, an early grep exit fails the pipe)
  builder=$(docker buildx inspect)
  grep -q '^Driver: *docker$' <<<"$builder" || { echo "$builder"; echo "the current builder is not the docker driver"; return 1; }
  mkdir -p "$WORK/engine-$1"
  # RUN gets the Engine's bridge network (eth0): with --bridge=none it would fail.
  printf 'FROM %s\nRUN test -e /sys/class/net/eth0 && echo "built-on:%s" > /built\nCMD ["cat", "/built"]\n' \
    "$PCB_BASE_IMAGE" "$1" >"$WORK/engine-$1/Dockerfile"
  docker buildx build --progress plain --load -t "$TAG-$1:build" "$WORK/engine-$1"
  out=$(docker run --rm --network none "$TAG-$1:build")
  docker image rm "$TAG-$1:build" >/dev/null
  [[ $out == "built-on:$1" ]] || { echo "container printed '$out'"; return 1; }
}

t_engine_push() {
  engine_env "$1"
  ref=$PCB_REGISTRY/pcb-ci-check/$1:$$
  docker tag "$PCB_BASE_TAG" "$ref"
  pushed=$(docker push "$ref" | sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/\1/p')
  docker image rm "$ref" >/dev/null
  served=$(curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.docker.distribution.manifest.v2+json' \
    -H 'Accept: application/vnd.oci.image.index.v1+json' -H 'Accept: application/vnd.oci.image.manifest.v1+json' \
    "http://$PCB_REGISTRY/v2/pcb-ci-check/$1/manifests/$$" | tr -d '\r' | sed -n 's/^docker-content-digest: //Ip')
  [[ -n $pushed && $pushed == "$served" ]] || { echo "pushed '$pushed', the registry serves '$served'"; return 1; }
}

t_engine_gpu() {
  engine_env "$1"
  before=$(wc -l <"$ENGINE_HOOK_LOG")
  out=$(docker run --rm --gpus all --network none "$PCB_BASE_TAG" sh -c 'echo "$NVIDIA_VISIBLE_DEVICES"')
  [[ $out == all ]] || { echo "NVIDIA_VISIBLE_DEVICES in the container: '$out' (expected all)"; return 1; }
  after=$(wc -l <"$ENGINE_HOOK_LOG")
  ((after == before + 1)) || { echo "hook log $ENGINE_HOOK_LOG grew by $((after - before)) lines, expected 1"; return 1; }
}

t_old_buildx() {
  out=$("${PCB_OLD_BUILDX:?PCB_OLD_BUILDX is not set (.ci/.env from .ci/setup)}" version)
  [[ $out == "github.com/docker/buildx $PCB_OLD_BUILDX_VERSION"* ]] || { echo "$PCB_OLD_BUILDX version: '$out'"; return 1; }
}

check "docker run on dockerd (network none)" t_docker_run
check "docker run --gpus all reaches the stand-in nvidia hook" t_gpu_path
check "registry serves the base image" t_registry
check "buildx build --load on $PCB_BUILDER" t_load
check "buildx build --output type=local" t_output_local
check "buildx build --build-context name=DIR" t_context_dir
check "buildx build --build-context name=docker-image:// (pushed to the registry)" t_context_image
check "buildx build --check reports a violation" t_check
check "the matrix's old buildx is $PCB_OLD_BUILDX_VERSION" t_old_buildx
read -r -a engines <<<"${PCB_ENGINES//,/ }"
for id in "${engines[@]}"; do
  check "engine $id: server and CLI version, image store" t_engine_version_store "$id"
  check "engine $id: default builder (docker driver) runs a RUN step on its bridge, --load" t_engine_build "$id"
  check "engine $id: docker push to $PCB_REGISTRY through the relay" t_engine_push "$id"
  check "engine $id: docker run --gpus all reaches the stand-in nvidia hook" t_engine_gpu "$id"
done

mkdir -p "$JUNIT_DIR"
python3 "$PCB_CI_DIR/junit.py" write "$JUNIT_DIR/services.xml" services "$RESULTS"
exit $status
