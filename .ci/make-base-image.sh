#!/usr/bin/env bash
# Builds the tests' base image without pulling anything: a root filesystem holding only
# Debian's static busybox (every applet as a symlink), a few /etc files and /tmp, packed
# as a tar and loaded with `docker import`.
# Usage: bash .ci/make-base-image.sh [TAG]   (default pcb-base:busybox)
set -euo pipefail
tag=${1:-pcb-base:busybox}
busybox=$(command -v busybox || true)
[[ -n $busybox ]] || { echo "make-base-image: busybox not found (apt-get install busybox-static)" >&2; exit 1; }
if ldd "$busybox" >/dev/null 2>&1; then
  echo "make-base-image: $busybox is not statically linked (apt-get install busybox-static)" >&2
  exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,root,home,tmp,var/tmp,proc,sys,dev,run}
chmod 1777 "$root/tmp" "$root/var/tmp"
chmod 0700 "$root/root"
install -m 0755 "$busybox" "$root/bin/busybox"
# One symlink per applet, where busybox itself would install it (`busybox --install -s`).
while read -r applet; do
  [[ -n $applet && $applet != bin/busybox ]] || continue
  [[ -e $root/$applet || -L $root/$applet ]] || ln -s /bin/busybox "$root/$applet"
done < <("$busybox" --list-full)
[[ -L $root/bin/sh ]] || ln -s /bin/busybox "$root/bin/sh"
[[ -L $root/usr/bin/env ]] || ln -s /bin/busybox "$root/usr/bin/env"
cat >"$root/etc/passwd" <<'P'
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
P
cat >"$root/etc/group" <<'G'
root:x:0:
nogroup:x:65534:
G
echo 'hosts: files dns' >"$root/etc/nsswitch.conf"
printf '127.0.0.1 localhost\n::1 localhost\n' >"$root/etc/hosts"

tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["sh"]' \
  --message "busybox rootfs for the pointcept-conda-build tests" \
  "$work/rootfs.tar" "$tag" >/dev/null
docker run --rm --network none "$tag" sh -c 'test -x /bin/busybox && echo ok' | grep -qx ok ||
  { echo "make-base-image: $tag does not run sh" >&2; exit 1; }
echo "make-base-image: built $tag" >&2
