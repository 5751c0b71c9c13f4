# Source this. All RabbitMQ state lives under $RMQ_DIR; everything binds to 127.0.0.1.
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${RMQ_DIR:=$BROKERS_HOME/rabbit}"
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${RMQ_NODENAME:=gwtest@localhost}"
# the plugins the node boots with (rabbit-start.sh) and whose listeners rabbit-wait.sh checks
: "${RMQ_PLUGINS:=rabbitmq_mqtt,rabbitmq_stomp,rabbitmq_amqp1_0,rabbitmq_management,rabbitmq_web_stomp,rabbitmq_web_mqtt}"
export RABBITMQ_NODENAME="$RMQ_NODENAME"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$RMQ_AMQP_PORT"
export RABBITMQ_DIST_PORT="$RMQ_DIST_PORT"
export RABBITMQ_CONFIG_FILE="$RMQ_DIR/rabbitmq.conf"
export RABBITMQ_ENABLED_PLUGINS_FILE="$RMQ_DIR/enabled_plugins"
export RABBITMQ_MNESIA_BASE="$RMQ_DIR/mnesia"
export RABBITMQ_LOG_BASE="$RMQ_DIR/log"
export RABBITMQ_PID_FILE="$RMQ_DIR/rabbit.pid"
export RABBITMQ_CONF_ENV_FILE=/dev/null   # ignore /etc/rabbitmq/rabbitmq-env.conf
export RABBITMQ_ADVANCED_CONFIG_FILE="$RMQ_DIR/advanced.config"
# keep epmd and erlang distribution on loopback
export ERL_CRASH_DUMP="$RMQ_DIR/log/erl_crash.dump"
export ERL_EPMD_ADDRESS=127.0.0.1
export ERL_EPMD_PORT="$RMQ_EPMD_PORT"
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
export RABBITMQ_CTL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
RMQ_BIN=/usr/lib/rabbitmq/bin          # call these directly as root (the /usr/sbin wrappers su to 'rabbitmq')
# Server and CLI must share an Erlang cookie ($HOME/.erlang.cookie): give both HOME=$RMQ_DIR so the
# cookie is private to this node. NEVER run rabbitmqctl without this env: a bare call starts a stray
# epmd on 0.0.0.0:4369 and cannot reach the node.
rmqctl() { HOME="$RMQ_DIR" "$RMQ_BIN/rabbitmqctl" -n "$RABBITMQ_NODENAME" "$@"; }
