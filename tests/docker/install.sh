#!/usr/bin/env bash
# Install the container engine the image, compose and chart tests use:
# Debian's `docker.io` (dockerd, containerd, runc and the docker CLI) and
# `debootstrap` (the tests make their base images locally: no registry is
# reachable from the test machines). The tests never use the system daemon
# the package sets up; tests/docker/up.sh starts a private one.
#
# Idempotent: installs only what is missing (a machine that already has a
# dockerd, from any source, keeps it).
set -euo pipefail

missing=()
command -v dockerd >/dev/null || missing+=(docker.io)
command -v debootstrap >/dev/null || missing+=(debootstrap)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "container engine present: $(dockerd --version)"
  exit 0
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "installed: ${missing[*]} ($(dockerd --version))"
