#!/usr/bin/env bash
# Install every RabbitMQ version the integration tests run against
# (tests/rabbitmq/versions.sh):
#   - the system's own Debian package, `rabbitmq-server` (3.10.x on Debian 12),
#     with apt-get when absent. The tests never use the system service the
#     package sets up; up.sh starts a private node;
#   - each newer version into a prefix under the cache (extract.sh), never into
#     the system. patchelf (a Debian package) is installed for that when absent.
#
# Idempotent: does nothing for what is already there. CI runs it on a fresh
# machine as root (or with sudo available).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/versions.sh"

installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }
missing=()
installed rabbitmq-server || missing+=(rabbitmq-server)
installed patchelf || missing+=(patchelf)
if [[ ${#missing[@]} -gt 0 ]]; then
  sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  # On a machine with systemd the package also starts the system service on the
  # default ports; the tests never talk to it (up.sh uses its own node name,
  # ports, epmd and data directory), so it is left as the package set it up.
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
echo "rabbitmq-server $(dpkg-query -W -f='${Version}' rabbitmq-server) installed (system)"

for version in $QSCALER_RABBITMQ_VERSIONS; do
  rabbitmq_suite "$version" >/dev/null || continue  # the system package
  "$here/extract.sh" "$version"
done
