#!/bin/sh
# Creates the conda environment of the `conda-env` stage. (A cached env never reaches this script:
# the env cache replaces the whole stage with its image.) POSIX sh: runs under bash on Ubuntu and
# under busybox sh.
#
# The conda-env stage runs it like this (one RUN):
#
#   ARG ENV_NAME MINIFORGE_VERSION MINIFORGE_SHA256
#   RUN --mount=type=bind,from=env-spec,target=/pcb/env-spec \
#       --mount=type=bind,from=miniforge,target=/pcb/miniforge \
#       --mount=type=cache,target=/pcb/pkgs,sharing=locked \
#       --mount=type=bind,source=docker/create-env.sh,target=/pcb/create-env.sh \
#       ENV_NAME="${ENV_NAME}" MINIFORGE_VERSION="${MINIFORGE_VERSION}" \
#       MINIFORGE_SHA256="${MINIFORGE_SHA256}" CONDA_PKGS_DIRS=/pcb/pkgs \
#       sh /pcb/create-env.sh create
#
# create: install Miniforge (from /pcb/miniforge when the installer is there, else download it and
#   check MINIFORGE_SHA256), then either install the explicit lock /pcb/env-spec/environment.lock
#   (no solve) or `mamba env create -f` /pcb/env-spec/environment.yml (local path entries such as
#   ./libs/x in its pip section are left out: they are built later). /opt/conda/pcb-env.lock then
#   describes the env: `conda list --explicit --md5`, then a line `# pip:`, then one `name==version`
#   line per package that pip (not conda) installed.
set -eu

CONDA_ROOT=${CONDA_ROOT:-/opt/conda}
SPEC_DIR=${PCB_ENV_SPEC_DIR:-/pcb/env-spec}
MINIFORGE_DIR=${PCB_MINIFORGE_DIR:-/pcb/miniforge}
ENV_NAME=${ENV_NAME:-pointcept-torch2.5.0-cu12.4}
MINIFORGE_VERSION=${MINIFORGE_VERSION:-}
MINIFORGE_SHA256=${MINIFORGE_SHA256:-}
export CONDA_PKGS_DIRS="${CONDA_PKGS_DIRS:-/pcb/pkgs}"
export PIP_CACHE_DIR="${PIP_CACHE_DIR:-${CONDA_PKGS_DIRS}/pip}"
# Never prompt (conda and mamba 1.x read the first, mamba 2.x the second).
export CONDA_ALWAYS_YES=true MAMBA_ALWAYS_YES=true
PREFIX="${CONDA_ROOT}/envs/${ENV_NAME}"
WORK=${TMPDIR:-/tmp}/pcb-create-env.$$

log() { printf 'create-env: %s\n' "$*" >&2; }
die() { printf 'create-env: error: %s\n' "$*" >&2; exit 1; }

cleanup() { rm -rf "$WORK"; }

sha256_of() {
  if command -v sha256sum >/dev/null 2>&1; then
    sha256sum "$1" | cut -d' ' -f1
  else
    die "sha256sum is not available in the base image (needed to check the Miniforge installer)"
  fi
}

fetch() { # URL DEST
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --retry 3 -o "$2" "$1"
  elif command -v wget >/dev/null 2>&1; then
    wget -q -O "$2" "$1"
  else
    die "neither curl nor wget is in the base image, and no Miniforge installer was given (build context 'miniforge')"
  fi
}

install_miniforge() {
  [ -n "$MINIFORGE_VERSION" ] || die "MINIFORGE_VERSION is not set (build arg)"
  arch=$(uname -m)
  name="Miniforge3-${MINIFORGE_VERSION}-Linux-${arch}.sh"
  if [ -f "${MINIFORGE_DIR}/${name}" ]; then
    installer="${MINIFORGE_DIR}/${name}"
    log "Miniforge ${MINIFORGE_VERSION} from the miniforge build context"
  else
    [ -n "$MINIFORGE_SHA256" ] || die "MINIFORGE_SHA256 is not set and no ${name} is in the miniforge build context: a downloaded installer is never run unchecked"
    installer="${WORK}/${name}"
    log "downloading Miniforge ${MINIFORGE_VERSION}"
    fetch "https://github.com/conda-forge/miniforge/releases/download/${MINIFORGE_VERSION}/${name}" "$installer" \
      || die "could not download ${name} (offline? pass it with --build-context miniforge=DIR)"
  fi
  if [ -n "$MINIFORGE_SHA256" ]; then
    got=$(sha256_of "$installer")
    [ "$got" = "$MINIFORGE_SHA256" ] || die "${name}: sha256 ${got}, expected ${MINIFORGE_SHA256} (MINIFORGE_SHA256)"
  fi
  if command -v bash >/dev/null 2>&1; then bash "$installer" -b -p "$CONDA_ROOT"; else sh "$installer" -b -p "$CONDA_ROOT"; fi
}

# environment.yml without local path entries (./x, ../x, /x, -e ./x, file:...) in its pip section.
filter_env_file() { # SRC DEST
  awk '
    /^[^ \t#-]/ { inpip = 0 }
    /^[ \t]*-[ \t]*pip[ \t]*:[ \t]*$/ { inpip = 1; print; next }
    inpip && /^[ \t]*-[ \t]+(-e[ \t]+)?(\.\.?\/|\/|file:)/ { skipped = skipped $0 "\n"; next }
    { print }
    END { if (skipped != "") printf "create-env: left out of the pip section (built in a later stage):\n%s", skipped > "/dev/stderr" }
  ' "$1" > "$2"
}

write_lock() { # DEST
  tmp="$1.tmp"
  "${CONDA_ROOT}/bin/conda" list -p "$PREFIX" --explicit --md5 > "$tmp"
  printf '# pip:\n' >> "$tmp"
  # Packages pip installed show up in `conda list` with the channel "pypi".
  "${CONDA_ROOT}/bin/conda" list -p "$PREFIX" | awk '!/^#/ && $4 == "pypi" { print $1 "==" $2 }' >> "$tmp"
  mv "$tmp" "$1"
}

create_from_lock() { # LOCK
  conda_part="${WORK}/explicit.txt"
  pip_part="${WORK}/pip-lock.txt"
  awk '/^# pip:[ \t]*$/ { exit } { print }' "$1" > "$conda_part"
  awk 'seen && NF && !/^#/ { print } /^# pip:[ \t]*$/ { seen = 1 }' "$1" > "$pip_part"
  grep -q '^@EXPLICIT' "$conda_part" || die "environment.lock: no @EXPLICIT line (accepted: the output of conda list --explicit --md5, then '# pip:' and name==version lines)"
  log "installing the explicit lock (no solve)"
  "${CONDA_ROOT}/bin/mamba" create -y -p "$PREFIX" --file "$conda_part"
  if [ -s "$pip_part" ]; then
    log "installing $(wc -l < "$pip_part" | tr -d ' ') pinned pip packages"
    "${PREFIX}/bin/python" -m pip install --no-deps --no-input -r "$pip_part"
  fi
}

create_from_env_file() { # YML
  filtered="${WORK}/environment.yml"
  filter_env_file "$1" "$filtered"
  log "mamba env create -f environment.yml -n ${ENV_NAME}"
  "${CONDA_ROOT}/bin/mamba" env create -f "$filtered" -n "$ENV_NAME"
}

cmd_create() {
  mkdir -p "$WORK"
  trap cleanup EXIT
  [ -x "${CONDA_ROOT}/bin/conda" ] || install_miniforge
  if [ -f "${SPEC_DIR}/environment.lock" ]; then
    create_from_lock "${SPEC_DIR}/environment.lock"
  elif [ -f "${SPEC_DIR}/environment.yml" ]; then
    create_from_env_file "${SPEC_DIR}/environment.yml"
  else
    die "no environment.yml (nor environment.lock) in ${SPEC_DIR} (the env-spec stage)"
  fi
  write_lock "${CONDA_ROOT}/pcb-env.lock"
  "${CONDA_ROOT}/bin/conda" clean -a -y >/dev/null 2>&1 || true
}

case "${1:-create}" in
  create) cmd_create ;;
  *) die "unknown command '$1' (accepted: create)" ;;
esac
