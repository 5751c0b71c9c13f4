#!/bin/bash
# Start RabbitMQ 3.10 (Debian package) in the background as root, no systemd, loopback only.
# Env knobs: RMQ_DIR RMQ_AMQP_PORT RMQ_MQTT_PORT RMQ_STOMP_PORT RMQ_MGMT_PORT RMQ_DIST_PORT RMQ_EPMD_PORT
#            RMQ_WEB_STOMP_PORT RMQ_WEB_MQTT_PORT
#            RMQ_PLUGINS (default: mqtt,stomp,amqp1_0,management,web_stomp,web_mqtt)
set -euo pipefail
. "$(dirname "$0")/rabbit-env.sh"
port_free $RMQ_AMQP_PORT $RMQ_MQTT_PORT $RMQ_STOMP_PORT $RMQ_MGMT_PORT $RMQ_WEB_STOMP_PORT $RMQ_WEB_MQTT_PORT $RMQ_DIST_PORT $RMQ_EPMD_PORT
mkdir -p "$RMQ_DIR/mnesia" "$RMQ_DIR/log"
cat > "$RMQ_DIR/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RMQ_AMQP_PORT
loopback_users.guest = true
mqtt.listeners.tcp.default = 127.0.0.1:$RMQ_MQTT_PORT
mqtt.allow_anonymous = true
mqtt.default_user = guest
mqtt.default_pass = guest
mqtt.vhost = /
mqtt.exchange = amq.topic
stomp.listeners.tcp.1 = 127.0.0.1:$RMQ_STOMP_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RMQ_MGMT_PORT
# statistics every second, not every 5 s (with the sampling below): see advanced.config
collect_statistics_interval = 1000
log.console = false
log.file.level = info
CONF
# The WebSocket plugins (the browser tests' and the bench's baselines) start with the node, on
# their private ports: turned on later, online (rabbit-web.sh), they took over 120 s on a loaded
# machine, longer than a test's setup may wait.
case ",$RMQ_PLUGINS," in *,rabbitmq_web_stomp,*)
  printf 'web_stomp.tcp.ip = 127.0.0.1\nweb_stomp.tcp.port = %s\n' "$RMQ_WEB_STOMP_PORT" >> "$RMQ_DIR/rabbitmq.conf";;
esac
case ",$RMQ_PLUGINS," in *,rabbitmq_web_mqtt,*)
  printf 'web_mqtt.tcp.ip = 127.0.0.1\nweb_mqtt.tcp.port = %s\n' "$RMQ_WEB_MQTT_PORT" >> "$RMQ_DIR/rabbitmq.conf";;
esac
echo "[${RMQ_PLUGINS}]." > "$RMQ_DIR/enabled_plugins"
# The management API's queue counts (messages, ready, unacked, consumers) trail the queue by the
# statistics interval and the management agent's sampling (the smallest SampleEveryNSeconds of its
# retention policies, 5 s by default): a test waiting for a count waited 5-10 s for a change that had
# happened at once. With both at 1 s a change shows within 1-2 s.
cat > "$RMQ_DIR/advanced.config" <<'CONF'
[{rabbitmq_management_agent, [{sample_retention_policies, [{global, [{605, 1}, {3660, 60}]}, {basic, [{605, 1}, {3600, 60}]}, {detailed, [{605, 1}]}]}]}].
CONF
# our own epmd (foreground child => we know its PID), loopback only, private port
EPMD=$(ls /usr/lib/erlang/erts-*/bin/epmd | head -1)
nohup "$EPMD" -address 127.0.0.1 -port "$RMQ_EPMD_PORT" > "$RMQ_DIR/log/epmd.log" 2>&1 < /dev/null &
echo $! > "$RMQ_DIR/epmd.pid"
# a session of its own (setsid), as a service has: the kernel's autogroup scheduler shares CPU
# between sessions first, and the bench (bench/lib/child.mjs) gives every server it starts one too
HOME="$RMQ_DIR" setsid nohup "$RMQ_BIN/rabbitmq-server" > "$RMQ_DIR/log/stdout.log" 2>&1 < /dev/null &
echo $! > "$RMQ_DIR/launcher.pid"
echo "rabbitmq launcher pid $! (beam pid will be in $RABBITMQ_PID_FILE), epmd pid $(cat "$RMQ_DIR/epmd.pid")"
