#!/bin/bash
# Turn on RabbitMQ's Web-STOMP and Web-MQTT plugins (STOMP and MQTT over WebSocket; they ship in
# Debian's rabbitmq-server 3.10) on a running test node that booted without them (rabbit-start.sh
# starts them with the node unless RMQ_PLUGINS leaves them out), on private loopback ports, without a
# restart: the listener settings go into the plugins' application environment first (the node read
# rabbitmq.conf when it booted, before these plugins were on), then `rabbitmq-plugins enable`
# starts them online. Idempotent: does nothing when both ports already answer.
# Baselines for the benchmark's STOMP-over-WebSocket case and the browser tests.
set -euo pipefail
. "$(dirname "$0")/rabbit-env.sh"
W="$(dirname "$0")/wait-port.sh"
if "$W" "$RMQ_WEB_STOMP_PORT" 1 2>/dev/null && "$W" "$RMQ_WEB_MQTT_PORT" 1 2>/dev/null; then exit 0; fi
rmqctl eval "
  application:load(rabbitmq_web_stomp),
  application:set_env(rabbitmq_web_stomp, tcp_config, [{ip, \"127.0.0.1\"}, {port, $RMQ_WEB_STOMP_PORT}]),
  application:load(rabbitmq_web_mqtt),
  application:set_env(rabbitmq_web_mqtt, tcp_config, [{ip, \"127.0.0.1\"}, {port, $RMQ_WEB_MQTT_PORT}]),
  ok." >/dev/null
HOME="$RMQ_DIR" "$RMQ_BIN/rabbitmq-plugins" -n "$RABBITMQ_NODENAME" enable --online rabbitmq_web_stomp rabbitmq_web_mqtt >/dev/null
"$W" "$RMQ_WEB_STOMP_PORT" 30
"$W" "$RMQ_WEB_MQTT_PORT" 30
echo "RabbitMQ Web-STOMP on 127.0.0.1:$RMQ_WEB_STOMP_PORT (/ws), Web-MQTT on 127.0.0.1:$RMQ_WEB_MQTT_PORT (/ws)"
