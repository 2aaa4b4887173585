#!/usr/bin/env bash
# Stop the RabbitMQ node that up.sh started in WORKDIR, and only that node:
#   1. `rabbitmqctl -n NODE stop` (a clean shutdown, so data survives a restart);
#   2. TERM, then KILL, the PIDs saved in WORKDIR/env (server wrapper, Erlang VM)
#      and whatever is left in the node's own process group (setsid in up.sh);
#   3. TERM, then KILL, the node's private epmd by its saved PID.
# Nothing is found by name, so other RabbitMQ nodes and the system epmd are never
# touched. Removes WORKDIR unless KEEP_RABBITMQ_LOGS is set (the harness sets it
# to restart the node with its data).
# Usage: down.sh WORKDIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
w=${1:?usage: down.sh WORKDIR}
[[ -f $w/env ]] || { echo "no $w/env: nothing to stop" >&2; exit 0; }
source "$w/env"
node_env "$w" "$QSCALER_RABBITMQ_NODE" "$QSCALER_RABBITMQ_EPMD_PORT" "${QSCALER_RABBITMQ_ROOT:-}"

# wait_gone PID TRIES: true once PID has exited (0.1 s per try)
wait_gone() {
  local i
  for ((i = 0; i < $2; i++)); do alive "$1" || return 0; sleep 0.1; done
  ! alive "$1"
}
# stop PID: TERM, wait up to 10 s, then KILL
stop() {
  alive "$1" || return 0
  kill -TERM "$1" 2>/dev/null
  wait_gone "$1" 100 || kill -KILL "$1" 2>/dev/null
  wait_gone "$1" 50
}

server=${QSCALER_RABBITMQ_PID:-}
beam=${QSCALER_RABBITMQ_BEAM_PID:-}
[[ -n $beam ]] || beam=$(cat "$w/beam.pid" 2>/dev/null || true)

if alive "$server" || alive "$beam"; then
  # rabbitmqctl needs the node's epmd; without it, go straight to signals.
  if alive "${QSCALER_RABBITMQ_EPMD_PID:-}"; then
    timeout 60 "${QSCALER_RABBITMQ_ROOT:-}/usr/lib/rabbitmq/bin/rabbitmqctl" -q -n "$QSCALER_RABBITMQ_NODE" stop \
      >>"$w/log/down.log" 2>&1 || echo "rabbitmqctl stop failed; terminating by PID" >&2
  fi
  wait_gone "$beam" 100
  stop "$beam"
  stop "$server"
fi
# The wrapper is the leader of the node's process group: anything the VM spawned
# (erl_child_setup, inet_gethost) that is still there goes with it.
[[ -n $server ]] && kill -KILL -- "-$server" 2>/dev/null
stop "${QSCALER_RABBITMQ_EPMD_PID:-}"

[[ -n ${KEEP_RABBITMQ_LOGS:-} ]] || rm -rf "$w"
exit 0
