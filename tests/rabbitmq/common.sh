# Shared by up.sh and down.sh (sourced, not run): the environment that points
# the RabbitMQ node and its CLI tools at one work directory and nothing else.

# free_ports N: N distinct free ports on 127.0.0.1 (tests/free_ports.py).
free_ports() {
  python3 "$(dirname "${BASH_SOURCE[0]}")/../free_ports.py" "$1"
}

# node_env WORKDIR NODE EPMD_PORT [ROOT]
# ROOT: the prefix of a version kept outside the system (versions.sh), whose
# Erlang (erl, epmd, escript) must come first on PATH; empty for the system's.
node_env() {
  local w=$1
  [[ -z ${4:-} ]] || export PATH=$4/usr/lib/erlang/bin:$PATH
  export HOME=$w  # the Erlang cookie lives in $HOME/.erlang.cookie
  export RABBITMQ_NODENAME=$2
  export RABBITMQ_USE_LONGNAME=false
  export ERL_EPMD_PORT=$3
  export ERL_EPMD_ADDRESS=127.0.0.1
  export RABBITMQ_ENABLED_PLUGINS_FILE=$w/enabled_plugins
  export RABBITMQ_CONF_ENV_FILE=$w/rabbitmq-env.conf
  # The CLI tools (rabbitmqctl) run a short-lived hidden Erlang node too. Neither
  # it nor the server may start an epmd of their own (`-start_epmd false`): the
  # only epmd is the one up.sh starts and down.sh stops.
  export RABBITMQ_CTL_ERL_ARGS="-start_epmd false -kernel inet_dist_use_interface {127,0,0,1}"
}

# alive PID: the process exists and is not a zombie waiting to be reaped
# (read from /proc: procps is not a dependency of rabbitmq-server)
alive() {
  local stat
  [[ -n $1 ]] && stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  stat=${stat##*) }  # the state follows the command name in parentheses
  [[ ${stat%% *} != Z ]]
}

# rabbitmq_installed VERSION ROOT: true when VERSION's files are in place, or
# says on stderr what to run
rabbitmq_installed() {
  if [[ -z $2 ]]; then
    local have
    have=$(dpkg-query -W -f='${Version}' rabbitmq-server 2>/dev/null || true)
    [[ $have == "$1"-* && -x /usr/lib/rabbitmq/bin/rabbitmq-server ]] && return 0
    echo "RabbitMQ $1 is not installed (the system has '${have:-none}'): run tests/rabbitmq/install.sh" >&2
    return 1
  fi
  [[ -f $2/.complete ]] && return 0
  echo "RabbitMQ $1 is not extracted into $2: run tests/rabbitmq/install.sh" >&2
  return 1
}
