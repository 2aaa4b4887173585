#!/usr/bin/env bash
# Start an isolated RabbitMQ node on 127.0.0.1 for qscaler's integration tests.
#
# Usage: up.sh [WORKDIR]   (default: a new mktemp -d)
# Prints the work directory on its last line. Stop the node with down.sh WORKDIR.
#
# Isolated means: not the system service, nothing read from /etc/rabbitmq or
# /var/lib/rabbitmq. The node has its own name (qscaler-test-<random>@localhost),
# config, enabled-plugins file, data (mnesia), logs, Erlang cookie (HOME=WORKDIR)
# and its own epmd on a free port (ERL_EPMD_PORT), which this script starts in
# the foreground and down.sh stops by PID, so no stray epmd is left behind and the
# system epmd on 4369 is never touched. Every listener binds 127.0.0.1 only:
#   AMQP, AMQPS, management HTTP, management HTTPS, Prometheus, stream, Erlang
#   distribution (RABBITMQ_DIST_PORT), and epmd (which also always adds ::1,
#   the IPv6 loopback). The CLI tools' short-lived Erlang node (rabbitmqctl in
#   down.sh) binds 127.0.0.1 too.
# TLS: a self-signed CA and a server certificate for localhost/127.0.0.1 are
# generated with openssl (WORKDIR/tls/ca.crt is the CA to trust). The server
# does not ask for client certificates.
#
# Users: the only user is an administrator named qscaler-admin with a generated
# password (RabbitMQ's `default_user`, so the well-known guest/guest user is never
# created). `loopback_users = none` lets it connect through any listener.
#
# Statistics: collect_statistics_interval comes from
# QSCALER_RABBITMQ_STATS_INTERVAL_MS, default 1000 ms so the tests see counts and
# rates quickly. RabbitMQ's own default (production) is 5000 ms. The management
# plugin's sample interval (sample_retention_policies, 5 s by default) is set to
# the same period rounded up to whole seconds: it, not collect_statistics_interval
# alone, is how often the HTTP API's numbers change.
#
# Streams: the rabbitmq_stream and rabbitmq_stream_management plugins, with the
# stream protocol listener on 127.0.0.1 (advertised as such to stream clients).
#
# QSCALER_RABBITMQ_METRICS_COLLECTOR=off starts a node with the management
# plugin's statistics off (management_agent.disable_metrics_collector = true).
#
# Ports come from QSCALER_RABBITMQ_{AMQP,AMQPS,MGMT,MGMT_TLS,PROMETHEUS,STREAM,DIST,EPMD}_PORT
# or free ones picked at start.
#
# Running up.sh on a WORKDIR that already holds an `env` file (left by
# `KEEP_RABBITMQ_LOGS=1 down.sh WORKDIR`) restarts the same node with the same
# name, ports, password, certificates and data: that is how the test harness
# restarts the broker.
#
# WORKDIR/env (shell syntax, QSCALER_RABBITMQ_* variables) holds the URLs, ports,
# user, password, CA file, node name and PIDs, and READY_SECONDS. Measured on the
# development machine (2 cores, Debian 12, RabbitMQ 3.10.8, Erlang 25): ready in
# about 6 s on first start (certificates included), 5 s on a restart; down.sh
# takes about 6.5 s, 5 s of which the node spends waiting after it stops the
# statistics collector (visible in its log).
#
# The Debian wrapper /usr/sbin/rabbitmq-server cannot run this node: as root it
# `su`s to the rabbitmq user (who cannot write WORKDIR) and cd's to
# /var/lib/rabbitmq, and as anyone else it refuses. So this calls
# /usr/lib/rabbitmq/bin/rabbitmq-server (the upstream script) directly, which
# works as root and as any user who can write WORKDIR.
#
# Version: QSCALER_RABBITMQ_VERSION picks one of versions.sh's versions (default:
# the first, the system package). A version kept in a prefix (extract.sh) runs
# from there: its `erl`, `epmd` and scripts come first on PATH.
#
# Needs only what the rabbitmq-server package pulls in (erlang, openssl,
# python3) plus bash and util-linux's setsid.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/common.sh"
source "$here/versions.sh"

w=${1:-$(mktemp -d -t qscaler-rabbitmq.XXXXXX)}
mkdir -p "$w"
w=$(cd "$w" && pwd)
started=$(date +%s.%N)

if [[ -f $w/env ]]; then
  # Restart: keep name, ports, password and certificates; only PIDs change.
  source "$w/env"
  node=$QSCALER_RABBITMQ_NODE
  user=$QSCALER_RABBITMQ_USER
  password=$QSCALER_RABBITMQ_PASSWORD
  amqp_port=$QSCALER_RABBITMQ_AMQP_PORT
  amqps_port=$QSCALER_RABBITMQ_AMQPS_PORT
  mgmt_port=$QSCALER_RABBITMQ_MGMT_PORT
  mgmt_tls_port=$QSCALER_RABBITMQ_MGMT_TLS_PORT
  prom_port=$QSCALER_RABBITMQ_PROMETHEUS_PORT
  dist_port=$QSCALER_RABBITMQ_DIST_PORT
  epmd_port=$QSCALER_RABBITMQ_EPMD_PORT
  stats_ms=$QSCALER_RABBITMQ_STATS_INTERVAL_MS
  stream_port=$QSCALER_RABBITMQ_STREAM_PORT
  collector=$QSCALER_RABBITMQ_METRICS_COLLECTOR
  version=$QSCALER_RABBITMQ_VERSION
else
  node=${QSCALER_RABBITMQ_NODE:-qscaler-test-$(openssl rand -hex 4)@localhost}
  user=qscaler-admin
  password=$(openssl rand -hex 16)
  read -r free_amqp free_amqps free_mgmt free_mgmt_tls free_prom free_dist free_epmd free_stream \
    < <(free_ports 8)
  amqp_port=${QSCALER_RABBITMQ_AMQP_PORT:-$free_amqp}
  amqps_port=${QSCALER_RABBITMQ_AMQPS_PORT:-$free_amqps}
  mgmt_port=${QSCALER_RABBITMQ_MGMT_PORT:-$free_mgmt}
  mgmt_tls_port=${QSCALER_RABBITMQ_MGMT_TLS_PORT:-$free_mgmt_tls}
  prom_port=${QSCALER_RABBITMQ_PROMETHEUS_PORT:-$free_prom}
  dist_port=${QSCALER_RABBITMQ_DIST_PORT:-$free_dist}
  epmd_port=${QSCALER_RABBITMQ_EPMD_PORT:-$free_epmd}
  stats_ms=${QSCALER_RABBITMQ_STATS_INTERVAL_MS:-1000}
  stream_port=${QSCALER_RABBITMQ_STREAM_PORT:-$free_stream}
  collector=${QSCALER_RABBITMQ_METRICS_COLLECTOR:-on}
  version=${QSCALER_RABBITMQ_VERSION:-${QSCALER_RABBITMQ_VERSIONS%% *}}
fi
root=$(rabbitmq_root "$version") || exit 2
rabbitmq_installed "$version" "$root" || exit 2
[[ $collector == on || $collector == off ]] ||
  { echo "QSCALER_RABBITMQ_METRICS_COLLECTOR must be on or off, not '$collector'" >&2; exit 1; }
[[ $stats_ms =~ ^[1-9][0-9]*$ ]] ||
  { echo "QSCALER_RABBITMQ_STATS_INTERVAL_MS must be a number of milliseconds, not '$stats_ms'" >&2; exit 1; }
sample_s=$(((stats_ms + 999) / 1000))
mkdir -p "$w"/{mnesia,log,tls,conf.d}
umask 077

# --- TLS ---------------------------------------------------------------------
t=$w/tls
if [[ ! -f $t/server.crt ]]; then
  ossl() { openssl "$@" >/dev/null 2>&1; }
  ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=qscaler-test-rabbitmq-ca" \
    -keyout "$t/ca.key" -out "$t/ca.crt"
  printf '%s\n' 'basicConstraints=CA:FALSE' 'keyUsage=critical,digitalSignature,keyEncipherment' \
    'extendedKeyUsage=serverAuth' 'subjectAltName=DNS:localhost,IP:127.0.0.1' >"$t/server.ext"
  ossl req -newkey rsa:2048 -nodes -subj "/CN=localhost" -keyout "$t/server.key" -out "$t/server.csr"
  ossl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
    -days 3650 -extfile "$t/server.ext" -out "$t/server.crt"
  chmod 644 "$t/ca.crt"
fi

# --- configuration -----------------------------------------------------------
cat >"$w/rabbitmq.conf" <<EOF
listeners.tcp.1 = 127.0.0.1:$amqp_port
listeners.ssl.1 = 127.0.0.1:$amqps_port
ssl_options.cacertfile = $t/ca.crt
ssl_options.certfile = $t/server.crt
ssl_options.keyfile = $t/server.key
ssl_options.verify = verify_none
ssl_options.fail_if_no_peer_cert = false

management.tcp.ip = 127.0.0.1
management.tcp.port = $mgmt_port
management.ssl.ip = 127.0.0.1
management.ssl.port = $mgmt_tls_port
management.ssl.cacertfile = $t/ca.crt
management.ssl.certfile = $t/server.crt
management.ssl.keyfile = $t/server.key
prometheus.tcp.ip = 127.0.0.1
prometheus.tcp.port = $prom_port
stream.listeners.tcp.1 = 127.0.0.1:$stream_port
stream.advertised_host = 127.0.0.1
stream.advertised_port = $stream_port

collect_statistics_interval = $stats_ms
# The management plugin aggregates what the node emits into samples of its own
# (5 s by default), so the HTTP API only refreshes that often, whatever
# collect_statistics_interval says. Match the two; all three sections are needed.
management.sample_retention_policies.global.minute = $sample_s
management.sample_retention_policies.basic.minute = $sample_s
management.sample_retention_policies.detailed.10 = $sample_s

default_user = $user
default_pass = $password
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
loopback_users = none

log.console = false
log.file.level = info
EOF
if [[ $collector == off ]]; then
  # What the official image without -management does: the management API still
  # answers, but keeps no statistics (no message counts, no rates).
  echo "management_agent.disable_metrics_collector = true" >>"$w/rabbitmq.conf"
fi
echo '[rabbitmq_management,rabbitmq_prometheus,rabbitmq_stream,rabbitmq_stream_management].' \
  >"$w/enabled_plugins"
: >"$w/rabbitmq-env.conf"

# Everything the node and the CLI tools read comes from here, never from /etc.
node_env "$w" "$node" "$epmd_port" "$root"
export RABBITMQ_CONFIG_FILE=$w/rabbitmq.conf
export RABBITMQ_CONFIG_FILES=$w/conf.d
export RABBITMQ_ADVANCED_CONFIG_FILE=$w/advanced.config
export RABBITMQ_MNESIA_BASE=$w/mnesia
export RABBITMQ_LOG_BASE=$w/log
export RABBITMQ_PID_FILE=$w/beam.pid
export RABBITMQ_DIST_PORT=$dist_port
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
rm -f "$RABBITMQ_PID_FILE"

# --- processes ---------------------------------------------------------------
# Our own epmd, in the foreground so its PID is known. The node and the CLI
# tools find it through ERL_EPMD_PORT and do not start another.
setsid epmd -port "$epmd_port" -address 127.0.0.1 >"$w/log/epmd.log" 2>&1 </dev/null &
epmd_pid=$!
for _ in $(seq 100); do
  epmd -port "$epmd_port" -names >/dev/null 2>&1 && break
  kill -0 "$epmd_pid" 2>/dev/null || { echo "epmd exited; log:" >&2; cat "$w/log/epmd.log" >&2; exit 1; }
  sleep 0.05
done
epmd -port "$epmd_port" -names >/dev/null 2>&1 || { kill "$epmd_pid"; echo "epmd did not answer" >&2; exit 1; }

# setsid: the node gets its own session and process group, so signals meant for
# the test runner's terminal do not reach it, and down.sh can clean up the group.
setsid "$root/usr/lib/rabbitmq/bin/rabbitmq-server" >"$w/log/server.out" 2>&1 </dev/null &
server_pid=$!

write_env() {
  {
    local k v
    for k in VERSION ROOT WORKDIR NODE USER PASSWORD AMQP_PORT AMQPS_PORT MGMT_PORT MGMT_TLS_PORT \
      PROMETHEUS_PORT STREAM_PORT DIST_PORT EPMD_PORT STATS_INTERVAL_MS METRICS_COLLECTOR CA_FILE MGMT_URL HTTPS_URL \
      AMQP_URL AMQPS_URL PROMETHEUS_URL PID BEAM_PID EPMD_PID READY_SECONDS; do
      v=${vals[$k]:-}
      printf 'QSCALER_RABBITMQ_%s=%q\n' "$k" "$v"
    done
  } >"$w/env.tmp"
  mv "$w/env.tmp" "$w/env"
}
declare -A vals=(
  [VERSION]=$version [ROOT]=$root [WORKDIR]=$w [NODE]=$node [USER]=$user [PASSWORD]=$password
  [AMQP_PORT]=$amqp_port [AMQPS_PORT]=$amqps_port [MGMT_PORT]=$mgmt_port
  [MGMT_TLS_PORT]=$mgmt_tls_port [PROMETHEUS_PORT]=$prom_port [STREAM_PORT]=$stream_port
  [METRICS_COLLECTOR]=$collector [DIST_PORT]=$dist_port
  [EPMD_PORT]=$epmd_port [STATS_INTERVAL_MS]=$stats_ms [CA_FILE]=$t/ca.crt
  [MGMT_URL]=http://127.0.0.1:$mgmt_port [HTTPS_URL]=https://127.0.0.1:$mgmt_tls_port
  [AMQP_URL]=amqp://127.0.0.1:$amqp_port [AMQPS_URL]=amqps://127.0.0.1:$amqps_port
  [PROMETHEUS_URL]=http://127.0.0.1:$prom_port
  [PID]=$server_pid [EPMD_PID]=$epmd_pid
)
# Written before waiting, so that down.sh can stop a node that never got ready.
write_env

# On failure: show the logs, stop whatever was started, keep WORKDIR for a look.
fail() {
  echo "RabbitMQ node $node did not become ready: $1" >&2
  tail -40 "$w/log/server.out" >&2 || true
  tail -40 "$w/log/$node.log" >&2 2>/dev/null || true
  KEEP_RABBITMQ_LOGS=1 "$here/down.sh" "$w" >/dev/null 2>&1
  echo "logs kept in $w/log" >&2
  exit 1
}
ready=
for _ in $(seq 600); do  # at most ~120 s; what "ready" means: see ready.py
  alive "$server_pid" || fail "the server process exited"
  if QSCALER_RABBITMQ_USER=$user QSCALER_RABBITMQ_PASSWORD=$password python3 "$here/ready.py" \
    "$mgmt_port" "$mgmt_tls_port" "$t/ca.crt" "$amqp_port" "$amqps_port" "$prom_port" "$stream_port"; then
    ready=1
    break
  fi
  sleep 0.2
done
[[ -n $ready ]] || fail "not ready within 120 s (see ready.py for what ready means)"

vals[BEAM_PID]=$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)
vals[READY_SECONDS]=$(python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.1f}')" \
  "$started" "$(date +%s.%N)")
write_env
echo "RabbitMQ $version node $node ready in ${vals[READY_SECONDS]} s (management on 127.0.0.1:$mgmt_port)" >&2
echo "$w"
