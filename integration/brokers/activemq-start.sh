#!/bin/bash
# Start ActiveMQ Classic 5.17 (Debian package) standalone in the background as root: no init script,
# no /etc/activemq/instances-enabled, all state under $AMQ_DIR, loopback only.
# Debian's build has NO amqp (proton) and NO http/ws (jetty) transports: only openwire, stomp, mqtt.
# The mqtt transport additionally needs 'apt-get install libmqtt-client-java' (org.fusesource.mqtt codec).
set -euo pipefail
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${AMQ_DIR:=$BROKERS_HOME/activemq}"
. "$(dirname "$0")/ports.env"
port_free $AMQ_OPENWIRE_PORT $AMQ_STOMP_PORT $AMQ_MQTT_PORT
: "${AMQ_PERSISTENT:=false}"          # true => KahaDB under $AMQ_DIR/data/kahadb
: "${AMQ_HEAP:=512M}"
# AMQ_EXTRA_CONNECTORS: raw <transportConnector .../> XML appended to the connector list
mkdir -p "$AMQ_DIR/conf" "$AMQ_DIR/data" "$AMQ_DIR/tmp" "$AMQ_DIR/lib"
# Debian's ActiveMQ logs through log4j 1.2 (the shipped log4j2.properties is ignored)
cat > "$AMQ_DIR/conf/log4j.properties" <<'L4J'
log4j.rootLogger=INFO, console
log4j.appender.console=org.apache.log4j.ConsoleAppender
log4j.appender.console.layout=org.apache.log4j.PatternLayout
log4j.appender.console.layout.ConversionPattern=%d{ISO8601} | %-5p | %m%n
log4j.logger.org.springframework=WARN
log4j.logger.org.apache.xbean=WARN
L4J
MQTT_CONNECTOR=""
if [ -f /usr/share/java/mqtt-client.jar ]; then
  ln -sf /usr/share/java/mqtt-client.jar /usr/share/java/hawtdispatch.jar "$AMQ_DIR/lib/" 2>/dev/null || true
  MQTT_CONNECTOR="<transportConnector name=\"mqtt\" uri=\"mqtt://127.0.0.1:$AMQ_MQTT_PORT?maximumConnections=1000\"/>"
fi
cat > "$AMQ_DIR/conf/activemq.xml" <<XML
<beans xmlns="http://www.springframework.org/schema/beans"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  xsi:schemaLocation="http://www.springframework.org/schema/beans http://www.springframework.org/schema/beans/spring-beans-2.0.xsd
  http://activemq.apache.org/schema/core http://activemq.apache.org/schema/core/activemq-core.xsd">
  <broker xmlns="http://activemq.apache.org/schema/core" useJmx="false" brokerName="gwtest"
          persistent="$AMQ_PERSISTENT" dataDirectory="$AMQ_DIR/data" schedulePeriodForDestinationPurge="0">
    $( [ "$AMQ_PERSISTENT" = true ] && echo "<persistenceAdapter><kahaDB directory=\"$AMQ_DIR/data/kahadb\"/></persistenceAdapter>" )
    <systemUsage><systemUsage><memoryUsage><memoryUsage percentOfJvmHeap="70"/></memoryUsage></systemUsage></systemUsage>
    <transportConnectors>
      <transportConnector name="openwire" uri="tcp://127.0.0.1:$AMQ_OPENWIRE_PORT?maximumConnections=1000"/>
      <transportConnector name="stomp" uri="stomp://127.0.0.1:$AMQ_STOMP_PORT?maximumConnections=1000"/>
      $MQTT_CONNECTOR
      ${AMQ_EXTRA_CONNECTORS:-}
    </transportConnectors>
  </broker>
</beans>
XML
cd "$AMQ_DIR"
nohup java -Xms128M -Xmx"$AMQ_HEAP" -Djava.awt.headless=true -Djava.io.tmpdir="$AMQ_DIR/tmp" \
  -Dorg.apache.activemq.UseDedicatedTaskRunner=false \
  --add-opens java.base/java.lang=ALL-UNNAMED --add-opens java.base/java.util=ALL-UNNAMED \
  --add-opens java.base/java.util.concurrent=ALL-UNNAMED --add-opens java.base/java.net=ALL-UNNAMED \
  -Dlog4j.configuration="file:$AMQ_DIR/conf/log4j.properties" \
  -Dactivemq.classpath="$AMQ_DIR/conf:$AMQ_DIR/lib/mqtt-client.jar:$AMQ_DIR/lib/hawtdispatch.jar" \
  -Dactivemq.home=/usr/share/activemq -Dactivemq.base="$AMQ_DIR" \
  -Dactivemq.conf="$AMQ_DIR/conf" -Dactivemq.data="$AMQ_DIR/data" \
  -jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$AMQ_DIR/conf/activemq.xml" \
  > "$AMQ_DIR/stdout.log" 2>&1 < /dev/null &
echo $! > "$AMQ_DIR/activemq.pid"
echo "activemq java pid $!"
