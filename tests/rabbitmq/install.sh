#!/usr/bin/env bash
# Install the RabbitMQ broker the integration tests run against: Debian's
# `rabbitmq-server` package (3.10.x on Debian 12), nothing else. The tests never
# use the system service the package sets up; up.sh starts a private node.
#
# Idempotent: does nothing when the package is already installed. CI runs it
# on a fresh machine as root (or with sudo available).
set -euo pipefail

if dpkg-query -W -f='${Status}' rabbitmq-server 2>/dev/null | grep -q 'install ok installed'; then
  echo "rabbitmq-server already installed: $(dpkg-query -W -f='${Version}' rabbitmq-server)"
  exit 0
fi

sudo=()
[[ $(id -u) -eq 0 ]] || sudo=(sudo)
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -q
# On a machine with systemd the package also starts the system service on the
# default ports; the tests never talk to it (up.sh uses its own node name,
# ports, epmd and data directory), so it is left as the package set it up.
"${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends rabbitmq-server
echo "installed rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server)"
