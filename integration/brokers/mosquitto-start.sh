#!/bin/bash
# Start Mosquitto 2.0 (Debian) in the background, loopback only, anonymous, no persistence.
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${MOSQ_DIR:=$BROKERS_HOME/mosquitto}"
. "$(dirname "$0")/ports.env"
port_free $MOSQ_PORT
mkdir -p "$MOSQ_DIR"
cat > "$MOSQ_DIR/mosquitto.conf" <<CONF
listener $MOSQ_PORT 127.0.0.1
allow_anonymous true
persistence false
log_dest stderr
log_type error
log_type warning
log_type notice
# unlimited in-flight/queue so QoS1 benchmarks are not throttled by broker defaults
max_inflight_messages 0
max_queued_messages 0
# Mosquitto 2.0 default is Nagle ON (false): ~40 ms p99 spikes for small QoS0 messages at low rates
set_tcp_nodelay ${MOSQ_NODELAY:-true}
CONF
# no -d: stays a direct child so \$! is the broker PID. As root it drops privileges to user 'mosquitto'.
nohup /usr/sbin/mosquitto -c "$MOSQ_DIR/mosquitto.conf" > "$MOSQ_DIR/mosquitto.log" 2>&1 < /dev/null &
echo $! > "$MOSQ_DIR/mosquitto.pid"
echo "mosquitto pid $!"
