#!/usr/bin/env bash
# Env-cache benchmark: a ~2 GiB fixture env (incompressible files made by the stand-in mamba),
# timed on a cold builder without and with a warm local env cache, plus the save and restore
# overheads. Needs the services of .ci/setup (dockerd, buildkitd, buildx, registry, base image).
#   bash scripts/bench-env-cache.sh            # 2048 MiB
#   PCB_BENCH_MB=512 bash scripts/bench-env-cache.sh
# Prints a markdown table (also written to $PCB_BENCH_OUT when set).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -f .ci/.env ]]; then
  set -a
  # shellcheck disable=SC1091
  . .ci/.env
  set +a
fi
PCB_BENCH=1 exec npx vitest run --config __tests__/env-cache/bench/vitest.config.ts
