# Source this: makes sure the test brokers run, and exports their ports.
# - brokers this checkout already runs (a developer's loop) are reused;
# - otherwise they are installed when missing (root) and started on private ports, taking a
#   free port where the default one is busy, and stopped when the sourcing shell exits.
# Sets BROKERS_READY=1 on success.
_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
. "$_here/ports.env"
BROKERS_READY=0
_running() {
  local f
  for f in "$BROKERS_HOME/rabbit/rabbit.pid" "$BROKERS_HOME/mosquitto/mosquitto.pid" "$BROKERS_HOME/activemq/activemq.pid"; do
    [ -s "$f" ] && pid_alive "$(cat "$f")" || return 1
  done
}
if _running && "$_here/wait-port.sh" "$RMQ_AMQP_PORT" 1 && "$_here/wait-port.sh" "$MOSQ_PORT" 1 && "$_here/wait-port.sh" "$AMQ_STOMP_PORT" 1; then
  echo "reusing the test brokers already running under $BROKERS_HOME"
  BROKERS_READY=1
else
  if "$_here/install.sh"; then
    # take another free port for any default that something else holds
    for v in RMQ_AMQP_PORT RMQ_MQTT_PORT RMQ_STOMP_PORT RMQ_MGMT_PORT RMQ_DIST_PORT RMQ_EPMD_PORT MOSQ_PORT AMQ_OPENWIRE_PORT AMQ_STOMP_PORT AMQ_MQTT_PORT; do
      if ! port_free "${!v}" 2>/dev/null; then
        p=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
        echo "port ${!v} ($v) is busy; using $p"; export "$v=$p"
      fi
    done
    rm -rf "$BROKERS_HOME/rabbit/mnesia"
    trap '"$_here/all-stop.sh" >/dev/null 2>&1' EXIT
    if "$_here/all-start.sh"; then BROKERS_READY=1; else echo "the test brokers did not start; logs under $BROKERS_HOME" >&2; fi
  fi
fi
export RMQ_AMQP_PORT RMQ_MQTT_PORT RMQ_STOMP_PORT RMQ_MGMT_PORT MOSQ_PORT AMQ_OPENWIRE_PORT AMQ_STOMP_PORT AMQ_MQTT_PORT BROKERS_READY
