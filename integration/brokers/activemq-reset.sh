#!/bin/bash
# With AMQ_PERSISTENT=false a restart is a full reset; with KahaDB delete the data dir while stopped.
. "$(dirname "${BASH_SOURCE[0]}")/ports.env"
: "${AMQ_DIR:=$BROKERS_HOME/activemq}"; rm -rf "$AMQ_DIR/data" "$AMQ_DIR/tmp"
