#!/bin/bash
# Ready = log says 'Apache ActiveMQ ... started' (all connectors are bound before that line), or fail if the JVM died.
. "$(dirname "$0")/ports.env"
: "${AMQ_DIR:=$BROKERS_HOME/activemq}"; t=${1:-90}; end=$((SECONDS+t))
until grep -q "Apache ActiveMQ .* started" "$AMQ_DIR/stdout.log" 2>/dev/null; do
  pid_alive "$(cat "$AMQ_DIR/activemq.pid")" || { echo "activemq died:"; tail -30 "$AMQ_DIR/stdout.log"; exit 1; } >&2
  [ $SECONDS -ge $end ] && { echo "activemq not ready after ${t}s" >&2; exit 1; }
  sleep 0.2
done
