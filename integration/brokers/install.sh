#!/bin/bash
# Install the test brokers from Debian packages when any is missing: RabbitMQ (MQTT, STOMP and
# AMQP 1.0 plugins ship inside the package), Mosquitto, ActiveMQ and the MQTT codec ActiveMQ's
# MQTT transport needs, the headless Chromium (with fonts, or pages render as boxes) that
# the browser tests drive through playwright-core, and the third-party clients the listener tests
# use (clients Ferry does not itself use: Paho, Qpid Proton, stomp.py and websocket-client for
# Debian's python3, openssl for TLS). Needs root; without it, fails with the command to run.
set -euo pipefail
need=()
[ -x /usr/lib/rabbitmq/bin/rabbitmq-server ] || need+=(rabbitmq-server)
[ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_pub >/dev/null || need+=(mosquitto-clients)
[ -f /usr/share/activemq/bin/activemq.jar ] || need+=(activemq)
[ -f /usr/share/java/mqtt-client.jar ] || need+=(libmqtt-client-java)
/usr/bin/python3 -c 'import proton' 2>/dev/null || need+=(python3-qpid-proton)
/usr/bin/python3 -c 'import stomp' 2>/dev/null || need+=(python3-stomp)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -d /usr/share/fonts/truetype/dejavu ] || need+=(fonts-dejavu-core)
[ -d /usr/share/fonts/truetype/liberation ] || need+=(fonts-liberation)
[ -d /usr/lib/python3/dist-packages/paho/mqtt ] || need+=(python3-paho-mqtt)
[ -d /usr/lib/python3/dist-packages/proton ] || need+=(python3-qpid-proton)
[ -d /usr/lib/python3/dist-packages/stomp ] || need+=(python3-stomp)
[ -d /usr/lib/python3/dist-packages/websocket ] || need+=(python3-websocket)
command -v openssl >/dev/null || need+=(openssl)
command -v ss >/dev/null || need+=(iproute2)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "test brokers missing: ${need[*]}" >&2
  echo "install them as root:  apt-get update && apt-get install -y ${need[*]}" >&2
  exit 1
fi
echo "installing test brokers: ${need[*]}"
# Debian's postinst would start default-port brokers through invoke-rc.d; forbid that.
[ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d; }
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
