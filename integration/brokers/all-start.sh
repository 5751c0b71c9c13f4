#!/bin/bash
# Start RabbitMQ, Mosquitto and ActiveMQ in parallel and wait until all are ready.
set -euo pipefail
cd "$(dirname "$0")"
T0=$SECONDS
./rabbit-start.sh; ./mosquitto-start.sh; ./activemq-start.sh
. ./ports.env
./wait-port.sh "$MOSQ_PORT" 10
./activemq-wait.sh 90
./rabbit-wait.sh 120 >/dev/null
echo "all brokers ready in $((SECONDS-T0)) s"
