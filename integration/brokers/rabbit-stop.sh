#!/bin/bash
# Stop the node started by rabbit-start.sh and its private epmd, by PID.
# SIGTERM = graceful shutdown (RabbitMQ >= 3.8; ~6 s here). RMQ_FAST_STOP=1 => SIGKILL (instant; fine when
# the state is thrown away afterwards). 'rabbitmqctl shutdown' also works but is no faster.
. "$(dirname "$0")/rabbit-env.sh"
if [ -f "$RABBITMQ_PID_FILE" ]; then
  P=$(cat "$RABBITMQ_PID_FILE")
  if [ "${RMQ_FAST_STOP:-0}" = 1 ]; then kill -KILL "$P" 2>/dev/null; fi
  stop_pid "$P" 60
fi
for f in launcher.pid epmd.pid; do
  p=$(cat "$RMQ_DIR/$f" 2>/dev/null) || continue
  stop_pid "$p" 5; rm -f "$RMQ_DIR/$f"
done
rm -f "$RABBITMQ_PID_FILE"
