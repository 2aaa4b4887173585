#!/usr/bin/env bash
# Make the Debian 12 root filesystem the tests' local images start from, as a
# tarball for `docker import`: no registry is reachable from the test
# machines, so nothing can be pulled. `debootstrap --variant=minbase bookworm`
# from Debian's archive takes about a minute; the tarball is cached outside
# the repository, so only the first run on a machine pays for it.
#
# Prints the tarball's path on its last line.
#
# Environment:
#   QSCALER_IMAGES_CACHE   cache root (default: $HOME/.cache/qscaler-images)
#   DEBIAN_MIRROR          default http://deb.debian.org/debian
set -euo pipefail
cache=${QSCALER_IMAGES_CACHE:-$HOME/.cache/qscaler-images}
tarball="$cache/bookworm-minbase.tar"
if [[ -s $tarball ]]; then
  echo "base root filesystem cached: $tarball" >&2
  echo "$tarball"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap not found: run tests/install-packages.sh" >&2; exit 1; }
mkdir -p "$cache"
root=$(mktemp -d "$cache/rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
start=$(date +%s)
debootstrap --variant=minbase bookworm "$root" "${DEBIAN_MIRROR:-http://deb.debian.org/debian}" >&2
# What an image does not need: the package lists and caches debootstrap left.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
tar -C "$root" --numeric-owner -cf "$tarball.partial" .
mv "$tarball.partial" "$tarball"
echo "debootstrap: $(( $(date +%s) - start )) s, $(du -sh "$tarball" | cut -f1)" >&2
echo "$tarball"
