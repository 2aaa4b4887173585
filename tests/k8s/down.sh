#!/usr/bin/env bash
# Stop the control plane started by up.sh: exactly the processes whose PIDs it
# saved, never anything found by name. Removes the work directory unless
# KEEP_K8S_LOGS is set.
# Usage: down.sh WORKDIR
set -uo pipefail
w=${1:?usage: down.sh WORKDIR}
order=(metrics-server kwok kube-scheduler kube-controller-manager kube-apiserver etcd)
for c in "${order[@]}"; do
  [[ -f $w/pids/$c ]] && kill -TERM "$(cat "$w/pids/$c")" 2>/dev/null
done
for c in "${order[@]}"; do
  pid=$(cat "$w/pids/$c" 2>/dev/null) || continue
  for _ in $(seq 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
  kill -KILL "$pid" 2>/dev/null
done
[[ -n ${KEEP_K8S_LOGS:-} ]] || rm -rf "$w"
exit 0
