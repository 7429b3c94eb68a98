#!/usr/bin/env bash
# Makes the base image of test_extensions_cache_e2e.py: a STAND-IN for nvidia/cuda plus the env's
# compilers, which cannot be pulled here. A Debian 12 minbase root filesystem with Debian's gcc and
# g++ 12, ccache and python3, made by Debian's debootstrap (fetched with `apt-get download` and
# unpacked with dpkg-deb: nothing is installed on this machine; needs root for its chroot), loaded
# with `docker import` and pushed to REF's registry. Nothing happens when REF can be pulled.
# About 4 minutes and 80 MB of downloads the first time; the .debs are kept in the cache dir.
#
# Usage: bash docker/tests/make_compiler_base.sh REF   (e.g. 127.0.0.1:5000/pcb-compiler-base:TAG)
set -euo pipefail
ref=${1:?usage: make_compiler_base.sh REF}
suite=bookworm
mirror=${PCB_DEBIAN_MIRROR:-http://deb.debian.org/debian}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/pointcept-conda-build/compiler-base

log() { printf 'make_compiler_base: %s\n' "$*" >&2; }

if docker pull -q "$ref" >/dev/null 2>&1; then
  log "$ref is there already"
  exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$cache/debs"
(cd "$work" && apt-get download -q debootstrap >/dev/null 2>&1) ||
  { log "could not download Debian's debootstrap package"; exit 1; }
dpkg-deb -x "$work"/debootstrap_*.deb "$work/tool"
log "debootstrap $suite (minbase + gcc, g++, ccache, python3) from $mirror"
DEBOOTSTRAP_DIR=$work/tool/usr/share/debootstrap "$work/tool/usr/sbin/debootstrap" \
  --variant=minbase --include=gcc,g++,ccache,python3 --cache-dir="$cache/debs" \
  "$suite" "$work/rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 ||
  { tail -n 20 "$work/debootstrap.log" >&2; log "debootstrap failed"; exit 1; }
rm -rf "$work/rootfs"/usr/share/{doc,man,info,locale}/* "$work/rootfs"/var/cache/apt/archives/*.deb \
  "$work/rootfs"/var/lib/apt/lists/*
tar --numeric-owner -C "$work/rootfs" -cf "$work/rootfs.tar" .
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "Debian $suite with gcc, g++, ccache and python3 for the pointcept-conda-build tests" \
  "$work/rootfs.tar" "$ref" >/dev/null
docker run --rm --network none "$ref" sh -c 'g++ --version && ccache --version && python3 -V' >/dev/null ||
  { log "$ref does not run its compilers"; exit 1; }
docker push -q "$ref" >/dev/null
log "built and pushed $ref"
