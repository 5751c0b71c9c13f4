#!/bin/bash
# Wipe all RabbitMQ state (queues, exchanges, bindings, vhosts; users back to guest/guest).
#  node running : in-place stop_app/reset/start_app  (~11 s here: as slow as a fresh boot, incl. the MQTT Raft wait)
#  node stopped : delete the mnesia directory (instant; next start is a fresh ~11-12 s boot)
# Cheaper per-test isolation: a throw-away vhost via the management API (~20 ms).
. "$(dirname "$0")/rabbit-env.sh"
if [ -f "$RABBITMQ_PID_FILE" ] && pid_alive "$(cat "$RABBITMQ_PID_FILE")"; then
  rmqctl -q stop_app && rmqctl -q reset && rmqctl -q start_app && rmqctl -q await_startup --timeout 60
else
  rm -rf "$RMQ_DIR/mnesia"
fi
