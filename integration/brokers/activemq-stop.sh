#!/bin/bash
# SIGTERM: the JVM shutdown hook stops the broker gracefully (~0.1-0.2 s idle); SIGKILL after 30 s.
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${AMQ_DIR:=$BROKERS_HOME/activemq}"
. "$(dirname "$0")/ports.env"
p=$(cat "$AMQ_DIR/activemq.pid" 2>/dev/null) || exit 0
stop_pid "$p" 30; rm -f "$AMQ_DIR/activemq.pid"
