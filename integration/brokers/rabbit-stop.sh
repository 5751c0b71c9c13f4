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
# A rabbitmqctl call made while the node was down starts an `epmd -daemon` of its own on the
# private epmd port (ERL_EPMD_PORT, rabbit-env.sh); it outlives the node and keeps the next
# rabbit-start.sh from binding that port. Only an epmd can hold this port (it is ours), so stop it.
stray=$(ss -Hltnp "sport = :$RMQ_EPMD_PORT" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2)
if [ -n "$stray" ] && [ "$(cat "/proc/$stray/comm" 2>/dev/null)" = epmd ]; then
  stop_pid "$stray" 5
fi
