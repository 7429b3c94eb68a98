#!/usr/bin/env bash
# Compile check of the CUDA sources of libs/pointops and libs/pointgroup_ops on a machine
# without a GPU: torch 2.5.0 (the image's version) from PyPI, CUDA 12.4, one architecture
# (TORCH_CUDA_ARCH_LIST, default 9.0), FORCE_CUDA=1. Writes one junit testcase per build
# into $PCB_JUNIT_DIR/compile-check.xml and exits non-zero when one failed.
#
# The CUDA toolkit is assembled (symlinks, remade each run) in a CUDA_HOME under the cache
# directory from pieces of the same release:
#   - PyPI wheels in the venv: nvidia-cuda-runtime-cu12 (headers, libcudart),
#     nvidia-cuda-nvcc-cu12 (ptxas, libdevice, crt headers), nvidia-cuda-cccl-cu12
#     (thrust/cub/libcu++), and the cublas/cusparse/cusolver/curand/... wheels torch pulls in
#     (headers that ATen's CUDA headers include).
#   - The nvcc compiler driver and its front ends (nvcc, cicc, cudafe++, fatbinary, nvlink,
#     bin2c, cuobjdump), which no nvidia-cuda-nvcc-cu12 wheel ships (they hold ptxas only):
#     taken from Debian's nvidia-cuda-toolkit 12.4.131 package (Debian 13 "trixie", non-free),
#     fetched with `apt-get download` through a private apt configuration (this machine's
#     own apt sources are not touched) and unpacked with `dpkg -x` into a cache directory.
#
# Usage: bash .ci/compile-check.sh [LIB_DIR...]   (default: libs/pointops libs/pointgroup_ops)
# Env: PCB_PYTHON (default the CI venv's python), PCB_JUNIT_DIR, TORCH_CUDA_ARCH_LIST, MAX_JOBS,
#      PCB_COMPILE_SELFTEST=1|0|auto (default auto: the toolchain self-test extension is built
#      only while no library has .cu sources).
set -uo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PY=${PCB_PYTHON:-$PCB_CI_VENV/bin/python}
JUNIT_DIR=${PCB_JUNIT_DIR:-$PCB_REPO_ROOT/.junit}
export TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-9.0}
export MAX_JOBS=${MAX_JOBS:-2}
NVCC_DEB_VERSION=${PCB_NVCC_DEB_VERSION:-12.4.131~12.4.1-2}
NVCC_DIR=$PCB_CI_CACHE/cuda/nvidia-cuda-toolkit-${NVCC_DEB_VERSION//\~/_}
# CUDA_HOME and the build copies sit at fixed cache paths so that the compiler command lines
# do not change between runs and ninja can reuse the objects of an earlier run.
CUDA_HOME_DIR=$PCB_CI_CACHE/cuda/home-12.4
BUILD_CACHE=$PCB_CI_CACHE/compile-check
WORK=$(mktemp -d "${TMPDIR:-/tmp}/pcb-compile-check.XXXXXX")
RESULTS=$WORK/results.tsv
: >"$RESULTS"
trap 'rm -rf "$WORK"' EXIT

[[ -x $PY ]] || die "python not found at $PY (set PCB_PYTHON, or run .ci/run which makes the venv)"

# The build copies and CUDA_HOME live at fixed cache paths (see above), so two checks on one
# machine would overwrite each other's objects: the second one waits for the first.
mkdir -p "$BUILD_CACHE"
exec 9>"$BUILD_CACHE/.lock"
flock 9

# record NAME STATUS SECONDS [LOGFILE]
record() { printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "${4:-}" >>"$RESULTS"; }

fetch_nvcc() {
  [[ -x $NVCC_DIR/bin/nvcc && -x $NVCC_DIR/bin/cicc ]] && return 0
  log "fetching Debian's nvidia-cuda-toolkit $NVCC_DEB_VERSION (nvcc and its front ends)"
  local apt_dir=$PCB_CI_CACHE/ci/apt-trixie deb
  mkdir -p "$apt_dir/debs"
  debian13_apt "$apt_dir" "non-free contrib main" -qq update || return 1
  (cd "$apt_dir/debs" && debian13_apt "$apt_dir" "non-free contrib main" -qq download "nvidia-cuda-toolkit=$NVCC_DEB_VERSION") || return 1
  deb=$(find "$apt_dir/debs" -name 'nvidia-cuda-toolkit_*_amd64.deb' | head -n1)
  local x=$WORK/deb
  dpkg-deb -x "$deb" "$x" || return 1
  rm -rf "$NVCC_DIR.tmp" && mkdir -p "$NVCC_DIR.tmp/bin/crt"
  cp -a "$x/usr/lib/nvidia-cuda-toolkit/bin/nvcc" "$x/usr/lib/nvidia-cuda-toolkit/bin/cicc" "$NVCC_DIR.tmp/bin/"
  cp -a "$x/usr/lib/nvidia-cuda-toolkit/bin/crt/." "$NVCC_DIR.tmp/bin/crt/"
  local b
  for b in cudafe++ fatbinary nvlink bin2c cuobjdump nvprune; do cp -a "$x/usr/bin/$b" "$NVCC_DIR.tmp/bin/"; done
  rm -rf "$NVCC_DIR" && mv "$NVCC_DIR.tmp" "$NVCC_DIR"
  rm -f "$deb"
}

# make_cuda_home DIR: (re)make a CUDA 12.4 tree of symlinks (nvcc.profile is written, nvcc copied so
# that its own directory, which nvcc reads the profile from, is DIR/bin).
make_cuda_home() {
  local home=$1 site nv d f
  site=$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])') || return 1
  nv=$site/nvidia
  [[ -x $nv/cuda_nvcc/bin/ptxas ]] || { log "nvidia-cuda-nvcc-cu12 is not installed in $site"; return 1; }
  [[ -d $nv/cuda_cccl/include ]] || { log "nvidia-cuda-cccl-cu12 is not installed in $site"; return 1; }
  rm -rf "$home"
  mkdir -p "$home/bin" "$home/include" "$home/lib64" "$home/nvvm/bin"
  cp "$NVCC_DIR/bin/nvcc" "$home/bin/nvcc"
  for f in cudafe++ fatbinary nvlink bin2c cuobjdump nvprune crt; do ln -s "$NVCC_DIR/bin/$f" "$home/bin/$f"; done
  ln -s "$nv/cuda_nvcc/bin/ptxas" "$home/bin/ptxas"
  ln -s "$NVCC_DIR/bin/cicc" "$home/nvvm/bin/cicc"
  ln -s "$nv/cuda_nvcc/nvvm/libdevice" "$home/nvvm/libdevice"
  [[ -d $nv/cuda_nvcc/nvvm/lib64 ]] && ln -s "$nv/cuda_nvcc/nvvm/lib64" "$home/nvvm/lib64"
  cat >"$home/bin/nvcc.profile" <<'PROFILE'
TOP              = $(_HERE_)/..
NVVMIR_LIBRARY_DIR = $(TOP)/nvvm/libdevice
LD_LIBRARY_PATH += $(TOP)/lib64:
PATH            += $(TOP)/nvvm/bin:$(_HERE_):
INCLUDES        +=  "-I$(TOP)/include" $(_SPACE_)
LIBRARIES        =+ $(_SPACE_) "-L$(TOP)/lib64/stubs" "-L$(TOP)/lib64"
CUDAFE_FLAGS    +=
PTXAS_FLAGS     +=
PROFILE
  # Merge every wheel's include dir (cccl first so its thrust/cub/cuda/ win).
  for d in "$nv"/cuda_cccl/include "$nv"/*/include; do
    [[ -d $d ]] || continue
    for f in "$d"/*; do
      case ${f##*/} in __init__.py | __pycache__) continue ;; esac
      [[ -e $home/include/${f##*/} ]] || ln -s "$f" "$home/include/${f##*/}"
    done
  done
  for f in "$nv"/cuda_runtime/lib/libcudart.so*; do ln -s "$f" "$home/lib64/${f##*/}"; done
  ln -sf libcudart.so.12 "$home/lib64/libcudart.so"
  [[ -e $home/include/cuda_runtime.h ]] || { log "cuda_runtime.h missing from the wheels"; return 1; }
}

# build_one NAME SRC_DIR: build a wheel from a copy of SRC_DIR; check the .so holds sm_XX code.
build_one() {
  local name=$1 src=$2 t0=$SECONDS logf=$WORK/$1.log copy=$BUILD_CACHE/$1 arch sm so
  mkdir -p "$copy" "$WORK/wheels/$1"
  # Build from a copy, so that build/ of a CPU build in the tree is never mixed in. The copy
  # lives in a cache and keeps its own build/ (ninja then recompiles only changed sources);
  # everything else in it is replaced by the current sources (tar keeps their mtimes).
  find "$copy" -mindepth 1 -maxdepth 1 ! -name build -exec rm -rf {} +
  tar -C "$src" --exclude=./build --exclude='*.egg-info' --exclude='*.so' --exclude=__pycache__ -cf - . |
    tar -C "$copy" -xf -
  # The libraries share build rules and a header in libs/common: copy it next to the copy.
  if [[ -d $src/../common ]]; then
    rm -rf "$BUILD_CACHE/common" && mkdir -p "$BUILD_CACHE/common"
    tar -C "$src/../common" --exclude=__pycache__ -cf - . | tar -C "$BUILD_CACHE/common" -xf -
  fi
  log "compiling $name (CUDA, TORCH_CUDA_ARCH_LIST=$TORCH_CUDA_ARCH_LIST, MAX_JOBS=$MAX_JOBS)"
  if ! FORCE_CUDA=1 "$PY" -m pip wheel --no-build-isolation --no-deps -q -w "$WORK/wheels/$1" "$copy" >"$logf" 2>&1; then
    log "FAILED: $name (last lines of the log follow)"
    tail -n 40 "$logf" >&2
    record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" fail $((SECONDS - t0)) "$logf"
    return 1
  fi
  # The wheel must hold an extension with device code for every requested architecture.
  mkdir -p "$WORK/unpacked/$1"
  "$PY" -m zipfile -e "$WORK"/wheels/"$1"/*.whl "$WORK/unpacked/$1" >>"$logf" 2>&1
  mapfile -t sos < <(find "$WORK/unpacked/$1" -name '*.so')
  if ((${#sos[@]} == 0)); then
    echo "no .so in the built wheel" >>"$logf"
    record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" fail $((SECONDS - t0)) "$logf"
    return 1
  fi
  local elfs=""
  for so in "${sos[@]}"; do elfs+=$("$NVCC_DIR/bin/cuobjdump" --list-elf "$so" 2>/dev/null)$'\n'; done
  for arch in ${TORCH_CUDA_ARCH_LIST//;/ }; do
    sm=sm_${arch//./}
    sm=${sm%+PTX}
    if ! grep -q "$sm" <<<"$elfs"; then
      printf 'no %s device code in %s\ncuobjdump --list-elf:\n%s\n' "$sm" "${sos[*]##*/}" "$elfs" >>"$logf"
      log "FAILED: $name has no $sm device code"
      record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" fail $((SECONDS - t0)) "$logf"
      return 1
    fi
  done
  log "ok: $name in $((SECONDS - t0))s ($(grep -c 'sm_' <<<"$elfs") cubin(s))"
  record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" pass $((SECONDS - t0))
}

main() {
  local status=0 t0=$SECONDS libs=("$@") lib name
  ((${#libs[@]})) || libs=("$PCB_REPO_ROOT/libs/pointops" "$PCB_REPO_ROOT/libs/pointgroup_ops")
  local toolchain_log=$WORK/toolchain.log
  if ! { fetch_nvcc && make_cuda_home "$CUDA_HOME_DIR"; } >"$toolchain_log" 2>&1; then
    cat "$toolchain_log" >&2
    record "assemble CUDA 12.4 toolchain" fail $((SECONDS - t0)) "$toolchain_log"
    status=1
  else
    export CUDA_HOME=$CUDA_HOME_DIR CUDA_PATH=$CUDA_HOME_DIR PATH="$CUDA_HOME_DIR/bin:$PATH"
    local ver
    ver=$(nvcc --version | tail -n 2 | tr '\n' ' ')
    log "CUDA_HOME assembled: $ver"
    if ! grep -q 'release 12.4' <<<"$ver"; then
      echo "nvcc --version: $ver" >"$toolchain_log"
      record "assemble CUDA 12.4 toolchain" fail $((SECONDS - t0)) "$toolchain_log"
      status=1
    else
      record "assemble CUDA 12.4 toolchain" pass $((SECONDS - t0))
      # The self-test proves the toolchain while no library has CUDA sources (auto), or
      # always (PCB_COMPILE_SELFTEST=1); each library build proves it as well.
      local want_selftest=${PCB_COMPILE_SELFTEST:-auto} lib_cu=""
      for lib in "${libs[@]}"; do
        [[ -d $lib ]] && lib_cu+=$(find "$lib" -name '*.cu' -not -path '*/build/*' -print -quit)
      done
      if [[ $want_selftest == 1 || ($want_selftest == auto && -z $lib_cu) ]]; then
        build_one selftest "$PCB_CI_DIR/cuda-selftest" || status=1
      fi
      for lib in "${libs[@]}"; do
        name=${lib%/}
        name=${name##*/}
        if [[ ! -f $lib/setup.py && ! -f $lib/pyproject.toml ]]; then
          echo "$lib has no setup.py or pyproject.toml yet" >"$WORK/$name.skip"
          record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" skip 0 "$WORK/$name.skip"
          log "skipped $name: no setup.py or pyproject.toml"
          continue
        fi
        if [[ -z $(find "$lib" -name '*.cu' -not -path '*/build/*' -print -quit) ]]; then
          echo "$lib has no .cu sources yet" >"$WORK/$name.skip"
          record "compile $name (CUDA sm_${TORCH_CUDA_ARCH_LIST//./})" skip 0 "$WORK/$name.skip"
          log "skipped $name: no .cu sources"
          continue
        fi
        build_one "$name" "$lib" || status=1
      done
    fi
  fi
  mkdir -p "$JUNIT_DIR"
  "$PY" "$PCB_CI_DIR/junit.py" write "$JUNIT_DIR/compile-check.xml" compile-check "$RESULTS" ||
    python3 "$PCB_CI_DIR/junit.py" write "$JUNIT_DIR/compile-check.xml" compile-check "$RESULTS"
  log "compile check finished in $((SECONDS - t0))s (status $status)"
  return "$status"
}

main "$@"
