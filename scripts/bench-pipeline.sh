#!/usr/bin/env bash
# Pipeline benchmark: what a runner waits for, from the start of the action's main step to the
# tested image, with the env cache (by default its `local` backend, where an entry is the conda-env
# stage image). The bundled action (dist/main, then dist/post, like a runner runs them) builds the
# fixture project five times in a row (six on the docker driver):
#   1. cold: an empty env cache dir and a wiped builder (a miss: the env is made, and saved beside
#      the smoke run)
#   2. warm env cache, wiped builder (a hit: the entry replaces the conda-env stage as an
#      oci-layout:// named context, which buildx sends to BuildKit; on the docker driver, the
#      entry's image in the Engine's store)
#   2b. on the docker driver only: the same after the entry's image was removed from the Engine
#      (an image prune, a new disk): the restore loads it from the cache dir
#   3. libs-only change: a file added under libs/, warm builder (the extensions stage reruns)
#   4. one-file change: one existing file under libs/ edited, warm builder
#   5. nothing changed, warm builder
# Per run: the main step's wall time, the time to the smoke run's start, where the time went (the
# action's log groups and its job summary: env restore, env builds, build and BuildKit's per-stage
# times, env save, smoke run) and the bytes moved (cache dir written, the entry, and the /proc io
# counters of the private buildkitd and of the action with the docker/buildx processes it ran).
#
#   bash scripts/bench-pipeline.sh              # a 2 GB stand-in env, remote builder, local backend
#   PCB_BENCH_GB=1 bash scripts/bench-pipeline.sh
#   PCB_BENCH_SETUP=docker-classic bash scripts/bench-pipeline.sh     # or docker-containerd (Engine 26),
#                                                                      # or docker-ID of .ci/engines.sh (docker-29-containerd)
#   PCB_BENCH_BACKEND=registry bash scripts/bench-pipeline.sh         # the env cache in the registry
#
# STAND-INS (no conda channel, no GPU, no CUDA compiler in the engine paths measured here):
# - the fixture project (__tests__/fixtures/project) is busybox-based, with the real
#   docker/create-env.sh in its env stages (makeActionContext of the env-cache e2e tests);
# - its env is made by the stand-in mamba of those tests: PCB_BENCH_GB GB of incompressible
#   64 MiB files (`standin-payload`), in seconds, where a real solve and download take minutes;
#   a real env also has ~100k small files, which make tar slower per byte than here;
# - its extensions stage writes stand-in wheels (no compile) that carry a checksum of the libs
#   sources, so that a libs change gives a new image as real wheels would; the compile time of the
#   real libs is measured on a GPU host (libs/pointops/README.md);
# - its smoke run is a shell script, run with `--gpus all` through dockerd's stand-in GPU hook.
# Setups (PCB_BENCH_SETUP):
# - remote (the default): a private buildkitd (the `remote` driver, like .ci/setup's pcb-remote, but
#   its own, so that "cold" can delete its whole state); the runtime image is loaded into
#   $DOCKER_HOST's Engine;
# - docker-classic, docker-containerd: the `docker` driver of .ci/engines.sh's Docker 26 Engine with
#   that image store, on a runner with a fresh buildx state; "wiped" prunes the Engine's build cache
#   (the env cache's entry image stays in the Engine's store, which is where that backend keeps it);
#   docker-ID: the same on another Engine of .ci/engines.sh (docker-28-classic, docker-29-containerd).
# Env cache backend (PCB_BENCH_BACKEND): local (the default), or registry (the registry of .ci/setup).
# Needs the services of .ci/setup (dockerd, buildkitd binary, buildx, registry, base image) and
# `npm ci`. Scratch space: PCB_BENCH_DIR (default a new directory under /var/tmp), about 6x the
# env (the local layer cache keeps each run's previous copy), plus the private buildkitd's state
# under $TMPDIR, a few times the env; PCB_BENCH_KEEP=1 keeps PCB_BENCH_DIR (each run's
# timestamped logs and job summary are in runs/).
# Results: a markdown table and a machine line on stdout, also written to $PCB_BENCH_OUT when set.
set -euo pipefail
cd "$(dirname "$0")/.."
# .ci/setup's variables (DOCKER_HOST, PCB_BASE_IMAGE, ...) when it ran in this checkout, and its PATH
# shellcheck disable=SC1091
[[ ! -f .ci/.env ]] || { set -a && . .ci/.env && set +a; }
# shellcheck disable=SC1091
. .ci/lib.sh

GB=${PCB_BENCH_GB:-2}
MIB=$(python3 -c "import sys; print(max(1, round(float(sys.argv[1]) * 1e9 / 2**20)))" "$GB")
WORK=${PCB_BENCH_DIR:-$(mktemp -d /var/tmp/pcb-bench-pipeline.XXXXXX)}
mkdir -p "$WORK"
cleanup() {
  if [[ -n ${PCB_BENCH_KEEP:-} ]]; then echo "bench-pipeline: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

[[ -f dist/main/index.js && -f dist/post/index.js ]] || { echo "bench-pipeline: dist/ is missing (npm run build)" >&2; exit 1; }
started=$(date -u +%Y-%m-%dT%H:%MZ)
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
table=$(node scripts/bench-pipeline.mjs "$WORK" "$MIB")
{
  echo "Machine: $(nproc) CPUs, $(awk '/MemTotal/ {printf "%.0f GiB", $2 / 2^20}' /proc/meminfo), load average $load_before before and $(cut -d' ' -f1-3 /proc/loadavg) after; started $started;" \
    "$(docker buildx version | cut -d' ' -f1-2);" \
    "STAND-INS: the env ($GB GB, $MIB MiB of 64 MiB files from the stand-in mamba), the extensions stage (stand-in wheels, no compiler), the smoke run (a shell script)"
  echo
  echo "$table"
} | tee "${PCB_BENCH_OUT:-/dev/null}"
