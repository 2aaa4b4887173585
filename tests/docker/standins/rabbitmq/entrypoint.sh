#!/bin/sh
# Write the settings the official image derives from its environment, then
# become the broker (exec: it is PID 1 and gets the SIGTERM of `docker stop`).
set -eu
conf=/var/lib/rabbitmq/standin.conf
{
  echo "default_user = ${RABBITMQ_DEFAULT_USER:-guest}"
  echo "default_pass = ${RABBITMQ_DEFAULT_PASS:-guest}"
  echo "loopback_users = none"
} >"$conf"
export RABBITMQ_CONFIG_FILE="$conf"
exec /usr/lib/rabbitmq/bin/rabbitmq-server
