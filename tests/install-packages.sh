#!/usr/bin/env bash
# Debian packages the tests need besides RabbitMQ (tests/rabbitmq/install.sh):
#   faketime  steps the wall clock of one qscaler process (the clock-jump fault test)
#   openssl   the test PKI of the control plane and the broker's TLS listeners
#   curl      readiness probes in tests/k8s/up.sh
#   docker.io the container engine of the image and compose tests (tests/docker/up.sh
#             starts a private dockerd; the system daemon is never used). Skipped
#             when a dockerd from any source is already installed.
#   debootstrap  the Debian root filesystem the tests' local images start from
# Idempotent: installs only what is missing.
set -euo pipefail
wanted=(faketime openssl curl debootstrap)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
command -v dockerd >/dev/null || missing+=(docker.io)
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "test packages present: ${wanted[*]}"
  exit 0
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
