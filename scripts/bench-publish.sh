#!/usr/bin/env bash
# Publishing-path benchmark: what each way of pushing "the image the smoke run tested" costs on a
# large image. A fixture of incompressible layers (random data) is built once, then each part of
# each way is timed on its own, reusing BuildKit's cache so that every number is one part:
#   build       the RUN steps only (--output type=cacheonly)
#   push        push by digest, untagged: gzip compression + upload (ways A and B both pay it)
#   push-again  the same push to the second registry: upload only (the blobs are compressed; a
#               second repository of the same registry would only be a cross-repository mount)
#   pull        docker pull of that digest: the registry round trip's second half (way B)
#   load        the same build exported with --output type=docker: the second export (way A)
#   docker-push docker tag + docker push of the loaded image to the second registry (the path
#               without attestations): the Engine compresses every layer again
#   two-outputs a fresh build (new random data) with --output type=docker and the push by digest
#               in one buildx call (way A as a whole, with its exporters running side by side)
#   tag         buildx imagetools create of two tags in the repository pushed to (both ways)
#   tag-repo    the same for a tag in another repository of the same registry
#   tag-remote  the same for a tag in the second registry
# It also checks what the ways promise: the pulled and the loaded image ids equal the config digest
# of the pushed platform manifest, and every tag points at the pushed index.
#
# Needs dockerd, a buildx builder that is not the docker driver, and Debian's docker-registry on
# PATH: the benchmark pushes to two throwaway registries of its own (on loopback, in a temp dir),
# so no shared registry keeps gigabytes of blobs. Everything it made is removed at the end, its
# build-cache records included (they are found by the marker in their RUN lines).
#   bash scripts/bench-publish.sh                        # 3 layers of 1024 MiB
#   PCB_BENCH_LAYERS=2 PCB_BENCH_LAYER_MB=512 PCB_BUILDER=mybuilder bash scripts/bench-publish.sh
# Prints a markdown table (also written to $PCB_BENCH_OUT when set).
set -euo pipefail
cd "$(dirname "$0")/.."
# the services' variables that .ci/setup wrote, when it ran here
# shellcheck disable=SC1091
[[ -f .ci/.env ]] && { set -a; . .ci/.env; set +a; }
LAYERS=${PCB_BENCH_LAYERS:-3}
LAYER_MB=${PCB_BENCH_LAYER_MB:-1024}
BUILDER=${PCB_BUILDER:?set PCB_BUILDER to a buildx builder that is not the docker driver}
BASE=${PCB_BASE_IMAGE:?set PCB_BASE_IMAGE to a small base image the builder can pull}
MARK=pcb-bench-publish-$$
tmp=$(mktemp -d "${TMPDIR:-/tmp}/pcb-bench-publish.XXXXXX")
declare -A secs
declare -a order
registry_pids=()

log() { printf '[bench-publish] %s\n' "$*" >&2; }

cleanup() {
  set +e
  docker image rm -f "$MARK:loaded" "$MARK:loaded2" "$REG2/$MARK-today:v1" >/dev/null 2>&1
  [[ -n ${PULLED:-} ]] && docker image rm -f "$PULLED" >/dev/null 2>&1
  docker buildx prune --builder "$BUILDER" --force --filter "description~=$MARK" >/dev/null 2>&1
  for pid in "${registry_pids[@]}"; do kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  rm -rf "$tmp"
}
trap cleanup EXIT

# A throwaway registry on a free loopback port; prints host:port.
start_registry() {
  local name=$1 port
  port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  mkdir -p "$tmp/$name"
  printf 'version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:%s\n' \
    "$tmp/$name/data" "$port" >"$tmp/$name/config.yml"
  docker-registry serve "$tmp/$name/config.yml" >"$tmp/$name/log" 2>&1 &
  registry_pids+=("$!")
  for _ in $(seq 50); do
    curl -fsS "http://127.0.0.1:$port/v2/" >/dev/null 2>&1 && { echo "127.0.0.1:$port"; return; }
    sleep 0.1
  done
  log "the throwaway registry did not start: $(tail -n 3 "$tmp/$name/log")"
  return 1
}

# timed NAME CMD...: runs CMD with its output in $tmp/NAME.log and records its wall time.
timed() {
  local name=$1 t0 t1
  shift
  t0=$(date +%s.%N)
  if ! "$@" >"$tmp/$name.log" 2>&1; then
    log "$name failed:"
    tail -n 20 "$tmp/$name.log" >&2
    return 1
  fi
  t1=$(date +%s.%N)
  secs[$name]=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  order+=("$name")
  log "$name: ${secs[$name]} s"
  # BuildKit's own split of an export: compression, upload, tarball, docker load
  grep -E '(exporting layers|pushing layers|sending tarball|^#[0-9]+ DONE)' "$tmp/$name.log" | grep -E ' [0-9.]+s( done)?$' | tail -n 8 | sed 's/^/    /' >&2 || true
}

build() { docker buildx build --builder "$BUILDER" --progress plain --build-arg "BUST=$1" "${@:2}" "$tmp/ctx"; }
push_by_digest() { echo "type=image,name=$1,push-by-digest=true,name-canonical=true,push=true"; }
meta() { jq -r ".\"$2\"" "$tmp/$1"; }
manifest_digest_of() {  # the tagged digest a registry answers for REF (host/repo:tag)
  local ref=$1 host=${1%%/*} rest=${1#*/}
  curl -fsS -o /dev/null -D - -H 'Accept: application/vnd.oci.image.index.v1+json' \
    "http://$host/v2/${rest%:*}/manifests/${rest##*:}" | tr -d '\r' | awk -F': ' 'tolower($1) == "docker-content-digest" { print $2 }'
}
config_of_index() {  # INDEX_REF -> the config digest of its linux platform manifest
  local repo=${1%@*} index platform
  index=$(docker buildx imagetools inspect --builder "$BUILDER" --raw "$1")
  platform=$(jq -r '.manifests[] | select(.platform.os == "linux") | .digest' <<<"$index")
  docker buildx imagetools inspect --builder "$BUILDER" --raw "$repo@$platform" | jq -r .config.digest
}
check() {
  if [[ $2 == "$3" ]]; then log "ok: $1"; else log "MISMATCH: $1: $2 != $3"; exit 1; fi
}

REG1=$(start_registry reg1)
REG2=$(start_registry reg2)
log "registries $REG1 and $REG2; fixture $LAYERS x $LAYER_MB MiB of random data; builder $BUILDER"

mkdir -p "$tmp/ctx"
{
  echo "FROM $BASE"
  echo "ARG BUST"
  for n in $(seq "$LAYERS"); do
    echo "RUN echo $MARK \$BUST && head -c $((LAYER_MB * 1048576)) /dev/urandom > /layer-$n.bin"
  done
} >"$tmp/ctx/Dockerfile"

bust=$RANDOM$RANDOM
timed build build "$bust" --output type=cacheonly
timed push build "$bust" --metadata-file "$tmp/push.json" --output "$(push_by_digest "$REG1/$MARK-b")"
timed push-again build "$bust" --output "$(push_by_digest "$REG2/$MARK-b2")"
INDEX=$(meta push.json containerimage.digest)
CONFIG=$(config_of_index "$REG1/$MARK-b@$INDEX")
PULLED="$REG1/$MARK-b@$INDEX"
timed pull docker pull "$PULLED"
check "pulled image id = pushed config digest" "$(docker image inspect --format '{{.Id}}' "$PULLED")" "$CONFIG"
docker image rm -f "$PULLED" >/dev/null
timed load build "$bust" --iidfile "$tmp/load.iid" --output "type=docker,name=$MARK:loaded"
check "loaded image id = pushed config digest" "$(cat "$tmp/load.iid")" "$CONFIG"
docker tag "$MARK:loaded" "$REG2/$MARK-today:v1"
timed docker-push docker push "$REG2/$MARK-today:v1"
timed tag docker buildx imagetools create --builder "$BUILDER" -t "$REG1/$MARK-b:v1" -t "$REG1/$MARK-b:latest" "$REG1/$MARK-b@$INDEX"
timed tag-repo docker buildx imagetools create --builder "$BUILDER" -t "$REG1/$MARK-c:v1" "$REG1/$MARK-b@$INDEX"
timed tag-remote docker buildx imagetools create --builder "$BUILDER" -t "$REG2/$MARK-c:v1" "$REG1/$MARK-b@$INDEX"
for ref in "$REG1/$MARK-b:v1" "$REG1/$MARK-b:latest" "$REG1/$MARK-c:v1" "$REG2/$MARK-c:v1"; do
  check "$ref points at the pushed index" "$(manifest_digest_of "$ref")" "$INDEX"
done
docker image rm -f "$MARK:loaded" "$REG2/$MARK-today:v1" >/dev/null

bust2=$RANDOM$RANDOM
timed two-outputs build "$bust2" --metadata-file "$tmp/two.json" --iidfile "$tmp/two.iid" \
  --output "type=docker,name=$MARK:loaded2" --output "$(push_by_digest "$REG1/$MARK-a")"
INDEX2=$(meta two.json containerimage.digest)
check "two outputs: loaded image id = pushed config digest" "$(cat "$tmp/two.iid")" "$(config_of_index "$REG1/$MARK-a@$INDEX2")"

compressed=$(docker buildx imagetools inspect --builder "$BUILDER" --raw "$REG1/$MARK-b@$(docker buildx imagetools inspect --builder "$BUILDER" --raw "$REG1/$MARK-b@$INDEX" | jq -r '.manifests[] | select(.platform.os == "linux") | .digest')" | jq '[.layers[].size] | add')
gib=$(awk -v b="$compressed" 'BEGIN { printf "%.2f", b / 1073741824 }')
{
  echo "| part | seconds | MiB/s of the ${gib} GiB compressed image |"
  echo "|---|---:|---:|"
  for name in "${order[@]}"; do
    rate=$(awk -v b="$compressed" -v s="${secs[$name]}" 'BEGIN { if (s > 0) printf "%.0f", b / 1048576 / s; else print "-" }')
    echo "| $name | ${secs[$name]} | $rate |"
  done
  echo
  echo "$LAYERS layers of $LAYER_MB MiB random data, builder $BUILDER, $(nproc) CPUs, $(date -u +%Y-%m-%d)."
} | tee "${PCB_BENCH_OUT:-/dev/null}"
