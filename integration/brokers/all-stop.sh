#!/bin/bash
cd "$(dirname "$0")"
./activemq-stop.sh & ./mosquitto-stop.sh & ./rabbit-stop.sh & wait
