# The RabbitMQ versions qscaler's tests run against, sourced by install.sh,
# up.sh and the pytest harness (which reads QSCALER_RABBITMQ_VERSIONS).
#
#   3.10.8  Debian 12 "bookworm": the system package (apt-get install rabbitmq-server)
#   4.0.5   Debian 13 "trixie": extracted with its Erlang 27 into a prefix under
#           the cache (extract.sh), never installed into the system
#
# The first version is the default node (QSCALER_RABBITMQ_VERSION unset).
QSCALER_RABBITMQ_VERSIONS="3.10.8 4.0.5"

# rabbitmq_suite VERSION: the Debian release a prefix version comes from
rabbitmq_suite() {
  case $1 in
    4.0.5) echo trixie ;;
    *) return 1 ;;
  esac
}

# rabbitmq_root VERSION: the prefix holding usr/lib/rabbitmq and usr/lib/erlang
# for VERSION ("" for the system package, whose files are under /usr)
rabbitmq_root() {
  case $1 in
    3.10.8) echo "" ;;
    *)
      rabbitmq_suite "$1" >/dev/null || { echo "unknown RabbitMQ test version '$1' (known: $QSCALER_RABBITMQ_VERSIONS)" >&2; return 1; }
      echo "${QSCALER_RABBITMQ_CACHE:-$HOME/.cache/qscaler-rabbitmq}/rabbitmq-$1-$(rabbitmq_suite "$1")"
      ;;
  esac
}
