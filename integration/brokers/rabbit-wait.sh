#!/bin/bash
# Block until the node has fully booted, then check that every expected listener accepts connections
# (an unknown plugin name in RMQ_PLUGINS is silently ignored by RabbitMQ, so don't trust boot alone).
# Non-zero exit on timeout or boot failure.
set -euo pipefail
. "$(dirname "$0")/rabbit-env.sh"
# 'wait' polls for the pid file, then for the node, then for the rabbit app (and plugins) to be running;
# it gives up as soon as the beam process dies.
# First wait for the pid file ourselves, so an early boot failure (bad config) fails fast instead of
# waiting out the whole timeout.
end=$((SECONDS+${1:-120}))
until [ -s "$RABBITMQ_PID_FILE" ]; do
  if ! pid_alive "$(cat "$RMQ_DIR/launcher.pid")" || [ $SECONDS -ge $end ]; then
    echo "rabbitmq failed to boot:" >&2; tail -25 "$RMQ_DIR/log/stdout.log" >&2; exit 1; fi
  sleep 0.2
done
rmqctl wait "$RABBITMQ_PID_FILE" --timeout $(( (end-SECONDS) > 5 ? end-SECONDS : 5 ))
W="$(dirname "$0")/wait-port.sh"
"$W" "$RMQ_AMQP_PORT" 10
case ",$RMQ_PLUGINS," in *,rabbitmq_mqtt,*) "$W" "$RMQ_MQTT_PORT" 10;; esac
case ",$RMQ_PLUGINS," in *,rabbitmq_stomp,*) "$W" "$RMQ_STOMP_PORT" 10;; esac
case ",$RMQ_PLUGINS," in *,rabbitmq_management,*) "$W" "$RMQ_MGMT_PORT" 10;; esac
case ",$RMQ_PLUGINS," in *,rabbitmq_web_stomp,*) "$W" "$RMQ_WEB_STOMP_PORT" 10;; esac
case ",$RMQ_PLUGINS," in *,rabbitmq_web_mqtt,*) "$W" "$RMQ_WEB_MQTT_PORT" 10;; esac
