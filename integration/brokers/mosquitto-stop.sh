#!/bin/bash
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${MOSQ_DIR:=$BROKERS_HOME/mosquitto}"
. "$(dirname "$0")/ports.env"
p=$(cat "$MOSQ_DIR/mosquitto.pid" 2>/dev/null) || exit 0
stop_pid "$p" 10; rm -f "$MOSQ_DIR/mosquitto.pid"
