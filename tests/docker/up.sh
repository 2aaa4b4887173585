#!/usr/bin/env bash
# Start a private Docker daemon for one test session and print its work
# directory on the last line. Everything it owns lives under that directory:
# data root (images, containers), exec root, pidfile and API socket; it never
# touches a system daemon or /var/lib/docker. Networking is host-only
# (--bridge=none, no iptables rules): builds and containers use
# `--network host` and bind 127.0.0.1, like every other test server.
#
# Writes DIR/env with DOCKER_HOST=unix://DIR/docker.sock. tests/docker/down.sh
# DIR stops exactly this daemon (and the containerd it started).
#
# Usage: up.sh [DIR]   (default: a new directory under /tmp; the socket path
#                       must stay under the 108-byte limit of a unix socket)
set -euo pipefail
dir=${1:-$(mktemp -d /tmp/qdock.XXXXXX)}
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
command -v dockerd >/dev/null || { echo "dockerd not found: run tests/install-packages.sh" >&2; exit 1; }

dockerd \
  --data-root "$dir/data" \
  --exec-root "$dir/exec" \
  --pidfile "$dir/dockerd.pid" \
  --host "unix://$dir/docker.sock" \
  --storage-driver overlay2 \
  --iptables=false --ip6tables=false --bridge=none \
  --log-level warn \
  >"$dir/dockerd.log" 2>&1 &
echo $! >"$dir/dockerd.launcher-pid"

echo "DOCKER_HOST=unix://$dir/docker.sock" >"$dir/env"
for _ in $(seq 1 240); do
  if DOCKER_HOST="unix://$dir/docker.sock" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; then
    echo "$dir"
    exit 0
  fi
  if ! kill -0 "$(cat "$dir/dockerd.launcher-pid")" 2>/dev/null; then
    echo "dockerd exited:" >&2; tail -n 30 "$dir/dockerd.log" >&2; exit 1
  fi
  sleep 0.25
done
echo "dockerd did not answer within 60 s:" >&2; tail -n 30 "$dir/dockerd.log" >&2
"$(dirname "$0")/down.sh" "$dir" >&2 || true
exit 1
