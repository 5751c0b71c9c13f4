#!/bin/bash
# wait-port.sh PORT [TIMEOUT_S] : wait until 127.0.0.1:PORT accepts TCP connections
p=$1; t=${2:-60}; end=$((SECONDS+t))
until (exec 3<>/dev/tcp/127.0.0.1/$p) 2>/dev/null; do
  [ $SECONDS -ge $end ] && { echo "port $p not ready after ${t}s" >&2; exit 1; }
  sleep 0.1
done
