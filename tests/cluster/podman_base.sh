#!/usr/bin/env bash
# Set up podman and a local stand-in for the recipes' base image (idempotent; root; Debian 12).
# No registry is reachable on the test machines, so the `From:` image of containers/*.def
# (python:3.11-slim-bookworm pinned by digest) cannot be pulled: this makes an equivalent
# base -- Debian bookworm with python3 (3.11) and its venv module -- with debootstrap, and
# imports it into podman as $PSMARL_BASE_IMAGE. Cached under $PSMARL_CACHE (outside the repo).
# Prints the podman CONTAINERS_CONF to use on its last line.
set -euo pipefail
CACHE=${PSMARL_CACHE:-/var/tmp/psmarl-cache}
IMAGE=${PSMARL_BASE_IMAGE:-localhost/psmarl-base:bookworm}
mkdir -p "$CACHE"
die() { echo "podman_base.sh: $*" >&2; exit 1; }
# A debootstrap cut off or failed leaves /proc (and more) mounted inside its rootfs, and
# `rm -rf` of it then fails on every later try: unmount what is mounted under it first.
remove_rootfs() {
  awk -v r="$1/" 'index($2, r) == 1 {print $2}' /proc/mounts | sort -r | xargs -r umount -l
  rm -rf "$1"
}
[ "$(id -u)" = 0 ] || die "needs root (apt-get, debootstrap, rootful podman)"

need=()
command -v podman >/dev/null || need+=(podman)
command -v debootstrap >/dev/null || need+=(debootstrap)
command -v runc >/dev/null || need+=(runc)  # crun (podman's default here) fails in these VMs
if [ ${#need[@]} -gt 0 ]; then
  echo "podman_base.sh: installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 || die "apt-get update failed"
  apt-get install -y -qq "${need[@]}" >&2 || die "apt-get install ${need[*]} failed"
fi

# podman on these machines: runc, and ulimits the default (1048576 files) cannot set
CONF=$CACHE/containers.conf
cat > "$CONF.tmp.$$" <<'CONFEOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=4096:4096"]
[engine]
runtime = "runc"
CONFEOF
mv "$CONF.tmp.$$" "$CONF"
export CONTAINERS_CONF=$CONF

if ! podman image exists "$IMAGE"; then
  TAR=$CACHE/bookworm-python3.tar
  if [ ! -s "$TAR" ]; then
    ROOTFS=$CACHE/rootfs.tmp
    remove_rootfs "$ROOTFS"
    echo "podman_base.sh: debootstrap bookworm (a few minutes, once)" >&2
    if ! debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
      bookworm "$ROOTFS" http://deb.debian.org/debian >&2; then
      remove_rootfs "$ROOTFS"
      die "debootstrap failed (its log: the lines above)"
    fi
    rm -rf "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/lib/apt/lists/*
    tar -C "$ROOTFS" -cf "$TAR.tmp" . && mv "$TAR.tmp" "$TAR"
    remove_rootfs "$ROOTFS"
  fi
  podman import --change 'CMD ["/bin/bash"]' "$TAR" "$IMAGE" >&2 || die "podman import failed"
fi
podman run --rm "$IMAGE" python3 -c 'import venv, sys; assert sys.version_info[:2] == (3, 11)' \
  || die "base image $IMAGE cannot run python3.11 with venv"
echo "$CONF"
