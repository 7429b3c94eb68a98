#!/usr/bin/env bash
# How fast each way of moving a packed conda env into (restore) and out of (save) a build is, on
# real builders: today's named context holding env.tar and unpacked by a RUN, the conda-env stage
# replaced by an OCI-layout context or by an image in a registry, and (for the docker driver) by
# an image in the Engine's own store. Cold builder (its state deleted) and warm builder.
#
#   bash scripts/bench-env-transport.sh [TREE]
#
# TREE: the env to move (a directory; best a real CUDA/PyTorch env). Without it a synthetic tree
# of PCB_BENCH_GB GB (default 6) is made by scripts/make-env-tree.py (a stand-in).
# Uses .ci/setup's tools: buildkitd (a private one is started, OCI worker, host network, state in
# the scratch dir), buildx, docker-registry (a private one on 127.0.0.1:$PCB_BENCH_REGISTRY_PORT),
# busybox-static and the host's GNU tar for the base image.
# PCB_BENCH_ENGINES="NAME=unix:///path/docker.sock ..." adds the docker-driver rows for each
# Engine (>= 23, for named contexts). Give it Engines of your own: their build cache keeps what
# the rows build (the images are removed).
# Scratch space: PCB_BENCH_DIR (default: a new directory under /var/tmp), about 6x the tree.
# Results: a markdown table on stdout, also written to $OUT/env-transport.md when OUT is set;
# PCB_BENCH_KEEP=1 keeps the scratch dir (build logs in logs/).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck disable=SC1091
. .ci/lib.sh

GB=${PCB_BENCH_GB:-6}
PORT=${PCB_BENCH_REGISTRY_PORT:-5055}
REG=127.0.0.1:$PORT
WORK=${PCB_BENCH_DIR:-$(mktemp -d /var/tmp/pcb-env-transport.XXXXXX)}
BUILDER=pcb-bench-transport-$$
BK_SOCK=$WORK/buildkitd.sock
BK_PID=
REG_PID=
mkdir -p "$WORK/logs"

cleanup() {
  docker buildx rm "$BUILDER" >/dev/null 2>&1 || true
  for p in $BK_PID $REG_PID; do
    if kill "$p" 2>/dev/null; then wait "$p" || true; fi
  done
  if [[ -n ${PCB_BENCH_KEEP:-} ]]; then echo "bench-env-transport: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- the private builder and registry
start_registry() {
  mkdir -p "$WORK/registry"
  printf 'version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: %s\nhttp:\n  addr: %s\n' \
    "$WORK/registry" "$REG" >"$WORK/registry.yml"
  docker-registry serve "$WORK/registry.yml" >"$WORK/logs/registry.log" 2>&1 &
  REG_PID=$!
  for _ in $(seq 30); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && return; sleep 0.5; done
  echo "bench-env-transport: the registry did not start on $REG" >&2
  exit 1
}

# start_builder: buildkitd with an empty state (a cold builder) behind the buildx builder $BUILDER.
start_builder() {
  mkdir -p "$WORK/bk"
  printf 'root = "%s"\n[grpc]\n  address = ["unix://%s"]\n[worker.oci]\n  enabled = true\n  snapshotter = "overlayfs"\n  gc = false\n[worker.containerd]\n  enabled = false\n[registry."%s"]\n  http = true\n' \
    "$WORK/bk/root" "$BK_SOCK" "$REG" >"$WORK/buildkitd.toml"
  rm -f "$BK_SOCK"
  buildkitd --config "$WORK/buildkitd.toml" --oci-worker-net=host >>"$WORK/logs/buildkitd.log" 2>&1 &
  BK_PID=$!
  for _ in $(seq 60); do [[ -S $BK_SOCK ]] && break; sleep 0.5; done
  docker buildx inspect "$BUILDER" >/dev/null 2>&1 || docker buildx create --name "$BUILDER" --driver remote "unix://$BK_SOCK" >/dev/null
  docker buildx inspect --bootstrap "$BUILDER" >/dev/null
}

cold_builder() {
  kill "$BK_PID"
  wait "$BK_PID" || true
  rm -rf "$WORK/bk/root"
  start_builder
  sync
}

# ---------------------------------------------------------------- measuring
rows=()
# measure NAME BYTES ENGINE -- docker ARGS...: runs `docker ARGS --progress plain`, adds a row with
# the wall time, MB/s, and for the private builder its CPU seconds and bytes written.
measure() {
  local name=$1 bytes=$2 engine=$3 t0 t1 c0 c1 w0 w1 s cpu=- written=- log
  shift 4
  log=$WORK/logs/$(echo "$name" | tr -c 'A-Za-z0-9\n' '-').log
  [[ -z $engine ]] && c0=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$BK_PID/stat") && w0=$(awk '/^write_bytes/ {print $2}' "/proc/$BK_PID/io")
  t0=$(date +%s.%N)
  if ! DOCKER_HOST=${engine:-${DOCKER_HOST:-}} docker "$@" --progress plain >"$log" 2>&1; then
    echo "bench-env-transport: $name failed:" >&2
    tail -n 20 "$log" >&2
    exit 1
  fi
  t1=$(date +%s.%N)
  if [[ -z $engine ]]; then
    c1=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$BK_PID/stat")
    w1=$(awk '/^write_bytes/ {print $2}' "/proc/$BK_PID/io")
    cpu=$(((c1 - c0) / $(getconf CLK_TCK)))
    written=$(((w1 - w0) / 1000000))
  fi
  s=$(python3 -c "print(round($t1 - $t0, 1))")
  rows+=("| $name | $s | $(python3 -c "print(round($bytes / 1e6 / max($s, 0.05)) if $bytes else '')") | $cpu | $written | $(steps "$log") |")
  echo "bench-env-transport: $name: $s s" >&2
}

# steps LOG: the slow steps of a plain-progress log, "name seconds; ..."
steps() {
  awk '/^#[0-9]+ \[/ { id = $1; if (!(id in name)) name[id] = substr($0, length(id) + 2, 40) }
       /^#[0-9]+ (transferring|exporting layers|pushing layers|extracting|unpacking) .* done$/ && $(NF - 1) ~ /^[0-9.]+s$/ && $(NF - 1) + 0 >= 1 {
         line = substr($0, length($1) + 2); sub(/sha256:[0-9a-f]+/, "layer", line); print line }
       /^#[0-9]+ DONE/ && $3 + 0 >= 1 && ($1 in name) { print name[$1] " " $3 }' "$1" | tr '\n' ';' | sed 's/|/\//g; s/;$//; s/;/; /g'
}

# ---------------------------------------------------------------- the env, the base image, the Dockerfile
tree=${1:-}
if [[ -z $tree ]]; then
  tree=$WORK/tree
  python3 scripts/make-env-tree.py "$tree/opt" "$GB"
  tree=$tree/opt
fi
[[ -d $tree/conda ]] || { echo "bench-env-transport: $tree has no conda/ (the tree is packed as /opt/conda)" >&2; exit 1; }
# Two jobs' context directories with one basename, as the action makes them (RUNNER_TEMP/.../env-cache):
# buildx keys a named context's earlier transfer by the directory's basename.
mkdir -p "$WORK/job1/env-cache" "$WORK/job2/env-cache" "$WORK/empty"
tar -cf "$WORK/job1/env-cache/env.tar" -C "$tree" conda
ln "$WORK/job1/env-cache/env.tar" "$WORK/job2/env-cache/env.tar"
BYTES=$(stat -c %s "$WORK/job1/env-cache/env.tar")

# Base image: busybox plus the host's GNU tar (an Ubuntu base unpacks with GNU tar, not busybox's).
base=$WORK/base/rootfs
mkdir -p "$base"/{bin,usr/bin,tmp,opt}
cp "$(command -v busybox)" "$base/bin/busybox"
for a in sh mkdir test cat; do ln -s busybox "$base/bin/$a"; done
cp "$(command -v tar)" "$base/usr/bin/tar"
for lib in $(ldd "$(command -v tar)" | grep -o '/[^ ]*'); do mkdir -p "$base$(dirname "$lib")" && cp -L "$lib" "$base$lib"; done
printf 'FROM scratch\nCOPY rootfs /\n' >"$WORK/base/Dockerfile"

# The env stages of docker/Dockerfile.gpu reduced to their transport: conda-env unpacks env.tar
# from the env-cache context (today's restore) unless a context named conda-env replaces the
# whole stage; env-pack/env-export are today's save; probe needs the env's files.
cat >"$WORK/Dockerfile" <<EOF
ARG BASE=$REG/pcb-bench-base:1
FROM scratch AS env-cache
FROM \${BASE} AS conda-env
RUN --mount=type=bind,from=env-cache,target=/pcb/env-cache mkdir -p /opt && /usr/bin/tar -xf /pcb/env-cache/env.tar -C /opt
ENV PATH=/opt/conda/bin:/usr/bin:/bin
FROM conda-env AS env-pack
RUN mkdir /pcb-export && /usr/bin/tar -cf /pcb-export/env.tar -C /opt conda
FROM scratch AS env-export
COPY --from=env-pack /pcb-export/env.tar /
FROM conda-env AS probe
RUN test -d /opt/conda/envs
EOF

start_registry
start_builder
docker buildx build --builder "$BUILDER" -q --output "type=image,name=$REG/pcb-bench-base:1,push=true" "$WORK/base" >/dev/null
bk=(buildx build --builder "$BUILDER" -f "$WORK/Dockerfile")

# ---------------------------------------------------------------- BuildKit builder (remote driver)
cold_builder
measure "restore: named context env.tar + RUN tar -x (today), cold" "$BYTES" "" -- "${bk[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target probe --output type=cacheonly "$WORK/empty"
measure "restore: the same from the next job's directory, warm" "$BYTES" "" -- "${bk[@]}" --build-context "env-cache=$WORK/job2/env-cache" --target probe --output type=cacheonly "$WORK/empty"
measure "save: env-pack + env-export to type=local (today)" "$BYTES" "" -- "${bk[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target env-export --output "type=local,dest=$WORK/export" "$WORK/empty"
rm -rf "$WORK/export"
measure "save: conda-env as OCI layout dir, uncompressed" "$BYTES" "" -- "${bk[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target conda-env --output "type=oci,tar=false,dest=$WORK/oci,compression=uncompressed" "$WORK/empty"
measure "save: conda-env pushed to a loopback registry, zstd" "$BYTES" "" -- "${bk[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target conda-env --output "type=image,name=$REG/pcb-bench-env:zstd,push=true,compression=zstd,force-compression=true,oci-mediatypes=true" "$WORK/empty"
digest=$(python3 -c "import json, sys; print(json.load(open(sys.argv[1]))['manifests'][0]['digest'])" "$WORK/oci/index.json")

cold_builder
measure "restore: conda-env=oci-layout://, cold" "$BYTES" "" -- "${bk[@]}" --build-context "conda-env=oci-layout://$WORK/oci@$digest" --target probe --output type=cacheonly "$WORK/empty"
# A job's own layout of hard links to the store's blobs (what keeps an eviction from breaking a build).
mkdir -p "$WORK/oci-job/blobs/sha256" && cp "$WORK/oci/index.json" "$WORK/oci/oci-layout" "$WORK/oci-job/"
ln "$WORK"/oci/blobs/sha256/* "$WORK/oci-job/blobs/sha256/"
measure "restore: conda-env=oci-layout:// of another directory (hard links), warm" "$BYTES" "" -- "${bk[@]}" --build-context "conda-env=oci-layout://$WORK/oci-job@$digest" --target probe --output type=cacheonly "$WORK/empty"
cold_builder
measure "restore: conda-env=docker-image:// loopback registry zstd, cold" "$BYTES" "" -- "${bk[@]}" --build-context "conda-env=docker-image://$REG/pcb-bench-env:zstd" --target probe --output type=cacheonly "$WORK/empty"

# ---------------------------------------------------------------- docker driver (Engines named in PCB_BENCH_ENGINES)
# The OCI layout doubles as a `docker load` archive once it has a manifest.json.
python3 - "$WORK/oci" "$digest" <<'PY'
import json, sys
oci, digest = sys.argv[1], sys.argv[2]
blob = lambda d: f"blobs/sha256/{d.split(':')[1]}"
m = json.load(open(f"{oci}/{blob(digest)}"))
json.dump([{"Config": blob(m["config"]["digest"]), "RepoTags": ["pcb-bench-env:entry"], "Layers": [blob(l["digest"]) for l in m["layers"]]}], open(f"{oci}/manifest.json", "w"))
index = json.load(open(f"{oci}/index.json"))
index["manifests"][0]["annotations"] = {"io.containerd.image.name": "docker.io/library/pcb-bench-env:entry", "org.opencontainers.image.ref.name": "entry"}
json.dump(index, open(f"{oci}/index.json", "w"))
PY
docker buildx build --builder "$BUILDER" -q --output "type=docker,dest=$WORK/base.tar,name=$REG/pcb-bench-base:1" "$WORK/base" >/dev/null
for spec in ${PCB_BENCH_ENGINES:-}; do
  name=${spec%%=*}
  engine=${spec#*=}
  DOCKER_HOST=$engine docker load -q -i "$WORK/base.tar" >/dev/null
  t0=$(date +%s.%N)
  tar -C "$WORK/oci" -cf - . | DOCKER_HOST=$engine docker load -q >/dev/null
  s=$(python3 -c "print(round($(date +%s.%N) - $t0, 1))")
  rows+=("| $name: docker load of the OCI entry | $s | $(python3 -c "print(round($BYTES / 1e6 / $s))") | - | - | |")
  edriver=(buildx build --builder default -f "$WORK/Dockerfile")
  measure "$name: restore conda-env=docker-image:// from the Engine's store" "$BYTES" "$engine" -- "${edriver[@]}" --build-context conda-env=docker-image://pcb-bench-env:entry --target probe --output type=cacheonly "$WORK/empty"
  measure "$name: runtime image loaded (named context env.tar)" "$BYTES" "$engine" -- "${edriver[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target probe --output type=image,name=pcb-bench-rt:1 "$WORK/empty"
  measure "$name: save conda-env into the Engine after that load" 0 "$engine" -- "${edriver[@]}" --build-context "env-cache=$WORK/job1/env-cache" --target conda-env --output type=image,name=pcb-bench-env:saved "$WORK/empty"
  DOCKER_HOST=$engine docker rmi pcb-bench-env:entry pcb-bench-env:saved pcb-bench-rt:1 "$REG/pcb-bench-base:1" >/dev/null
done

{
  echo "host: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); env.tar $BYTES bytes, $(tar -tf "$WORK/job1/env-cache/env.tar" | wc -l) entries; BuildKit $(buildkitd --version | awk '{print $3}')"
  echo
  echo "| path | seconds | MB/s | builder CPU s | builder wrote MB | slow steps |"
  echo "|---|---:|---:|---:|---:|---|"
  printf '%s\n' "${rows[@]}"
} | tee "${OUT:-$WORK}/env-transport.md"
