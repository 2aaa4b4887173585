#!/usr/bin/env bash
# Stop the private Docker daemon tests/docker/up.sh started in DIR: remove its
# containers, then SIGTERM the daemon by its saved PID (it stops the
# containerd it launched) and wait for it; SIGKILL after 30 s. Then delete DIR
# unless KEEP_DOCKER_DIR=1 (the data root holds root-owned overlay mounts,
# which are unmounted first).
set -euo pipefail
dir=${1:?usage: down.sh DIR}
pid=$(cat "$dir/dockerd.launcher-pid" 2>/dev/null || true)
if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
  export DOCKER_HOST="unix://$dir/docker.sock"
  ids=$(docker ps -aq 2>/dev/null || true)
  [[ -z $ids ]] || docker rm -f $ids >/dev/null 2>&1 || true
  kill -TERM "$pid"
  for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
fi
if [[ ${KEEP_DOCKER_DIR:-0} != 1 ]]; then
  # Anything still mounted under the data root (overlay layers, shm) goes first.
  grep -o " $dir/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l 2>/dev/null || true
  rm -rf "$dir"
fi
