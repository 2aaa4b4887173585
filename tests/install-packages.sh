#!/usr/bin/env bash
# Debian packages the tests need besides RabbitMQ (tests/rabbitmq/install.sh):
#   faketime  steps the wall clock of one qscaler process (the clock-jump fault test)
#   openssl   the test PKI of the control plane and the broker's TLS listeners
#   curl      readiness probes in tests/k8s/up.sh
# Idempotent: installs only what is missing.
set -euo pipefail
wanted=(faketime openssl curl)
missing=()
for p in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [[ ${#missing[@]} -eq 0 ]]; then
  echo "test packages present: ${wanted[*]}"
  exit 0
fi
sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
"${sudo[@]}" apt-get update -q
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
