#!/bin/sh
# Entrypoint of the Pointcept GPU image.
#
#   docker run --gpus all IMAGE                  -> an interactive bash (the image's CMD)
#   docker run --gpus all IMAGE python train.py  -> runs the command (exec, so signals reach it)
#
# When a GPU is visible (nvidia-smi is present and answers) it first checks that the NVIDIA
# driver can run the image's CUDA 12.4 and says on stderr what is wrong when it cannot:
#   driver >= 550.54.14                 fine (CUDA 12.4's own driver)
#   525.60.13 <= driver < 550.54.14     CUDA 12 minor-version compatibility: prebuilt kernels run,
#                                       PTX JIT (GPUs newer than the compiled architectures) fails
#   driver < 525.60.13                  CUDA 12 cannot run, unless the CUDA forward-compatibility
#                                       libraries are used (data-center GPUs only)
# Without a GPU it stays silent: CPU-only use is legitimate.
#
# Environment:
#   PCB_DRIVER_CHECK=warn|strict|off   warn (default): report and run anyway; strict: exit 3 when
#                                      the driver cannot run CUDA 12.4; off: skip the check
#   PCB_MIN_DRIVER                     the driver CUDA 12.4 needs (default 550.54.14)
#   PCB_COMPAT_DIR                     where forward-compatibility libraries are looked for
#                                      (default /usr/local/cuda/compat)
set -eu

MIN_DRIVER=${PCB_MIN_DRIVER:-550.54.14}
MIN_DRIVER_CUDA12=525.60.13
COMPAT_DIR=${PCB_COMPAT_DIR:-/usr/local/cuda/compat}
MODE=${PCB_DRIVER_CHECK:-warn}

say() { printf 'entrypoint: %s\n' "$*" >&2; }

# version_ge A B: true when dotted version A >= B (numeric, field by field).
version_ge() {
  awk -v a="$1" -v b="$2" 'BEGIN {
    na = split(a, x, "."); nb = split(b, y, ".");
    n = (na > nb) ? na : nb;
    for (i = 1; i <= n; i++) {
      xi = (i <= na) ? x[i] + 0 : 0; yi = (i <= nb) ? y[i] + 0 : 0;
      if (xi > yi) exit 0;
      if (xi < yi) exit 1;
    }
    exit 0
  }'
}

compat_libs_present() {
  for lib in "$COMPAT_DIR"/libcuda.so.*; do
    [ -e "$lib" ] && return 0
  done
  return 1
}

# Prints nothing and returns 0 when fine; otherwise prints the problem and returns 1.
check_driver() {
  command -v nvidia-smi >/dev/null 2>&1 || return 0
  if ! out=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>&1); then
    say "a GPU runtime is present but nvidia-smi failed: $(printf '%s' "$out" | head -n 1)"
    say "CUDA will probably not work in this container (driver/library mismatch? try restarting the host's nvidia services)"
    return 1
  fi
  driver=$(printf '%s\n' "$out" | head -n 1 | tr -d ' \r')
  case "$driver" in
    ''|*[!0-9.]*)
      say "could not read the NVIDIA driver version from nvidia-smi (got '$driver')"
      return 1 ;;
  esac
  if version_ge "$driver" "$MIN_DRIVER"; then
    return 0
  fi
  if version_ge "$driver" "$MIN_DRIVER_CUDA12"; then
    say "NVIDIA driver $driver is older than $MIN_DRIVER (CUDA 12.4's driver)."
    say "It runs CUDA 12.4 through minor-version compatibility: prebuilt kernels work, but PTX JIT"
    say "compilation does not (a GPU newer than the compiled architectures fails with"
    say "'no kernel image' or 'unsupported PTX version'). Upgrade the host driver to >= $MIN_DRIVER."
    return 0
  fi
  say "NVIDIA driver $driver is too old for CUDA 12.4: it needs >= $MIN_DRIVER (at least $MIN_DRIVER_CUDA12 with minor-version compatibility)."
  if compat_libs_present; then
    say "CUDA forward-compatibility libraries are in $COMPAT_DIR; on a data-center GPU you can use them:"
    say "  docker run -e LD_LIBRARY_PATH=$COMPAT_DIR ... (consumer GPUs are not supported by forward compatibility)"
  else
    say "Upgrade the host's NVIDIA driver (no CUDA forward-compatibility libraries in $COMPAT_DIR)."
  fi
  return 1
}

case "$MODE" in
  off) ;;
  warn) check_driver || say "continuing anyway (set PCB_DRIVER_CHECK=strict to stop here)" ;;
  strict) check_driver || { say "stopping: PCB_DRIVER_CHECK=strict"; exit 3; } ;;
  *) say "PCB_DRIVER_CHECK='$MODE' is not one of warn, strict, off"; exit 2 ;;
esac

if [ "$#" -eq 0 ]; then
  set -- bash
fi
exec "$@"
